// Benchmark: 200 tags sharing layers in a local docker-registry; time a first sync and a no-change
// re-sync, and count the requests made per tag in each (registry, Clair v2 test server, Data API).
// Run: npm run bench:sync   (needs the docker-registry Debian package)

import { performance } from "node:perf_hooks";
import { syncOnce } from "../src/sync/sync.js";
import { MemoryLogger } from "../src/sync/log.js";
import { noProgress } from "../src/sync/progress.js";
import { registryAvailable, startRegistry, makeLayer, pushImage, type Layer } from "../test/sync/registry-helper.js";
import { ClairV2Replay, CountingProxy, DataApiRecorder } from "../test/sync/servers.js";
import type { SyncOptions } from "../src/sync/options.js";

const TAGS = Number(process.env["BENCH_TAGS"] ?? 200);
const CONCURRENCY = Number(process.env["BENCH_CONCURRENCY"] ?? 8);

async function main(): Promise<void> {
  if (!registryAvailable) {
    console.error("bench:sync needs /usr/bin/docker-registry (apt-get install docker-registry)");
    process.exitCode = 1;
    return;
  }
  const reg = await startRegistry();
  const proxy = await CountingProxy.start(reg.url);
  const data = await DataApiRecorder.start();
  const clair = await ClairV2Replay.start();
  try {
    // Layers shared the way real tags share them: one base, 10 runtime layers, a unique app layer.
    const base = makeLayer({ "etc/os-release": "ID=debian" });
    const runtimes: Layer[] = Array.from({ length: 10 }, (_, i) => makeLayer({ runtime: `r${i}` }));
    const t0 = performance.now();
    // Shared blobs first, then the tags 8 at a time.
    await pushImage(reg.url, "bench/app", "v0", [base, runtimes[0]!, makeLayer({ app: "build 0" })]);
    for (let i = 1; i < 10 && i < TAGS; i++) await pushImage(reg.url, "bench/app", `v${i}`, [base, runtimes[i]!, makeLayer({ app: `build ${i}` })]);
    for (let i = 10; i < TAGS; i += 8) {
      const batch = [];
      for (let j = i; j < Math.min(TAGS, i + 8); j++) batch.push(pushImage(reg.url, "bench/app", `v${j}`, [base, runtimes[j % 10]!, makeLayer({ app: `build ${j}` })]));
      await Promise.all(batch);
    }
    const pushMs = performance.now() - t0;

    const opts = (): SyncOptions => ({
      registries: [{ url: proxy.url, domain: new URL(proxy.url).host, repositories: ["bench/app"], platforms: [{ os: "linux", architecture: "amd64" }], insecure: false, legacyLayout: true }],
      clair: { url: clair.url, version: "v2" },
      opaUrl: data.url,
      layerRoot: "/data/docker/layers",
      clairRoot: "/data/clair/layers",
      imagesRoot: "/data/docker/images",
      pollDelayMs: 60_000,
      once: true,
      concurrency: CONCURRENCY,
      reportMaxAgeMs: 24 * 3600_000,
      logger: new MemoryLogger(),
      progress: noProgress,
    });

    const run = async (label: string): Promise<void> => {
      proxy.requests = [];
      data.requests = [];
      const clairBefore = clair.posts.length + clair.gets.length;
      const s = performance.now();
      const r = await syncOnce(opts());
      const ms = performance.now() - s;
      const regReq = proxy.requests.length;
      const clairReq = clair.posts.length + clair.gets.length - clairBefore;
      const dataReq = data.requests.length;
      const per = (n: number): string => (n / TAGS).toFixed(2);
      console.log(
        `${label.padEnd(16)} ${ms.toFixed(0).padStart(7)} ms  ` +
          `registry ${String(regReq).padStart(5)} (${per(regReq)}/tag, manifest GETs ${proxy.count("GET", /\/manifests\//)})  ` +
          `clair ${String(clairReq).padStart(4)} (${per(clairReq)}/tag, index calls ${r.layersIndexed})  ` +
          `data-api ${String(dataReq).padStart(5)} (${per(dataReq)}/tag)  errors ${r.errors.length}`,
      );
    };
    console.log(`bench:sync — ${TAGS} tags in one repository, 3 layers each (1 + 10 shared, 1 unique), concurrency ${CONCURRENCY}`);
    console.log(`pushed in ${pushMs.toFixed(0)} ms`);
    await run("first sync");
    await run("no-change resync");
  } finally {
    await proxy.served.close();
    await data.served.close();
    await clair.served.close();
    await reg.cleanup();
  }
}

await main();
