// Integration: the real docker-registry + a Clair v2 test server replaying the recorded responses of
// a real Clair v2 (a copy of ../shared/seed/data/clair/clair.json in test/fixtures/sync/clair-v2-recorded.json; Clair itself cannot run here) + an OPA-like
// Data API recorder. Requests to the registry go through a counting proxy so the test can check
// that a second sync with nothing changed makes no manifest GETs and no Clair index calls.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { syncOnce } from "../../src/sync/sync.js";
import { registryAvailable, startRegistry, makeLayer, pushImage, pushIndex, deleteManifest, type RunningRegistry, type PushedImage } from "./registry-helper.js";
import { ClairV2Replay, CountingProxy, DataApiRecorder } from "./servers.js";
import { registryConfig, syncOptions, platforms, RECORDED_VULNERABLE } from "./common.js";

const skip = registryAvailable ? false : "docker-registry is not installed (apt-get install docker-registry)";

let reg: RunningRegistry;
let proxy: CountingProxy;
let data: DataApiRecorder;
let clair: ClairV2Replay;
let domain: string;
const base = makeLayer({ "etc/os-release": "ID=debian\nVERSION_ID=8\n" });
const appLayer = makeLayer({ "app/index.php": "<?php echo 'wordpress';" });
let wp: PushedImage;
let app: PushedImage;
let multi: { digest: string; children: Record<string, PushedImage> };
let deep: PushedImage;

before(async () => {
  if (skip) return;
  reg = await startRegistry();
  proxy = await CountingProxy.start(reg.url);
  data = await DataApiRecorder.start();
  clair = await ClairV2Replay.start();
  domain = new URL(proxy.url).host;
  // Clair's database "knows" our base layer as the recorded vulnerable debian:8 layer.
  clair.aliases.set(base.digest, RECORDED_VULNERABLE);
  wp = await pushImage(reg.url, "library/wordpress", "4-apache", [base, appLayer]);
  app = await pushImage(reg.url, "org/app", "1", [base, makeLayer({ "srv/app": "v1" })], { oci: true });
  await pushImage(reg.url, "org/app", "2", [makeLayer({ "srv/app": "v2-alone" })], { oci: true });
  multi = await pushIndex(reg.url, "multi/arch", "latest", {
    amd64: [base, makeLayer({ arch: "amd64" })],
    arm64: [makeLayer({ arch: "arm64-base" }), makeLayer({ arch: "arm64" })],
  });
  deep = await pushImage(reg.url, "a/b/c", "v1", [makeLayer({ deep: "1" })]);
});

after(async () => {
  if (skip) return;
  await proxy.served.close();
  await data.served.close();
  await clair.served.close();
  await reg.cleanup();
});

function opts(extra = {}) {
  return syncOptions(
    [registryConfig(proxy.url, ["library/wordpress", "org/app", "multi/arch", "a/b/c", "missing/repo"])],
    data.url,
    { url: clair.url, version: "v2" },
    extra,
  );
}

