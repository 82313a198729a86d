# Tests of the seed's scan policy (scan.rego): how image references map to the Docker Hub
# layout of data.docker.layers, and the denial of the mock reviews (policies/mock) on data shaped
# like the sample data in data/.
#   image-enforcer test policies
package io.k8s.image_policy_scan_test

import rego.v1

import data.io.k8s.image_policy as scan

test_docker_hub_spellings if {
	scan.docker_hub_image("wordpress:4-apache") == ["library", "wordpress", "4-apache"]
	scan.docker_hub_image("nginx") == ["library", "nginx", "latest"]
	scan.docker_hub_image("openpolicyagent/opa:0.4.9") == ["openpolicyagent", "opa", "0.4.9"]
	scan.docker_hub_image("docker.io/nginx:1") == ["library", "nginx", "1"]
	scan.docker_hub_image("index.docker.io/library/nginx") == ["library", "nginx", "latest"]
	scan.docker_hub_image("docker.io/acme/app:2") == ["acme", "app", "2"]
}

test_digest_dropped if {
	scan.docker_hub_image("nginx:1@sha256:0000000000000000000000000000000000000000000000000000000000000000") == ["library", "nginx", "1"]
}

# Only Docker Hub repositories have layer data in this layout.
test_other_registries_have_no_docker_hub_name if {
	not scan.docker_hub_image("quay.io/acme/app:1")
	not scan.docker_hub_image("localhost/app:1")
	not scan.docker_hub_image("registry:5000/app")
	not scan.docker_hub_image("gcr.io/a/b/c:1")
}

# The sample data's shape: one vulnerable base layer in wordpress:4-apache.
docker := {"layers": {
	"library": {"wordpress": {"4-apache": {"layers": [{"digest": "sha256:base"}, {"digest": "sha256:app"}]}}},
	"openpolicyagent": {"opa": {"0.4.10": {"layers": [{"digest": "sha256:opa"}]}}},
}}

clair := {"layers": {
	"sha256:base": {"Layer": {"Features": [
		{"Name": "openssl", "Vulnerabilities": [{"Name": "CVE-2016-2105"}, {"Name": "CVE-2016-2106"}]},
		{"Name": "bash"},
	]}},
	"sha256:app": {"Layer": {}},
	"sha256:opa": {"Layer": {"Features": [{"Name": "musl"}]}},
}}

verdict(review) := v if {
	v := scan.verify.status with input as review
		with data.image_policy as null
		with data.docker as docker
		with data.clair as clair
}

test_mock_allowed_is_allowed if verdict(data.mock.allowed) == {"allowed": true}

test_mock_denied_names_the_image_and_its_vulnerabilities if {
	verdict(data.mock.denied) == {
		"allowed": false,
		"reason": "image wordpress:4-apache has 2 known vulnerabilities (CVE-2016-2105, CVE-2016-2106)",
	}
}

test_only_secure_namespaces_are_scanned if {
	review := json.patch(data.mock.denied, [{"op": "replace", "path": "/spec/namespace", "value": "dev"}])
	verdict(review) == {"allowed": true}
}
