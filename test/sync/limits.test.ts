// What the sync does at the edges of what it accepts from remote servers: how long it waits for
// Clair to index (--clair-index-timeout), redirects (never followed, reported with where they
// point), answers larger than a request allows, and manifests or indexes with absurdly many
// entries. The registry, and Clair or the Data API where they must misbehave, are `Scripted`
// loopback servers; otherwise the honest test servers of servers.ts.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseSyncFlags } from "../../src/sync/options.js";
import { syncOnce, Syncer, type SyncReport } from "../../src/sync/sync.js";
import { MemoryLogger } from "../../src/sync/log.js";
import { parseManifest, ManifestError, MAX_IMAGE_LAYERS, MAX_INDEX_MANIFESTS, type ImageManifest, type ManifestIndex } from "../../src/sync/manifest.js";
import { noProgress } from "../../src/sync/progress.js";
import { ClairV4Fake, DataApiRecorder, Scripted, type Reply } from "./servers.js";
import { FAST_RETRY } from "./common.js";

const REPO = "lim/app";
const sha = (b: Buffer | string): string => "sha256:" + createHash("sha256").update(b).digest("hex");
const layerDigest = (n: number): string => sha(`limits-layer-${n}`);

function imageManifest(layers: number, salt = ""): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(`config${salt}`), size: 100 },
      layers: Array.from({ length: layers }, (_, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layerDigest(i), size: 1000 + i })),
    }),
  );
}

/** What the scripted registry serves: tag or digest → manifest bytes and media type. */
const manifests = new Map<string, { body: Buffer; type: string }>();
let tags: string[] = [];

function serve(ref: string, body: Buffer, type = "application/vnd.oci.image.manifest.v1+json"): void {
  manifests.set(ref, { body, type });
  manifests.set(sha(body), { body, type });
}

/** The honest registry: tag list, and manifests with a correct Docker-Content-Digest. */
function registryAnswer(q: { method: string; path: string }): Reply {
  const u = new URL(q.path, "http://x");
  if (u.pathname === `/v2/${REPO}/tags/list`) return { status: 200, body: JSON.stringify({ name: REPO, tags }) };
  const m = new RegExp(`^/v2/${REPO}/manifests/(.+)$`).exec(u.pathname);
  const man = m ? manifests.get(decodeURIComponent(m[1]!)) : undefined;
  if (!man) return { status: 404, body: JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }) };
  return { status: 200, headers: { "content-type": man.type, "docker-content-digest": sha(man.body) }, body: man.body };
}

let registry: Scripted;
let data: DataApiRecorder;
let clair4: ClairV4Fake;

before(async () => {
  registry = await Scripted.start();
  data = await DataApiRecorder.start();
  clair4 = await ClairV4Fake.start();
});

after(async () => {
  await registry.close();
  await data.served.close();
  await clair4.served.close();
});

/** Options as `image-enforcer sync` builds them from these flags, made fast for a test. */
function options(...flags: string[]) {
  const o = parseSyncFlags(["--repository", REPO, "--registry-url", registry.url, "--opa-url", data.url, "--once", ...flags], {});
  return { ...o, retry: FAST_RETRY, timeoutMs: 5000, clairPollMs: 20, logger: new MemoryLogger(), progress: noProgress };
}

function resetRegistry(): void {
  manifests.clear();
  tags = ["v1"];
  serve("v1", imageManifest(2));
  registry.handler = registryAnswer;
  registry.requests = [];
  data.data = {};
}

const image = (tag: string): unknown => data.get(["docker", "images", `${new URL(registry.url).host}/${REPO}:${tag}`]);

// ---------------- --clair-index-timeout ----------------

test("--clair-index-timeout reaches the Clair v4 scanner: an index that never finishes is given up after it", async () => {
  resetRegistry();
  clair4.pollsNeeded = Number.MAX_SAFE_INTEGER;
  try {
    const r = await syncOnce(options("--clair-version", "v4", "--clair-url", clair4.url, "--clair-index-timeout", "300ms"));
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.equal(r.errors[0]!.component, "scanner");
    assert.match(r.errors[0]!.message, /still in state ScanLayers after 300 ms \(--clair-index-timeout\)/);
    assert.match(r.errors[0]!.hint, /--clair-index-timeout/);
    assert.ok(image("v1"), "the manifest is synced although its scan timed out");
    assert.equal(data.get(["clair", "layers"]), undefined, "no reports from an unfinished index");
  } finally {
    clair4.pollsNeeded = 1;
  }
});

