// Benchmark: ImageReview webhook calls (POST /v0/data/io/k8s/image_policy/verify) over keep-alive
// HTTP on loopback at 1, 8 and 64 concurrent connections, alternating an allowed and a denied
// review. Each server runs on its own worker thread; this thread is the load generator. Rows:
//
//   bare node:http      reads the body and answers a fixed ImageReview: the yardstick
//   constant policy     the enforcer with a policy that allows everything: the server's own cost
//   sample policy       the seed description's policy (policies/default.rego, policies/scan.rego,
//                       policies/mock/input.rego) with data/, decision log off and on
//   bundled policies    everything in policies/ (with the image policy library) and data/,
//                       decision log on: for information
//
// Each row shows its throughput ratio to the bare server at the same concurrency, the server
// thread's busy time per request (its event loop utilisation over the run), which is steadier
// than throughput when other work shares the machine, and the load generator's own busy time per
// request. A load generator busy most of the time caps every row alike and pushes the ratios
// towards 1, so the default generator is a lean client (raw sockets, pre-serialised requests):
// it costs about a third of node:http's client per request, and more of the machine goes to the
// servers. BENCH_CLIENT=node uses node:http's client instead. All servers start first; then every
// (concurrency, trial) runs each server in turn, and each row keeps its fastest run. The
// issue's target (ratio >= 0.7 and p99 < 5 ms at 64 connections) applies to the sample policy
// rows. Decision log lines are built and serialised, then dropped, so their cost is measured
// without a terminal or pipe. Nothing here asserts: machines are noisy, read the ratios.
//
// A closed loop (each connection sends again as soon as it has its answer) measures capacity, and
// its latency is just connections / throughput. The open-loop rows then offer fixed request rates
// over up to 64 connections, whatever the answers. A request that finds every connection busy
// waits, and its latency counts from when it was due (a server that falls behind is not excused
// by the generator waiting for it): the latency the API server would see at that load.
//
//   npm run bench:server                     (defaults: 10000 requests or 5 s per run, best of 3)
//   BENCH_REQUESTS=50000 BENCH_SECONDS=20 BENCH_TRIALS=5 npm run bench:server
//   BENCH_CLIENT=node npm run bench:server   (node:http's client as the load generator)
//   BENCH_RATES=1000,5000 npm run bench:server   (open-loop rates, requests/s; default 2000,5000,10000)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Agent, createServer as createHttpServer, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { projectRoot } from '../test/helpers/paths.js';

const here = fileURLToPath(import.meta.url);
const root = projectRoot();
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
/** The load generator: a lean raw-socket client (default) or node:http's. */
const CLIENT = process.env.BENCH_CLIENT === 'node' ? 'node:http' : 'raw';
const FIXED = '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","status":{"allowed":true}}';

/**
 * The seed description's sample policy: exactly these files, with the data directory.
 * BENCH_SAMPLE=test/fixtures/seed-v0,data benchmarks the seed's original text instead.
 */
const SAMPLE_POLICY = process.env.BENCH_SAMPLE?.split(',').map((p) => p.trim()) ?? ['policies/default.rego', 'policies/scan.rego', 'policies/mock/input.rego', 'data'];
/** Everything the package ships: the sample policy plus the image policy library. */
const BUNDLED_POLICIES = ['policies', 'data'];

interface WorkerInit {
  kind: 'enforcer' | 'bare';
  decisionLog: boolean;
  /** Policy and data paths; absent: a constant policy (measures the server alone). */
  paths?: string[];
}

/** Worker -> main: the port once listening, then the busy time between 'mark' messages. */
type WorkerMessage = { port: number } | { busyMs: number };

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
      decisionLogSink: init.decisionLog ? devNull : undefined,
      logSink: devNull,
    });
    port = s.port;
    close = async () => {
      await s.close();
      runtime.close();
    };
  }
  // The event loop's busy time between two marks: the server's work for the requests in between.
  let mark: EventLoopUtilization | undefined;
  parentPort!.on('message', (m: string) => {
    if (m === 'mark') {
      const busyMs = mark ? performance.eventLoopUtilization(mark).active : 0;
      mark = performance.eventLoopUtilization();
      parentPort!.postMessage({ busyMs } satisfies WorkerMessage);
    } else if (m === 'stop') void close().then(() => process.exit(0));
  });
  parentPort!.postMessage({ port } satisfies WorkerMessage);
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
  /** The server thread's busy time per request, in microseconds. */
  busyUs: number;
  /** The load generator's (this thread's) busy time per request, in microseconds. */
  clientUs: number;
}

