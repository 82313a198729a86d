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
	ref := parse_image(image)
	manifest := manifests[ref.org][ref.name][ref.tag]
	some layer in manifest.layers

	# Clair omits Features and Vulnerabilities when they are empty: such a layer or feature
	# simply contributes nothing.
	some feature in layer_reports[layer.digest].Layer.Features
	some vuln in feature.Vulnerabilities
}

# Splits an image reference the way Docker normalises it:
#   "wordpress:4-apache"               -> {"org": "library", "name": "wordpress", "tag": "4-apache"}
#   "openpolicyagent/opa:0.4.9"        -> {"org": "openpolicyagent", "name": "opa", "tag": "0.4.9"}
#   "docker.io/library/nginx"          -> {"org": "library", "name": "nginx", "tag": "latest"}
# A digest ("@sha256:...") is dropped; only docker.io org/name repositories have layer data.
parse_image(image) := {"org": org, "name": name, "tag": tag} if {
	name_and_tag := split(image, "@")[0]
	parts := split(name_and_tag, "/")
	path := repository_path(parts)
	last := split(path[count(path) - 1], ":")
	tag := tag_of(last)
	[org, name] := array.concat(array.slice(path, 0, count(path) - 1), [last[0]])
}

# Drops a registry host (a first component with "." or ":", or "localhost"; docker.io is the default)
# and adds Docker Hub's "library/" for single-component names.
repository_path(parts) := ["library", parts[0]] if count(parts) == 1

repository_path(parts) := array.slice(parts, 1, count(parts)) if {
	count(parts) > 1
	parts[0] in {"docker.io", "index.docker.io"}
	count(parts) > 2
}

repository_path(parts) := ["library", parts[1]] if {
	count(parts) == 2
	parts[0] in {"docker.io", "index.docker.io"}
}

repository_path(parts) := parts if {
	count(parts) > 1
	not is_registry(parts[0])
}

is_registry(component) if contains(component, ".")

is_registry(component) if contains(component, ":")

is_registry("localhost")

tag_of(name_parts) := name_parts[1] if count(name_parts) == 2

tag_of(name_parts) := "latest" if count(name_parts) == 1
