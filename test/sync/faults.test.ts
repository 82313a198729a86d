// Fault tests: a registry that stops mid-sync, answers garbage or is slow; Clair answering 500s
// and malformed JSON; a Data API refusing writes. The sync must keep going, report the errors,
// log each failure once, and leave the earlier data in place.

import { test, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { syncOnce, runSync } from "../../src/sync/sync.js";
import { registryAvailable, startRegistry, makeLayer, pushImage, sha256, type RunningRegistry } from "./registry-helper.js";
import { ClairV2Replay, CountingProxy, DataApiRecorder } from "./servers.js";
import { registryConfig, syncOptions, RECORDED_VULNERABLE } from "./common.js";

const skip = registryAvailable ? false : "docker-registry is not installed";

let reg: RunningRegistry;
let proxy: CountingProxy;
let data: DataApiRecorder;
let clair: ClairV2Replay;
const REPOS = ["f/one", "f/two", "f/three"];
const base = makeLayer({ base: "debian" });

before(async () => {
  if (skip) return;
  reg = await startRegistry();
  proxy = await CountingProxy.start(reg.url);
  data = await DataApiRecorder.start();
  clair = await ClairV2Replay.start();
  clair.aliases.set(base.digest, RECORDED_VULNERABLE);
  for (const repo of REPOS) for (const tag of ["1", "2", "3"]) await pushImage(reg.url, repo, tag, [base, makeLayer({ repo, tag })]);
});

after(async () => {
  if (skip) return;
  await proxy.served.close();
  await data.served.close();
  await clair.served.close();
  await reg.cleanup();
});

beforeEach(() => {
  if (skip) return;
  proxy.onRequest = undefined;
  proxy.override = undefined;
  proxy.rewriteBody = undefined;
  clair.mode = "ok";
  data.mode = "ok";
});

function opts(extra = {}) {
  return syncOptions([registryConfig(proxy.url, REPOS)], data.url, { url: clair.url, version: "v2" }, { concurrency: 1, ...extra });
}

async function goodSync(): Promise<void> {
  const r = await syncOnce(opts());
  assert.deepEqual(r.errors, []);
}

test("registry stopped mid-sync: errors reported, data intact, recovers when it is back", { skip }, async () => {
  await goodSync();
  const snapshot = structuredClone(data.data);
  // New tags so the next sync has work to do when the registry disappears.
  await pushImage(reg.url, "f/one", "new1", [base, makeLayer({ n: "1" })]);
  await pushImage(reg.url, "f/two", "new2", [base, makeLayer({ n: "2" })]);
  let heads = 0;
  proxy.onRequest = async (r) => {
    if (r.method === "HEAD" && ++heads === 3) await reg.stop();
  };
  const deletes = data.count("DELETE");
  const o = opts();
  const r = await syncOnce(o);
  assert.ok(r.errors.length > 0);
  assert.ok(r.errors.every((e) => e.component === "registry"), JSON.stringify(r.errors));
  assert.ok(r.errors.some((e) => /unreachable/.test(e.message) && /retries/.test(e.hint)));
  // Many tags and repositories failed, but it is one failure (the registry is gone): logged once.
  assert.ok(r.errors.length > 1);
  assert.equal(o.logger.records.filter((x) => x.level === "error").length, 1);
  assert.equal(data.count("DELETE"), deletes, "nothing deleted while the registry is down");
  for (const repo of REPOS) {
    const [org, name] = repo.split("/");
    for (const tag of ["1", "2", "3"]) assert.deepEqual(data.get(["docker", "layers", org!, name!, tag]), (snapshot as any).docker.layers[org!][name!][tag]);
  }
  // Earlier reports are all still there, unchanged (reports for layers synced before the stop may be added).
  for (const [d, doc] of Object.entries((snapshot as any).clair.layers)) assert.deepEqual(data.get(["clair", "layers", d]), doc);
  proxy.onRequest = undefined;
  await reg.start();
  const r2 = await syncOnce(opts());
  assert.deepEqual(r2.errors, []);
  assert.ok(data.get(["docker", "layers", "f", "one", "new1"]));
  assert.ok(data.get(["docker", "layers", "f", "two", "new2"]));
});

test("registry answering garbage tag lists or tampered manifests: nothing deleted or overwritten", { skip }, async () => {
  await goodSync();
  const snapshot = structuredClone(data.data);
  proxy.override = (r) => (r.path.includes("/tags/list") ? { status: 200, body: '{"name": "x", "tags": [1, 2' } : undefined);
  let r = await syncOnce(opts());
  assert.equal(r.errors.length, REPOS.length);
  assert.match(r.errors[0]!.message, /not valid JSON/);
  assert.deepEqual(data.data, snapshot);

  proxy.override = (r) => (r.path.includes("/tags/list") ? { status: 200, body: '{"name": "x", "tags": "1"}' } : undefined);
  r = await syncOnce(opts());
  assert.match(r.errors[0]!.message, /malformed "tags"/);
  assert.deepEqual(data.data, snapshot);

  // A new tag whose manifest body is altered in transit: the digest check refuses it.
  proxy.override = undefined;
  await pushImage(reg.url, "f/three", "tampered", [base, makeLayer({ t: "1" })]);
  proxy.rewriteBody = (rq, b) => (rq.method === "GET" && rq.path.endsWith("/manifests/tampered") ? Buffer.from(b.toString().replace('"size":', '"size": ')) : undefined);
  r = await syncOnce(opts());
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!.message, /does not match Docker-Content-Digest/);
  assert.equal(data.get(["docker", "layers", "f", "three", "tampered"]), undefined);
});

