// `image-enforcer sync --metrics-addr`: the sidecar serves its Prometheus metrics (images synced,
// errors, the time of the last cycle without errors, to alert on stale vulnerability data). The
// command runs as a child process against a scripted registry and a recording Data API on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSyncFlags } from "../../src/sync/options.js";
import { SyncError } from "../../src/sync/log.js";
import { freePort, request, tempDir } from "../fixtures/server/client.js";
import { projectRoot } from "../helpers/paths.js";
import { DataApiRecorder, Scripted, type Reply } from "./servers.js";

const sha = (s: string): string => "sha256:" + createHash("sha256").update(s).digest("hex");

/** A registry with one repository, acme/app, whose tag 1.0 is a single-platform image. */
async function oneImageRegistry(): Promise<Scripted> {
  const config = JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.docker.distribution.manifest.v2+json",
    config: { mediaType: "application/vnd.docker.container.image.v1+json", size: config.length, digest: sha(config) },
    layers: [{ mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 1234, digest: "sha256:" + "ab".repeat(32) }],
  });
  const registry = await Scripted.start();
  registry.handler = ({ path }): Reply => {
    if (path === "/v2/") return { status: 200, body: "{}" };
    if (path.startsWith("/v2/acme/app/tags/list")) return { status: 200, body: '{"name":"acme/app","tags":["1.0"]}' };
    if (path === "/v2/acme/app/manifests/1.0" || path === `/v2/acme/app/manifests/${sha(manifest)}`) {
      return { status: 200, headers: { "content-type": "application/vnd.docker.distribution.manifest.v2+json", "docker-content-digest": sha(manifest) }, body: manifest };
    }
    if (path === `/v2/acme/app/blobs/${sha(config)}`) return { status: 200, headers: { "content-type": "application/octet-stream" }, body: config };
    return { status: 404, body: '{"errors":[{"code":"NOT_FOUND"}]}' };
  };
  return registry;
}

test("--metrics-addr: the sync daemon serves GET /metrics with its counters and last successful cycle", async () => {
  const registry = await oneImageRegistry();
  const dataApi = await DataApiRecorder.start();
  const dir = tempDir("ie-sync-metrics-");
  const cfg = join(dir, "sync.yaml");
  writeFileSync(cfg, `pollDelay: 1h\nclair: {url: ""}\nregistries:\n  - url: ${registry.url}\n    repositories: [acme/app]\n`);
  const port = await freePort();
  const child = spawn(process.execPath, [join(projectRoot(), "bin/image-enforcer.js"), "sync", "--config", cfg, "--opa-url", dataApi.url, "--metrics-addr", `127.0.0.1:${port}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const domain = registry.url.replace("http://", "");
  try {
    let text = "";
    // A generous limit for the child to start and finish a cycle, not a timing assertion.
    for (let i = 0; i < 150 && !/^image_enforcer_sync_last_success_timestamp_seconds [1-9]/m.test(text); i++) {
      await new Promise((r) => setTimeout(r, 100));
      text = (await request(`http://127.0.0.1:${port}/metrics`).catch(() => undefined))?.text ?? "";
    }
    assert.match(text, new RegExp(`^image_enforcer_sync_images_synced_total\\{registry="${domain.replace(/\./g, "\\.")}"\\} 1$`, "m"), stderr);
    assert.match(text, /^image_enforcer_sync_last_success_timestamp_seconds [1-9]\d*(\.\d+)?$/m);
    assert.ok(dataApi.count("PUT") > 0, "the image was written");
    assert.equal((await request(`http://127.0.0.1:${port}/v1/data`)).status, 404);
  } finally {
    child.kill("SIGTERM");
    await registry.close();
    await dataApi.served.close();
  }
  assert.equal(await exited, 0, stderr);
});

test("--metrics-addr must be host:port", () => {
  for (const bad of ["nonsense", "127.0.0.1", ":99999"]) {
    assert.throws(
      () => parseSyncFlags(["--repository", "a/b", "--metrics-addr", bad], {}),
      (e: unknown) => e instanceof SyncError && e.component === "config" && e.message === `invalid --metrics-addr "${bad}"`,
      bad,
    );
  }
  assert.equal(parseSyncFlags(["--repository", "a/b", "--metrics-addr", ":9090"], {}).metricsAddr, ":9090");
});
