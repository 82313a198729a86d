# Tests of the image policy library's rules (run by `image-enforcer test policies`).
# Each test supplies its own configuration with `with data.image_policy as ...`.
package library.image_policy_test

import rego.v1

import data.library.image_policy as lib

review(ns, images) := {
	"apiVersion": "imagepolicy.k8s.io/v1alpha1",
	"kind": "ImageReview",
	"spec": {"namespace": ns, "containers": [{"image": i} | some i in images]},
}

# The violations of a review under a configuration, as {rule, image, action} triples.
found(cfg, ns, images) := {[v.rule, v.image, v.action] |
	some v in lib.violations with data.image_policy as cfg with input as review(ns, images)
}

messages(cfg, ns, images) := {v.message |
	some v in lib.violations with data.image_policy as cfg with input as review(ns, images)
}

# ---------------------------------------------------------------------------------------------
# No configuration, no checks

test_unconfigured_library_checks_nothing if {
	count(lib.violations) == 0 with input as review("production", ["MyImage", "nginx"])
		with data.image_policy as null
}

# ---------------------------------------------------------------------------------------------
# references

test_invalid_references_denied if {
	found({}, "dev", ["MyImage", "a//b", "", "nginx"]) == {
		["references", "MyImage", "enforce"],
		["references", "a//b", "enforce"],
		["references", "", "enforce"],
	}
}

test_invalid_reference_message_names_image_and_reason if {
	msgs := messages({}, "dev", ["a//b"])
	msgs == {"image \"a//b\" is not a valid image reference: repository name \"a//b\" has an empty path component"}
}

test_references_rule_can_be_switched_off if {
	found({"references": {"action": "off"}}, "dev", ["MyImage"]) == set()
}

# ---------------------------------------------------------------------------------------------
# registries: the bypass list of issue 6

registries := {"registries": {"allowed": {
	"*": ["docker.io/library/*"],
	"private": ["myregistry.io/**", "localhost:5000/**"],
	"mixed": ["quay.io", "*.gcr.io/proj/*", "registry.io:443/x/*"],
}}}

test_registries_docker_hub_spellings_match_official_images if {
	found(registries, "dev", ["nginx", "nginx:1.25", "library/nginx", "docker.io/nginx", "index.docker.io/library/nginx"]) == set()
}

test_registries_other_registry_denied if {
	found(registries, "dev", ["quay.io/nginx/nginx", "openpolicyagent/opa:0.4.10"]) == {
		["registries", "quay.io/nginx/nginx", "enforce"],
		["registries", "openpolicyagent/opa:0.4.10", "enforce"],
	}
}

test_registries_lookalike_domain_denied if {
	found(registries, "private", ["myregistry.io.evil.com/x", "myregistry.io/x", "myregistry.io/a/b/c:1"]) == {["registries", "myregistry.io.evil.com/x", "enforce"]}
}

# "nginx" is docker.io/library/nginx: it does not slip past a list without Docker Hub.
test_registries_plain_name_is_docker_hub if {
	found(registries, "private", ["nginx"]) == {["registries", "nginx", "enforce"]}
}

test_registries_uppercase_registry_is_the_same_registry if {
	found(registries, "private", ["MyRegistry.io/x"]) == set()
}

test_registries_ports_are_part_of_the_registry if {
	found(registries, "private", ["localhost:5000/a/b:t", "localhost/a/b", "localhost:5001/a"]) == {
		["registries", "localhost/a/b", "enforce"],
		["registries", "localhost:5001/a", "enforce"],
	}
}

test_registries_registry_only_and_label_globs if {
	found(registries, "mixed", ["quay.io/a/b/c", "eu.gcr.io/proj/app", "evil.com.gcr.io/proj/app", "eu.gcr.io/other/app"]) == {
		["registries", "evil.com.gcr.io/proj/app", "enforce"],
		["registries", "eu.gcr.io/other/app", "enforce"],
	}
}

test_registries_digest_with_port if {
	img := concat("@", ["registry.io:443/x/y", d])
	found(registries, "mixed", [img, "registry.io/x/y"]) == {["registries", "registry.io/x/y", "enforce"]}
}

test_registries_message_lists_allowed if {
	messages(registries, "dev", ["quay.io/a/b"]) == {"image quay.io/a/b (quay.io/a/b) is not from a registry allowed in namespace \"dev\" (allowed: docker.io/library/*)"}
}

test_registries_namespace_without_setting_is_not_checked if {
	found({"registries": {"allowed": {"prod": ["quay.io"]}}}, "dev", ["nginx"]) == set()
}