test("first sync writes manifests and Clair reports in the policy's shape", { skip }, async () => {
  const o = opts();
  const r = await syncOnce(o);
  // missing/repo does not exist: one registry error, everything else synced.
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors));
  assert.equal(r.errors[0]!.component, "registry");
  assert.match(r.errors[0]!.message, /404/);
  assert.equal(r.imagesWritten, 5);

  // data.docker.layers[org][name][tag]: exactly the seed docker.json shape.
  assert.deepEqual(data.get(["docker", "layers", "library", "wordpress", "4-apache"]), {
    config: { digest: wp.configDigest, size: JSON.parse(wp.manifest).config.size },
    layers: [
      { digest: base.digest, size: base.size },
      { digest: appLayer.digest, size: appLayer.size },
    ],
  });
  assert.ok(data.get(["docker", "layers", "org", "app", "1"]));
  // A three-component path has no org/name slot; it is under data.docker.images only.
  assert.equal(data.get(["docker", "layers", "a"]), undefined);
  const deepDoc = data.get(["docker", "images", `${domain}/a/b/c:v1`]) as Record<string, unknown>;
  assert.equal(deepDoc["digest"], deep.digest);
  assert.equal(deepDoc["repository"], "a/b/c");
  assert.deepEqual(data.get(["docker", "images", `${domain}/a/b/c@${deep.digest}`]), deepDoc);

  // Multi-platform: resolved to linux/amd64 (the default), the tag's own digest is the index's.
  const m = data.get(["docker", "images", `${domain}/multi/arch:latest`]) as Record<string, unknown>;
  assert.equal(m["digest"], multi.digest);
  assert.equal(m["platform"], "linux/amd64");
  assert.deepEqual(Object.keys(m["platforms"] as object), ["linux/amd64"]);
  // Pinned to the amd64 manifest's own digest: that platform's layers.
  const amd = multi.children["amd64"]!;
  const pinned = data.get(["docker", "images", `${domain}/multi/arch@${amd.digest}`]) as { digest: string; platform: string; layers: Array<{ digest: string }> };
  assert.equal(pinned.digest, amd.digest);
  assert.equal(pinned.platform, "linux/amd64");
  assert.deepEqual(pinned.layers.map((l) => l.digest), amd.layers.map((l) => l.digest));
  assert.ok(data.get(["docker", "images", `${domain}/multi/arch@${multi.digest}`]));
  const legacyMulti = data.get(["docker", "layers", "multi", "arch", "latest"]) as { layers: Array<{ digest: string }> };
  assert.deepEqual(legacyMulti.layers.map((l) => l.digest), multi.children["amd64"]!.layers.map((l) => l.digest));

  // Clair: the vulnerable base layer's replayed report, with FetchedAt.
  const doc = data.get(["clair", "layers", base.digest]) as { Layer: { Name: string; Features: Array<{ Vulnerabilities?: unknown[] }> }; FetchedAt: string; Scanner: string };
  assert.equal(doc.Layer.Name, base.digest);
  assert.ok(doc.Layer.Features.some((f) => (f.Vulnerabilities ?? []).length > 0));
  assert.ok(!Number.isNaN(Date.parse(doc.FetchedAt)));
  assert.equal(doc.Scanner, "clair-v2");
  // Parent chaining: the app layer was indexed with the base as its parent, and the base only once.
  const appPost = clair.posts.find((p) => p.Name === appLayer.digest)!;
  assert.equal(appPost.ParentName, base.digest);
  assert.equal(appPost.Path, `${proxy.url}/v2/library/wordpress/blobs/${appLayer.digest}`);
  assert.equal(clair.posts.filter((p) => p.Name === base.digest).length, 1);
  assert.equal(clair.posts.find((p) => p.Name === base.digest)!.ParentName, undefined);
  // arm64 layers are not synced (platform not configured).
  const arm = multi.children["arm64"]!.layers[1]!.digest;
  assert.equal(data.get(["clair", "layers", arm]), undefined);
  // Every synced layer has a report.
  for (const l of app.layers) assert.ok(data.get(["clair", "layers", l.digest]), `report for ${l.digest}`);
  // Logs: one line per repository.
  assert.equal(o.logger.records.filter((x) => x.msg === "repository synced").length, 4);
});

