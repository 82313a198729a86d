# Tests of the library's vulnerability rule: severity threshold, CVE exceptions with expiry,
# missing and stale scan data, and both data layouts.
package library.image_policy_vulnerabilities_test

import rego.v1

import data.library.image_policy as lib

# 2026-11-27T00:00:00Z
now := 1795737600000000000

digest := "sha256:1111111111111111111111111111111111111111111111111111111111111111"

docker := {
	"images": {
		"quay.io/acme/app:1.0": {"layers": [{"digest": "sha256:l1"}, {"digest": "sha256:l2"}]},
		concat("@", ["quay.io/acme/app", digest]): {"layers": [{"digest": "sha256:l3"}]},
		"quay.io/acme/unscanned:1": {"layers": [{"digest": "sha256:l1"}, {"digest": "sha256:l9"}]},
		"quay.io/acme/empty:1": {"layers": []},
	},
	"layers": {"library": {"wordpress": {"4": {"layers": [{"digest": "sha256:l1"}]}}}},
}

clair := {"layers": {
	"sha256:l1": {
		"Layer": {"Features": [{"Name": "openssl", "Vulnerabilities": [{"Name": "CVE-1", "Severity": "High"}, {"Name": "CVE-2", "Severity": "Low"}]}]},
		"FetchedAt": "2026-11-26T00:00:00Z",
	},
	# No FetchedAt, a vulnerability without a severity, a feature without vulnerabilities.
	"sha256:l2": {"Layer": {"Features": [{"Name": "zlib", "Vulnerabilities": [{"Name": "CVE-3", "Severity": "Critical"}, {"Name": "CVE-4"}]}, {"Name": "bash"}]}},
	"sha256:l3": {
		"Layer": {"Features": [{"Name": "x", "Vulnerabilities": [{"Name": "CVE-5", "Severity": "Defcon1"}]}]},
		"FetchedAt": "2026-10-01T00:00:00Z",
	},
}}

cfg(v) := {"vulnerabilities": v}

review(ns, images) := {"spec": {"namespace": ns, "containers": [{"image": i} | some i in images]}}

result(v, ns, images) := {[x.rule, x.image, x.action, x.message] |
	some x in lib.violations with data.image_policy as cfg(v)
		with data.docker as docker
		with data.clair as clair
		with input as review(ns, images)
		with time.now_ns as now
}

test_every_severity_at_the_lowest_threshold if {
	result({"minimum_severity": "Unknown"}, "dev", ["quay.io/acme/app:1.0"]) == {[
		"vulnerabilities", "quay.io/acme/app:1.0", "enforce",
		"image quay.io/acme/app:1.0 has 4 known vulnerabilities (CVE-1, CVE-2, CVE-3)",
	]}
}

test_minimum_severity if {
	result({"minimum_severity": "High"}, "dev", ["quay.io/acme/app:1.0"]) == {[
		"vulnerabilities", "quay.io/acme/app:1.0", "enforce",
		"image quay.io/acme/app:1.0 has 2 known vulnerabilities of severity High or higher (CVE-1, CVE-3)",
	]}
	result({"minimum_severity": "Defcon1"}, "dev", ["quay.io/acme/app:1.0"]) == set()
}

# An unknown minimum is a configuration problem (library_test.rego), and denies nothing.
test_unknown_minimum_severity_denies_nothing if result({"minimum_severity": "Severe"}, "dev", ["quay.io/acme/app:1.0"]) == set()

test_minimum_severity_per_namespace if {
	v := {"minimum_severity": {"production": "Critical"}}
	count(result(v, "production", ["quay.io/acme/app:1.0"])) == 1
	result(v, "dev", ["quay.io/acme/app:1.0"]) == set()
}

test_digest_is_looked_up_by_digest if {
	img := concat("", ["quay.io/acme/app:1.0@", digest])
	result({"minimum_severity": "Critical"}, "dev", [img]) == {[
		"vulnerabilities", img, "enforce",
		sprintf("image %s has 1 known vulnerabilities of severity Critical or higher (CVE-5)", [img]),
	]}
}

test_legacy_layout_for_docker_hub if {
	result({"minimum_severity": "High"}, "dev", ["wordpress:4", "docker.io/library/wordpress:4"]) == {
		["vulnerabilities", "wordpress:4", "enforce", "image wordpress:4 has 1 known vulnerabilities of severity High or higher (CVE-1)"],
		["vulnerabilities", "docker.io/library/wordpress:4", "enforce", "image docker.io/library/wordpress:4 has 1 known vulnerabilities of severity High or higher (CVE-1)"],
	}
}

test_legacy_layout_only_for_listed_registries if {
	result({"minimum_severity": "High", "legacy_registries": []}, "dev", ["wordpress:4"]) == set()
}

test_exception_with_reason_and_future_expiry_applies if {
	v := {"minimum_severity": "High", "exceptions": [{"id": "CVE-1", "reason": "not reachable", "expires": "2027-01-01T00:00:00Z"}]}
	result(v, "dev", ["quay.io/acme/app:1.0"]) == {[
		"vulnerabilities", "quay.io/acme/app:1.0", "enforce",
		"image quay.io/acme/app:1.0 has 1 known vulnerabilities of severity High or higher (CVE-3)",
	]}
}

