# The library plugged into the entry point data.io.k8s.image_policy.verify (policies/default.rego).
package library.image_policy_entrypoint_test

import rego.v1

import data.io.k8s.image_policy

review(ns, images) := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"spec": {"namespace": ns, "containers": [{"image": i} | some i in images]},
}

cfg := {
	"registries": {"allowed": {"*": ["docker.io"]}},
	"pinning": {"action": "warn", "require": "no_latest"},
	"naming": {"action": "audit", "repository": "^library/"},
}

test_allowed_answer_stays_minimal if {
	v := image_policy.verify with input as review("dev", ["nginx:1.25"]) with data.image_policy as cfg
	v == {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": true}}
}

test_warnings_and_audit_annotations_in_status if {
	v := image_policy.verify with input as review("dev", ["nginx", "acme/app:1"]) with data.image_policy as cfg
	v.status == {
		"allowed": true,
		"warnings": ["image nginx has no tag: it pulls whatever \"latest\" points at"],
		"auditAnnotations": {"naming": "image acme/app:1: repository \"acme/app\" does not match the naming pattern \"^library/\""},
	}
}

test_denials_joined_in_reason if {
	v := image_policy.verify with input as review("dev", ["quay.io/a/b:1", "MyImage"]) with data.image_policy as cfg
	v.status.allowed == false
	v.status.reason == concat("; ", [
		"image \"MyImage\" is not a valid image reference: repository name \"library/MyImage\" must be lowercase",
		"image quay.io/a/b:1 (quay.io/a/b) is not from a registry allowed in namespace \"dev\" (allowed: docker.io)",
	])
}

# Without a library configuration the original scan.rego rule decides, as before.
docker := {"layers": {"library": {"wordpress": {"4": {"layers": [{"digest": "sha256:l1"}]}}}}}

clair := {"layers": {"sha256:l1": {"Layer": {"Features": [{"Vulnerabilities": [{"Name": "CVE-9", "Severity": "Low"}]}]}}}}

test_scan_rego_decides_without_configuration if {
	not data.library.image_policy.vulnerability_rule_configured with data.image_policy as null
	v := image_policy.verify with input as review("production", ["wordpress:4"])
		with data.image_policy as null
		with data.docker as docker
		with data.clair as clair
	v.status == {"allowed": false, "reason": "image wordpress:4 has 1 known vulnerabilities (CVE-9)"}
}

test_library_decides_with_configuration if {
	v := image_policy.verify with input as review("production", ["wordpress:4"])
		with data.image_policy as {"vulnerabilities": {"minimum_severity": {"production": "Medium"}}}
		with data.docker as docker
		with data.clair as clair
	v.status == {"allowed": true}
}

test_image_replacements_come_from_the_library if {
	digest := "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	r := image_policy.image_replacements with input as review("production", ["nginx:1.25", "busybox"])
		with data.image_policy as {"pinning": {"pin_digests": {"production": true}}}
		with data.docker as {"images": {"docker.io/library/nginx:1.25": {"digest": digest}}}
	r == {"nginx:1.25": concat("@", ["nginx:1.25", digest])}
}
