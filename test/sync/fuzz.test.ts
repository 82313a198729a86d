// Randomised robustness tests for what remote servers send the layer sync: registries (manifests,
// indexes, tag lists and their Link pagination, odd status codes, stalls, dropped connections),
// token auth servers, Clair v2 / v4, and the Data API it pushes to.
//
// The real docker-registry cannot be made to send broken bytes, so the registry and token server
// here are a small loopback server (`Scripted`, in servers.ts) that replays crafted responses byte for byte,
// including stalled and dropped ones. Clair and the Data API are the honest test servers from
// servers.ts (ClairV2Replay with the recorded reports, ClairV4Fake, DataApiRecorder), with a
// CountingProxy in front to mutate or replace their answers.
//
// Every case asserts: the sync call completes within a hard deadline (no hang past the configured
// timeouts), no unhandled rejection or uncaught exception, every error names the component at fault
// (never the catch-all "sync", which is what a TypeError turns into) with a one-line message and a
// hint, and the data the Data API holds is either the earlier good data or valid data — never garbage.
// Seeded (SEED) and deterministic in what is generated.

import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { syncOnce, type SyncReport } from "../../src/sync/sync.js";
import { parseManifest, ManifestError } from "../../src/sync/manifest.js";
import { parseChallenges } from "../../src/sync/auth.js";
import { nextLink } from "../../src/sync/registry.js";
import { parseRetryAfter } from "../../src/sync/http.js";
import { mapV4Report } from "../../src/sync/clair-v4.js";
import { parseV2Layer } from "../../src/sync/clair-v2.js";
import { SyncError } from "../../src/sync/log.js";
import { checkDigest } from "../../src/kube/reference.js";
import { ClairV2Replay, ClairV4Fake, CountingProxy, DataApiRecorder, Scripted, loadRecordedClair, type Reply } from "./servers.js";
import { registryConfig, syncOptions, RECORDED_VULNERABLE } from "./common.js";

const SEED = 20260519;
const RETRY = { attempts: 2, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 20 };
const TIMEOUT_MS = 100;
/** For the syncs that must succeed (baselines, repairs): generous, so a busy machine cannot fail them. */
const CALM = { timeoutMs: 5000 };
/** A sync call must finish well within this (attempts × timeout plus scheduling slack). */
const DEADLINE_MS = 8000;