test_registries_malformed_images_are_not_a_registry_match if {
	found(registries, "dev", ["MyImage"]) == {["references", "MyImage", "enforce"]}
}

test_registries_tag_patterns if {
	cfg := {"registries": {"allowed": ["docker.io/library/nginx:1.*"]}}
	found(cfg, "dev", ["nginx:1.25", "nginx:2.0", "nginx"]) == {
		["registries", "nginx:2.0", "enforce"],
		["registries", "nginx", "enforce"],
	}
}

# ---------------------------------------------------------------------------------------------
# naming

test_naming_repository_and_tag_patterns if {
	cfg := {"naming": {"action": "warn", "repository": {"*": "^acme/"}, "tag": {"production": `^v[0-9]+\.[0-9]+\.[0-9]+$`}}}
	found(cfg, "production", ["acme/api:v1.2.3", "acme/api:1.2", "other/api:v1.0.0"]) == {
		["naming", "acme/api:1.2", "warn"],
		["naming", "other/api:v1.0.0", "warn"],
	}
	found(cfg, "dev", ["acme/api:1.2"]) == set()
}

test_naming_implied_latest_checked_against_tag_pattern if {
	cfg := {"naming": {"tag": `^v`}}
	messages(cfg, "dev", ["nginx"]) == {"image nginx: tag \"latest\" does not match the naming pattern \"^v\""}
}

# ---------------------------------------------------------------------------------------------
# pinning

pin(level) := {"pinning": {"require": level}}

d := "sha256:0000000000000000000000000000000000000000000000000000000000000000"

pin_images := ["nginx", "nginx:latest", "nginx:1.25", concat("@", ["nginx", d]), concat("@", ["nginx:latest", d])]

test_pinning_any if found(pin("any"), "dev", pin_images) == set()

test_pinning_tag if {
	found(pin("tag"), "dev", pin_images) == {["pinning", "nginx", "enforce"]}
}

test_pinning_no_latest if {
	found(pin("no_latest"), "dev", pin_images) == {["pinning", "nginx", "enforce"], ["pinning", "nginx:latest", "enforce"]}
}

test_pinning_digest if {
	found(pin("digest"), "dev", pin_images) == {
		["pinning", "nginx", "enforce"],
		["pinning", "nginx:latest", "enforce"],
		["pinning", "nginx:1.25", "enforce"],
	}
}

test_pinning_per_namespace if {
	cfg := {"pinning": {"action": "warn", "require": {"*": "no_latest", "production": "digest"}}}
	found(cfg, "dev", ["nginx:1.25"]) == set()
	found(cfg, "production", ["nginx:1.25"]) == {["pinning", "nginx:1.25", "warn"]}
}

test_pinning_messages if {
	messages(pin("digest"), "dev", ["nginx:latest"]) == {
		"image nginx:latest uses the mutable tag \"latest\"",
		"image nginx:latest is not pinned by digest",
	}
}

# ---------------------------------------------------------------------------------------------
# digest pinning (image_replacements, for the mutating webhook)

d1 := "sha256:1111111111111111111111111111111111111111111111111111111111111111"

# What the sync keeps: each synced tag with the digest it points at.
synced := {"images": {
	"docker.io/library/nginx:1.25": {"digest": d1},
	"docker.io/library/nginx:latest": {"digest": d1},
	"quay.io/acme/app:2": {"digest": "sha256:not-a-digest"},
}}

replacements(cfg, ns, images) := r if {
	r := lib.image_replacements with data.image_policy as cfg
		with data.docker as synced
		with input as review(ns, images)
}

pin_digests := {"pinning": {"pin_digests": {"*": false, "production": true}}}

test_pin_digests_replaces_synced_tags_in_the_namespaces_configured if {
	images := ["nginx:1.25", "nginx", "docker.io/library/nginx:1.25", "nginx:1.24", concat("@", ["nginx:1.25", d])]
	replacements(pin_digests, "production", images) == {
		"nginx:1.25": concat("@", ["nginx:1.25", d1]),
		"nginx": concat("@", ["nginx", d1]),
		"docker.io/library/nginx:1.25": concat("@", ["docker.io/library/nginx:1.25", d1]),
	}
	replacements(pin_digests, "dev", images) == {}
	replacements({"pinning": {"pin_digests": true}}, "dev", ["nginx:1.25"]) == {"nginx:1.25": concat("@", ["nginx:1.25", d1])}
	replacements({"pinning": {"require": "digest"}}, "production", ["nginx:1.25"]) == {}
}

