// Integration: the real docker-registry + a Clair v4 test server (Clair cannot run here; the test
// server answers the documented indexer/matcher paths, status codes and report shapes) with a
// pre-shared key, + the Data API recorder.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { syncOnce } from "../../src/sync/sync.js";
import { registryAvailable, startRegistry, makeLayer, pushImage, pushIndex, type RunningRegistry } from "./registry-helper.js";
import { ClairV4Fake, DataApiRecorder } from "./servers.js";
import { registryConfig, syncOptions, platforms } from "./common.js";
import type { LayerDoc } from "../../src/sync/scanner.js";

const skip = registryAvailable ? false : "docker-registry is not installed";
const PSK = Buffer.from("a-very-secret-pre-shared-key-for-tests").toString("base64");

let reg: RunningRegistry;
let data: DataApiRecorder;
let clair: ClairV4Fake;
const base = makeLayer({ "var/lib/dpkg/status": "Package: openssl\nVersion: 3.0.11-1\n" });
const mid = makeLayer({ "usr/bin/tool": "tool" });
const top = makeLayer({ "app/main": "main" });

before(async () => {
  if (skip) return;
  reg = await startRegistry();
  data = await DataApiRecorder.start();
  clair = await ClairV4Fake.start();
  clair.psk = Buffer.from(PSK, "base64");
  clair.pollsNeeded = 2;
  clair.packagesByLayer.set(base.digest, [
    { name: "openssl", version: "3.0.11-1", vulns: [{ package: "openssl", version: "3.0.11-1", vuln: "CVE-2024-0001", severity: "High", fixed: "3.0.13-1" }] },
    { name: "bash", version: "5.2-1" },
  ]);
  clair.packagesByLayer.set(top.digest, [{ name: "zlib", version: "1.2", vulns: [{ package: "zlib", version: "1.2", vuln: "CVE-2024-0002", severity: "Low" }] }]);
  await pushImage(reg.url, "team/svc", "1.0", [base, mid, top]);
  await pushIndex(reg.url, "team/multi", "1", { amd64: [base, makeLayer({ a: "amd64" })], "arm/v7": [base, makeLayer({ a: "armv7" })] });
});

after(async () => {
  if (skip) return;
  await data.served.close();
  await clair.served.close();
  await reg.cleanup();
});

function opts(psk = PSK) {
  return syncOptions([registryConfig(reg.url, ["team/svc", "team/multi"], { platforms: platforms("linux/amd64", "linux/arm/v7") })], data.url, { url: clair.url, version: "v4", psk });
}

test("v4: index_report, poll until IndexFinished, vulnerability_report mapped to v2-shaped layer docs", { skip }, async () => {
  const r = await syncOnce(opts());
  assert.deepEqual(r.errors, []);
  // team/svc once, team/multi once per platform.
  assert.equal(clair.indexPosts.length, 3);
  assert.ok(clair.statePolls >= 1);
  assert.equal(clair.authFailures, 0);

  const b = data.get(["clair", "layers", base.digest]) as unknown as LayerDoc;
  assert.equal(b.Scanner, "clair-v4");
  assert.equal(b.Layer.Name, base.digest);
  assert.equal(b.Layer.NamespaceName, "debian:12");
  const openssl = b.Layer.Features!.find((f) => f.Name === "openssl")!;
  assert.equal(openssl.Version, "3.0.11-1");
  assert.equal(openssl.AddedBy, base.digest);
  assert.equal(openssl.Vulnerabilities!.length, 1);
  const v = openssl.Vulnerabilities![0]!;
  assert.equal(v.Name, "CVE-2024-0001");
  assert.equal(v.Severity, "High");
  assert.equal(v.FixedBy, "3.0.13-1");
  assert.equal(v.Link, "https://security-tracker.debian.org/tracker/CVE-2024-0001");
  // A package without vulnerabilities has no Vulnerabilities key (v2 omitempty), not [].
  const bash = b.Layer.Features!.find((f) => f.Name === "bash")!;
  assert.equal("Vulnerabilities" in bash, false);

  // The middle layer introduces nothing but, like v2, reports its parents' features.
  const m = data.get(["clair", "layers", mid.digest]) as unknown as LayerDoc;
  assert.equal(m.Layer.ParentName, base.digest);
  assert.deepEqual(m.Layer.Features!.map((f) => f.Name).sort(), ["bash", "openssl"]);
  const t = data.get(["clair", "layers", top.digest]) as unknown as LayerDoc;
  const zlib = t.Layer.Features!.find((f) => f.Name === "zlib")!;
  assert.equal(zlib.Vulnerabilities![0]!.Severity, "Low");
  assert.equal("FixedBy" in zlib.Vulnerabilities![0]!, false);

  // arm/v7 variant selected.
  const doc = data.get(["docker", "images", `${new URL(reg.url).host}/team/multi:1`]) as { platforms: Record<string, unknown> };
  assert.deepEqual(Object.keys(doc.platforms).sort(), ["linux/amd64", "linux/arm/v7"]);
});

test("v4: second sync makes no index calls and no polls", { skip }, async () => {
  const posts = clair.indexPosts.length;
  const polls = clair.statePolls;
  const gets = clair.reportGets;
  const r = await syncOnce(opts());
  assert.deepEqual(r.errors, []);
  assert.equal(clair.indexPosts.length, posts);
  assert.equal(clair.statePolls, polls);
  assert.equal(clair.reportGets, gets);
  assert.equal(r.requests.registry.manifestGet, 0);
});

test("v4: a wrong PSK is reported with a hint and writes no reports", { skip }, async () => {
  await pushImage(reg.url, "team/svc", "2.0", [makeLayer({ new: "layer" })]);
  const failures = clair.authFailures;
  const o = opts(Buffer.from("wrong-key").toString("base64"));
  const r = await syncOnce(o);
  assert.ok(clair.authFailures > failures);
  const e = r.errors.find((x) => x.component === "scanner")!;
  assert.match(e.message, /401/);
  assert.match(e.hint, /psk/i);
  // The manifest is still written; the layer has no report yet and is retried next time.
  assert.ok(data.get(["docker", "layers", "team", "svc", "2.0"]));
  const logged = JSON.stringify(o.logger.records);
  assert.equal(logged.includes(Buffer.from("wrong-key").toString("base64")), false);
  const r2 = await syncOnce(opts());
  assert.deepEqual(r2.errors, []);
  assert.equal(r2.layersIndexed, 1);
});

test("v4: stale reports are re-read from the matcher without re-indexing", { skip }, async () => {
  const posts = clair.indexPosts.length;
  const gets = clair.reportGets;
  const o = opts();
  o.reportMaxAgeMs = 1;
  await new Promise((r) => setTimeout(r, 5));
  const r = await syncOnce(o);
  assert.deepEqual(r.errors, []);
  assert.equal(clair.indexPosts.length, posts);
  assert.ok(clair.reportGets > gets);
  assert.ok(r.layerReportsWritten > 0);
});