/** fc.assert, with the failing assertion's own message in the error (node:test shows only the message). */
async function holds(p: Promise<void> | void): Promise<void> {
  try {
    await p;
  } catch (e) {
    const cause = (e as { cause?: unknown }).cause;
    const msg = (e as Error).message.replace(/Counterexample: .*/s, (m) => m.slice(0, 1500));
    throw new Error(`${msg}\nCause: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
}

// ---------------- process-level traps ----------------

const escaped: unknown[] = [];
const onRejection = (e: unknown): void => void escaped.push(e);
const onException = (e: unknown): void => void escaped.push(e);
before(() => {
  process.on("unhandledRejection", onRejection);
  process.on("uncaughtException", onException);
});
after(() => {
  process.off("unhandledRejection", onRejection);
  process.off("uncaughtException", onException);
});
afterEach(() => {
  const seen = escaped.splice(0).map(String);
  assert.deepEqual(seen, [], "unhandled rejection or uncaught exception");
});

// ---------------- helpers ----------------

const sha = (b: Buffer | string): string => "sha256:" + createHash("sha256").update(b).digest("hex");
const hexDigest = (n: number): string => sha(`layer-${n}`);
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const limit = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new Error(`${what} did not finish within ${DEADLINE_MS} ms (hang)`)), DEADLINE_MS);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(t));
}

/** Every error names its component (one of `allowed`), has a one-line bounded message and a hint. */
function checkErrors(r: SyncReport, allowed: string[], ctx: string): void {
  for (const e of r.errors) {
    assert.ok(allowed.includes(e.component), `${ctx}: error from component "${e.component}" (allowed: ${allowed.join(", ")}): ${e.message}`);
    assert.ok(e.message.length > 0 && e.message.length <= 2000, `${ctx}: message length ${e.message.length}`);
    assert.ok(!/[\r\n]/.test(e.message), `${ctx}: multi-line message: ${JSON.stringify(e.message.slice(0, 200))}`);
    assert.ok(!/TypeError|is not a function|Cannot read propert|Maximum call stack/.test(e.message), `${ctx}: internal error leaked: ${e.message}`);
    assert.ok(e.hint.length > 0, `${ctx}: no hint for ${e.message}`);
  }
}

/** Nesting depth without recursion (the server refuses documents deeper than 1000). */
function depthOf(v: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== "object") continue;
    max = Math.max(max, d);
    for (const c of Object.values(x)) stack.push([c, d + 1]);
  }
  return max;
}

function validDescriptor(d: unknown): boolean {
  const o = d as Record<string, unknown> | null;
  return !!o && typeof o["digest"] === "string" && checkDigest(o["digest"]) === null && Number.isSafeInteger(o["size"]) && (o["size"] as number) >= 0;
}

/** An image document in data.docker.images: the shape docs/sync.md promises. */
/** The good baseline with both layers scanned, and its layer reports. */
async function scannedBaseline(clair: { url: string; version: "v2" | "v4" }): Promise<{ good: Record<string, Json>; goodClair: Record<string, Json> }> {
  const good = await goodBaseline(clair);
  const goodClair = structuredClone((good["clair"] as Record<string, Json>)["layers"]) as Record<string, Json>;
  assert.ok(goodClair[L1] && goodClair[L2]);
  return { good, goodClair };
}

/** A scanner-side fault: only scanner errors, and each layer report either kept as it was or well-formed. */
function checkScannerFault(r: SyncReport, goodClair: Record<string, Json>, ctx: string): void {
  checkErrors(r, ["scanner"], ctx);
  const layers = (data.get(["clair", "layers"]) ?? {}) as Record<string, unknown>;
  for (const d of [L1, L2]) {
    assert.ok(layers[d], `${ctx}: report of ${d} lost`);
    if (JSON.stringify(layers[d]) !== JSON.stringify(goodClair[d])) assertValidLayerDoc(d, layers[d], ctx);
  }
}

/** Every image document in the Data API's store is well-formed. */
function assertImageDocsValid(ctx: string): void {
  for (const [k, v] of Object.entries(imagesOf())) assertValidImageDoc(k, v, ctx);
}

/** A registry-side fault: only registry errors, the earlier data untouched when it failed, and valid documents. */
function checkRegistryFault(r: SyncReport, good: Record<string, Json>, ctx: string): void {
  checkErrors(r, ["registry"], ctx);
  if (r.errors.length > 0) assert.deepEqual(data.get(["docker"]), good["docker"], `${ctx}: data changed although the sync failed`);
  assertImageDocsValid(ctx);
}

function assertValidImageDoc(key: string, doc: unknown, ctx: string): void {
  const o = doc as Record<string, unknown>;
  assert.ok(o && typeof o === "object", `${ctx}: ${key} is not an object`);
  assert.equal(checkDigest(String(o["digest"])), null, `${ctx}: ${key} digest ${String(o["digest"])}`);
  assert.ok(validDescriptor(o["config"]), `${ctx}: ${key} config`);
  assert.ok(Array.isArray(o["layers"]) && (o["layers"] as unknown[]).every(validDescriptor), `${ctx}: ${key} layers`);
  const at = key.lastIndexOf("@");
  if (at >= 0) assert.equal(checkDigest(key.slice(at + 1)), null, `${ctx}: key ${key}`);
  else assert.match(String(o["tag"]), /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/, `${ctx}: tag of ${key}`);
}

function assertValidLayerDoc(digest: string, doc: unknown, ctx: string): void {
  const o = doc as { Layer?: Record<string, unknown> };
  assert.ok(o && typeof o === "object" && o.Layer && typeof o.Layer === "object", `${ctx}: ${digest} has no Layer`);
  assert.equal(o.Layer["Name"], digest, `${ctx}: report stored under ${digest} names ${String(o.Layer["Name"])}`);
  const fs = o.Layer["Features"];
  if (fs !== undefined) {
    assert.ok(Array.isArray(fs), `${ctx}: Features`);
    for (const f of fs as Array<Record<string, unknown>>) {
      assert.equal(typeof f["Name"], "string", `${ctx}: feature Name`);
      const vs = f["Vulnerabilities"];
      if (vs !== undefined) assert.ok(Array.isArray(vs) && (vs as Array<Record<string, unknown>>).every((v) => typeof v["Name"] === "string"), `${ctx}: Vulnerabilities`);
    }
  }
  assert.ok(depthOf(doc) <= 64, `${ctx}: report nested ${depthOf(doc)} deep`);
}

// ---------------- JSON mutations ----------------

const KEYS = ["schemaVersion", "mediaType", "config", "layers", "manifests", "digest", "size", "platform", "os", "architecture", "variant", "urls", "Layer", "Features", "Vulnerabilities", "Name", "Metadata", "packages", "environments", "vulnerabilities", "package_vulnerabilities", "distributions", "introduced_in", "state", "result", "token", "tags"];

type Mutation =
  | { kind: "set"; path: Array<string | number>; value: Json }
  | { kind: "delete"; path: Array<string | number> }
  | { kind: "huge"; path: Array<string | number>; n: number }
  | { kind: "deep"; path: Array<string | number>; depth: number }
  | { kind: "truncate"; at: number }
  | { kind: "bytes"; bytes: Uint8Array }
  | { kind: "oversize"; bytes: number }
  | { kind: "none" };

const basePathArb = fc.array(fc.oneof(fc.constantFrom(...KEYS), fc.nat(3)), { minLength: 1, maxLength: 5 });
const jsonArb: fc.Arbitrary<Json> = fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>;

function mutationArb(maxOversize: number, oversizeWeight = 1, prefix: Array<string | number> = []): fc.Arbitrary<Mutation> {
  // With a prefix (e.g. ["Layer"]) most paths start inside the part of the document that is kept.
  const pathArb = prefix.length === 0 ? basePathArb : fc.oneof({ weight: 3, arbitrary: basePathArb.map((p) => [...prefix, ...p]) }, { weight: 1, arbitrary: basePathArb });
  return fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant("set" as const), path: pathArb, value: jsonArb }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("delete" as const), path: pathArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("huge" as const), path: pathArb, n: fc.integer({ min: 1000, max: 20000 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("deep" as const), path: pathArb, depth: fc.integer({ min: 100, max: 100000 }) }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant("bytes" as const), bytes: fc.uint8Array({ maxLength: 64 }) }) },
    { weight: oversizeWeight, arbitrary: fc.record({ kind: fc.constant("oversize" as const), bytes: fc.constant(maxOversize) }) },
    { weight: 1, arbitrary: fc.constant({ kind: "none" as const }) },
  );
}

const DEEP_MARK = "__deep_placeholder__";

/** Walk `path` as far as it goes and apply the mutation there; returns the body bytes. */
function mutate(doc: Json, m: Mutation): Buffer {
  const copy = structuredClone(doc);
  if (m.kind === "none") return Buffer.from(JSON.stringify(copy));
  if (m.kind === "truncate") {
    const s = Buffer.from(JSON.stringify(copy));
    return s.subarray(0, m.at % Math.max(1, s.length));
  }
  if (m.kind === "bytes") return Buffer.from(m.bytes);
  if (m.kind === "oversize") return Buffer.from(JSON.stringify(copy).replace(/^\{/, "{" + " ".repeat(m.bytes)));
  let parent: Json = copy;
  let key: string | number | undefined;
  for (const step of m.path) {
    if (parent === null || typeof parent !== "object") break;
    const k = Array.isArray(parent) ? (typeof step === "number" ? step : 0) % Math.max(1, parent.length) : String(step);
    key = k;
    const next: Json | undefined = (parent as Record<string | number, Json>)[k as never];
    if (next === undefined || next === null || typeof next !== "object") break;
    parent = next;
  }
  if (parent === null || typeof parent !== "object" || key === undefined) return Buffer.from(JSON.stringify(m.kind === "set" ? m.value : copy));
  const p = parent as Record<string | number, Json>;
  const cur = p[key as never];
  if (m.kind === "set") p[key as never] = m.value;
  else if (m.kind === "delete") {
    if (Array.isArray(parent)) parent.splice(Number(key), 1);
    else delete p[key as never];
  } else if (m.kind === "huge") {
    p[key as never] = Array.from({ length: m.n }, () => structuredClone(cur ?? null)) as Json;
  } else if (m.kind === "deep") {
    p[key as never] = DEEP_MARK;
    const s = JSON.stringify(copy);
    return Buffer.from(s.replace(JSON.stringify(DEEP_MARK), "[".repeat(m.depth) + JSON.stringify(cur ?? 1) + "]".repeat(m.depth)));
  }
  return Buffer.from(JSON.stringify(copy));
}

const printable = (s: string): string => s.replace(/[^\x20-\x7e]/g, "");
const junkHeader = fc.string({ maxLength: 80 }).map(printable);

// ---------------- the fake registry ----------------

const MT = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
};
const REPO = "fz/app";
const L1 = hexDigest(1);
const L2 = hexDigest(2);

function imageManifest(mediaType: string, layers = [L1, L2]): Json {
  return {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: hexDigest(100), size: 1234 },
    layers: layers.map((d, i) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d, size: 1000 + i })),
  };
}

function indexOf(mediaType: string, child: Buffer, childType: string, run: number): Json {
  return {
    schemaVersion: 2,
    mediaType,
    manifests: [
      { mediaType: childType, digest: sha(child), size: child.length, platform: { os: "linux", architecture: "arm64" } },
      { mediaType: childType, digest: sha(child), size: child.length, platform: { os: "linux", architecture: "amd64" } },
    ],
    annotations: { run: String(run) },
  };
}

/** What the fake registry serves for REPO: tag → top manifest; digest → child manifests. */
interface Served {
  tags: string[];
  manifests: Map<string, { body: Buffer; type: string; digestHeader?: string }>;
}

function registryHandler(s: Served, override?: (r: { method: string; path: string; auth?: string }) => Reply | undefined) {
  return (r: { method: string; path: string; auth?: string }): Reply => {
    const o = override?.(r);
    if (o) return o;
    const u = new URL(r.path, "http://x");
    if (u.pathname === "/v2/") return { status: 200, body: "{}" };
    if (u.pathname === `/v2/${REPO}/tags/list`) return { status: 200, body: JSON.stringify({ name: REPO, tags: s.tags }) };
    const m = new RegExp(`^/v2/${REPO}/manifests/(.+)$`).exec(u.pathname);
    const man = m ? s.manifests.get(decodeURIComponent(m[1]!)) : undefined;
    if (!man) return { status: 404, body: JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }) };
    const headers: Record<string, string> = { "content-type": man.type };
    if (man.digestHeader !== "") headers["docker-content-digest"] = man.digestHeader ?? sha(man.body);
    return { status: 200, headers, body: man.body };
  };
}

let registry: Scripted;
let tokens: Scripted;
let data: DataApiRecorder;
let clair2: ClairV2Replay;
let clair2Proxy: CountingProxy;
let clair4: ClairV4Fake;
let clair4Proxy: CountingProxy;
let dataProxy: CountingProxy;

before(async () => {
  registry = await Scripted.start();
  tokens = await Scripted.start();
  data = await DataApiRecorder.start();
  clair2 = await ClairV2Replay.start();
  clair2.aliases.set(L1, RECORDED_VULNERABLE);
  clair2Proxy = await CountingProxy.start(clair2.served.url);
  clair4 = await ClairV4Fake.start();
  clair4.packagesByLayer.set(L1, [{ name: "openssl", version: "3.0.11-1", vulns: [{ package: "openssl", version: "3.0.11-1", vuln: "CVE-2024-0001", severity: "High", fixed: "3.0.13-1" }] }]);
  clair4.packagesByLayer.set(L2, [{ name: "curl", version: "7.88.1-10" }]);
  clair4Proxy = await CountingProxy.start(clair4.url);
  dataProxy = await CountingProxy.start(data.served.url);
});

after(async () => {
  await registry.close();
  await tokens.close();
  await clair2Proxy.served.close();
  await clair2.served.close();
  await clair4Proxy.served.close();
  await clair4.served.close();
  await dataProxy.served.close();
  await data.served.close();
});

function opts(extra: Parameters<typeof syncOptions>[3] = {}, clair: Parameters<typeof syncOptions>[2] = null, opaUrl = data.url) {
  return syncOptions([registryConfig(registry.url, [REPO], { domain: "fz.example" })], opaUrl, clair, { concurrency: 2, retry: RETRY, timeoutMs: TIMEOUT_MS, ...extra });
}

function goodServed(): Served {
  const child = Buffer.from(JSON.stringify(imageManifest(MT.ociManifest)));
  return { tags: ["v1"], manifests: new Map([["v1", { body: child, type: MT.ociManifest }], [sha(child), { body: child, type: MT.ociManifest }]]) };
}

/** A good first sync (data holds the image), and the snapshot of the data after it. */
async function goodBaseline(clair: Parameters<typeof syncOptions>[2] = null): Promise<{ [k: string]: Json }> {
  data.data = {};
  registry.handler = registryHandler(goodServed());
  const r = await syncOnce(opts(CALM, clair));
  assert.deepEqual(r.errors, []);
  return structuredClone(data.data);
}

const imagesOf = (): Record<string, unknown> => (data.get(["docker", "images"]) ?? {}) as Record<string, unknown>;

// ---------------- pure parsers: nothing but their own error types ----------------

test("parsers never throw anything but their own errors on random input", () => {
  const recorded = loadRecordedClair()[RECORDED_VULNERABLE]!;
  const docs: Json[] = [imageManifest(MT.dockerManifest), imageManifest(MT.ociManifest), indexOf(MT.ociIndex, Buffer.from("x"), MT.ociManifest, 0), recorded as unknown as Json];
  holds(fc.assert(
    fc.property(fc.constantFrom(...docs), mutationArb(10), fc.constantFrom(...Object.values(MT), "application/json", "", "text/html"), (doc, m, ct) => {
      const body = mutate(doc, m);
      try {
        parseManifest(body, ct);
      } catch (e) {
        assert.ok(e instanceof ManifestError, `parseManifest threw ${String(e)}`);
      }
      try {
        const l = parseV2Layer(body, String((doc as Record<string, Json>)["Layer"] ? RECORDED_VULNERABLE : "x"));
        JSON.stringify(l); // what the sync does next (PUT): must not blow the stack
      } catch (e) {
        assert.ok(e instanceof SyncError && e.component === "scanner", `parseV2Layer threw ${String(e)}`);
      }
    }),
    { seed: SEED, numRuns: 400 },
  ));
  holds(fc.assert(
    fc.property(fc.string({ maxLength: 200 }), (s) => {
      parseChallenges(s);
      nextLink(s, "http://r/v2/x/tags/list?n=1");
      const ra = parseRetryAfter(s);
      assert.ok(ra === undefined || ra >= 0);
    }),
    { seed: SEED, numRuns: 500 },
  ));
  holds(fc.assert(
    fc.property(fc.jsonValue({ maxDepth: 5 }), fc.array(fc.constantFrom(L1, L2, "constructor", "__proto__"), { maxLength: 4 }), (v, layers) => {
      const report = v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : { packages: v };
      const out = mapV4Report(report, layers, "2026-01-01T00:00:00.000Z");
      JSON.stringify([...out.values()]);
    }),
    { seed: SEED, numRuns: 300 },
  ));
});

// ---------------- 1. registry: manifests and indexes ----------------

test("registry: mutated manifests and indexes of every media type, wrong digests and types, truncated, oversized, stalled or dropped", async () => {
  const good = await goodBaseline();
  const goodImages = structuredClone(good["docker"]!) as Json;
  let run = 0;
  await holds(fc.assert(
    fc.asyncProperty(
      fc.record({
        kind: fc.constantFrom("dockerManifest", "ociManifest", "dockerList", "ociIndex"),
        target: fc.constantFrom("top", "child"),
        mutation: mutationArb(5 * 1024 * 1024),
        contentType: fc.oneof(fc.constant("right"), fc.constantFrom(...Object.values(MT), "application/json", "", "application/vnd.docker.distribution.manifest.v1+prettyjws"), junkHeader),
        digestHeader: fc.constantFrom("right", "right", "absent", "wrong", "garbage", "sha512", "sha512-wrong"),
        delivery: fc.constantFrom("normal", "normal", "normal", "normal", "stall", "half", "drop"),
      }),
      async (c) => {
        run++;
        data.data = structuredClone(good);
        const isIndex = c.kind === "dockerList" || c.kind === "ociIndex";
        const childType = c.kind === "dockerList" ? MT.dockerManifest : MT.ociManifest;
        let child: Buffer = Buffer.from(JSON.stringify(imageManifest(childType, [L1, hexDigest(1000 + run)])));
        let top: Buffer;
        const mutTop = !isIndex || c.target === "top";
        if (!mutTop) child = mutate(JSON.parse(child.toString()) as Json, c.mutation);
        if (isIndex) top = Buffer.from(JSON.stringify(indexOf(MT[c.kind], child, childType, run)));
        else top = Buffer.from(JSON.stringify(imageManifest(MT[c.kind], [L1, hexDigest(1000 + run)])));
        if (mutTop) top = mutate(JSON.parse(top.toString()) as Json, c.mutation);
        const type = c.contentType === "right" ? MT[c.kind] : c.contentType;
        const dh =
          c.digestHeader === "right" ? undefined
          : c.digestHeader === "absent" ? ""
          : c.digestHeader === "wrong" ? sha(`other-${run}`)
          : c.digestHeader === "garbage" ? `not a digest ${run}`
          : c.digestHeader === "sha512" ? "sha512:" + createHash("sha512").update(mutTop ? top : child).digest("hex")
          : "sha512:" + "ab".repeat(64);
        const served: Served = { tags: ["v1"], manifests: new Map() };
        served.manifests.set("v1", { body: top, type: mutTop ? type : MT[c.kind], digestHeader: mutTop ? dh : undefined });
        const childEntry = { body: child, type: mutTop ? childType : type, digestHeader: mutTop ? undefined : dh };
        served.manifests.set(sha(child), childEntry);
        served.manifests.set("sha512:" + createHash("sha512").update(child).digest("hex"), childEntry);
        const bad = c.delivery;
        registry.handler = registryHandler(served, (r) => {
          if (bad === "normal" || r.method !== "GET" || !r.path.includes("/manifests/")) return undefined;
          const isTop = r.path.endsWith("/manifests/v1");
          if (isTop !== mutTop) return undefined;
          const reply = registryHandler(served)(r);
          return { ...reply, delivery: bad };
        });
        const ctx = `run ${run} ${JSON.stringify({ ...c, mutation: c.mutation.kind })}`;
        const r = await withDeadline(syncOnce(opts()), ctx);
        checkErrors(r, ["registry"], ctx);
        const key = `fz.example/${REPO}:v1`;
        const doc = imagesOf()[key];
        if (r.errors.length > 0) {
          // The tag failed: the earlier good data is exactly as it was.
          assert.deepEqual(data.get(["docker"]), goodImages, `${ctx}: data changed although the tag failed: ${r.errors[0]!.message}`);
        } else {
          assert.notDeepEqual(doc, (goodImages as Record<string, Record<string, unknown>>)["images"]![key], `${ctx}: nothing written and no error`);
        }
        assertImageDocsValid(ctx);
        // The digest written is the one of the bytes served (by the algorithm the registry named).
        const d = (imagesOf()[key] as Record<string, unknown>)["digest"] as string;
        if (r.errors.length === 0) assert.ok(d === sha(top) || d === "sha512:" + createHash("sha512").update(top).digest("hex"), `${ctx}: digest ${d}`);
      },
    ),
    { seed: SEED, numRuns: 55 },
  ));
});

// ---------------- 1b. tag lists and pagination ----------------

test("registry: tag lists with broken bodies or pagination never delete data", async () => {
  let run = 0;
  const linkKinds = ["good", "self", "cycle", "other-origin", "malformed-url", "unclosed", "junk-rel-next", "many"] as const;
  await holds(fc.assert(
    fc.asyncProperty(
      fc.record({
        link: fc.constantFrom(...linkKinds),
        junk: junkHeader,
        tagsField: fc.oneof({ weight: 4, arbitrary: fc.constant<Json | undefined>(undefined) }, { weight: 1, arbitrary: jsonArb }, { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 140 }), { maxLength: 5 }) as fc.Arbitrary<Json> }),
      }),
      async (c) => {
        run++;
        // The registry really has v1 (page 1) and old (page 2); "old" was synced before.
        const served = goodServed();
        served.manifests.set("old", served.manifests.get("v1")!);
        data.data = {};
        registry.handler = registryHandler({ ...served, tags: ["old", "v1"] });
        const r0 = await syncOnce(opts(CALM));
        assert.deepEqual(r0.errors, []);
        const before = structuredClone(data.data);
        const page2 = `/v2/${REPO}/tags/list?last=v1&n=1000`;
        const link = (): string | undefined => {
          switch (c.link) {
            case "good": return `<${page2}>; rel="next"`;
            case "self": return `</v2/${REPO}/tags/list?n=1000>; rel="next"`;
            case "cycle": return `<${page2}>; rel="next"`; // page 2 links back to page 1
            case "other-origin": return `<http://127.0.0.2:1${page2}>; rel="next"`;
            case "malformed-url": return `<http://[::1${page2}>; rel="next"`;
            case "unclosed": return `<${page2}; rel="next"`;
            case "junk-rel-next": return `${c.junk} rel="next"`;
            case "many": return `<${page2}&p=1>; rel="next"`;
          }
        };
        registry.handler = registryHandler(served, (q) => {
          const u = new URL(q.path, "http://x");
          if (u.pathname !== `/v2/${REPO}/tags/list`) return undefined;
          const p = Number(u.searchParams.get("p") ?? "0");
          if (!u.searchParams.has("last")) {
            const body: Record<string, Json> = { name: REPO };
            if (c.tagsField === undefined) body["tags"] = ["v1"];
            else body["tags"] = c.tagsField;
            const l = link();
            const h: Record<string, string> = l ? { link: l } : {};
            return { status: 200, headers: h, body: JSON.stringify(body) };
          }
          if (c.link === "cycle") return { status: 200, headers: { link: `</v2/${REPO}/tags/list?n=1000>; rel="next"` }, body: JSON.stringify({ name: REPO, tags: ["old"] }) };
          // "many": an endless series of distinct pages.
          if (c.link === "many") return { status: 200, headers: { link: `<${page2}&p=${p + 1}>; rel="next"` }, body: JSON.stringify({ name: REPO, tags: ["old"] }) };
          return { status: 200, body: JSON.stringify({ name: REPO, tags: ["old"] }) };
        });
        const ctx = `run ${run} ${JSON.stringify(c)}`;
        const r = await withDeadline(syncOnce(opts()), ctx);
        checkErrors(r, ["registry"], ctx);
        // "old" is on page 2 in every case: whatever happened, its data must still be there.
        assert.ok(imagesOf()[`fz.example/${REPO}:old`], `${ctx}: tag "old" deleted (errors: ${JSON.stringify(r.errors.map((e) => e.message))})`);
        assert.deepEqual(data.get(["docker", "layers", "fz", "app", "old"]), (before["docker"] as Record<string, Record<string, Record<string, Record<string, Json>>>>)["layers"]!["fz"]!["app"]!["old"]);
        if (c.link !== "good" && c.tagsField === undefined) assert.ok(r.errors.length > 0, `${ctx}: broken pagination not reported`);
        assertImageDocsValid(ctx);
      },
    ),
    { seed: SEED, numRuns: 60 },
  ));
});

