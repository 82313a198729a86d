// Unit tests for the sync's parsers and small pieces (no registry needed).

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, existsSync, readFileSync, rmSync } from "node:fs";
import * as https from "node:https";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parseChallenges, RegistryAuth } from "../../src/sync/auth.js";
import { nextLink } from "../../src/sync/registry.js";
import { parseManifest, selectPlatforms, parsePlatform, MT_OCI_INDEX, type ManifestIndex } from "../../src/sync/manifest.js";
import { parseDuration, parseSyncFlags, MAX_WAIT_MS, SYNC_HELP, HELP_REQUESTED } from "../../src/sync/options.js";
import { mapV4Report } from "../../src/sync/clair-v4.js";
import { parseV2Layer } from "../../src/sync/clair-v2.js";
import { parseRetryAfter, requestWithRetry, NodeTransport } from "../../src/sync/http.js";
import { redact, redactString, FaultLog, MemoryLogger, SyncError } from "../../src/sync/log.js";
import { encodePath, DataApi, tokenFromFile } from "../../src/sync/dataapi.js";
import { createSyncMetrics } from "../../src/sync/metrics.js";
import { Registry } from "prom-client";
import { Syncer } from "../../src/sync/sync.js";
import { registryAvailable, startRegistry, makeLayer, pushImage } from "./registry-helper.js";
import { ClairV2Replay, DataApiRecorder } from "./servers.js";
import { registryConfig, syncOptions, RECORDED_VULNERABLE } from "./common.js";

const D = (c: string) => "sha256:" + c.repeat(64);

test("WWW-Authenticate: any parameter order, quoted commas, several challenges", () => {
  const c = parseChallenges('Bearer scope="repository:a/b:pull,push", service="registry.docker.io",realm="https://auth.docker.io/token"');
  assert.equal(c.length, 1);
  assert.equal(c[0]!.scheme, "bearer");
  assert.deepEqual(c[0]!.params, { scope: "repository:a/b:pull,push", service: "registry.docker.io", realm: "https://auth.docker.io/token" });
  const two = parseChallenges('Basic realm="x", Bearer realm="https://t/token",service=svc');
  assert.deepEqual(two.map((x) => x.scheme), ["basic", "bearer"]);
  assert.equal(two[1]!.params["service"], "svc");
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b"')[0]!.params["realm"], 'a"b');
  assert.deepEqual(parseChallenges(""), []);
  assert.deepEqual(parseChallenges("=,,=="), []);
});

test("Link header: relative next resolved, other rels ignored, loops stopped", () => {
  const cur = "http://r:5000/v2/x/tags/list?n=2";
  assert.equal(nextLink('</v2/x/tags/list?last=b&n=2>; rel="next"', cur), "http://r:5000/v2/x/tags/list?last=b&n=2");
  assert.equal(nextLink('<http://r:5000/v2/x/tags/list?last=b>; rel="prev"', cur), undefined);
  assert.equal(nextLink(undefined, cur), undefined);
  assert.equal(nextLink(`<${cur}>; rel="next"`, cur), undefined);
  assert.equal(nextLink('<a>; rel="prev", </v2/x/tags/list?last=c>; rel=next', cur), "http://r:5000/v2/x/tags/list?last=c");
});

test("manifest parsing: formats, mismatches, garbage", () => {
  const m = parseManifest(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json", config: { digest: D("a"), size: 1 }, layers: [{ digest: D("b"), size: 2 }] })),
    "application/vnd.docker.distribution.manifest.v2+json",
  );
  assert.equal(m.kind, "image");
  // OCI manifests may omit mediaType; Content-Type decides.
  assert.equal(parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: D("a"), size: 1 }, layers: [] })), "application/vnd.oci.image.manifest.v1+json").kind, "image");
  assert.throws(() => parseManifest(Buffer.from("{"), "application/json"), /not valid JSON/);
  assert.throws(() => parseManifest(Buffer.from("[]"), "application/json"), /not a JSON object/);
  assert.throws(
    () => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT_OCI_INDEX, manifests: [] })), "application/vnd.oci.image.manifest.v1+json"),
    /does not match Content-Type/,
  );
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: "sha256:zz", size: 1 }, layers: [] })), "application/vnd.oci.image.manifest.v1+json"), /config.digest/);
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 2, config: { digest: D("a"), size: -1 }, layers: [] })), "application/vnd.oci.image.manifest.v1+json"), /size/);
  assert.throws(() => parseManifest(Buffer.from(JSON.stringify({ schemaVersion: 1, fsLayers: [] })), "application/vnd.docker.distribution.manifest.v1+prettyjws"), /schema 1/);
});

