// Benchmark: ImageReview webhook calls (POST /v0/data/io/k8s/image_policy/verify) over keep-alive
// HTTP on loopback against the bundled policies and data, at 1, 8 and 64 concurrent connections.
// Each server runs on its own worker thread; this thread is the load generator. In the same run a
// bare node:http server that reads the body and answers a fixed ImageReview is measured the same
// way, and the throughput ratio (ours / bare) is printed. Nothing here asserts: machines are
// noisy, read the ratios.
//
//   npm run bench:server                     (defaults: 20000 requests or 10 s per level)
//   BENCH_REQUESTS=50000 BENCH_SECONDS=20 npm run bench:server
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const here = fileURLToPath(import.meta.url);
/** The project root: the nearest ancestor with package.json and policies/ (dist/ or a build dir). */
function findRoot(): string {
  let dir = dirname(here);
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'policies'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('project root not found');
    dir = up;
  }
  return dir;
}
const root = findRoot();
const PATH = '/v0/data/io/k8s/image_policy/verify';

function review(images: string[]): string {
  return JSON.stringify({
    kind: 'ImageReview',
    apiVersion: 'imagepolicy.k8s.io/v1alpha1',
    metadata: { creationTimestamp: null },
    spec: { containers: images.map((image) => ({ image })), namespace: 'production' },
    status: { allowed: false },
  });
}
const ALLOWED = review(['alpine:3.5', 'openpolicyagent/opa:0.4.10']);
const DENIED = review(['wordpress:4-apache', 'openpolicyagent/opa:0.4.10']);
const FIXED = '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","status":{"allowed":true}}';

interface WorkerInit {
  kind: 'enforcer' | 'bare';
  decisionLog: boolean;
  /** Policy and data paths; absent: a constant policy (measures the server alone). */
  paths?: string[];
}

// Answers every review with "allowed" without looking at it: what remains is the server's cost
// (body, JSON, validation, routing, metrics) plus a trivial evaluation.
const CONSTANT_POLICY = `package io.k8s.image_policy

verify := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": true}}
`;

// ---------------------------------------------------------------------------------------------
// Server side (worker threads)

async function serve(init: WorkerInit): Promise<void> {
  let port: number;
  let close: () => Promise<void>;
  if (init.kind === 'bare') {
    const s = createHttpServer((req, res) => {
      // Read the whole body as any real handler must, then answer a fixed review.
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(FIXED) });
        res.end(FIXED);
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    port = (s.address() as { port: number }).port;
    close = () => new Promise((r) => s.close(() => r()));
  } else {
    const { Runtime } = await import('../src/runtime/runtime.js');
    const { createServer } = await import('../src/server/index.js');
    let paths = init.paths;
    if (!paths) {
      const dir = mkdtempSync(join(tmpdir(), 'ie-bench-'));
      writeFileSync(join(dir, 'constant.rego'), CONSTANT_POLICY);
      paths = [dir];
    }
    const runtime = await Runtime.start({ paths, disabledBuiltins: new Set(['http.send']) });
    const devNull = { write: () => true };
    const s = await createServer(runtime, {
      addr: '127.0.0.1:0',
      authentication: 'off',
      maxBodyBytes: 8 * 1024 * 1024,
      evalTimeoutMs: 5000,
      decisionLog: 'off',
      // The decision log line is built and serialised, then dropped: its cost is measured
      // without the noise of a terminal or pipe.
      decisionLogSink: init.decisionLog ? devNull : undefined,
      logSink: devNull,
    });
    port = s.port;
    close = async () => {
      await s.close();
      runtime.close();
    };
  }
  parentPort!.postMessage({ port });
  parentPort!.on('message', (m: string) => {
    if (m === 'stop') void close().then(() => process.exit(0));
  });
}

if (!isMainThread) void serve(workerData as WorkerInit);

// ---------------------------------------------------------------------------------------------
// Load generator (main thread)

interface Result {
  requests: number;
  seconds: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  denied: number;
}

