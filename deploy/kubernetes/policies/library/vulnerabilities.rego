# Rule "vulnerabilities" of the image policy library: images whose layers carry known
# vulnerabilities at or above a minimum severity, minus CVE exceptions that have not expired; and
# what to do with images that have no (fresh) scan data.
#
#   vulnerabilities:
#     action: enforce                       # enforce | warn | audit | off (or per namespace)
#     minimum_severity: {production: Unknown, staging: High}   # Clair's scale; unlisted: not checked
#     exceptions:
#     - id: CVE-2016-2179
#       reason: "not reachable: no DTLS in this image"        # required
#       expires: "2027-01-31T00:00:00Z"                       # required, RFC 3339
#       images: ["docker.io/library/wordpress"]               # optional image patterns
#       namespaces: [production]                              # optional
#     missing_scan_data: {"*": allow, production: warn}       # deny | warn | audit | allow
#     max_report_age: 168h                  # optional: older layer reports count as missing
#     legacy_registries: [docker.io]        # registries whose data is at data.docker.layers[org][name][tag]
#
# Data (written by `image-enforcer sync`, see docs/sync.md):
#   data.docker.images["<name>:<tag>"] / ["<name>@<digest>"]   image manifests by normalised reference
#   data.docker.layers[org][name][tag]                          the original two-component layout
#   data.clair.layers[digest]                                   {"Layer": {...}, "FetchedAt": RFC 3339}
package library.image_policy

import rego.v1

# Clair's severity scale, lowest first. A severity Clair did not name counts as Unknown.
severities := ["Unknown", "Negligible", "Low", "Medium", "High", "Critical", "Defcon1"]

severity_rank(s) := object.get(_severity_ranks, s, 0)

_severity_ranks := {name: i | some i, name in severities}

vulnerability_config := rule_config("vulnerabilities")

# True when the library's vulnerability rule replaces the original scan.rego rule.
vulnerability_rule_configured if {
	configured
	is_object(vulnerability_config)
	count(vulnerability_config) > 0
}

minimum_severity := s if {
	s := setting(vulnerability_config.minimum_severity, namespace)
	s in severities
}

_minimum_rank := severity_rank(minimum_severity)

# ---------------------------------------------------------------------------------------------
# Image data

legacy_registries := object.get(vulnerability_config, "legacy_registries", ["docker.io"])

# manifest(r): the image manifest for a parsed reference. A digest is what gets pulled, so a
# reference with a digest is looked up by digest only.
manifest(r) := m if {
	r.digest != null
	m := data.docker.images[concat("@", [r.name, r.digest])]
} else := m if {
	r.digest == null
	m := data.docker.images[concat(":", [r.name, r.effective_tag])]
} else := m if {
	r.digest == null
	r.registry in legacy_registries
	[org, name] := split(r.repository, "/")
	m := data.docker.layers[org][name][r.effective_tag]
}

layer_digests(r) := [l.digest | some l in manifest(r).layers]

# report(digest): the layer report, when it is fresh enough to be trusted.
report(digest) := doc if {
	doc := data.clair.layers[digest]
	_fresh(doc)
}

_fresh(_) if not vulnerability_config.max_report_age

_fresh(doc) if {
	fetched := time.parse_rfc3339_ns(doc.FetchedAt)
	time.now_ns() - fetched <= _max_report_age_ns
}

_max_report_age_ns := time.parse_duration_ns(vulnerability_config.max_report_age)

# _reports(r): report(digest) of every layer of the image; without a maximum age every report
# is fresh, so no freshness check per layer.
_reports(r) := [doc |
	some layer in manifest(r).layers
	doc := data.clair.layers[layer.digest]
] if {
	not vulnerability_config.max_report_age
} else := [doc |
	some digest in layer_digests(r)
	doc := report(digest)
]

# scan_data_problem(r): why an image has no usable scan data (undefined when it has).
scan_data_problem(r) := "no image manifest in the policy data" if {
	not manifest(r)
} else := "its manifest lists no layers" if {
	count(layer_digests(r)) == 0
} else := sprintf("no layer report for %d of its %d layers%s", [n, count(layer_digests(r)), _age_note]) if {
	n := count([d | some d in layer_digests(r); not report(d)])
	n > 0
}

_age_note := sprintf(" (reports older than %s count as missing)", [vulnerability_config.max_report_age]) if {
	vulnerability_config.max_report_age
} else := ""

