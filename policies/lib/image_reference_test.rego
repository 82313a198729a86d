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