test("slow registry: times out, reports, keeps data", { skip }, async () => {
  await goodSync();
  const snapshot = structuredClone(data.data);
  proxy.onRequest = async (r) => {
    if (r.path.includes("/tags/list")) await new Promise((res) => setTimeout(res, 600));
  };
  const r = await syncOnce(opts({ timeoutMs: 150, retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 10, maxRetryAfterMs: 10 } }));
  assert.equal(r.errors.length, REPOS.length);
  assert.match(r.errors[0]!.message, /within 150 ms/);
  assert.deepEqual(data.data, snapshot);
  // Let the proxy's delayed handlers finish before the next test installs its hooks.
  await new Promise((res) => setTimeout(res, 700));
});

test("429 with Retry-After is honoured and retried", { skip }, async () => {
  await goodSync();
  let n = 0;
  proxy.override = (r) => (r.path.includes("/tags/list") && n++ === 0 ? { status: 429, headers: { "retry-after": "0" }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' } : undefined);
  const r = await syncOnce(opts());
  assert.deepEqual(r.errors, []);
  assert.equal(n, REPOS.length + 1);
});

test("Clair 500s and malformed JSON: manifests still synced, earlier reports intact", { skip }, async () => {
  await goodSync();
  const clairBefore = structuredClone(data.get(["clair"]));
  await pushImage(reg.url, "f/one", "c500", [base, makeLayer({ c: "500" })]);
  clair.mode = "500";
  let r = await syncOnce(opts());
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]!.component, "scanner");
  assert.match(r.errors[0]!.message, /HTTP 500: database unavailable/);
  assert.ok(data.get(["docker", "layers", "f", "one", "c500"]), "manifest written even though scanning failed");
  assert.deepEqual(data.get(["clair"]), clairBefore);

  // Malformed JSON while refreshing stale reports (max age 1 ms): the old reports stay.
  clair.mode = "garbage";
  r = await syncOnce(opts({ reportMaxAgeMs: 1 }));
  assert.ok(r.errors.length > 0);
  assert.ok(r.errors.every((e) => e.component === "scanner"));
  assert.ok(r.errors.some((e) => /not valid JSON/.test(e.message)));
  assert.deepEqual(data.get(["clair"]), clairBefore);

  // Non-JSON error page from a proxy in front of Clair.
  clair.mode = "html-error";
  r = await syncOnce(opts());
  assert.match(r.errors[0]!.message, /HTTP 502$/);

  clair.mode = "ok";
  r = await syncOnce(opts());
  assert.deepEqual(r.errors, []);
  assert.equal(r.layersIndexed, 1);
});

test("Clair lost a parent layer (database reset): the parent is re-indexed, then the child", { skip }, async () => {
  await goodSync();
  clair.indexed.clear(); // Clair's database was wiped; the reports in the policy data remain
  const top = makeLayer({ after: "reset" });
  await pushImage(reg.url, "f/three", "after-reset", [base, top]);
  const posts = clair.posts.length;
  const r = await syncOnce(opts());
  assert.deepEqual(r.errors, []);
  // The child was refused once (parent unknown), then the base re-indexed, then the child.
  const after = clair.posts.slice(posts).map((p) => [p.Name, p.ParentName ?? null]);
  assert.deepEqual(after.filter(([n]) => n === base.digest), [[base.digest, null]]);
  assert.deepEqual(after.at(-1), [top.digest, base.digest]);
  assert.ok(after.findIndex(([n]) => n === base.digest) < after.length - 1);
  assert.ok(data.get(["clair", "layers", top.digest]));
});

test("Data API refusing writes: the loop keeps going, logs once, recovers", { skip }, async () => {
  await pushImage(reg.url, "f/two", "dw", [base, makeLayer({ dw: "1" })]);
  data.mode = "refuse-writes";
  const o = opts({ once: false, pollDelayMs: 10 });
  const ac = new AbortController();
  const running = runSync(o, ac.signal);
  const waitFor = async (cond: () => boolean): Promise<void> => {
    for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(cond());
  };
  const cycles = () => o.logger.records.filter((x) => x.msg === "sync cycle finished").length;
  await waitFor(() => cycles() >= 3);
  const errLogs = o.logger.records.filter((x) => x.level === "error" && x["component"] === "data-api");
  assert.equal(errLogs.length, 1, "logged once, not once per cycle");
  assert.match(String(errLogs[0]!["hint"]), /retried/);
  assert.equal(data.get(["docker", "layers", "f", "two", "dw"]), undefined);
  data.mode = "ok";
  await waitFor(() => data.get(["docker", "layers", "f", "two", "dw"]) !== undefined);
  await waitFor(() => o.logger.records.some((x) => x.msg === "recovered: data-api:write"));
  ac.abort();
  await running;
});

test("Data API down entirely: nothing is deleted, state is loaded once it is back", { skip }, async () => {
  await goodSync();
  const snapshot = structuredClone(data.data);
  data.mode = "down-500";
  const r = await syncOnce(opts());
  assert.ok(r.errors.length > 0);
  assert.ok(r.errors.every((e) => e.component === "data-api"));
  data.mode = "ok";
  assert.deepEqual(data.data, snapshot);
  const r2 = await syncOnce(opts());
  assert.deepEqual(r2.errors, []);
  assert.equal(r2.requests.registry.manifestGet, 0);
});

test("sha256 helper sanity (digest in fixtures is content-addressed)", () => {
  assert.equal(sha256(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});