# ---------------------------------------------------------------------------------------------
# Vulnerabilities

# found(r): the vulnerabilities of an image at or above the minimum severity, by name.
# Clair omits Features and Vulnerabilities when they are empty: such a layer or feature simply
# contributes nothing. At the lowest minimum every vulnerability counts (an entry must still be
# an object, as the severity lookup requires), so no severity is looked up. Undefined when the
# minimum is not a known severity (config_problems names it): nothing is denied then.
found(r) := {v.Name |
	some doc in _reports(r)
	some feature in doc.Layer.Features
	some v in feature.Vulnerabilities
	is_object(v)
} if {
	_minimum_rank == 0
} else := {v.Name |
	some doc in _reports(r)
	some feature in doc.Layer.Features
	some v in feature.Vulnerabilities
	object.get(_severity_ranks, object.get(v, "Severity", "Unknown"), 0) >= _minimum_rank
} if {
	_minimum_rank > 0
}

# _excepted(r): the ids of the exceptions with a reason that have not expired and cover the image.
_excepted(r) := {e.id |
	some e in _live_exceptions
	_exception_scope(e, r)
}

# Exceptions with a reason that have not expired.
_live_exceptions := [e |
	some e in object.get(vulnerability_config, "exceptions", [])
	_exception_valid(e)
	time.now_ns() < time.parse_rfc3339_ns(e.expires)
]

_exception_valid(e) if {
	is_string(e.reason)
	trim_space(e.reason) != ""
	is_string(e.expires)
}

_exception_scope(e, r) if {
	_in_namespaces(e)
	_in_images(e, r)
}

_in_namespaces(e) if not e.namespaces

_in_namespaces(e) if namespace in e.namespaces

_in_images(e, _) if not e.images

_in_images(e, r) if {
	some p in e.images
	image_matches(p, r)
}

violations contains {"rule": "vulnerabilities", "image": image, "action": a, "message": msg} if {
	minimum_severity
	a := _active_action("vulnerabilities")
	some image, r in _checked
	names := found(r)
	count(names) > 0
	vulns := names - _excepted(r)
	count(vulns) > 0
	examples := concat(", ", array.slice(sort(vulns), 0, 3))
	msg := _vulnerability_message(image, count(vulns), examples)
}

# With the lowest minimum severity the message is the original scan.rego's, word for word.
_vulnerability_message(image, n, examples) := sprintf("image %s has %d known vulnerabilities (%s)", [image, n, examples]) if {
	_minimum_rank == 0
} else := sprintf("image %s has %d known vulnerabilities of severity %s or higher (%s)", [image, n, minimum_severity, examples])

# ---------------------------------------------------------------------------------------------
# Missing scan data

scan_data_actions := {"deny": "enforce", "warn": "warn", "audit": "audit"}

violations contains {"rule": "scan_data", "image": image, "action": a, "message": msg} if {
	a := scan_data_actions[setting(vulnerability_config.missing_scan_data, namespace)]
	_active_action("vulnerabilities")
	some image, r in _checked
	problem := scan_data_problem(r)
	msg := sprintf("image %s has no vulnerability scan data: %s", [image, problem])
}

# ---------------------------------------------------------------------------------------------
# Configuration problems

config_problems contains sprintf("vulnerabilities.minimum_severity: %v is not one of %s", [s, concat(", ", severities)]) if {
	some s in _values(object.get(vulnerability_config, "minimum_severity", "Unknown"))
	not s in severities
}

config_problems contains sprintf("vulnerabilities.missing_scan_data: %v is not one of deny, warn, audit, allow", [s]) if {
	some s in _values(object.get(vulnerability_config, "missing_scan_data", "allow"))
	not s in {"deny", "warn", "audit", "allow"}
}

config_problems contains sprintf("vulnerabilities.exceptions[%d] (%v): an exception needs an id, a reason and an RFC 3339 expiry date", [i, object.get(e, "id", "?")]) if {
	some i, e in object.get(vulnerability_config, "exceptions", [])
	not _exception_well_formed(e)
}

_exception_well_formed(e) if {
	is_string(e.id)
	_exception_valid(e)
	time.parse_rfc3339_ns(e.expires)
}

config_problems contains sprintf("vulnerabilities.max_report_age: %v is not a duration such as 168h", [a]) if {
	a := vulnerability_config.max_report_age
	not time.parse_duration_ns(a)
}