/** One request and its answer: status and body text. */
type Post = (body: string) => Promise<{ status: number; text: string }>;

/** node:http's client: what most Node programs would use. */
function nodeHttpClient(port: number, concurrency: number): { post: Post; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  return { post: (body) => post(agent, port, body), close: () => agent.destroy() };
}

/**
 * A lean keep-alive client over raw sockets: requests are serialised once, answers are framed by
 * their Content-Length (both kinds of server send one). One connection per caller; a caller
 * waits for its answer before it sends again, as with node:http's client.
 */
function rawClient(port: number): { post: Post; close(): void } {
  const serialised = new Map<string, Buffer>();
  const head = (body: string): Buffer =>
    Buffer.from(`POST ${PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const idle: RawConnection[] = [];
  const all: RawConnection[] = [];
  return {
    post: async (body) => {
      let request = serialised.get(body);
      if (!request) serialised.set(body, (request = head(body)));
      let c = idle.pop();
      if (!c) all.push((c = new RawConnection(port)));
      try {
        return await c.send(request);
      } finally {
        if (!c.socket.destroyed) idle.push(c);
      }
    },
    close: () => all.forEach((c) => c.socket.destroy()),
  };
}

class RawConnection {
  readonly socket: Socket;
  private pending: Buffer | undefined;
  private waiting: { resolve(r: { status: number; text: string }): void; reject(e: Error): void } | undefined;

  constructor(port: number) {
    this.socket = connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.received(chunk));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(new Error('connection closed')));
  }

  send(request: Buffer): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  private received(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = buf.indexOf('\r\n\r\n');
    const length = end < 0 ? NaN : contentLength(buf.toString('latin1', 0, end));
    if (end < 0 || buf.length < end + 4 + length) {
      this.pending = buf;
      return;
    }
    this.pending = undefined;
    const status = Number(buf.toString('latin1', 9, 12));
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve({ status, text: buf.toString('utf8', end + 4, end + 4 + length) });
  }

  private fail(e: Error): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
  }
}

function contentLength(head: string): number {
  const m = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (!m) throw new Error(`answer without Content-Length: ${head}`);
  return Number(m[1]);
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

async function load(server: Started, concurrency: number, maxRequests: number, maxSeconds: number, warmUp: number): Promise<Result> {
  const { port } = server;
  const client = CLIENT === 'raw' ? rawClient(port) : nodeHttpClient(port, concurrency);
  // Warm up: JIT and prepared-query cache (the first time), connections (every time).
  for (let i = 0; i < Math.max(warmUp, 4 * concurrency); i += concurrency) {
    await Promise.all(Array.from({ length: concurrency }, (_, j) => client.post((i + j) % 2 ? DENIED : ALLOWED)));
  }
  await server.busyMs();
  const latencies: number[] = [];
  let issued = 0;
  let errors = 0;
  let denied = 0;
  const clientStart = performance.eventLoopUtilization();
  const start = process.hrtime.bigint();
  const deadline = Date.now() + maxSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (issued < maxRequests && Date.now() < deadline) {
      const body = issued++ % 2 ? DENIED : ALLOWED;
      const t0 = process.hrtime.bigint();
      try {
        const r = await client.post(body);
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
  const clientMs = performance.eventLoopUtilization(clientStart).active;
  const busyMs = await server.busyMs();
  client.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => percentile(latencies, p);
  const n = latencies.length;
  return { requests: n, seconds, rps: n / seconds, p50: pct(50), p99: pct(99), errors, denied, busyUs: (1000 * busyMs) / n, clientUs: (1000 * clientMs) / n };
}

interface OpenLoopResult {
  due: number;
  answered: number;
  rps: number;
  p50: number;
  p99: number;
  max: number;
  errors: number;
}

/**
 * Requests due at `rate` per second for `seconds`, alternating allowed and denied, sent on up to
 * `connections` connections; a request due while all are busy waits for one, and its latency
 * counts from when it was due.
 */
async function openLoop(server: Started, rate: number, seconds: number, connections: number): Promise<OpenLoopResult> {
  const client = rawClient(server.port);
  const latencies: number[] = [];
  const waiting: Array<[number, string]> = [];
  let due = 0;
  let inFlight = 0;
  let errors = 0;
  const start = performance.now();
  const total = Math.round(rate * seconds);
  const send = (from: number, body: string): void => {
    inFlight++;
    client.post(body).then(
      (r) => {
        if (r.status !== 200) errors++;
      },
      () => errors++,
    ).finally(() => {
      latencies.push(performance.now() - from);
      inFlight--;
      const next = waiting.shift();
      if (next) send(...next);
    });
  };
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const now = performance.now();
      for (; due < total && start + (due * 1000) / rate <= now; due++) {
        const body = due % 2 ? DENIED : ALLOWED;
        // Sent now: timed from now (the timer's own lateness is the generator's, not the
        // server's). Waiting for a connection the server still holds: timed from when it was due.
        if (inFlight < connections) send(now, body);
        else waiting.push([start + (due * 1000) / rate, body]);
      }
      if (due >= total && inFlight === 0 && waiting.length === 0) {
        clearInterval(tick);
        resolve();
      }
    }, 1);
  });
  const elapsed = (performance.now() - start) / 1000;
  client.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => percentile(latencies, p);
  return { due: total, answered: latencies.length, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), max: latencies[latencies.length - 1], errors };
}

/** The p-th percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

interface Started {
  port: number;
  /** The server thread's busy time since the previous call, in milliseconds. */
  busyMs(): Promise<number>;
  stop(): Promise<void>;
}

async function startWorker(init: WorkerInit): Promise<Started> {
  const w = new Worker(here, { workerData: init });
  const port = await new Promise<number>((resolve, reject) => {
    w.once('message', (m: { port: number }) => resolve(m.port));
    w.once('error', reject);
  });
  return {
    port,
    busyMs: () =>
      new Promise<number>((resolve) => {
        w.once('message', (m: { busyMs: number }) => resolve(m.busyMs));
        w.postMessage('mark');
      }),
    stop: async () => {
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage('stop');
      await exited;
    },
  };
}

async function main(): Promise<void> {
  const maxRequests = Number(process.env.BENCH_REQUESTS ?? 10_000);
  const maxSeconds = Number(process.env.BENCH_SECONDS ?? 5);
  const trials = Math.max(1, Number(process.env.BENCH_TRIALS ?? 3));
  const levels = [1, 8, 64];
  const fmt = (n: number, d = 2): string => n.toFixed(d).padStart(9);
  const resolve = (paths: string[]): string[] => paths.map((p) => join(root, p));

  console.log(
    `ImageReview over keep-alive HTTP on loopback, ${maxRequests} requests or ${maxSeconds} s per run (alternating allowed and denied reviews), best of ${trials} runs`,
  );
  console.log(`node ${process.version}; servers run on worker threads, the load generator (${CLIENT} client) on the main thread`);
  console.log(`sample policy: ${SAMPLE_POLICY.join(' ')}`);
  console.log(`bundled policies: ${BUNDLED_POLICIES.join(' ')}\n`);

  const servers: Array<{ name: string; init: WorkerInit }> = [
    { name: 'bare node:http (fixed answer)', init: { kind: 'bare', decisionLog: false } },
    { name: 'constant policy', init: { kind: 'enforcer', decisionLog: false } },
    { name: 'sample policy, log off', init: { kind: 'enforcer', decisionLog: false, paths: resolve(SAMPLE_POLICY) } },
    { name: 'sample policy, log on', init: { kind: 'enforcer', decisionLog: true, paths: resolve(SAMPLE_POLICY) } },
    { name: 'bundled policies, log on', init: { kind: 'enforcer', decisionLog: true, paths: resolve(BUNDLED_POLICIES) } },
  ];
  // All servers run side by side (idle ones cost nothing) and the runs are interleaved, so a
  // busy moment on the machine hits every row alike; of each row's runs the fastest is kept,
  // since other work can only slow a run down.
  const workers: Started[] = [];
  for (const s of servers) workers.push(await startWorker(s.init));
  const results = new Map<string, Map<number, Result>>(servers.map((s) => [s.name, new Map()]));
  for (const c of levels) {
    for (let t = 0; t < trials; t++) {
      for (const [i, s] of servers.entries()) {
        const first = c === levels[0] && t === 0;
        const r = await load(workers[i], c, maxRequests, maxSeconds, first ? 2000 : 0);
        const best = results.get(s.name)!.get(c);
        if (!best || r.rps > best.rps) results.get(s.name)!.set(c, r);
      }
    }
  }
  // Open loop: the yardstick and the production configuration (sample policy, decision log on).
  const rates = (process.env.BENCH_RATES ?? '2000,5000,10000').split(',').map(Number).filter((r) => r > 0);
  const openRows = [0, 3];
  const open = new Map<string, OpenLoopResult>();
  for (const rate of rates) {
    for (const i of openRows) open.set(`${i} ${rate}`, await openLoop(workers[i], rate, 3, 64));
  }
  for (const w of workers) await w.stop();

  console.log('server                          conns     req/s   p50 ms   p99 ms  errors  denied  busy µs/req  client µs/req    ratio');
  const bare = results.get(servers[0].name)!;
  for (const s of servers) {
    for (const c of levels) {
      const r = results.get(s.name)!.get(c)!;
      const ratio = r.rps / bare.get(c)!.rps;
      const denied = `${Math.round((100 * r.denied) / r.requests)}%`;
      console.log(
        `${s.name.padEnd(31)} ${String(c).padStart(5)} ${fmt(r.rps, 0)} ${fmt(r.p50, 3)} ${fmt(r.p99, 3)} ${String(r.errors).padStart(7)} ${denied.padStart(7)} ${fmt(r.busyUs, 1).padStart(12)} ${fmt(r.clientUs, 1).padStart(14)} ${fmt(ratio, 2)}`,
      );
    }
  }
  console.log('\nthe target (throughput ratio >= 0.7 and p99 < 5 ms at 64 connections) applies to the sample policy:');
  for (const s of servers.slice(2, 4)) {
    const r = results.get(s.name)!.get(64)!;
    const ratio = r.rps / bare.get(64)!.rps;
    const verdict = ratio >= 0.7 && r.p99 < 5 ? 'met' : 'not met';
    console.log(`  ${s.name.padEnd(24)} ratio ${ratio.toFixed(2)}, p99 ${r.p99.toFixed(2)} ms: ${verdict}`);
  }
  console.log('\nopen loop: requests due at a fixed rate over up to 64 connections, latency counted from when each was due');
  console.log('server                          rate/s  answered/s   p50 ms   p99 ms   max ms  errors');
  for (const rate of rates) {
    for (const i of openRows) {
      const r = open.get(`${i} ${rate}`)!;
      console.log(`${servers[i].name.padEnd(31)} ${String(rate).padStart(6)} ${fmt(r.rps, 0).padStart(11)} ${fmt(r.p50, 3)} ${fmt(r.p99, 3)} ${fmt(r.max, 3)} ${String(r.errors).padStart(7)}`);
    }
  }
  // What this machine can show: the yardstick's own latency, and whether the load generator was
  // the bottleneck (then every row is capped alike and the ratios say little).
  const yardstick = bare.get(64)!;
  if (yardstick.p99 >= 5) {
    console.log(`  the bare server's own p99 at 64 connections is ${yardstick.p99.toFixed(2)} ms: this machine cannot show p99 < 5 ms for any server`);
  }
  const clientShare = (yardstick.clientUs * yardstick.rps) / 1e6;
  if (clientShare >= 0.8) {
    console.log(`  the load generator was busy ${(100 * clientShare).toFixed(0)}% of the bare server's run: it, not the server, limits that row, which pushes ratios towards 1`);
  }
}

if (isMainThread) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1); // the servers already started would keep the process alive
  });
}