test("--clair-index-timeout: the last wait between polls ends at the deadline, not a whole poll interval past it", { timeout: 60_000 }, async () => {
  resetRegistry();
  clair4.pollsNeeded = Number.MAX_SAFE_INTEGER;
  try {
    // Polls an hour apart: waiting a whole interval would hang this test until its time-out.
    const r = await syncOnce({ ...options("--clair-version", "v4", "--clair-url", clair4.url, "--clair-index-timeout", "300ms"), clairPollMs: 3_600_000 });
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.match(r.errors[0]!.message, /still in state ScanLayers after 300 ms \(--clair-index-timeout\)/);
  } finally {
    clair4.pollsNeeded = 1;
  }
});

test("--clair-index-timeout bounds one Clair v2 layer POST (which answers only once the layer is indexed)", async () => {
  resetRegistry();
  const clair2 = await Scripted.start();
  try {
    clair2.handler = (q) => (q.method === "POST" ? { status: 201, body: "{}", delivery: "stall" } : { status: 404, body: '{"Error":{"Message":"not found"}}' });
    const r = await syncOnce(options("--clair-version", "v2", "--clair-url", `${clair2.url}/v1`, "--clair-index-timeout", "300ms"));
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.equal(r.errors[0]!.component, "scanner");
    // A slow index, not an unreachable Clair: the layer and the setting are named.
    assert.match(r.errors[0]!.message, /^Clair http:\/\/127\.0\.0\.1:\d+\/v1 did not index layer sha256:[0-9a-f]{64} within 300 ms \(--clair-index-timeout\)$/);
    assert.doesNotMatch(r.errors[0]!.message, /unreachable/);
    assert.match(r.errors[0]!.hint, /still be indexing .*next cycle asks again.*Raise --clair-index-timeout \(clair\.indexTimeout\)/);
    assert.doesNotMatch(r.errors[0]!.hint, /Clair is running/);
    // Not sent again within the cycle (FAST_RETRY allows 3 attempts): that would only multiply the wait.
    assert.equal(clair2.requests.filter((q) => q.method === "POST").length, 1);
    assert.ok(image("v1"), "the manifest is synced although its scan timed out");
  } finally {
    await clair2.close();
  }
});

// ---------------- redirects ----------------

const REDIRECTS = [301, 302, 307, 308];

/** A server a redirect points at: it must never be asked anything. */
let elsewhere: Scripted;
before(async () => {
  elsewhere = await Scripted.start();
});
after(async () => {
  await elsewhere.close();
});

/** Location headers to try, and what the error must show for each (credentials and query removed). */
function locations(server: string): Array<{ header?: string; shown: string }> {
  const away = new URL(elsewhere.url);
  return [
    { header: `http://user:s3cret@${away.host}/moved/here?token=s3cret`, shown: `a redirect to ${elsewhere.url}/moved/here` },
    { header: "/moved/relative?token=s3cret", shown: `a redirect to ${server}/moved/relative` },
    { shown: "a redirect without a Location header" },
  ];
}

function redirectReply(status: number, location: string | undefined): Reply {
  return { status, headers: location === undefined ? {} : { location }, body: "" };
}

/** Every error is `component`'s, names the status and where the redirect points, and nobody followed it. */
function assertRedirectErrors(r: SyncReport, component: string, status: number, shown: string, ctx: string): void {
  assert.ok(r.errors.length > 0, `${ctx}: no error`);
  for (const e of r.errors) {
    assert.equal(e.component, component, `${ctx}: ${e.message}`);
    assert.ok(e.message.includes(`HTTP ${status}, ${shown}`), `${ctx}: ${e.message}`);
    assert.ok(!e.message.includes("s3cret"), `${ctx}: credentials shown: ${e.message}`);
    assert.match(e.hint, /redirects are not followed/, ctx);
  }
  assert.deepEqual(elsewhere.requests, [], `${ctx}: the redirect was followed`);
}