test("platform selection: variants, attestation entries, order of wanted platforms", () => {
  const idx: ManifestIndex = {
    kind: "index",
    mediaType: MT_OCI_INDEX,
    manifests: [
      { digest: D("1"), size: 1, platform: { os: "unknown", architecture: "unknown" } },
      { digest: D("2"), size: 1, platform: { os: "linux", architecture: "arm", variant: "v6" } },
      { digest: D("3"), size: 1, platform: { os: "linux", architecture: "arm", variant: "v7" } },
      { digest: D("4"), size: 1, platform: { os: "linux", architecture: "amd64" } },
    ],
  };
  const want = ["linux/arm/v7", "linux/amd64", "linux/s390x"].map((p) => parsePlatform(p) as { os: string; architecture: string });
  assert.deepEqual(selectPlatforms(idx, want).map((x) => x.entry.digest), [D("3"), D("4")]);
  assert.equal(selectPlatforms(idx, [parsePlatform("linux/arm") as never])[0]!.entry.digest, D("2"));
  assert.ok("error" in parsePlatform("linux"));
  assert.ok("error" in parsePlatform("linux/amd64/v1/x"));
});

test("durations", () => {
  assert.equal(parseDuration("60s"), 60_000);
  assert.equal(parseDuration("1m30s"), 90_000);
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("0"), 0);
  for (const bad of ["", "60", "1x", "s", "-1s", "1s2"]) assert.throws(() => parseDuration(bad), /invalid duration/, bad);
});

test("flags: defaults match the original, repositories normalised, env credentials", () => {
  const o = parseSyncFlags(["--repository", "nginx,openpolicyagent/opa"], { DOCKER_USER: "u", DOCKER_PASSWORD: "p" });
  assert.equal(o.opaUrl, "http://localhost:8181/v1");
  assert.equal(o.layerRoot, "/data/docker/layers");
  assert.equal(o.clairRoot, "/data/clair/layers");
  assert.equal(o.pollDelayMs, 60_000);
  assert.equal(o.once, false);
  assert.deepEqual(o.clair, { url: "http://localhost:6060/v1", version: "v2" });
  const r = o.registries[0]!;
  assert.equal(r.url, "https://registry-1.docker.io");
  assert.equal(r.domain, "docker.io");
  assert.deepEqual(r.repositories, ["library/nginx", "openpolicyagent/opa"]);
  assert.deepEqual(r.credentials, { username: "u", password: "p" });
  assert.deepEqual(r.platforms, [{ os: "linux", architecture: "amd64" }]);

  const v4 = parseSyncFlags(["--repository=a/b", "--clair-version", "v4", "--clair-psk", "c2VjcmV0", "--once", "--poll-delay=5m", "--registry-url", "http://127.0.0.1:5000", "--concurrency", "8", "--insecure"], {});
  assert.deepEqual(v4.clair, { url: "http://localhost:6060", version: "v4", psk: "c2VjcmV0" });
  assert.equal(v4.once, true);
  assert.equal(v4.pollDelayMs, 300_000);
  assert.equal(v4.concurrency, 8);
  assert.equal(v4.registries[0]!.domain, "127.0.0.1:5000");
  assert.equal(v4.registries[0]!.insecure, true);
  assert.equal(v4.registries[0]!.credentials, undefined);
  assert.equal(parseSyncFlags(["--repository", "a/b", "--clair-url", ""], {}).clair, null);
});

test("flags: clear errors", () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /no repositories/],
    [["--repository", "A/b"], /lowercase/],
    [["--repository", "a//b"], /empty path component/],
    [["--repository", "a/b", "--bogus"], /unknown flag/],
    [["--repository"], /needs a value/],
    [["--repository", "a/b", "--clair-version", "v3"], /v2 or v4/],
    [["--repository", "a/b", "--concurrency", "0"], /concurrency/],
    [["--repository", "a/b", "--poll-delay", "soon"], /invalid duration/],
    [["--repository", "a/b", "--opa-url", "ftp://x"], /http\(s\) URL/],
    [["--repository", "a/b", "--opa-layer-root", "data/x"], /must start with/],
    [["--repository", "a/b", "--registry-url", "nope"], /invalid registry URL/],
    [["--repository", "a/b", "--platform", "linux"], /invalid platform/],
    [["--repository", "a/b", "--config", "/nonexistent/file.yaml"], /cannot read config file/],
    [["stray"], /unexpected argument/],
  ];
  for (const [argv, re] of cases) {
    assert.throws(() => parseSyncFlags(argv, {}), (e: unknown) => e instanceof SyncError && re.test(e.message), argv.join(" "));
  }
  assert.throws(() => parseSyncFlags(["--help"], {}), (e: unknown) => e instanceof SyncError && e.message === HELP_REQUESTED);
  for (const f of ["--repository", "--poll-delay", "--clair-version", "--opa-clair-root", "--config", "--once", "DOCKER_PASSWORD"]) assert.ok(SYNC_HELP.includes(f), f);
});

