# Tests of the image reference model, including the known allow-list bypasses (issue 6):
#   image-enforcer test policies/lib
package lib.image_reference_test

import rego.v1

import data.lib.image_reference as ref

# rep("ab", 2) == "abab"
rep(s, n) := concat("", [s | some _ in numbers.range(1, n)])

d := concat("", ["sha256:", rep("ab", 32)])

test_familiar_official_image if {
	ref.parse("nginx") == {
		"valid": true, "registry": "docker.io", "repository": "library/nginx",
		"name": "docker.io/library/nginx", "tag": null, "digest": null, "effective_tag": "latest",
		"normalized": "docker.io/library/nginx:latest", "familiar": "nginx",
	}
}

test_tag if {
	r := ref.parse("nginx:1.25")
	r.name == "docker.io/library/nginx"
	r.tag == "1.25"
	r.normalized == "docker.io/library/nginx:1.25"
}

# Every spelling of Docker Hub's nginx is the same image.
test_docker_hub_spellings_agree if {
	names := {ref.parse(s).normalized | some s in ["nginx", "library/nginx", "docker.io/nginx", "docker.io/library/nginx", "index.docker.io/library/nginx", "index.docker.io/nginx", "nginx:latest"]}
	names == {"docker.io/library/nginx:latest"}
}

test_user_repository_on_docker_hub if {
	r := ref.parse("openpolicyagent/opa:0.4.9")
	r.registry == "docker.io"
	r.repository == "openpolicyagent/opa"
	r.familiar == "openpolicyagent/opa"
}

test_localhost_with_port if {
	r := ref.parse("localhost:5000/a/b:t")
	r.registry == "localhost:5000"
	r.repository == "a/b"
	r.tag == "t"
	r.familiar == "localhost:5000/a/b"
}

test_plain_localhost if {
	r := ref.parse("localhost/foo:1")
	r.registry == "localhost"
	r.repository == "foo"
}

test_port_and_digest_with_tag if {
	r := ref.parse(concat("", ["registry.io:443/x/y:t@", d]))
	r.registry == "registry.io:443"
	r.repository == "x/y"
	r.tag == "t"
	r.digest == d
	r.effective_tag == "t"
	r.normalized == concat("", ["registry.io:443/x/y:t@", d])
}

test_digest_without_tag if {
	r := ref.parse(concat("", ["registry.io:443/x/y@", d]))
	r.tag == null
	r.effective_tag == null
	r.normalized == concat("", ["registry.io:443/x/y@", d])
}

# A registry that merely starts with an allowed one is another registry.
test_lookalike_registry if {
	r := ref.parse("myregistry.io.evil.com/x")
	r.registry == "myregistry.io.evil.com"
	r.name == "myregistry.io.evil.com/x"
}

# DNS is case-insensitive: the registry is lowercased, the path must already be lowercase.
test_uppercase_registry if {
	r := ref.parse("MyRegistry.io/x")
	r.registry == "myregistry.io"
	r.name == "myregistry.io/x"
}

test_uppercase_repository_rejected if {
	r := ref.parse("MyImage")
	r.valid == false
	contains(r.error, "must be lowercase")
}

test_uppercase_path_after_registry_rejected if not ref.parse("quay.io/Org/x").valid

test_uppercase_tag_allowed if ref.parse("nginx:ABC").tag == "ABC"

test_empty_component_rejected if {
	r := ref.parse("a//b")
	r.valid == false
	contains(r.error, "empty path component")
}

test_empty_string_rejected if ref.parse("") == {"valid": false, "error": "image reference is empty"}

test_registry_without_repository_rejected if ref.parse("quay.io/") == {"valid": false, "error": "repository name must not be empty"}

test_non_string_rejected if ref.parse(7).valid == false

test_port_without_path_is_a_tag if {
	r := ref.parse("myhost:5000")
	r.name == "docker.io/library/myhost"
	r.tag == "5000"
}

test_ipv6_registry if ref.parse("[::1]:5000/a").registry == "[::1]:5000"

