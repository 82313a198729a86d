# Image reference model: parses a container image reference the way Docker normalises it
# (distribution/reference: ParseNormalizedNamed), so that rules compare what the container runtime
# will actually pull, not the string the user wrote.
#
#   parse("nginx") == {
#     "valid": true, "registry": "docker.io", "repository": "library/nginx",
#     "name": "docker.io/library/nginx", "tag": null, "digest": null, "effective_tag": "latest",
#     "normalized": "docker.io/library/nginx:latest", "familiar": "nginx",
#   }
#   parse("MyImage")  == {"valid": false, "error": "repository name \"MyImage\" must be lowercase"}
#
# Fields: registry (the domain, lowercased: DNS names are case-insensitive; "index.docker.io" is
# "docker.io"), repository (the path inside the registry; Docker Hub official images get
# "library/"), name (registry/repository), tag and digest as written (null when absent),
# effective_tag (the tag that is pulled: the tag, "latest" when neither tag nor digest is given,
# null for a digest-only reference), normalized (name[:effective_tag][@digest]) and familiar
# (Docker's short form). Anything the grammar refuses is {"valid": false, "error": ...}; rules
# must treat such images as denied, never as "no match".
#
# Plain Rego v1 with regex.match and regex.find_all_string_submatch_n only, so it runs under OPA
# too. The TypeScript twin is src/kube/reference.ts; test/library-reference.test.ts checks that
# both agree on every case and on random strings.
#
# Speed: every admission decision parses every image, so the common shapes take a fast path (one
# regular expression that only matches references the full grammar accepts, and fills in the
# fields directly); everything else, including every invalid reference and its error message,
# goes through the step-by-step checks below.
package lib.image_reference

import rego.v1

default_registry := "docker.io"

# Grammar pieces (protocols.md §6.1), anchored.
_component := `[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*`

_path_re := concat("", ["^", _component, "(?:/", _component, ")*$"])

_tag_re := `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`

_algorithm_re := `^[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*$`

_domain_label := `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`

_domain_re := concat("", ["^", _domain_label, `(?:\.`, _domain_label, `)*(?::[0-9]+)?$`])

_ipv6_domain_re := `^\[[a-fA-F0-9:]+\](?::[0-9]+)?$`

# name, then ":tag" (after the last "/"), then "@digest" (everything after the first "@").
# The colon and at-sign stay in the groups so "nginx:" (empty tag) differs from "nginx" (none).
_split_re := `^([^@]*?)(:[^:/@]*)?(@.*)?$`

_max_name_length := 255

# The fast path: [domain "/"] path [":" tag] ["@" sha256 digest], all lowercase but the tag.
# It matches only references the full grammar accepts with the same split:
# - group 1 is a registry only when the full grammar takes it as one: it contains "." or ":" or
#   is "localhost" (an alternative that is tried first, so "localhost/x" never takes the second);
# - without a registry, a first component followed by "/" has no "." (else it is a registry);
# - the digest is sha256 with 64 lowercase hex characters (other algorithms take the slow path).
# What it cannot see: a 64-character hexadecimal image ID and the name length (checked in _parse).
# Groups: 1 registry, 2 path after a registry, 3 path without one, 4 ":tag@digest" as written,
# 5 tag, 6 digest.
# One literal, so that no query has to assemble it; the tests check it against its pieces
# (_fast_re_parts), which reuse _component and the tag grammar.
_fast_re := `^(?:([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+(?::[0-9]+)?|:[0-9]+)|localhost)/([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*)|([a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*|[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)+))((?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(sha256:[0-9a-f]{64}))?)$`

_fast_label := `[a-z0-9](?:[a-z0-9-]*[a-z0-9])?`

_fast_component_no_dot := `[a-z0-9]+(?:(?:_|__|-+)[a-z0-9]+)*`

_fast_re_parts := concat("", [
	"^(?:(",
	_fast_label, `(?:(?:\.`, _fast_label, `)+(?::[0-9]+)?|:[0-9]+)|localhost`,
	")/(", _component, "(?:/", _component, ")*",
	")|(", _component, "|", _fast_component_no_dot, "(?:/", _component, ")+",
	"))((?::(", trim_suffix(trim_prefix(_tag_re, "^"), "$"), "))?(?:@(sha256:[0-9a-f]{64}))?)$",
])

# parse(image) is defined for every value: a non-string is invalid, not undefined. (_parse is
# defined for every string.)
parse(image) := _parse(image) if {
	is_string(image)
} else := _invalid("image reference must be a string")

# valid(image): the reference parses.
valid(image) if parse(image).valid

_invalid(msg) := {"valid": false, "error": msg}

# Absent groups are "": no registry and Docker Hub's legacy name are Docker Hub; an absent tag or
# digest is null; a tag is what is pulled, else "latest" when there is no digest either.
_parse(s) := {
	"valid": true,
	"registry": registry,
	"repository": repository,
	"name": name,
	"tag": object.get({"": null}, m[5], m[5]),
	"digest": object.get({"": null}, m[6], m[6]),
	"effective_tag": object.get({"": object.get({"": "latest"}, m[4], null)}, m[5], m[5]),
	"normalized": concat("", [name, object.get({"": ":latest"}, m[4], m[4])]),
	"familiar": familiar(registry, repository),
} if {
	m := regex.find_all_string_submatch_n(_fast_re, s, 1)[0]
	count(s) != 64
	registry := object.get({"": "docker.io", "index.docker.io": "docker.io"}, m[1], m[1])
	repository := _library(registry, concat("", [m[2], m[3]]))
	name := concat("/", [registry, repository])
	count(name) <= 255
} else := _checked_parse(s)