test_expired_exception_does_not_apply if {
	v := {"minimum_severity": "Critical", "exceptions": [{"id": "CVE-3", "reason": "fixed soon", "expires": "2026-11-26T23:59:59Z"}]}
	count(result(v, "dev", ["quay.io/acme/app:1.0"])) == 1
}

test_exception_without_reason_does_not_apply if {
	v := {"minimum_severity": "Critical", "exceptions": [{"id": "CVE-3", "reason": " ", "expires": "2027-01-01T00:00:00Z"}]}
	count(result(v, "dev", ["quay.io/acme/app:1.0"])) == 1
}

test_exception_scoped_to_images_and_namespaces if {
	e := {"id": "CVE-3", "reason": "r", "expires": "2027-01-01T00:00:00Z", "images": ["quay.io/acme/app"], "namespaces": ["dev"]}
	v := {"minimum_severity": "Critical", "exceptions": [e]}
	result(v, "dev", ["quay.io/acme/app:1.0"]) == set()
	count(result(v, "production", ["quay.io/acme/app:1.0"])) == 1
	e2 := object.union(e, {"images": ["quay.io/other/*"]})
	count(result({"minimum_severity": "Critical", "exceptions": [e2]}, "dev", ["quay.io/acme/app:1.0"])) == 1
}

test_missing_scan_data_actions_per_namespace if {
	v := {"missing_scan_data": {"*": "allow", "production": "deny", "staging": "warn", "qa": "audit"}}
	imgs := ["quay.io/acme/none:1", "quay.io/acme/unscanned:1", "quay.io/acme/empty:1"]
	result(v, "dev", imgs) == set()
	result(v, "production", imgs) == {
		["scan_data", "quay.io/acme/none:1", "enforce", "image quay.io/acme/none:1 has no vulnerability scan data: no image manifest in the policy data"],
		["scan_data", "quay.io/acme/unscanned:1", "enforce", "image quay.io/acme/unscanned:1 has no vulnerability scan data: no layer report for 1 of its 2 layers"],
		["scan_data", "quay.io/acme/empty:1", "enforce", "image quay.io/acme/empty:1 has no vulnerability scan data: its manifest lists no layers"],
	}
	{x[2] | some x in result(v, "staging", imgs)} == {"warn"}
	{x[2] | some x in result(v, "qa", imgs)} == {"audit"}
}

test_scanned_images_have_scan_data if {
	result({"missing_scan_data": "deny"}, "dev", ["quay.io/acme/app:1.0", "wordpress:4"]) == set()
}

# l1 was fetched a day ago, l2 has no FetchedAt, l3 is two months old.
test_max_report_age_treats_old_reports_as_missing if {
	v := {"minimum_severity": "Unknown", "missing_scan_data": "warn", "max_report_age": "48h"}
	result(v, "dev", ["quay.io/acme/app:1.0"]) == {
		["vulnerabilities", "quay.io/acme/app:1.0", "enforce", "image quay.io/acme/app:1.0 has 2 known vulnerabilities (CVE-1, CVE-2)"],
		["scan_data", "quay.io/acme/app:1.0", "warn", "image quay.io/acme/app:1.0 has no vulnerability scan data: no layer report for 1 of its 2 layers (reports older than 48h count as missing)"],
	}
	img := concat("@", ["quay.io/acme/app", digest])
	{x[0] | some x in result(v, "dev", [img])} == {"scan_data"}
}

test_max_report_age_fresh_enough if {
	v := {"minimum_severity": "Defcon1", "missing_scan_data": "deny", "max_report_age": "1440h"}
	img := concat("@", ["quay.io/acme/app", digest])
	{x[0] | some x in result(v, "dev", [img])} == {"vulnerabilities"}
}

test_rule_off_checks_nothing if {
	result({"action": "off", "minimum_severity": "Unknown", "missing_scan_data": "deny"}, "dev", ["quay.io/acme/app:1.0", "x/none"]) == set()
}

test_warn_action if {
	{x[2] | some x in result({"action": "warn", "minimum_severity": "Unknown"}, "dev", ["quay.io/acme/app:1.0"])} == {"warn"}
}

test_exempt_image_is_not_scanned if {
	v := {"minimum_severity": "Unknown", "missing_scan_data": "deny"}
	x := lib.violations with data.image_policy as {"vulnerabilities": v, "exempt": {"images": ["quay.io/acme/**"]}}
		with data.docker as docker
		with data.clair as clair
		with input as review("dev", ["quay.io/acme/app:1.0"])
		with time.now_ns as now
	x == set()
}

test_library_rule_replaces_scan_rego if {
	lib.vulnerability_rule_configured with data.image_policy as cfg({"minimum_severity": "High"})
	not lib.vulnerability_rule_configured with data.image_policy as {"pinning": {"require": "tag"}}
}