test_malformed_rejected if {
	every s in [
		"nginx:", "nginx@", "nginx@sha256:abc", ":tag", "@sha256:x", "a b", " nginx",
		"nginx:-bad", "a/b/", "/a", "-a", "a..b", "bad_host-.io/x", "host:port/x",
		concat("", ["nginx@sha256:", rep("A", 64)]),
		rep("a", 64),
	] {
		not ref.valid(s)
	}
}

test_separators_in_path if {
	every s in ["a.b/c_d", "a__b/c-d", "a---b"] {
		ref.valid(s)
	}
}

test_name_length_limit if {
	ref.valid(concat("/", ["quay.io", rep("a", 247)]))
	not ref.valid(concat("/", ["quay.io", rep("a", 248)]))
}

test_other_digest_algorithm if ref.parse(concat("", ["a@sha512:", rep("0", 128)])).digest != null

test_familiar_forms if {
	ref.familiar("docker.io", "library/nginx") == "nginx"
	ref.familiar("docker.io", "library/a/b") == "library/a/b"
	ref.familiar("quay.io", "x/y") == "quay.io/x/y"
}

# Exact results (every field, every error text) of references at the edges of the grammar, pinned
# so that a rewrite of the parser cannot change what it answers.
hex64 := rep("a", 64)