// ---------------- 1c. odd status codes, challenges, Retry-After ----------------

test("registry: redirects, junk 401 challenges, 429/503 with junk or huge Retry-After, 5xx with junk", async () => {
  const good = await goodBaseline();
  let run = 0;
  await holds(fc.assert(
    fc.asyncProperty(
      fc.record({
        where: fc.constantFrom("/v2/", "/tags/list", "HEAD /manifests/", "GET /manifests/"),
        status: fc.constantFrom(301, 302, 303, 307, 308, 401, 403, 404, 408, 418, 429, 500, 502, 503, 504, 599, 100 + 99),
        retryAfter: fc.oneof(fc.constantFrom("0", "1", "99999999999999999999999", "-5", "Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "1e9", ""), junkHeader),
        challenge: fc.oneof(junkHeader, fc.constantFrom('Bearer realm=""', "Bearer", 'Bearer realm="javascript:alert(1)"', 'Bearer realm="ftp://x/token"', 'Bearer realm="http://127.0.0.1:1/token",service="x"', 'Basic realm="r"', 'Bearer realm="not a url"', 'Bearer realm="/relative"')),
        body: fc.oneof(fc.constant(""), junkHeader, jsonArb.map((j) => JSON.stringify(j)), fc.constant(JSON.stringify({ errors: [{ code: "X".repeat(5000), message: "line1\nline2".repeat(1000) }] }))),
        always: fc.boolean(),
      }),
      async (c) => {
        run++;
        data.data = structuredClone(good);
        // A new digest so the sync fetches the manifest (and meets the fault there).
        const s = goodServed();
        const fresh = Buffer.from(JSON.stringify(imageManifest(MT.ociManifest, [L1, hexDigest(5000 + run)])));
        s.manifests.set("v1", { body: fresh, type: MT.ociManifest });
        let n = 0;
        registry.handler = registryHandler(s, (q) => {
          const hit = c.where.startsWith("/") ? q.path.includes(c.where) && (c.where !== "/v2/" || q.path === "/v2/") : q.method === c.where.split(" ")[0] && q.path.includes("/manifests/");
          if (!hit || (!c.always && n++ > 0)) return undefined;
          const headers: Record<string, string> = { "retry-after": c.retryAfter, "www-authenticate": c.challenge };
          if (c.status >= 300 && c.status < 400) headers["location"] = q.path; // a redirect loop
          return { status: c.status, headers, body: c.body };
        });
        const ctx = `run ${run} ${JSON.stringify({ ...c, body: c.body.slice(0, 40) })}`;
        const r = await withDeadline(syncOnce(opts()), ctx);
        checkRegistryFault(r, good, ctx);
      },
    ),
    { seed: SEED, numRuns: 80 },
  ));
});

// ---------------- 2. token auth servers ----------------

test("token auth: junk token responses, missing fields, huge expires_in, redirects, stalls", async () => {
  let run = 0;
  const good = await goodBaseline();
  await holds(fc.assert(
    fc.asyncProperty(
      fc.record({
        status: fc.constantFrom(200, 200, 200, 200, 301, 302, 307, 400, 401, 403, 404, 429, 500, 503),
        body: fc.oneof(
          jsonArb.map((j) => JSON.stringify(j)),
          fc.record({ token: fc.oneof(jsonArb, fc.constant("tok-ok")), access_token: fc.option(jsonArb), expires_in: fc.oneof(jsonArb, fc.constantFrom(1e308, -1, 0, 0.001, 1e21, 300)), issued_at: fc.option(jsonArb) }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
          fc.constantFrom("null", "[]", '"str"', "{", "", '{"token":"a\\r\\nX-Injected: 1"}', '{"token":"tok ok with spaces"}', JSON.stringify({ token: "x".repeat(20000) })),
        ),
        delivery: fc.constantFrom("normal", "normal", "normal", "stall", "drop", "half"),
        realm: fc.constantFrom("tokens", "tokens", "tokens", "refused", "scheme"),
      }),
      async (c) => {
        run++;
        data.data = structuredClone(good);
        const s = goodServed();
        s.manifests.set("v1", { body: Buffer.from(JSON.stringify(imageManifest(MT.ociManifest, [L1, hexDigest(7000 + run)]))), type: MT.ociManifest });
        const realm = c.realm === "tokens" ? `${tokens.url}/token` : c.realm === "refused" ? "http://127.0.0.1:1/token" : "file:///etc/passwd";
        registry.handler = registryHandler(s, (q) =>
          q.auth === "Bearer tok-ok" ? undefined : { status: 401, headers: { "www-authenticate": `Bearer realm="${realm}",service="fz",scope="repository:${REPO}:pull"` }, body: '{"errors":[{"code":"UNAUTHORIZED"}]}' },
        );
        const th: Record<string, string> = c.status >= 300 && c.status < 400 ? { location: `${tokens.url}/token` } : {};
        tokens.handler = () => ({ status: c.status, headers: th, body: c.body, delivery: c.delivery });
        const ctx = `run ${run} ${JSON.stringify(c).slice(0, 300)}`;
        const r = await withDeadline(syncOnce(opts()), ctx);
        checkRegistryFault(r, good, ctx);
      },
    ),
    { seed: SEED, numRuns: 45 },
  ));
});

// ---------------- 3. Clair v2 ----------------

test("Clair v2: mutated recorded reports, wrong shapes, huge feature lists, junk statuses: earlier reports stay", async () => {
  const clair = { url: `${clair2Proxy.url}/v1`, version: "v2" as const };
  const { good, goodClair } = await scannedBaseline(clair);
  let run = 0;
  try {
    await holds(fc.assert(
      fc.asyncProperty(
        fc.record({
          mutation: mutationArb(65 * 1024 * 1024, 1, ["Layer"]),
          status: fc.constantFrom(200, 200, 200, 200, 201, 204, 302, 400, 404, 422, 500, 503),
          which: fc.constantFrom("GET", "GET", "POST"),
        }),
        async (c) => {
          run++;
          data.data = structuredClone(good);
          clair2Proxy.override = undefined;
          clair2Proxy.rewriteBody = undefined;
          const recorded = loadRecordedClair()[RECORDED_VULNERABLE]!;
          if (c.which === "GET" && c.status === 200) {
            clair2Proxy.rewriteBody = (q, b) => {
              if (q.method !== "GET" || !q.path.startsWith("/v1/layers/")) return undefined;
              const doc = JSON.parse(b.toString()) as { Layer?: Record<string, Json> };
              if (!doc.Layer) return undefined; // a 404 for a layer Clair does not know
              return mutate({ ...recorded, Layer: { ...(recorded.Layer as Record<string, Json>), Name: doc.Layer["Name"]! } } as Json, c.mutation);
            };
          } else {
            if (c.which === "POST") clair2.indexed.clear(); // Clair lost the layers: they are indexed again
            clair2Proxy.override = (q) => (q.method === c.which && q.path.startsWith("/v1/layers") ? { status: c.status, headers: { "content-type": "application/json;charset=utf-8" }, body: mutate({ Error: { Message: "boom" } }, c.mutation).toString("latin1") } : undefined);
          }
          const ctx = `run ${run} ${JSON.stringify({ ...c, mutation: c.mutation.kind })}`;
          // Reports older than 1 ms are re-read each time, so the mutated answer replaces them or fails.
          const r = await withDeadline(syncOnce(opts({ reportMaxAgeMs: 1 }, clair)), ctx);
          checkScannerFault(r, goodClair, ctx);
        },
      ),
      { seed: SEED, numRuns: 30 },
    ));
  } finally {
    clair2Proxy.override = undefined;
    clair2Proxy.rewriteBody = undefined;
  }
});

// ---------------- 3b. Clair v4 ----------------

test("Clair v4: mutated index and vulnerability reports, junk JSON, index reports that never finish", async () => {
  const clair = { url: clair4Proxy.url, version: "v4" as const };
  clair4.pollsNeeded = 1;
  const { good, goodClair } = await scannedBaseline(clair);
  let run = 0;
  try {
    await holds(fc.assert(
      fc.asyncProperty(
        fc.record({ mutation: mutationArb(129 * 1024 * 1024, 0), which: fc.constantFrom("vulnerability_report", "index_report", "index_report_post"), status: fc.constantFrom(200, 201, 201, 201, 400, 404, 415, 500) }),
        async (c) => {
          run++;
          data.data = structuredClone(good);
          clair4.manifests.clear(); // every run indexes afresh
          clair4Proxy.rewriteBody = (q, b) => {
            const isPost = q.method === "POST";
            const hit = c.which === "index_report_post" ? isPost : !isPost && q.path.includes(`/${c.which}/`);
            return hit ? mutate(JSON.parse(b.toString()) as Json, c.mutation) : undefined;
          };
          clair4Proxy.override = c.status === 201 || c.status === 200 ? undefined : (q) => (q.path.includes(`/${c.which.replace("_post", "")}`) && (q.method === "POST") === (c.which === "index_report_post") ? { status: c.status, body: mutate({ code: "x", message: "boom" }, c.mutation).toString("latin1") } : undefined);
          const ctx = `run ${run} ${JSON.stringify({ ...c, mutation: c.mutation.kind })}`;
          const r = await withDeadline(syncOnce(opts({ reportMaxAgeMs: 1, clairIndexTimeoutMs: 300 }, clair)), ctx);
          checkScannerFault(r, goodClair, ctx);
        },
      ),
      { seed: SEED, numRuns: 35 },
    ));
    // An index report that never reaches IndexFinished: given up after the limit, reported, data kept.
    clair4Proxy.rewriteBody = undefined;
    clair4Proxy.override = undefined;
    clair4.manifests.clear();
    clair4.pollsNeeded = Number.MAX_SAFE_INTEGER;
    data.data = structuredClone(good);
    const r = await withDeadline(syncOnce(opts({ reportMaxAgeMs: 1, clairIndexTimeoutMs: 200 }, clair)), "never-finishing index");
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]!.component, "scanner");
    assert.match(r.errors[0]!.message, /still in state ScanLayers/);
    assert.deepEqual(data.get(["clair", "layers"]), goodClair);
  } finally {
    clair4.pollsNeeded = 1;
    clair4Proxy.rewriteBody = undefined;
    clair4Proxy.override = undefined;
  }
});

// ---------------- 4. the Data API ----------------

test("Data API: junk bodies, 4xx/5xx with junk, redirects, stalls while pushing; a clean sync afterwards repairs everything", async () => {
  const clair = { url: `${clair2Proxy.url}/v1`, version: "v2" as const };
  const good = await goodBaseline(clair);
  let run = 0;
  try {
    await holds(fc.assert(
      fc.asyncProperty(
        fc.record({
          method: fc.constantFrom("GET", "PUT", "DELETE", "any"),
          nth: fc.nat(6),
          status: fc.constantFrom(200, 204, 301, 307, 400, 401, 403, 404, 409, 500, 502, 503),
          body: fc.oneof(fc.constant(""), junkHeader, jsonArb.map((j) => JSON.stringify(j)), jsonArb.map((j) => JSON.stringify({ result: j })), fc.constant(JSON.stringify({ code: "x", message: "m\n".repeat(50000) }))),
          stall: fc.constantFrom(false, false, false, true),
          newTag: fc.boolean(),
        }),
        async (c) => {
          run++;
          data.data = structuredClone(good);
          const s = goodServed();
          if (c.newTag) s.manifests.set("v1", { body: Buffer.from(JSON.stringify(imageManifest(MT.ociManifest, [L1, hexDigest(9000 + run)]))), type: MT.ociManifest });
          registry.handler = registryHandler(s);
          let n = 0;
          const hits = (q: { method: string }): boolean => (c.method === "any" || q.method === c.method) && n++ === c.nth;
          if (c.stall) {
            dataProxy.override = undefined;
            dataProxy.onRequest = async (q) => {
              if (hits(q)) await new Promise((res) => setTimeout(res, TIMEOUT_MS * 2));
            };
          } else if (c.status < 300) {
            // A 2xx is the server saying the write happened: let it happen, and garble only the body.
            dataProxy.onRequest = undefined;
            dataProxy.override = undefined;
            dataProxy.rewriteBody = (q, b) => (hits(q) && b.length > 0 ? Buffer.from(c.body) : undefined);
          } else {
            dataProxy.onRequest = undefined;
            dataProxy.override = (q) => (hits(q) ? { status: c.status, headers: (c.status >= 300 && c.status < 400 ? { location: q.path } : {}) as Record<string, string>, body: c.body } : undefined);
          }
          const ctx = `run ${run} ${JSON.stringify({ ...c, body: c.body.slice(0, 60) })}`;
          const r = await withDeadline(syncOnce(opts({ reportMaxAgeMs: 1 }, clair, `${dataProxy.url}/v1`)), ctx);
          checkErrors(r, ["data-api"], ctx);
          // Let stalled requests land before judging the data.
          if (c.stall) await new Promise((res) => setTimeout(res, TIMEOUT_MS * 2));
          assertImageDocsValid(ctx);
          dataProxy.override = undefined;
          dataProxy.onRequest = undefined;
          dataProxy.rewriteBody = undefined;
          const r2 = await withDeadline(syncOnce(opts(CALM, clair, `${dataProxy.url}/v1`)), ctx + " (clean)");
          assert.deepEqual(r2.errors, [], `${ctx}: the clean sync after the faults failed`);
          const img = imagesOf()[`fz.example/${REPO}:v1`] as Record<string, unknown>;
          assert.equal(img["digest"], sha(s.manifests.get("v1")!.body), `${ctx}: image not repaired`);
          assert.deepEqual(imagesOf()[`fz.example/${REPO}@${String(img["digest"])}`], img, `${ctx}: the @digest key is missing or stale`);
          const layers = (data.get(["clair", "layers"]) ?? {}) as Record<string, unknown>;
          for (const l of img["layers"] as Array<{ digest: string }>) assertValidLayerDoc(l.digest, layers[l.digest], ctx);
        },
      ),
      { seed: SEED, numRuns: 30 },
    ));
  } finally {
    dataProxy.override = undefined;
    dataProxy.onRequest = undefined;
    dataProxy.rewriteBody = undefined;
  }
});

// ---------------- named regressions for the bugs these properties found ----------------

test("regression: server text in errors is one bounded line", () => {
  const e = new SyncError("registry", `HTTP 500: ${"line\n".repeat(5000)}`, "h");
  assert.ok(e.message.length <= 2100 && !/\n/.test(e.message), e.message.slice(0, 100));
});

test("regression: a token realm with a scheme we cannot speak is a registry error", async () => {
  data.data = {};
  registry.handler = registryHandler(goodServed(), (q) => (q.auth ? undefined : { status: 401, headers: { "www-authenticate": 'Bearer realm="file:///etc/passwd"' }, body: "{}" }));
  const r = await syncOnce(opts());
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0]!.component, "registry");
  assert.match(r.errors[0]!.message, /token endpoint file:\/\/\/etc\/passwd unreachable: unsupported URL scheme file:/);
  tokens.handler = () => ({ status: 200, body: "null" });
  registry.handler = registryHandler(goodServed(), (q) => (q.auth ? undefined : { status: 401, headers: { "www-authenticate": `Bearer realm="${tokens.url}/token"` }, body: "{}" }));
  const r2 = await syncOnce(opts());
  assert.match(r2.errors[0]!.message, /returned JSON that is not an object/);
  assert.equal(r2.errors[0]!.component, "registry");
});