test("registry redirects (tag list, manifest HEAD and GET, token endpoint) are errors naming the status and the redacted Location", async () => {
  const places: Array<[string, (q: { method: string; path: string }) => boolean]> = [
    ["tag list", (q) => q.path.includes("/tags/list")],
    ["manifest HEAD", (q) => q.method === "HEAD" && q.path.includes("/manifests/")],
    ["manifest GET", (q) => q.method === "GET" && q.path.includes("/manifests/")],
  ];
  for (const status of REDIRECTS) {
    for (const loc of locations(registry.url)) {
      for (const [place, hit] of places) {
        resetRegistry();
        registry.handler = (q) => (hit(q) ? redirectReply(status, loc.header) : registryAnswer(q));
        const ctx = `${place} ${status} ${loc.header ?? "(no Location)"}`;
        assertRedirectErrors(await syncOnce(options("--clair-url", "")), "registry", status, loc.shown, ctx);
        assert.equal(image("v1"), undefined, ctx);
      }
      // The token endpoint named by the registry's challenge redirects.
      const tokens = await Scripted.start();
      try {
        resetRegistry();
        registry.handler = (q) => (q.auth ? registryAnswer(q) : { status: 401, headers: { "www-authenticate": `Bearer realm="${tokens.url}/token",service="r"` }, body: "{}" });
        tokens.handler = () => redirectReply(status, loc.header);
        const tokenLoc = locations(tokens.url).find((l) => l.header === loc.header)!;
        assertRedirectErrors(await syncOnce(options("--clair-url", "")), "registry", status, tokenLoc.shown, `token ${status} ${loc.header ?? "(no Location)"}`);
      } finally {
        await tokens.close();
      }
    }
  }
});

test("Clair v2, Clair v4 and Data API redirects are errors naming the status and the redacted Location; the manifest data stays", async () => {
  const server = await Scripted.start();
  try {
    for (const status of REDIRECTS) {
      for (const loc of locations(server.url)) {
        const ctx = `${status} ${loc.header ?? "(no Location)"}`;
        // Clair v2 and v4: the index request is redirected; the manifest is still synced.
        server.handler = () => redirectReply(status, loc.header);
        for (const [version, url] of [["v2", `${server.url}/v1`], ["v4", server.url]] as const) {
          resetRegistry();
          const r = await syncOnce(options("--clair-version", version, "--clair-url", url));
          assertRedirectErrors(r, "scanner", status, loc.shown, `Clair ${version} ${ctx}`);
          assert.ok(image("v1"), `Clair ${version} ${ctx}: manifest not synced`);
        }
        // The Data API redirects every request.
        resetRegistry();
        const o = options("--clair-url", "");
        const r = await syncOnce({ ...o, opaUrl: `${server.url}/v1` });
        assertRedirectErrors(r, "data-api", status, loc.shown, `Data API ${ctx}`);
      }
    }
  } finally {
    await server.close();
  }
});

// ---------------- answers larger than a request allows ----------------

/** A manifest padded to `bytes` (still valid JSON, so only its size is wrong). */
function padded(body: Buffer, bytes: number): Buffer {
  return Buffer.concat([Buffer.from("{"), Buffer.alloc(bytes - body.length, " "), body.subarray(1)]);
}

const manifestGets = (): number => registry.requests.filter((q) => q.method === "GET" && q.path.includes("/manifests/")).length;

test("an oversized registry answer is reported as such (not as unreachable) and not asked for again while its digest stays", async () => {
  resetRegistry();
  serve("v1", padded(imageManifest(2), 4 * 1024 * 1024 + 1));
  const s = new Syncer(options("--clair-url", ""));
  try {
    const r = await s.cycle();
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    const e = r.errors[0]!;
    assert.equal(e.component, "registry");
    assert.match(e.message, new RegExp(`^registry 127\\.0\\.0\\.1:\\d+ answered more than 4194304 bytes for GET /v2/${REPO}/manifests/v1$`));
    assert.doesNotMatch(e.hint, /is up|running|retries/);
    assert.equal(manifestGets(), 1, "retried within the cycle");
    // The same digest gets the same answer: the next cycle does not fetch it again...
    assert.deepEqual((await s.cycle()).errors, []);
    assert.equal(manifestGets(), 1, "fetched again although its digest did not change");
    // ...but a new digest is fetched.
    serve("v1", imageManifest(3));
    assert.deepEqual((await s.cycle()).errors, []);
    assert.equal(manifestGets(), 2);
    assert.ok(image("v1"));
  } finally {
    s.close();
  }
});

test("an oversized token endpoint answer names the token endpoint and the request", async () => {
  resetRegistry();
  const tokens = await Scripted.start();
  try {
    registry.handler = (q) => (q.auth ? registryAnswer(q) : { status: 401, headers: { "www-authenticate": `Bearer realm="${tokens.url}/token",service="r"` }, body: "{}" });
    tokens.handler = () => ({ status: 200, body: Buffer.alloc(1024 * 1024 + 1, " ") });
    const r = await syncOnce(options("--clair-url", ""));
    assert.ok(r.errors.length > 0);
    for (const e of r.errors) {
      assert.equal(e.component, "registry");
      assert.equal(e.message, `token endpoint ${tokens.url}/token answered more than 1048576 bytes for GET /token`);
    }
  } finally {
    await tokens.close();
  }
});

