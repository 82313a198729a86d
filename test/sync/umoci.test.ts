// Integration with real image tooling: an image built with umoci (OCI layout, rootless) and pushed
// with skopeo into the real docker-registry, then synced with the Clair v4 test server.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syncOnce } from "../../src/sync/sync.js";
import { registryAvailable, startRegistry, type RunningRegistry } from "./registry-helper.js";
import { ClairV4Fake, DataApiRecorder } from "./servers.js";
import { registryConfig, syncOptions } from "./common.js";

const have = (cmd: string): boolean => spawnSync(cmd, ["--version"]).status === 0;
const skip = registryAvailable && have("umoci") && have("skopeo") ? false : "needs docker-registry, umoci and skopeo (Debian packages)";

function run(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
}

let cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

test("umoci-built image pushed with skopeo is synced and scanned", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "ie-umoci-"));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const layout = join(dir, "layout");
  run("umoci", ["init", "--layout", layout]);
  run("umoci", ["new", "--image", `${layout}:v1`]);
  mkdirSync(join(dir, "content"));
  writeFileSync(join(dir, "content", "os-release"), "ID=debian\nVERSION_ID=12\n");
  run("umoci", ["insert", "--rootless", "--image", `${layout}:v1`, join(dir, "content", "os-release"), "/etc/os-release"]);
  // The layer digest umoci produced, from the OCI layout.
  const index = JSON.parse(readFileSync(join(layout, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
  const mdig = index.manifests[0]!.digest;
  const manifest = JSON.parse(readFileSync(join(layout, "blobs", "sha256", mdig.slice(7)), "utf8")) as { layers: Array<{ digest: string }> };
  const layer = manifest.layers.at(-1)!.digest;

  const reg: RunningRegistry = await startRegistry();
  cleanup.push(() => reg.cleanup());
  const host = new URL(reg.url).host;
  run("skopeo", ["copy", "--dest-tls-verify=false", `oci:${layout}:v1`, `docker://${host}/tools/umoci:v1`]);

  const data = await DataApiRecorder.start();
  cleanup.push(() => data.served.close());
  const clair = await ClairV4Fake.start();
  cleanup.push(() => clair.served.close());
  clair.packagesByLayer.set(layer, [{ name: "base-files", version: "12.4", vulns: [{ package: "base-files", version: "12.4", vuln: "CVE-2099-1", severity: "Medium" }] }]);

  const r = await syncOnce(syncOptions([registryConfig(reg.url, ["tools/umoci"])], data.url, { url: clair.url, version: "v4" }));
  assert.deepEqual(r.errors, []);
  const doc = data.get(["docker", "layers", "tools", "umoci", "v1"]) as { layers: Array<{ digest: string }> };
  assert.equal(doc.layers.at(-1)!.digest, layer);
  const rep = data.get(["clair", "layers", layer]) as { Layer: { Features: Array<{ Vulnerabilities?: Array<{ Severity: string }> }> } };
  assert.equal(rep.Layer.Features[0]!.Vulnerabilities![0]!.Severity, "Medium");
});