test_pin_digests_leaves_invalid_exempt_and_oddly_synced_images if {
	replacements(pin_digests, "production", ["NGINX:1.25", "quay.io/acme/app:2"]) == {}
	exempt := object.union(pin_digests, {"exempt": {"namespaces": ["prod*"]}})
	replacements(exempt, "production", ["nginx:1.25"]) == {}
	exempt_image := object.union(pin_digests, {"exempt": {"images": ["docker.io/library/nginx:*"]}})
	replacements(exempt_image, "production", ["nginx:1.25"]) == {}
}

test_pin_digests_must_be_boolean if {
	problems := lib.config_problems with data.image_policy as {"pinning": {"pin_digests": {"*": "yes", "production": true}}}
	problems == {"pinning.pin_digests: yes is not true or false"}
}

# ---------------------------------------------------------------------------------------------
# actions and exemptions

test_actions_route_to_outputs if {
	cfg := {
		"registries": {"action": "warn", "allowed": ["quay.io"]},
		"pinning": {"action": "audit", "require": "digest"},
		"references": {"action": "enforce"},
	}
	inp := review("dev", ["nginx:1.25", "Bad"])
	lib.deny == {"image \"Bad\" is not a valid image reference: repository name \"library/Bad\" must be lowercase"} with input as inp with data.image_policy as cfg
	lib.warn == {"image nginx:1.25 (docker.io/library/nginx) is not from a registry allowed in namespace \"dev\" (allowed: quay.io)"} with input as inp with data.image_policy as cfg
	lib.audit_annotations == {"pinning": "image nginx:1.25 is not pinned by digest"} with input as inp with data.image_policy as cfg
}

test_action_per_namespace if {
	cfg := {"pinning": {"action": {"*": "warn", "production": "enforce", "sandbox": "off"}, "require": "digest"}}
	found(cfg, "dev", ["nginx:1"]) == {["pinning", "nginx:1", "warn"]}
	found(cfg, "production", ["nginx:1"]) == {["pinning", "nginx:1", "enforce"]}
	found(cfg, "sandbox", ["nginx:1"]) == set()
}

test_exempt_namespaces if {
	cfg := {"exempt": {"namespaces": ["kube-*", "tools"]}, "pinning": {"require": "digest"}}
	found(cfg, "kube-system", ["nginx", "Bad"]) == set()
	found(cfg, "tools", ["nginx"]) == set()
	found(cfg, "dev", ["nginx"]) == {["pinning", "nginx", "enforce"]}
}

test_exempt_images if {
	cfg := {"exempt": {"images": ["registry.k8s.io/pause", "docker.io/library/busybox:1.*"]}, "pinning": {"require": "digest"}}
	found(cfg, "dev", ["registry.k8s.io/pause:3.9", "busybox:1.36", "busybox:latest"]) == {["pinning", "busybox:latest", "enforce"]}
}

test_exempt_images_do_not_exempt_lookalikes if {
	cfg := {"exempt": {"images": ["registry.k8s.io/*"]}, "pinning": {"require": "digest"}}
	found(cfg, "dev", ["registry.k8s.io.evil.com/pause:3.9"]) == {["pinning", "registry.k8s.io.evil.com/pause:3.9", "enforce"]}
}

test_config_problems_reported if {
	cfg := {
		"pinning": {"action": "block", "require": {"*": "sha"}},
		"vulnerabilities": {"minimum_severity": "Severe", "missing_scan_data": "ignore", "max_report_age": "a week", "exceptions": [
			{"id": "CVE-1"},
			{"id": "CVE-2", "reason": "r", "expires": "2027-01-31"},
			{"id": "CVE-3", "reason": "r", "expires": "2027-01-31T00:00:00Z"},
		]},
	}
	problems := lib.config_problems with data.image_policy as cfg
	problems == {
		"pinning.action: block is not one of enforce, warn, audit, off",
		"pinning.require: sha is not one of any, tag, no_latest, digest",
		"vulnerabilities.minimum_severity: Severe is not one of Unknown, Negligible, Low, Medium, High, Critical, Defcon1",
		"vulnerabilities.missing_scan_data: ignore is not one of deny, warn, audit, allow",
		"vulnerabilities.exceptions[0] (CVE-1): an exception needs an id, a reason and an RFC 3339 expiry date",
		"vulnerabilities.exceptions[1] (CVE-2): an exception needs an id, a reason and an RFC 3339 expiry date",
		"vulnerabilities.max_report_age: a week is not a duration such as 168h",
	}
}

test_shipped_configuration_has_no_problems if count(lib.config_problems) == 0
