import { test } from "node:test";
import assert from "node:assert/strict";
import { parseImageReference, isReferenceError, type ImageReference } from "../src/kube/reference.js";

const D = "sha256:" + "ab".repeat(32);

function ok(s: string): ImageReference {
  const r = parseImageReference(s);
  if (isReferenceError(r)) assert.fail(`expected ${JSON.stringify(s)} to parse, got error: ${r.error}`);
  return r;
}

function bad(s: string, pattern?: RegExp): void {
  const r = parseImageReference(s);
  assert.ok(isReferenceError(r), `expected ${JSON.stringify(s)} to be rejected, got ${JSON.stringify(r)}`);
  if (pattern) assert.match(r.error, pattern);
}

// The table in protocols.md §6.2.
const table: Array<[string, string, string, string | null, string | null]> = [
  ["nginx", "docker.io", "library/nginx", null, null],
  ["nginx:1.25", "docker.io", "library/nginx", "1.25", null],
  [`library/nginx@${D}`, "docker.io", "library/nginx", null, D],
  ["openpolicyagent/opa:0.4.9", "docker.io", "openpolicyagent/opa", "0.4.9", null],
  ["docker.io/nginx", "docker.io", "library/nginx", null, null],
  ["localhost/foo:1", "localhost", "foo", "1", null],
  ["localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", null],
  [`registry.io:443/x/y:t@${D}`, "registry.io:443", "x/y", "t", D],
  ["myhost:5000", "docker.io", "library/myhost", "5000", null],
  ["quay.io/coreos/clair", "quay.io", "coreos/clair", null, null],
];

for (const [input, domain, path, tag, digest] of table) {
  test(`reference table: ${input}`, () => {
    const r = ok(input);
    assert.equal(r.domain, domain);
    assert.equal(r.path, path);
    assert.equal(r.tag, tag);
    assert.equal(r.digest, digest);
    assert.equal(r.name, `${domain}/${path}`);
  });
}

test("implied latest and normalised strings", () => {
  const r = ok("nginx");
  assert.equal(r.effectiveTag, "latest");
  assert.equal(r.normalized, "docker.io/library/nginx:latest");
  assert.equal(r.familiarName, "nginx");
  assert.equal(r.apiHost, "registry-1.docker.io");
  const d = ok(`nginx@${D}`);
  assert.equal(d.effectiveTag, null);
  assert.equal(d.normalized, `docker.io/library/nginx@${D}`);
  const both = ok(`registry.io:443/x/y:t@${D}`);
  assert.equal(both.normalized, `registry.io:443/x/y:t@${D}`);
  assert.equal(both.familiarName, "registry.io:443/x/y");
  assert.equal(both.apiHost, "registry.io:443");
});

test("familiar names", () => {
  assert.equal(ok("docker.io/library/nginx:1").familiarName, "nginx");
  assert.equal(ok("index.docker.io/nginx").familiarName, "nginx");
  assert.equal(ok("openpolicyagent/opa").familiarName, "openpolicyagent/opa");
  assert.equal(ok("docker.io/library/a/b").familiarName, "library/a/b");
  assert.equal(ok("quay.io/coreos/clair").familiarName, "quay.io/coreos/clair");
});

test("legacy index.docker.io is docker.io", () => {
  const r = ok("index.docker.io/nginx:1");
  assert.equal(r.domain, "docker.io");
  assert.equal(r.path, "library/nginx");
});

test("more domains: IPv4, IPv6, deep paths", () => {
  assert.equal(ok("10.0.0.1/a").domain, "10.0.0.1");
  const v6 = ok("[::1]:5000/x/y:z");
  assert.equal(v6.domain, "[::1]:5000");
  assert.equal(v6.path, "x/y");
  assert.equal(v6.tag, "z");
  const deep = ok("gcr.io/proj/sub/img:1");
  assert.equal(deep.path, "proj/sub/img");
  assert.equal(ok("a/b/c").domain, "docker.io");
  assert.equal(ok("a/b/c").path, "a/b/c");
});

test("bypass attempts: look-alike domains are their own domain", () => {
  const r = ok("myregistry.io.evil.com/x");
  assert.equal(r.domain, "myregistry.io.evil.com");
  assert.equal(r.path, "x");
  assert.notEqual(r.domain, "myregistry.io");
  // Uppercase in the first component makes it a domain; DNS is case-insensitive so we lowercase it,
  // which keeps an allow- or deny-list on "myregistry.io" effective.
  const u = ok("MyRegistry.io/x");
  assert.equal(u.domain, "myregistry.io");
  assert.equal(u.name, "myregistry.io/x");
  const hub = ok("Docker.IO/nginx");
  assert.equal(hub.domain, "docker.io");
});

test("separators: allowed and refused", () => {
  assert.equal(ok("a__b/c.d-e---f").path, "a__b/c.d-e---f");
  bad("a___b/c", /invalid path component/);
  bad("a//b", /empty path component/);
  bad("a/b/", /empty path component/);
  bad("/a", /./);
  bad("a/-b", /invalid path component/);
  bad("a/b.", /invalid path component/);
});

test("rejected references", () => {
  bad("", /empty/);
  bad("NGINX", /lowercase/);
  bad("example.com/Foo/bar", /lowercase/);
  bad("nginx:", /invalid tag/);
  bad("nginx:-x", /invalid tag/);
  bad("nginx:" + "a".repeat(129), /invalid tag/);
  bad("nginx@sha256:abc", /64 lowercase hex/);
  bad("nginx@sha256:" + "AB".repeat(32), /64 lowercase hex/);
  bad("nginx@", /invalid digest/);
  bad("nginx@md5", /invalid digest/);
  bad("nginx@sha512:abc", /32 hex/);
  bad(" nginx", /whitespace/);
  bad("ngi nx", /whitespace/);
  bad("ab".repeat(32), /hexadecimal image ID/);
  bad("exa_mple.com:5000/x", /invalid registry domain/);
  bad("host:port/x", /invalid port/);
  bad("[zz]:5000/x", /invalid registry domain/);
  bad(":tag", /no repository/);
  bad("example.com/" + "a".repeat(250), /255/);
});

test("tag and digest together keep both; other digest algorithms accepted", () => {
  const r = ok(`nginx:1.25@${D}`);
  assert.equal(r.tag, "1.25");
  assert.equal(r.digest, D);
  const s512 = ok("nginx@sha512:" + "c".repeat(128));
  assert.equal(s512.digest, "sha512:" + "c".repeat(128));
});

test("never throws on odd input", () => {
  for (const s of ["@", ":", "/", "@@", "a@b@c", "a:b:c", "::::", "[", "[::1", "a/b@sha256:" + "0".repeat(64) + "x"]) {
    const r = parseImageReference(s);
    assert.ok(typeof r === "object" && r !== null);
    assert.ok(isReferenceError(r), `${s} should be refused`);
  }
});