test("--clair-index-timeout / clair.indexTimeout: Go durations, more than zero, the flag named in errors", () => {
  const flags = (...more: string[]): string[] => ["--repository", "a/b", "--clair-version", "v4", ...more];
  assert.equal(parseSyncFlags(flags(), {}).clairIndexTimeoutMs, undefined, "unset: the scanner's default applies");
  assert.equal(parseSyncFlags(flags("--clair-index-timeout", "300ms"), {}).clairIndexTimeoutMs, 300);
  assert.equal(parseSyncFlags(flags("--clair-index-timeout=1m30s"), {}).clairIndexTimeoutMs, 90_000);
  for (const [bad, re] of [
    ["soon", /^--clair-index-timeout: invalid duration "soon"$/],
    ["10", /^--clair-index-timeout: invalid duration "10"$/],
    ["-5s", /^--clair-index-timeout: invalid duration "-5s"$/],
    ["0", /^--clair-index-timeout must be longer than 0, not "0"$/],
    ["0s", /^--clair-index-timeout must be longer than 0, not "0s"$/],
  ] as const) {
    assert.throws(
      () => parseSyncFlags(flags("--clair-index-timeout", bad), {}),
      (e: unknown) => e instanceof SyncError && e.component === "config" && re.test(e.message) && /Go duration such as/.test(e.hint),
      bad,
    );
  }
  assert.throws(() => parseSyncFlags(flags("--clair-index-timeout"), {}), /--clair-index-timeout needs a value/);
  assert.ok(SYNC_HELP.includes("--clair-index-timeout"));

  const dir = mkdtempSync(join(tmpdir(), "ie-cfg-"));
  const cfg = join(dir, "sync.yaml");
  writeFileSync(cfg, "clair: {url: http://clair:6060, version: v4, indexTimeout: 2m}\nregistries: [{url: https://r.example, repositories: [a/b]}]\n");
  assert.equal(parseSyncFlags(["--config", cfg], {}).clairIndexTimeoutMs, 120_000);
  assert.equal(parseSyncFlags(["--config", cfg, "--clair-index-timeout", "5s"], {}).clairIndexTimeoutMs, 5000, "the flag wins over the file");
  writeFileSync(cfg, "clair: {url: http://clair:6060, indexTimeout: 0}\nregistries: [{url: https://r.example, repositories: [a/b]}]\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), (e: unknown) => e instanceof SyncError && e.message === `${cfg}: clair.indexTimeout must be longer than 0, not "0"`);
  writeFileSync(cfg, "clair: {url: http://clair:6060, indexTimout: 2m}\nregistries: [{url: https://r.example, repositories: [a/b]}]\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /unknown key "clair.indexTimout"/);
});

test("durations that end up in a timer are at most 576h; a number too long for a double is refused", () => {
  const flags = (...more: string[]): string[] => ["--repository", "a/b", "--clair-version", "v4", ...more];
  const refused = (argv: string[], message: string): void => {
    assert.throws(() => parseSyncFlags(argv, {}), (e: unknown) => e instanceof SyncError && e.component === "config" && e.message === message && /Go duration/.test(e.hint), message);
  };
  // Node fires a timer of more than 2^31-1 ms (~24.8 days) after 1 ms: 600h would poll without pause.
  assert.equal(parseSyncFlags(flags("--poll-delay", "576h"), {}).pollDelayMs, MAX_WAIT_MS);
  assert.ok(MAX_WAIT_MS < 2 ** 31 - 1);
  refused(flags("--poll-delay", "600h"), `--poll-delay must be at most 576h (24 days), not "600h"`);
  refused(flags("--poll-delay", "576h0.001s"), `--poll-delay must be at most 576h (24 days), not "576h0.001s"`);
  assert.equal(parseSyncFlags(flags("--clair-index-timeout", "576h"), {}).clairIndexTimeoutMs, MAX_WAIT_MS);
  refused(flags("--clair-index-timeout", "25000h"), `--clair-index-timeout must be at most 576h (24 days), not "25000h"`);
  const huge = `${"9".repeat(400)}s`;
  refused(flags("--poll-delay", huge), `--poll-delay: duration "${huge}" is too long`);
  refused(flags("--report-max-age", huge), `--report-max-age: duration "${huge}" is too long`);
  assert.throws(() => parseDuration(huge), /is too long/);
  // Not a timer (compared with a report's age): long values stay allowed.
  assert.equal(parseSyncFlags(flags("--report-max-age", "8760h"), {}).reportMaxAgeMs, 8760 * 3_600_000);
  assert.match(SYNC_HELP, /--poll-delay 60s .*more than 0, at most 576h/);
  // Zero would sync without pause (and back off failing repositories by zero).
  refused(flags("--poll-delay", "0s"), `--poll-delay must be longer than 0, not "0s"`);
  refused(flags("--poll-delay", "0"), `--poll-delay must be longer than 0, not "0"`);
  assert.equal(parseSyncFlags(flags("--poll-delay", "1ms"), {}).pollDelayMs, 1);

  const dir = mkdtempSync(join(tmpdir(), "ie-cfg-"));
  const cfg = join(dir, "sync.yaml");
  writeFileSync(cfg, "pollDelay: 600h\nclair: {url: http://clair:6060, version: v4, indexTimeout: 1000h}\nregistries: [{url: https://r.example, repositories: [a/b]}]\n");
  refused(["--config", cfg], `${cfg}: pollDelay must be at most 576h (24 days), not "600h"`);
  refused(["--config", cfg, "--poll-delay", "1m"], `${cfg}: clair.indexTimeout must be at most 576h (24 days), not "1000h"`);
  rmSync(dir, { recursive: true, force: true });
});

test("config file: many registries, secrets from env and files, legacy layout for the first", () => {
  const dir = mkdtempSync(join(tmpdir(), "ie-cfg-"));
  writeFileSync(join(dir, "pw"), "file-secret\n");
  writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n");
  const cfg = join(dir, "sync.yaml");
  writeFileSync(
    cfg,
    `pollDelay: 30s
concurrency: 2
opa: {url: "http://opa:8181/v1"}
clair: {url: "http://clair:6060", version: v4, pskEnv: PSK_VAR, pskIssuer: quay}
registries:
  - url: https://registry-1.docker.io
    usernameEnv: HUB_USER
    passwordFile: ${join(dir, "pw")}
    repositories: [nginx, org/app]
    platforms: [linux/amd64, linux/arm64]
  - url: https://reg.internal:5000
    caFile: ${join(dir, "ca.pem")}
    repositories: [team/a/b]
`,
  );
  const o = parseSyncFlags(["--config", cfg, "--once"], { HUB_USER: "hubuser", PSK_VAR: "cHNr" });
  assert.equal(o.pollDelayMs, 30_000);
  assert.equal(o.concurrency, 2);
  assert.equal(o.opaUrl, "http://opa:8181/v1");
  assert.deepEqual(o.clair, { url: "http://clair:6060", version: "v4", psk: "cHNr", pskIssuer: "quay" });
  assert.equal(o.registries.length, 2);
  assert.deepEqual(o.registries[0]!.repositories, ["library/nginx", "org/app"]);
  assert.deepEqual(o.registries[0]!.credentials, { username: "hubuser", password: "file-secret" });
  assert.equal(o.registries[0]!.legacyLayout, true);
  assert.equal(o.registries[1]!.legacyLayout, false);
  assert.equal(o.registries[1]!.domain, "reg.internal:5000");
  assert.match(o.registries[1]!.ca!, /BEGIN CERTIFICATE/);
  // Errors point at the problem.
  writeFileSync(cfg, "registries:\n  - url: https://x\n    repositories: []\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /registries\[0\]\.repositories must be a non-empty list/);
  writeFileSync(cfg, "registries:\n  - url: https://x\n    repositories: [a/b]\n    passwordEnv: NOPE\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /NOPE/);
  writeFileSync(cfg, "regsitries: []\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /unknown key "regsitries"/);
  writeFileSync(cfg, "a: [\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /not valid YAML/);
});

test("Clair v4 report mapping: cumulative features, earliest layer wins, omitempty", () => {
  const L = [D("1"), D("2"), D("3")];
  const report = {
    packages: { p1: { name: "openssl", version: "1" }, p2: { name: "curl", version: "2" }, p3: { name: "ghost", version: "0" } },
    distributions: { d: { did: "alpine", version_id: "3.19" } },
    environments: {
      p1: [{ introduced_in: L[2], distribution_id: "d" }, { introduced_in: L[0], distribution_id: "d" }],
      p2: [{ introduced_in: L[1], distribution_id: "d" }],
      p3: [{ introduced_in: D("9") }],
    },
    vulnerabilities: { v: { name: "CVE-1", normalized_severity: "Critical", links: "https://a https://b", fixed_in_version: "" } },
    package_vulnerabilities: { p1: ["v"] },
  };
  const m = mapV4Report(report, L, "2026-01-01T00:00:00.000Z");
  assert.deepEqual(m.get(L[0]!)!.Layer, {
    Name: L[0],
    NamespaceName: "alpine:3.19",
    Features: [
      {
        Name: "openssl",
        AddedBy: L[0],
        Version: "1",
        NamespaceName: "alpine:3.19",
        Vulnerabilities: [{ Name: "CVE-1", Severity: "Critical", NamespaceName: "alpine:3.19", Link: "https://a", Metadata: { ClairV4: { id: "v", updater: undefined, severity: undefined, links: "https://a https://b", issued: undefined } } }],
      },
    ],
  });
  assert.deepEqual(m.get(L[1]!)!.Layer.Features!.map((f) => f.Name), ["openssl", "curl"]);
  assert.equal("Vulnerabilities" in m.get(L[1]!)!.Layer.Features![1]!, false);
  assert.equal(m.get(L[2]!)!.Layer.ParentName, L[1]);
  // Garbage fields do not crash the mapping.
  const g = mapV4Report({ packages: [], environments: "x", vulnerabilities: null }, L, "t");
  assert.equal(g.size, 3);
  assert.equal("Features" in g.get(L[0]!)!.Layer, false);
});

test("Clair v2 report validation", () => {
  assert.equal(parseV2Layer(Buffer.from('{"Layer":{"Name":"x"}}'), "x").Name, "x");
  for (const bad of ["", "[]", "{}", '{"Layer":{}}', '{"Layer":{"Name":"x","Features":{}}}', '{"Layer":{"Name":"x","Features":[{"Name":"f","Vulnerabilities":[{}]}]}}']) {
    assert.throws(() => parseV2Layer(Buffer.from(bad), "x"), SyncError, bad);
  }
});

test("Retry-After parsing", () => {
  assert.equal(parseRetryAfter("3"), 3000);
  assert.equal(parseRetryAfter(undefined), undefined);
  assert.equal(parseRetryAfter("soon"), undefined);
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now), 10_000);
});

test("retries 503 then succeeds; gives up after the attempts; 404 not retried", async () => {
  let n = 0;
  const statuses = [503, 429, 200];
  const server = http.createServer((req, res) => {
    const s = req.url === "/404" ? 404 : req.url === "/always" ? 500 : req.url === "/big" ? 200 : statuses[n]!;
    n++;
    res.writeHead(s, s === 429 ? { "retry-after": "0" } : {});
    res.end("x");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const t = new NodeTransport();
  const policy = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 5 };
  try {
    assert.equal((await requestWithRetry(t, { method: "GET", url: `${base}/ok` }, policy)).status, 200);
    assert.equal(n, 3);
    n = 0;
    assert.equal((await requestWithRetry(t, { method: "GET", url: `${base}/always` }, policy)).status, 500);
    assert.equal(n, 3);
    n = 0;
    assert.equal((await requestWithRetry(t, { method: "GET", url: `${base}/404` }, policy)).status, 404);
    assert.equal(n, 1);
    await assert.rejects(requestWithRetry(t, { method: "GET", url: `${base}/big`, maxBodyBytes: 0 }, policy), /larger than/);
  } finally {
    t.close();
    server.close();
  }
});

test("token expiry: a token is reused until it expires, then refreshed", async () => {
  let issued = 0;
  const server = http.createServer((_req, res) => {
    issued++;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ access_token: `tok${issued}`, expires_in: 60 }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const realm = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  let now = 1_000_000;
  const t = new NodeTransport();
  const a = new RegistryAuth(t, undefined, { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 }, () => now);
  try {
    assert.equal(await a.headerFor("repository:a/b:pull"), undefined);
    assert.deepEqual(a.learn(`Bearer realm="${realm}",service="s"`, "repository:a/b:pull"), { retry: true, scope: "repository:a/b:pull" });
    assert.equal(await a.headerFor("repository:a/b:pull"), "Bearer tok1");
    assert.equal(await a.headerFor("repository:a/b:pull"), "Bearer tok1");
    now += 61_000;
    assert.equal(await a.headerFor("repository:a/b:pull"), "Bearer tok2");
    assert.equal(await a.headerFor("repository:c/d:pull"), "Bearer tok3");
  } finally {
    t.close();
    server.close();
  }
});

test("redaction and log-once", () => {
  assert.equal(redactString("Authorization: Bearer abc.def-ghi"), "Authorization: Bearer [redacted]");
  assert.equal(redactString("https://user:pw@host/x"), "https://[redacted]@host/x");
  assert.deepEqual(redact({ password: "x", nested: { Authorization: "Basic Zm9v" }, ok: "fine" }), { password: "[redacted]", nested: { Authorization: "[redacted]" }, ok: "fine" });
  const l = new MemoryLogger();
  const f = new FaultLog(l);
  const e = new SyncError("registry", "down", "wait");
  f.fail("k", e);
  f.fail("k", e);
  f.fail("k", e);
  assert.equal(l.records.length, 1);
  f.fail("k", new SyncError("registry", "other failure", "x"));
  assert.equal(l.records.length, 2);
  f.ok("k");
  f.ok("k");
  assert.equal(l.records.length, 3);
  assert.equal(l.records[2]!.msg, "recovered: k");
});

test("Data API path encoding keeps keys with / and : as one segment", () => {
  assert.equal(encodePath(["data", "docker", "images", "127.0.0.1:5000/a/b:1"]), "data/docker/images/127.0.0.1%3A5000%2Fa%2Fb%3A1");
});

test("metrics are registered on the registry passed in", async () => {
  const reg = new Registry();
  const m = createSyncMetrics(reg);
  m.imageSynced("docker.io");
  m.layerIndexed("docker.io", 3);
  m.error("scanner");
  m.success(new Date(5000));
  const text = await reg.metrics();
  assert.match(text, /image_enforcer_sync_images_synced_total\{registry="docker.io"\} 1/);
  assert.match(text, /image_enforcer_sync_layers_indexed_total\{registry="docker.io"\} 3/);
  assert.match(text, /image_enforcer_sync_errors_total\{component="scanner"\} 1/);
  assert.match(text, /image_enforcer_sync_last_success_timestamp_seconds 5/);
});

test("the documented example config parses", () => {
  // The compiled test runs from dist/ (or a helper's build dir): walk up to the source tree.
  let dir = new URL(".", import.meta.url).pathname;
  while (!existsSync(join(dir, "test/fixtures/sync/config.yaml")) && dir !== "/") dir = join(dir, "..");
  const o = parseSyncFlags(["--config", join(dir, "test/fixtures/sync/config.yaml")], { DOCKER_USER: "u", DOCKER_PASSWORD: "p", CLAIR_PSK: "c2Vj" });
  assert.equal(o.reportMaxAgeMs, 12 * 3600_000);
  assert.equal(o.imagesRoot, "/data/docker/images");
  assert.equal(o.clair?.version, "v4");
  assert.equal(o.registries.length, 2);
  assert.deepEqual(o.registries[0]!.platforms.map((p) => `${p.os}/${p.architecture}`), ["linux/amd64", "linux/arm64"]);
  assert.equal(o.registries[1]!.scannerUrl, "http://registry.registry.svc:5000");
  assert.equal(o.registries[1]!.insecure, true);
});

// ---------------------------------------------------------------------------------------------
// The sync as a sidecar of the policy server (deploy/kubernetes): HTTPS Data API on 127.0.0.1
// with a certificate for the Service name, bearer token from a mounted Secret.

test("flags: Data API token file and TLS settings, from flags and from the config file", () => {
  const o = parseSyncFlags(["--repository", "a/b", "--opa-url", "https://127.0.0.1:8181/v1", "--opa-token-file", "/t/token", "--opa-ca-file=/c/tls.crt", "--opa-tls-server-name", "svc.ns.svc"], {});
  assert.equal(o.opaTokenFile, "/t/token");
  assert.deepEqual(o.opaTls, { caFile: "/c/tls.crt", serverName: "svc.ns.svc", insecure: false });
  const plain = parseSyncFlags(["--repository", "a/b"], {});
  assert.equal(plain.opaTokenFile, undefined);
  assert.equal(plain.opaTls, undefined);
  assert.deepEqual(parseSyncFlags(["--repository", "a/b", "--opa-url", "https://x/v1", "--opa-insecure"], {}).opaTls, { insecure: true });
  assert.throws(() => parseSyncFlags(["--repository", "a/b", "--opa-ca-file", "/c"], {}), /need an https --opa-url/);

  const dir = mkdtempSync(join(tmpdir(), "ie-cfg-"));
  const cfg = join(dir, "sync.yaml");
  writeFileSync(cfg, "opa: {url: 'https://127.0.0.1:8181/v1', tokenFile: /t, caFile: /c, serverName: s.svc}\nregistries: [{url: 'https://r.example', repositories: [a/b]}]\n");
  const c = parseSyncFlags(["--config", cfg], {});
  assert.equal(c.opaTokenFile, "/t");
  assert.deepEqual(c.opaTls, { caFile: "/c", serverName: "s.svc", insecure: false });
  // A flag overrides the file.
  assert.equal(parseSyncFlags(["--config", cfg, "--opa-token-file", "/other"], {}).opaTokenFile, "/other");
  writeFileSync(cfg, "opa: {tokenFlie: /t}\nregistries: [{url: 'https://r.example', repositories: [a/b]}]\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /unknown key "opa.tokenFlie"/);
  writeFileSync(cfg, "opa: {url: 'https://x/v1', insecure: 'yes'}\nregistries: [{url: 'https://r.example', repositories: [a/b]}]\n");
  assert.throws(() => parseSyncFlags(["--config", cfg], {}), /opa.insecure must be true or false/);
  for (const f of ["--opa-token-file", "--opa-ca-file", "--opa-tls-server-name", "--opa-insecure"]) assert.ok(SYNC_HELP.includes(f), f);
  rmSync(dir, { recursive: true, force: true });
});

test("config file: empty credentials from the environment mean anonymous access", () => {
  const dir = mkdtempSync(join(tmpdir(), "ie-cfg-"));
  const cfg = join(dir, "sync.yaml");
  writeFileSync(cfg, "registries: [{url: 'https://r.example', usernameEnv: U, passwordEnv: P, repositories: [a/b]}]\n");
  assert.equal(parseSyncFlags(["--config", cfg], { U: "", P: "" }).registries[0]!.credentials, undefined);
  assert.deepEqual(parseSyncFlags(["--config", cfg], { U: "u", P: "" }).registries[0]!.credentials, { username: "u", password: "" });
  assert.throws(() => parseSyncFlags(["--config", cfg], { U: "u" }), /environment variable P/);
  rmSync(dir, { recursive: true, force: true });
});

test("token files: first line that is not blank or a comment", () => {
  assert.equal(tokenFromFile("\n# comment\n  abc  \ndef\n"), "abc");
  assert.equal(tokenFromFile("# only a comment\n\n"), undefined);
  assert.equal(tokenFromFile("tok"), "tok");
});

const opensslAvailable = spawnSync("openssl", ["version"]).status === 0;

/** A CA and a server certificate issued by it for `name` (DNS SAN only, no IP). */
function issueCert(dir: string, prefix: string, name: string): { ca: string; cert: string; key: string } {
  const p = (f: string) => join(dir, `${prefix}-${f}`);
  const run = (args: string[]) => {
    const r = spawnSync("openssl", args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl ${args[0]}: ${r.stderr}`);
  };
  run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", `/CN=${prefix}-ca`, "-keyout", p("ca.key"), "-out", p("ca.crt")]);
  run(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", `/CN=${name}`, "-keyout", p("tls.key"), "-out", p("tls.csr")]);
  writeFileSync(p("ext"), `subjectAltName=DNS:${name}\n`);
  run(["x509", "-req", "-in", p("tls.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2", "-out", p("tls.crt"), "-extfile", p("ext")]);
  return { ca: p("ca.crt"), cert: p("tls.crt"), key: p("tls.key") };
}

test("Data API over HTTPS on 127.0.0.1: pinned certificate + server name, token from a file, rotation of both", { skip: opensslAvailable ? false : "openssl is not installed" }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ie-dataapi-tls-"));
  const name = "image-enforcer.image-enforcer.svc";
  const one = issueCert(dir, "one", name);
  const two = issueCert(dir, "two", name);
  const seen: Array<string | undefined> = [];
  const server = https.createServer({ cert: readFileSync(one.cert), key: readFileSync(one.key) }, (req, res) => {
    seen.push(req.headers["authorization"]);
    req.resume();
    req.on("end", () => {
      res.writeHead(req.headers["authorization"] === "Bearer tok-2" || req.headers["authorization"] === "Bearer tok-1" ? 204 : 401, { "content-type": "application/json" });
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  const url = `https://127.0.0.1:${port}/v1`;
  const tokenFile = join(dir, "token");
  const pinned = join(dir, "pinned.crt");
  writeFileSync(tokenFile, "# the sync's token\ntok-1\n");
  writeFileSync(pinned, readFileSync(one.cert));
  const retry = { attempts: 1, baseDelayMs: 1, maxDelayMs: 1, maxRetryAfterMs: 1 };
  const transport = new NodeTransport();
  const api = (tls: ConstructorParameters<typeof DataApi>[0]["tls"], tf: string | undefined = tokenFile) => new DataApi({ url, transport, retry, timeoutMs: 5000, tokenFile: tf, tls });
  const clients: DataApi[] = [];
  const mk = (tls: ConstructorParameters<typeof DataApi>[0]["tls"], tf?: string) => {
    const c = api(tls, tf);
    clients.push(c);
    return c;
  };
  try {
    // The server's own certificate pinned (not a root: it is issued by one.ca), checked for the Service name.
    const pinnedApi = mk({ caFile: pinned, serverName: name });
    await pinnedApi.put(["data", "x"], { a: 1 });
    assert.equal(seen.at(-1), "Bearer tok-1");
    // The issuing CA works as well.
    await mk({ caFile: one.ca, serverName: name }).put(["data", "x"], 1);
    // Without the server name the certificate does not match 127.0.0.1.
    await assert.rejects(mk({ caFile: one.ca }).put(["data", "x"], 1), (e: unknown) => e instanceof SyncError && e.component === "data-api" && /unreachable/.test(e.message));
    // A certificate the file does not hold is refused.
    await assert.rejects(mk({ caFile: two.ca, serverName: name }).put(["data", "x"], 1), /unreachable/);
    // Token rotated in the mounted file: the next request carries the new one.
    writeFileSync(tokenFile, "tok-2\n");
    await pinnedApi.put(["data", "x"], 2);
    assert.equal(seen.at(-1), "Bearer tok-2");
    // Certificate renewed (another CA even): the server serves it, the pinned file is replaced.
    server.setSecureContext({ cert: readFileSync(two.cert), key: readFileSync(two.key) });
    writeFileSync(pinned, readFileSync(two.cert));
    await pinnedApi.put(["data", "x"], 3);
    // A token the server does not accept: 401 with a hint naming the flag.
    writeFileSync(tokenFile, "wrong\n");
    await assert.rejects(pinnedApi.put(["data", "x"], 4), (e: unknown) => e instanceof SyncError && /HTTP 401/.test(e.message) && /--opa-token-file/.test(e.hint));
    // Missing or empty token file: a Data API fault of this request (retried later), not a crash.
    const before = seen.length;
    await assert.rejects(mk({ caFile: pinned, serverName: name }, join(dir, "missing")).put(["data", "x"], 5), (e: unknown) => e instanceof SyncError && e.component === "data-api" && /cannot read --opa-token-file/.test(e.message));
    writeFileSync(tokenFile, "# nothing yet\n");
    await assert.rejects(pinnedApi.put(["data", "x"], 6), /holds no token/);
    writeFileSync(tokenFile, "tok-2\n");
    await assert.rejects(mk({ caFile: join(dir, "missing.crt"), serverName: name }).put(["data", "x"], 7), /cannot read --opa-ca-file/);
    assert.equal(seen.length, before, "nothing is sent without a token or certificate");
  } finally {
    for (const c of clients) c.close();
    transport.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a policy server that lost the pushed data (restarted) gets everything written again", { skip: registryAvailable ? false : "docker-registry is not installed" }, async () => {
  const reg = await startRegistry();
  const data = await DataApiRecorder.start();
  const clair = await ClairV2Replay.start();
  const syncer = new Syncer(syncOptions([registryConfig(reg.url, ["r/app"])], data.url, { url: `${clair.served.url}/v1`, version: "v2" }));
  try {
    const layer = makeLayer({ restart: "yes" });
    clair.aliases.set(layer.digest, RECORDED_VULNERABLE);
    await pushImage(reg.url, "r/app", "1", [layer]);
    let r = await syncer.cycle();
    assert.deepEqual(r.errors, []);
    assert.ok(data.get(["docker", "layers", "r", "app", "1"]));
    assert.ok(data.get(["clair", "layers", layer.digest]));
    // Nothing changed: nothing written.
    r = await syncer.cycle();
    assert.equal(r.requests.dataApi.put, 0);
    // The server restarts with empty data; the same process notices on its next cycle.
    data.data = {};
    r = await syncer.cycle();
    assert.deepEqual(r.errors, []);
    assert.ok(data.get(["docker", "layers", "r", "app", "1"]), "manifest written again");
    assert.ok(data.get(["clair", "layers", layer.digest]), "layer report written again");
  } finally {
    syncer.close();
    await data.served.close();
    await clair.served.close();
    await reg.cleanup();
  }
});

test("config file nested absurdly deep: a config error, not a crash", () => {
  const dir = mkdtempSync(join(tmpdir(), "sync-deep-"));
  const cfg = join(dir, "sync.yaml");
  // Building such a document could abort the process inside the YAML library.
  writeFileSync(cfg, `registries: ${"[".repeat(5000)}\n`);
  assert.throws(
    () => parseSyncFlags(["--config", cfg], {}),
    (e: unknown) => e instanceof SyncError && e.component === "config" && e.message === `config file ${cfg} is nested more than 200 levels deep`,
  );
});