test("second sync with nothing changed: no manifest GETs, no Clair calls, no writes", { skip }, async () => {
  const before = structuredClone(data.data);
  proxy.requests = [];
  const posts = clair.posts.length;
  const gets = clair.gets.length;
  const puts = data.count("PUT");
  const r = await syncOnce(opts());
  assert.equal(r.imagesWritten, 0);
  assert.equal(r.imagesUnchanged, 5);
  assert.equal(proxy.count("GET", /\/manifests\//), 0);
  assert.equal(proxy.count("HEAD", /\/manifests\//), 5);
  assert.equal(clair.posts.length, posts);
  assert.equal(clair.gets.length, gets);
  assert.equal(data.count("PUT"), puts);
  assert.deepEqual(data.data, before);
  assert.equal(r.requests.registry.manifestGet, 0);
});

test("a changed tag is re-fetched, a removed tag is deleted, the rest stays", { skip }, async () => {
  const newLayer = makeLayer({ "app/index.php": "<?php echo 'wordpress 2';" });
  const wp2 = await pushImage(reg.url, "library/wordpress", "4-apache", [base, newLayer]);
  await deleteManifest(reg.url, "org/app", app.digest);
  proxy.requests = [];
  const posts = clair.posts.length;
  const r = await syncOnce(opts());
  assert.equal(r.imagesWritten, 1);
  assert.equal(r.tagsRemoved, 1);
  // Only the changed tag's manifest was fetched.
  assert.equal(proxy.count("GET", /\/manifests\//), 1);
  // Only the new layer was indexed (the base was reported already), chained to the base.
  assert.deepEqual(clair.posts.slice(posts).map((p) => [p.Name, p.ParentName]), [[newLayer.digest, base.digest]]);
  const doc = data.get(["docker", "layers", "library", "wordpress", "4-apache"]) as { layers: Array<{ digest: string }> };
  assert.equal(doc.layers[1]!.digest, newLayer.digest);
  assert.equal((data.get(["docker", "images", `${domain}/library/wordpress:4-apache`]) as { digest: string }).digest, wp2.digest);
  // The old digest key went away with the move; the removed tag is gone in both shapes.
  assert.equal(data.get(["docker", "images", `${domain}/library/wordpress@${wp.digest}`]), undefined);
  assert.equal(data.get(["docker", "layers", "org", "app", "1"]), undefined);
  assert.equal(data.get(["docker", "images", `${domain}/org/app:1`]), undefined);
  assert.equal(data.get(["docker", "images", `${domain}/org/app@${app.digest}`]), undefined);
  assert.ok(data.get(["docker", "layers", "org", "app", "2"]));
  assert.ok(data.get(["docker", "images", `${domain}/multi/arch:latest`]));
});

test("more platforms: linux/arm64 added to the configuration", { skip }, async () => {
  const o = syncOptions([registryConfig(proxy.url, ["multi/arch"], { platforms: platforms("linux/amd64", "linux/arm64") })], data.url, { url: clair.url, version: "v2" });
  await pushIndex(reg.url, "multi/arch", "both", {
    amd64: [base, makeLayer({ arch: "amd64-2" })],
    arm64: [makeLayer({ arch: "arm64-base-2" })],
  });
  const r = await syncOnce(o);
  assert.deepEqual(r.errors, []);
  const m = data.get(["docker", "images", `${domain}/multi/arch:both`]) as { platforms: Record<string, { layers: Array<{ digest: string }> }> };
  assert.deepEqual(Object.keys(m.platforms).sort(), ["linux/amd64", "linux/arm64"]);
  for (const p of Object.values(m.platforms)) for (const l of p.layers) assert.ok(data.get(["clair", "layers", l.digest]));
  // The tag synced earlier for amd64 only was re-resolved for the new platform list, same digest.
  const latest = data.get(["docker", "images", `${domain}/multi/arch:latest`]) as { digest: string; platforms: Record<string, unknown>; resolvedFor: string };
  assert.equal(latest.digest, multi.digest);
  assert.deepEqual(Object.keys(latest.platforms).sort(), ["linux/amd64", "linux/arm64"]);
  assert.equal(latest.resolvedFor, "linux/amd64,linux/arm64");
  assert.equal(r.imagesWritten, 2);
});

test("tag listing: all tags from the real registry; Link pagination followed when a registry pages", { skip }, async () => {
  const { RegistryClient } = await import("../../src/sync/registry.js");
  const { NodeTransport } = await import("../../src/sync/http.js");
  const all = ["p1", "p2", "p3", "p4", "p5"];
  for (const t of all) await pushImage(reg.url, "page/test", t, [makeLayer({ page: t })]);
  const transport = new NodeTransport();
  try {
    const c = new RegistryClient({ url: proxy.url, transport });
    // Debian's registry 2.8.2 ignores ?n= and returns every tag in one unsorted page.
    assert.deepEqual((await c.listTags("page/test", undefined, 2)).sort(), all);
    // A registry that pages (as the spec allows): relative Link URLs, `last` excluded.
    proxy.override = (r) => {
      const m = /^\/v2\/page\/test\/tags\/list\?(.*)$/.exec(r.path);
      if (!m) return undefined;
      const q = new URLSearchParams(m[1]);
      const n = Number(q.get("n") ?? 100);
      const last = q.get("last");
      const start = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(start, start + n);
      const headers: Record<string, string> = {};
      if (start + n < all.length) headers["link"] = `</v2/page/test/tags/list?last=${page[page.length - 1]}&n=${n}>; rel="next"`;
      return { status: 200, headers, body: JSON.stringify({ name: "page/test", tags: page }) };
    };
    proxy.requests = [];
    assert.deepEqual(await c.listTags("page/test", undefined, 2), all);
    assert.equal(proxy.count("GET", /\/v2\/page\/test\/tags\/list/), 3);
  } finally {
    proxy.override = undefined;
    transport.close();
  }
});

test("a registry that sends no Docker-Content-Digest on HEAD: GET and compare the computed digest", { skip }, async () => {
  await syncOnce(opts());
  proxy.override = (r) => (r.method === "HEAD" && r.path.includes("/manifests/") ? { status: 200, headers: { "content-type": "application/vnd.docker.distribution.manifest.v2+json" }, body: "" } : undefined);
  try {
    proxy.requests = [];
    const puts = data.count("PUT");
    const r = await syncOnce(opts());
    assert.equal(r.errors.length, 1); // missing/repo
    assert.equal(r.imagesWritten, 0);
    assert.equal(proxy.count("GET", /\/manifests\//), r.imagesUnchanged);
    assert.ok(r.imagesUnchanged >= 4);
    assert.equal(data.count("PUT"), puts);
  } finally {
    proxy.override = undefined;
  }
});