_checked_parse(s) := _invalid("image reference is empty") if {
	s == ""
} else := _invalid(sprintf("image reference %q contains whitespace", [s])) if {
	regex.match(`\s`, s)
} else := _invalid(sprintf("invalid repository name %q: cannot be a 64-character hexadecimal image ID", [s])) if {
	regex.match(`^[a-f0-9]{64}$`, s)
} else := _parse_parts(s, regex.find_all_string_submatch_n(_split_re, s, 1)[0])

_parse_parts(s, m) := _invalid(_digest_error(substring(m[3], 1, -1))) if {
	m[3] != ""
	_digest_error(substring(m[3], 1, -1))
} else := _invalid(sprintf("invalid tag %q in image reference %q", [substring(m[2], 1, -1), s])) if {
	m[2] != ""
	not regex.match(_tag_re, substring(m[2], 1, -1))
} else := _invalid(sprintf("image reference %q has no repository name", [s])) if {
	m[1] == ""
} else := _named(m[1], _optional(m[2]), _optional(m[3]))

# "" -> null, ":x" / "@x" -> "x"
_optional(g) := null if g == ""

_optional(g) := substring(g, 1, -1) if g != ""

_digest_error(d) := sprintf("invalid digest %q: expected algorithm:hex", [d]) if {
	not regex.match(`^[^:]+:`, d)
} else := sprintf("invalid digest algorithm %q", [_algorithm(d)]) if {
	not regex.match(_algorithm_re, _algorithm(d))
} else := sprintf("invalid sha256 digest %q: need exactly 64 lowercase hex characters", [d]) if {
	_algorithm(d) == "sha256"
	not regex.match(`^[0-9a-f]{64}$`, _hex(d))
} else := sprintf("invalid digest %q: need at least 32 hex characters", [d]) if {
	_algorithm(d) != "sha256"
	not regex.match(`^[0-9a-fA-F]{32,}$`, _hex(d))
}

_algorithm(d) := substring(d, 0, indexof(d, ":"))

_hex(d) := substring(d, indexof(d, ":") + 1, -1)

_named(name, tag, digest) := _invalid(sprintf("invalid registry domain %q", [split_domain(name)[0]])) if {
	not _domain_ok(split_domain(name)[0])
} else := _invalid(_path_error(split_domain(name)[1])) if {
	_path_error(split_domain(name)[1])
} else := _invalid(sprintf("repository name must not be longer than %d characters", [_max_name_length])) if {
	count(_full_name(split_domain(name))) > _max_name_length
} else := _result(split_domain(name), tag, digest)

_full_name(parts) := concat("/", [lower(parts[0]), parts[1]])

_result(parts, tag, digest) := {
	"valid": true,
	"registry": registry,
	"repository": parts[1],
	"name": name,
	"tag": tag,
	"digest": digest,
	"effective_tag": effective,
	"normalized": concat("", [name, _suffix(":", effective), _suffix("@", digest)]),
	"familiar": familiar(registry, parts[1]),
} if {
	registry := lower(parts[0])
	name := concat("/", [registry, parts[1]])
	effective := _effective_tag(tag, digest)
}

_suffix(_, x) := "" if x == null

_suffix(sep, x) := concat("", [sep, x]) if x != null

_effective_tag(tag, _) := tag if tag != null

_effective_tag(tag, digest) := "latest" if {
	tag == null
	digest == null
}

_effective_tag(tag, digest) := null if {
	tag == null
	digest != null
}

# split_domain(name) := [domain, path]: Docker's splitDockerDomain. The first component is a
# registry when it is "localhost", contains "." or ":", or has an uppercase letter (paths are
# lowercase); otherwise the registry is Docker Hub and the whole name is the path.
split_domain(name) := [d, _library(d, rest)] if {
	[first, rest] := _first_component(name)
	_is_domain(first)
	d := _legacy(first)
} else := [default_registry, _library(default_registry, name)]

_first_component(name) := [substring(name, 0, i), substring(name, i + 1, -1)] if {
	i := indexof(name, "/")
	i >= 0
}

_is_domain(c) if c == "localhost"

_is_domain(c) if contains(c, ".")

_is_domain(c) if contains(c, ":")

_is_domain(c) if lower(c) != c

_legacy(d) := default_registry if lower(d) == "index.docker.io"

_legacy(d) := d if lower(d) != "index.docker.io"

# Docker Hub's official images live under "library/".
_library(d, path) := concat("/", ["library", path]) if {
	d == default_registry
	not contains(path, "/")
} else := path

_domain_ok(d) if regex.match(_domain_re, d)

_domain_ok(d) if regex.match(_ipv6_domain_re, d)

_path_error(p) := "repository name must not be empty" if {
	p == ""
} else := sprintf("repository name %q must be lowercase", [p]) if {
	lower(p) != p
} else := sprintf("repository name %q has an empty path component", [p]) if {
	some c in split(p, "/")
	c == ""
} else := sprintf("repository name %q has an invalid path component", [p]) if {
	not regex.match(_path_re, p)
}

# familiar(registry, repository): Docker's short display form.
familiar(registry, repository) := concat("/", [registry, repository]) if {
	registry != default_registry
} else := substring(repository, 8, -1) if {
	startswith(repository, "library/")
	not contains(substring(repository, 8, -1), "/")
} else := repository