test("an oversized Clair report is reported as such (not as Clair unreachable) and the layer is not asked for again", async () => {
  resetRegistry();
  serve("v1", imageManifest(1));
  const clair = await Scripted.start();
  const huge = Buffer.alloc(64 * 1024 * 1024 + 1, " ");
  const gets = (): number => clair.requests.filter((q) => q.method === "GET").length;
  clair.handler = (q) => (q.method === "POST" ? { status: 201, body: JSON.stringify({ Layer: { Name: layerDigest(0) } }) } : { status: 200, body: huge });
  const s = new Syncer(options("--clair-version", "v2", "--clair-url", `${clair.url}/v1`));
  try {
    const r = await s.cycle();
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    const e = r.errors[0]!;
    assert.equal(e.component, "scanner");
    assert.equal(e.message, `Clair ${clair.url}/v1 answered more than 67108864 bytes for GET /v1/layers/${encodeURIComponent(layerDigest(0))}`);
    assert.doesNotMatch(e.hint, /Clair is running/);
    assert.equal(gets(), 1, "retried within the cycle");
    assert.ok(image("v1"), "the manifest is synced");
    assert.deepEqual((await s.cycle()).errors, []);
    assert.equal(gets(), 1, "asked again on the next cycle");
  } finally {
    s.close();
    await clair.close();
  }
});

// ---------------- manifests and indexes with absurdly many entries ----------------

const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

function imageIndex(entries: number, child: Buffer): Buffer {
  const entry = { digest: sha(child), size: child.length, platform: { os: "linux", architecture: "amd64" } };
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: Array.from({ length: entries }, () => entry) }));
}

test("manifest limits: up to 1000 layers and 1000 index entries are accepted, one more is refused", () => {
  const child = imageManifest(1);
  assert.equal((parseManifest(imageManifest(MAX_IMAGE_LAYERS), undefined) as ImageManifest).layers.length, 1000);
  assert.throws(() => parseManifest(imageManifest(MAX_IMAGE_LAYERS + 1), undefined), (e: unknown) => e instanceof ManifestError && e.message === "manifest has 1001 layers, more than the 1000 the sync accepts");
  assert.equal((parseManifest(imageIndex(MAX_INDEX_MANIFESTS, child), OCI_INDEX) as ManifestIndex).manifests.length, 1000);
  assert.throws(() => parseManifest(imageIndex(MAX_INDEX_MANIFESTS + 1, child), OCI_INDEX), (e: unknown) => e instanceof ManifestError && e.message === "index has 1001 manifests, more than the 1000 the sync accepts");
});

test("an image with tens of thousands of layers, or an index with as many entries, is skipped and reported; other tags sync, nothing is deleted", async () => {
  resetRegistry();
  assert.deepEqual((await syncOnce(options("--clair-url", ""))).errors, []);
  const before = structuredClone(image("v1"));
  assert.ok(before);
  // v1 now points at 20 000 layers, the new v3 at an index of 10 000 entries; v2 is an ordinary image.
  const child = imageManifest(2, "child");
  const manyLayers = imageManifest(20_000);
  const manyEntries = imageIndex(10_000, child);
  // Under the body size limit: what is refused is the count, not the size.
  assert.ok(manyLayers.length < 4 * 1024 * 1024 && manyEntries.length < 4 * 1024 * 1024);
  serve("v1", manyLayers);
  serve("v2", imageManifest(2, "v2"));
  serve("v3", manyEntries, OCI_INDEX);
  serve(sha(child), child);
  tags = ["v1", "v2", "v3"];
  const r = await syncOnce(options("--clair-url", ""));
  const byTag = new Map(r.errors.map((e) => [e.tag, e]));
  assert.equal(r.errors.length, 2, JSON.stringify(r.errors));
  assert.equal(byTag.get("v1")?.component, "registry");
  assert.equal(byTag.get("v1")?.message, `manifest ${REPO}:v1: manifest has 20000 layers, more than the 1000 the sync accepts`);
  assert.equal(byTag.get("v3")?.message, `manifest ${REPO}:v3: index has 10000 manifests, more than the 1000 the sync accepts`);
  assert.match(byTag.get("v3")!.hint, /other tags continue/);
  assert.deepEqual(image("v1"), before, "the tag's earlier data was changed or deleted");
  assert.equal(image("v3"), undefined);
  assert.ok(image("v2"), "the other tag was not synced");
});