pinned := [
	["Docker.io/nginx", {"digest": null, "effective_tag": "latest", "familiar": "nginx", "name": "docker.io/nginx", "normalized": "docker.io/nginx:latest", "registry": "docker.io", "repository": "nginx", "tag": null, "valid": true}],
	["INDEX.DOCKER.IO/nginx", {"digest": null, "effective_tag": "latest", "familiar": "nginx", "name": "docker.io/library/nginx", "normalized": "docker.io/library/nginx:latest", "registry": "docker.io", "repository": "library/nginx", "tag": null, "valid": true}],
	["index.docker.io/a/b", {"digest": null, "effective_tag": "latest", "familiar": "a/b", "name": "docker.io/a/b", "normalized": "docker.io/a/b:latest", "registry": "docker.io", "repository": "a/b", "tag": null, "valid": true}],
	["docker.io/a/b:1", {"digest": null, "effective_tag": "1", "familiar": "a/b", "name": "docker.io/a/b", "normalized": "docker.io/a/b:1", "registry": "docker.io", "repository": "a/b", "tag": "1", "valid": true}],
	["localhost/x", {"digest": null, "effective_tag": "latest", "familiar": "localhost/x", "name": "localhost/x", "normalized": "localhost/x:latest", "registry": "localhost", "repository": "x", "tag": null, "valid": true}],
	["localhost", {"digest": null, "effective_tag": "latest", "familiar": "localhost", "name": "docker.io/library/localhost", "normalized": "docker.io/library/localhost:latest", "registry": "docker.io", "repository": "library/localhost", "tag": null, "valid": true}],
	["a:1/b", {"digest": null, "effective_tag": "latest", "familiar": "a:1/b", "name": "a:1/b", "normalized": "a:1/b:latest", "registry": "a:1", "repository": "b", "tag": null, "valid": true}],
	["[::1]/x", {"digest": null, "effective_tag": "latest", "familiar": "[::1]/x", "name": "[::1]/x", "normalized": "[::1]/x:latest", "registry": "[::1]", "repository": "x", "tag": null, "valid": true}],
	["a.b/c_d", {"digest": null, "effective_tag": "latest", "familiar": "a.b/c_d", "name": "a.b/c_d", "normalized": "a.b/c_d:latest", "registry": "a.b", "repository": "c_d", "tag": null, "valid": true}],
	["a_b.c/d", {"error": "invalid registry domain \"a_b.c\"", "valid": false}],
	["bad_host-.io/x", {"error": "invalid registry domain \"bad_host-.io\"", "valid": false}],
	["quay.io:/x", {"error": "invalid registry domain \"quay.io:\"", "valid": false}],
	["a b", {"error": "image reference \"a b\" contains whitespace", "valid": false}],
	["a\tb", {"error": "image reference \"a\\tb\" contains whitespace", "valid": false}],
	["a\u000bb", {"error": "repository name \"library/a\\vb\" has an invalid path component", "valid": false}],
	[hex64, {"error": "invalid repository name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": cannot be a 64-character hexadecimal image ID", "valid": false}],
	["nginx:", {"error": "invalid tag \"\" in image reference \"nginx:\"", "valid": false}],
	["nginx@", {"error": "invalid digest \"\": expected algorithm:hex", "valid": false}],
	["nginx@sha256:abc", {"error": "invalid sha256 digest \"sha256:abc\": need exactly 64 lowercase hex characters", "valid": false}],
	["nginx@:abc", {"error": "invalid digest \":abc\": expected algorithm:hex", "valid": false}],
	["nginx@abc", {"error": "invalid digest \"abc\": expected algorithm:hex", "valid": false}],
	[concat("", ["nginx@sha_256:", hex64]), {"error": "invalid digest algorithm \"sha_256\"", "valid": false}],
	["nginx@md5:abc", {"error": "invalid digest \"md5:abc\": need at least 32 hex characters", "valid": false}],
	[concat("", ["nginx@sha256:", upper(hex64)]), {"error": "invalid sha256 digest \"sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\": need exactly 64 lowercase hex characters", "valid": false}],
	["nginx:-x", {"error": "invalid tag \"-x\" in image reference \"nginx:-x\"", "valid": false}],
	[":x", {"error": "image reference \":x\" has no repository name", "valid": false}],
	[concat("", ["@sha256:", hex64]), {"error": "image reference \"@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\" has no repository name", "valid": false}],
	["Quay.io/X", {"error": "repository name \"X\" must be lowercase", "valid": false}],
	["quay.io//x", {"error": "repository name \"/x\" has an empty path component", "valid": false}],
	["a/B", {"error": "repository name \"a/B\" must be lowercase", "valid": false}],
	["a..b", {"error": "repository name \"library/a..b\" has an invalid path component", "valid": false}],
	["a/b:c:d", {"error": "repository name \"a/b:c\" has an invalid path component", "valid": false}],
	["x@y@z", {"error": "invalid digest \"y@z\": expected algorithm:hex", "valid": false}],
	["é", {"error": "repository name \"library/é\" has an invalid path component", "valid": false}],
	[concat("/", ["quay.io", rep("a", 248)]), {"error": "repository name must not be longer than 255 characters", "valid": false}],
	[concat("", ["nginx:1@sha512:", hex64, hex64]), {"digest": "sha512:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "effective_tag": "1", "familiar": "nginx", "name": "docker.io/library/nginx", "normalized": "docker.io/library/nginx:1@sha512:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "registry": "docker.io", "repository": "library/nginx", "tag": "1", "valid": true}],
	[concat("", ["Quay.IO:5000/a/b:T@sha256:", hex64]), {"digest": "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "effective_tag": "T", "familiar": "quay.io:5000/a/b", "name": "quay.io:5000/a/b", "normalized": "quay.io:5000/a/b:T@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "registry": "quay.io:5000", "repository": "a/b", "tag": "T", "valid": true}],
]

test_pinned_results if {
	every c in pinned {
		ref.parse(c[0]) == c[1]
	}
}

test_pinned_results_are_distinct_inputs if count({c[0] | some c in pinned}) == count(pinned)

# The fast path's expression is a literal for speed; it must stay the one built from the grammar.
test_fast_path_expression_matches_its_pieces if ref._fast_re == ref._fast_re_parts

# The fast path and the full checks split the same way: a reference it takes parses the same when
# the full checks are forced (a 64-character string is never taken by the fast path).
test_fast_path_agrees_with_the_full_checks if {
	every s in [
		"nginx", "nginx:1.25", "library/nginx", "docker.io/nginx", "index.docker.io/library/nginx", "localhost/foo:1",
		"localhost:5000/a/b:t", "a.b/c_d", "a:1/b", "a__b/c-d", "a---b", "myhost:5000", concat("@", ["registry.io:443/x/y:t", d]),
		concat("/", ["quay.io", rep("a", 247)]),
	] {
		regex.match(ref._fast_re, s)
		ref.parse(s) == ref._checked_parse(s)
	}
}