function post(agent: Agent, port: number, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: PATH, method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function load(port: number, concurrency: number, maxRequests: number, maxSeconds: number): Promise<Result> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  // Warm up: JIT, prepared-query cache, connections.
  for (let i = 0; i < Math.min(2000, maxRequests / 5); i += concurrency) {
    await Promise.all(Array.from({ length: concurrency }, (_, j) => post(agent, port, (i + j) % 2 ? DENIED : ALLOWED)));
  }
  const latencies: number[] = [];
  let issued = 0;
  let errors = 0;
  let denied = 0;
  const start = process.hrtime.bigint();
  const deadline = Date.now() + maxSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (issued < maxRequests && Date.now() < deadline) {
      const body = issued++ % 2 ? DENIED : ALLOWED;
      const t0 = process.hrtime.bigint();
      try {
        const r = await post(agent, port, body);
        if (r.status !== 200) errors++;
        else if (r.text.includes('"allowed":false')) denied++;
      } catch {
        errors++;
      }
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  return { requests: latencies.length, seconds, rps: latencies.length / seconds, p50: pct(50), p99: pct(99), errors, denied };
}

async function startWorker(init: WorkerInit): Promise<{ port: number; stop: () => Promise<void> }> {
  const w = new Worker(here, { workerData: init });
  const port = await new Promise<number>((resolve, reject) => {
    w.once('message', (m: { port: number }) => resolve(m.port));
    w.once('error', reject);
  });
  return {
    port,
    stop: async () => {
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage('stop');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const maxRequests = Number(process.env.BENCH_REQUESTS ?? 20_000);
  const maxSeconds = Number(process.env.BENCH_SECONDS ?? 10);
  const levels = [1, 8, 64];
  const fmt = (n: number, d = 2): string => n.toFixed(d).padStart(9);

  console.log(`ImageReview over keep-alive HTTP on loopback, ${maxRequests} requests or ${maxSeconds} s per level (alternating allowed and denied reviews)`);
  console.log(`node ${process.version}; servers run on worker threads, the load generator on the main thread`);

  // BENCH_POLICIES=dir1,dir2 benchmarks other policies (e.g. test/fixtures/seed-v0,data).
  const paths = (process.env.BENCH_POLICIES ?? 'policies,data').split(',').map((p) => join(root, p.trim()));
  console.log(`policies: ${paths.map((p) => p.slice(root.length + 1)).join(' ')}\n`);
  const servers: Array<{ name: string; init: WorkerInit }> = [
    { name: 'bare node:http (fixed answer)', init: { kind: 'bare', decisionLog: false } },
    { name: 'enforcer, constant policy', init: { kind: 'enforcer', decisionLog: false } },
    { name: 'enforcer, decision log off', init: { kind: 'enforcer', decisionLog: false, paths } },
    { name: 'enforcer, decision log on', init: { kind: 'enforcer', decisionLog: true, paths } },
  ];
  const results = new Map<string, Map<number, Result>>();
  for (const s of servers) {
    const w = await startWorker(s.init);
    const byLevel = new Map<number, Result>();
    for (const c of levels) byLevel.set(c, await load(w.port, c, maxRequests, maxSeconds));
    await w.stop();
    results.set(s.name, byLevel);
  }

  console.log('server                          conns     req/s   p50 ms   p99 ms  errors  denied    ratio');
  const bare = results.get(servers[0].name)!;
  for (const s of servers) {
    for (const c of levels) {
      const r = results.get(s.name)!.get(c)!;
      const ratio = r.rps / bare.get(c)!.rps;
      const denied = `${Math.round((100 * r.denied) / r.requests)}%`;
      console.log(
        `${s.name.padEnd(31)} ${String(c).padStart(5)} ${fmt(r.rps, 0)} ${fmt(r.p50, 3)} ${fmt(r.p99, 3)} ${String(r.errors).padStart(7)} ${denied.padStart(7)} ${fmt(ratio, 2)}`,
      );
    }
  }
  const ours = results.get(servers[2].name)!.get(64)!;
  console.log(
    `\nat 64 connections: throughput ratio ${(ours.rps / bare.get(64)!.rps).toFixed(2)} (target >= 0.7), p99 ${ours.p99.toFixed(2)} ms (target < 5 ms)`,
  );
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
