# Vulnerability scanning policy: in secure namespaces, deny images whose layers carry features
# with known vulnerabilities.
#
# Data it reads (kept fresh by `image-enforcer sync`):
#   data.docker.layers[org][name][tag]  the image manifest: {"config": ..., "layers": [{"digest": ...}]}
#   data.clair.layers[digest]           Clair's layer report: {"Layer": {"Features": [{"Vulnerabilities": [...]}]}}
# Images without data are not denied here (they have not been scanned yet).
#
# When the image policy library's vulnerability rule is configured (data.image_policy
# .vulnerabilities, see docs/policy-library.md) that rule takes over: it generalises this one
# (minimum severity, CVE exceptions, any registry and repository depth, digests) and gives the
# same message for the same finding.
package io.k8s.image_policy

import rego.v1

import data.clair.layers as layer_reports
import data.docker.layers as manifests

secure_namespaces := {"production"}

deny contains msg if {
	not data.library.image_policy.vulnerability_rule_configured
	input.spec.namespace in secure_namespaces
	some container in input.spec.containers
	vulns := vulnerabilities(container.image)
	count(vulns) > 0
	examples := concat(", ", array.slice(sort(vulns), 0, 3))
	msg := sprintf("image %s has %d known vulnerabilities (%s)", [container.image, count(vulns), examples])
}

# Names of the vulnerabilities (e.g. CVE ids) found in any layer of an image.
vulnerabilities(image) := {vuln.Name |
	[org, name, tag] := docker_hub_image(image)
	some layer in manifests[org][name][tag].layers

	# Clair omits Features and Vulnerabilities when they are empty: such a layer or feature
	# simply contributes nothing.
	some feature in layer_reports[layer.digest].Layer.Features
	some vuln in feature.Vulnerabilities
}

# The Docker Hub org, name and tag of an image reference, the way Docker normalises it:
#   "wordpress:4-apache"               -> ["library", "wordpress", "4-apache"]
#   "openpolicyagent/opa:0.4.9"        -> ["openpolicyagent", "opa", "0.4.9"]
#   "docker.io/library/nginx"          -> ["library", "nginx", "latest"]
# A digest ("@sha256:...") is dropped; only docker.io org/name repositories have layer data, so
# other registries and deeper paths are undefined.
docker_hub_image(image) := [org, name, tag] if {
	[org, name_and_tag] := docker_hub_repository(split(split(image, "@")[0], "/"))
	[name, tag] := name_and_tag_of(split(name_and_tag, ":"))
}

# The org/name path of a Docker Hub repository from the "/"-separated components of a reference:
# Docker Hub's host is optional, and single-component names are in its "library/" org.
docker_hub_repository([name]) := ["library", name]

docker_hub_repository([host, name]) := ["library", name] if host in docker_hub_hosts

docker_hub_repository([host, org, name]) := [org, name] if host in docker_hub_hosts

docker_hub_repository([org, name]) := [org, name] if not is_registry(org)

docker_hub_hosts := {"docker.io", "index.docker.io"}

# A first component with "." or ":", or "localhost", names a registry host.
is_registry(component) if contains(component, ".")

is_registry(component) if contains(component, ":")

is_registry("localhost")

name_and_tag_of([name]) := [name, "latest"]

name_and_tag_of([name, tag]) := [name, tag]
