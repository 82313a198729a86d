// What the sync does at the edges of what it accepts from remote servers: how long it waits for
// Clair to index (--clair-index-timeout), redirects (never followed, reported with where they
// point), answers larger than a request allows, and manifests or indexes with absurdly many
// entries. The registry, and Clair or the Data API where they must misbehave, are `Scripted`
// loopback servers; otherwise the honest test servers of servers.ts.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseSyncFlags } from "../../src/sync/options.js";
import { syncOnce } from "../../src/sync/sync.js";
import { MemoryLogger } from "../../src/sync/log.js";
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

test("--clair-index-timeout bounds one Clair v2 layer POST (which answers only once the layer is indexed)", async () => {
  resetRegistry();
  const clair2 = await Scripted.start();
  try {
    clair2.handler = (q) => (q.method === "POST" ? { status: 201, body: "{}", delivery: "stall" } : { status: 404, body: '{"Error":{"Message":"not found"}}' });
    const r = await syncOnce(options("--clair-version", "v2", "--clair-url", `${clair2.url}/v1`, "--clair-index-timeout", "300ms"));
    assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
    assert.equal(r.errors[0]!.component, "scanner");
    assert.match(r.errors[0]!.message, /no complete answer from 127\.0\.0\.1:\d+ within 300 ms/);
  } finally {
    await clair2.close();
  }
});
