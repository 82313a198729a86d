// Integration: the real docker-registry over HTTPS with a self-signed certificate: trusted through a
// CA file, refused without it, accepted with the insecure flag.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syncOnce } from "../../src/sync/sync.js";
import { registryAvailable, startRegistry, makeLayer, makeTlsCert, rawRequest, sha256, type RunningRegistry } from "./registry-helper.js";
import { DataApiRecorder } from "./servers.js";
import { registryConfig, syncOptions } from "./common.js";

const skip = registryAvailable ? false : "docker-registry is not installed";
let reg: RunningRegistry;
let dir: string;
let ca: string;
let data: DataApiRecorder;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), "ie-tls-"));
  const t = makeTlsCert(dir);
  ca = readFileSync(t.cert, "utf8");
  reg = await startRegistry({ kind: "none" }, t);
  data = await DataApiRecorder.start();
  // Push one image over TLS (insecure client for the helper only).
  const layer = makeLayer({ tls: "yes" });
  const up = async (blob: Buffer): Promise<string> => {
    const d = sha256(blob);
    const s = await rawRequest("POST", `${reg.url}/v2/sec/app/blobs/uploads/`, {}, undefined, true);
    const loc = new URL(String(s.headers["location"]), reg.url);
    loc.searchParams.set("digest", d);
    await rawRequest("PUT", loc.toString(), { "content-type": "application/octet-stream" }, blob, true);
    return d;
  };
  await up(layer.blob);
  const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layer.diffId] } }));
  const cd = await up(config);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: cd },
    layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: layer.size, digest: layer.digest }],
  });
  const r = await rawRequest("PUT", `${reg.url}/v2/sec/app/manifests/1`, { "content-type": "application/vnd.docker.distribution.manifest.v2+json" }, manifest, true);
  assert.equal(r.status, 201);
});

after(async () => {
  if (skip) return;
  await data.served.close();
  await reg.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test("TLS registry: CA file trusted, unknown CA refused with a clear error, insecure accepted", { skip }, async () => {
  let r = await syncOnce(syncOptions([registryConfig(reg.url, ["sec/app"], { ca })], data.url, null));
  assert.deepEqual(r.errors, []);
  assert.ok(data.get(["docker", "layers", "sec", "app", "1"]));

  r = await syncOnce(syncOptions([registryConfig(reg.url, ["sec/app"], { domain: "untrusted.example" })], data.url, null));
  assert.equal(r.errors.length, 1);
  assert.match(r.errors[0]!.message, /certificate/i);
  assert.equal(data.get(["docker", "images", "untrusted.example/sec/app:1"]), undefined);

  r = await syncOnce(syncOptions([registryConfig(reg.url, ["sec/app"], { domain: "insecure.example", insecure: true })], data.url, null));
  assert.deepEqual(r.errors, []);
  assert.ok(data.get(["docker", "images", "insecure.example/sec/app:1"]));
});