test("regression: a tag list whose Link points at itself is an error, not the complete list", async () => {
  const s = goodServed();
  s.manifests.set("old", s.manifests.get("v1")!);
  data.data = {};
  registry.handler = registryHandler({ ...s, tags: ["old", "v1"] });
  assert.deepEqual((await syncOnce(opts(CALM))).errors, []);
  registry.handler = registryHandler(s, (q) => (q.path.includes("/tags/list") ? { status: 200, headers: { link: `</v2/${REPO}/tags/list?n=1000>; rel="next"` }, body: JSON.stringify({ name: REPO, tags: ["v1"] }) } : undefined));
  const r = await syncOnce(opts());
  assert.match(r.errors[0]!.message, /Link header whose next page is the page itself/);
  assert.ok(imagesOf()[`fz.example/${REPO}:old`], "old tag kept");
  registry.handler = registryHandler({ ...s, tags: ["v1", "../../x"] });
  assert.match((await syncOnce(opts())).errors[0]!.message, /has an invalid tag "..\/..\/x"/);
});

test("regression: a malformed or wrong Docker-Content-Digest never becomes the data's digest", async () => {
  const s = goodServed();
  const body = s.manifests.get("v1")!.body;
  for (const [header, want] of [
    ["not a digest", null],
    ["sha512:" + "ab".repeat(64), /does not match Docker-Content-Digest sha512:/],
  ] as const) {
    data.data = {};
    s.manifests.set("v1", { body, type: MT.ociManifest, digestHeader: header });
    registry.handler = registryHandler(s);
    const r = await syncOnce(opts(CALM));
    if (want === null) {
      assert.deepEqual(r.errors, []);
      assert.equal((imagesOf()[`fz.example/${REPO}:v1`] as Record<string, unknown>)["digest"], sha(body));
    } else {
      assert.match(r.errors[0]!.message, want);
      assert.equal(imagesOf()[`fz.example/${REPO}:v1`], undefined);
    }
  }
});

test("regression: Clair reports nested absurdly deep, or naming another layer, are refused", () => {
  const deep = `{"Layer":{"Name":"a","Features":[{"Name":"f","Metadata":${"[".repeat(50000)}1${"]".repeat(50000)}}]}}`;
  assert.throws(() => parseV2Layer(Buffer.from(deep), "a"), (e: unknown) => e instanceof SyncError && e.component === "scanner" && /nested deeper than 32/.test(e.message));
  assert.throws(() => parseV2Layer(Buffer.from('{"Layer":{"Name":"b"}}'), "a"), /Layer.Name is "b"/);
  const nest = JSON.parse("[".repeat(50000) + '"x"' + "]".repeat(50000)) as unknown;
  const out = mapV4Report(
    { packages: { "1": { name: "p" } }, environments: { "1": [{ introduced_in: L1 }] }, package_vulnerabilities: { "1": ["v", nest] }, vulnerabilities: { v: { name: "CVE-1", updater: nest, links: "https://a https://b" } } },
    [L1],
    "2026-01-01T00:00:00.000Z",
  );
  const doc = out.get(L1)!;
  assert.doesNotThrow(() => JSON.stringify(doc));
  assert.deepEqual(JSON.parse(JSON.stringify(doc.Layer.Features![0]!.Vulnerabilities![0]!.Metadata)), { ClairV4: { id: "v", links: "https://a https://b" } });
});

test("regression: a failed @digest write is repaired by the next (fresh) sync", async () => {
  const good = await goodBaseline();
  data.data = structuredClone(good);
  const s = goodServed();
  const body = Buffer.from(JSON.stringify(imageManifest(MT.ociManifest, [L1, hexDigest(424242)])));
  s.manifests.set("v1", { body, type: MT.ociManifest });
  registry.handler = registryHandler(s);
  dataProxy.override = (q) => (q.method === "PUT" && q.path.includes("%40sha256") ? { status: 500, body: '{"code":"internal_error","message":"disk full"}' } : undefined);
  try {
    const r = await syncOnce(opts(CALM, null, `${dataProxy.url}/v1`));
    assert.equal(r.errors[0]!.component, "data-api");
  } finally {
    dataProxy.override = undefined;
  }
  const r2 = await syncOnce(opts(CALM, null, `${dataProxy.url}/v1`));
  assert.deepEqual(r2.errors, []);
  assert.equal((imagesOf()[`fz.example/${REPO}@${sha(body)}`] as Record<string, unknown> | undefined)?.["digest"], sha(body));
});
