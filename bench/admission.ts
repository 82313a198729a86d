// Benchmark: the admission webhook path against the ImagePolicyWebhook path, on one runtime.
//
// Policies: the bundled policies with the full library switched on (registries per namespace,
// naming, pinning, vulnerabilities with exceptions and a report age, missing scan data).
// Data: the sample data plus 10,000 generated tags (both data layouts, shared layer reports).
// Requests: an AdmissionReview for a Deployment with 5 containers (containers and initContainers),
// POSTed to /v1/admit on a small HTTP server started here that calls admit(); and the equivalent
// ImageReview POSTed to /v0/data/io/k8s/image_policy/verify on the same server and runtime.
// At 1, 8 and 64 concurrent connections: throughput, p50, p99, and the ratio admission/ImageReview.
// Then the same AdmissionReview to the mutating webhook (/v1/mutate, digest pinning on in
// production: four of the five images are pinned), as a ratio to /v1/admit.
// Nothing asserts; machines are noisy, read the ratios.
//
//   npm run bench:admission     (tsc -p . && node dist/bench/admission.js [--seconds N])
import { Agent, createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { admit } from '../src/kube/admission.js';
import { mutate } from '../src/kube/mutation.js';
import { fromJSON, parseJSON, stringifyJSON } from '../src/rego/value.js';
import { Runtime } from '../src/runtime/runtime.js';
import { projectRoot } from '../test/helpers/paths.js';


const TAGS = 10_000;
const LAYERS = 400;
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 3;

type Json = Record<string, unknown>;
const digest = (n: number, salt = 'a') => `sha256:${salt}${n.toString(16).padStart(63, '0')}`;

/** 10,000 tags over 100 repositories, in both layouts, sharing 400 scanned layers. */
function generated(): { docker: Json; clair: Json } {
  const images: Json = {};
  const legacy: Record<string, Record<string, Json>> = {};
  for (let i = 0; i < TAGS; i++) {
    const repo = `team${i % 10}/svc${Math.floor(i / 10) % 10}`;
    const tag = `1.${Math.floor(i / 100)}.0`;
    const manifest = { digest: digest(i, 'e'), config: { digest: digest(i, 'c'), size: 1000 }, layers: [0, 1, 2, 3].map((j) => ({ digest: digest((i * 7 + j) % LAYERS), size: 100 })) };
    images[`docker.io/${repo}:${tag}`] = manifest;
    images[`quay.io/acme/${repo}:${tag}`] = manifest;
    const [org, name] = repo.split('/') as [string, string];
    ((legacy[org] ??= {})[name] ??= {})[tag] = manifest;
  }
  const layers: Json = {};
  const sev = ['Low', 'Medium', 'High', 'Critical'];
  for (let l = 0; l < LAYERS; l++) {
    const vulns = l % 5 === 0 ? [{ Name: `CVE-2024-${l}`, Severity: sev[l % 4] }] : [];
    layers[digest(l)] = {
      Layer: { Name: digest(l), Features: [{ Name: `pkg${l}`, Version: '1', ...(vulns.length ? { Vulnerabilities: vulns } : {}) }] },
      FetchedAt: new Date().toISOString(),
      Scanner: 'clair-v2',
    };
  }
  return { docker: { images, layers: legacy }, clair: { layers } };
}

const CONFIG = {
  exempt: { namespaces: ['kube-system'], images: ['registry.k8s.io/pause'] },
  references: { action: 'enforce' },
  registries: { action: 'enforce', allowed: { '*': ['docker.io', 'quay.io'], production: ['docker.io/team*/*', 'quay.io/acme/**'] } },
  naming: { action: 'warn', repository: { '*': '^[a-z0-9]+/[a-z0-9-]+' }, tag: { production: '^[0-9]+\\.[0-9]+\\.[0-9]+$' } },
  pinning: { action: { '*': 'warn', production: 'enforce' }, require: { '*': 'no_latest', production: 'tag' }, pin_digests: { production: true } },
  vulnerabilities: {
    action: 'enforce',
    minimum_severity: { production: 'High', '*': 'Critical' },
    exceptions: [{ id: 'CVE-2024-0', reason: 'bench', expires: '2099-01-01T00:00:00Z' }],
    missing_scan_data: { '*': 'allow', production: 'warn' },
    max_report_age: '168h',
    legacy_registries: ['docker.io'],
  },
};

const IMAGES = ['team1/svc2:1.3.0', 'docker.io/team2/svc3:1.5.0', 'quay.io/acme/team3/svc4:1.7.0', 'team4/svc5:1.99.0', `quay.io/acme/team5/svc6@${digest(3, 'd')}`];

const admissionBody = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'bench',
    kind: { group: 'apps', version: 'v1', kind: 'Deployment' },
    resource: { group: 'apps', version: 'v1', resource: 'deployments' },
    name: 'web',
    namespace: 'production',
    operation: 'CREATE',
    userInfo: { username: 'admin', groups: ['system:authenticated'] },
    object: {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'production' },
      spec: {
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: {
            initContainers: [{ name: 'init', image: IMAGES[0] }],
            containers: IMAGES.slice(1).map((image, i) => ({ name: `c${i}`, image })),
          },
        },
      },
    },
    oldObject: null,
    dryRun: false,
  },
});

const imageReviewBody = JSON.stringify({
  apiVersion: 'imagepolicy.k8s.io/v1alpha1',
  kind: 'ImageReview',
  spec: { containers: [...IMAGES.slice(1), IMAGES[0]].map((image) => ({ image })), namespace: 'production' },
});

async function main(): Promise<void> {
  const root = projectRoot();
  const runtime = await Runtime.start({ paths: [join(root, 'policies'), join(root, 'data')] });
  const gen = generated();
  runtime.store.put(['image_policy'], fromJSON(CONFIG));
  runtime.store.put(['docker', 'images'], fromJSON(gen.docker.images));
  for (const [org, names] of Object.entries(gen.docker.layers as Json)) runtime.store.put(['docker', 'layers', org], fromJSON(names));
  for (const [d, doc] of Object.entries(gen.clair.layers as Json)) runtime.store.put(['clair', 'layers', d], fromJSON(doc));

  const verify = runtime.prepare('data.io.k8s.image_policy.verify');
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      let status = 200;
      let out: string;
      if (req.url === '/v1/admit' || req.url === '/v1/mutate') {
        const r = req.url === '/v1/admit' ? admit(runtime, body, { failureMode: 'deny', timeoutMs: 10_000 }) : mutate(runtime, body, { timeoutMs: 10_000 });
        status = r.statusCode;
        out = JSON.stringify(r.body);
      } else {
        // What the server's /v0/data route does: raw input in, raw value out.
        const v = verify.evalValue({ input: parseJSON(body), data: runtime.store.snapshot(), deadline: Date.now() + 10_000 });
        if (v === undefined) status = 404;
        out = v === undefined ? '{}' : stringifyJSON(v);
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(out);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const post = (agent: Agent, path: string, body: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });

  // Show what is being decided, once.
  const agent0 = new Agent({ keepAlive: true, maxSockets: 1 });
  const sample = JSON.parse(await post(agent0, '/v1/admit', admissionBody)) as { response: Json };
  const sampleIR = JSON.parse(await post(agent0, '/v0/data/io/k8s/image_policy/verify', imageReviewBody)) as { status: Json };
  agent0.destroy();
  console.log(`data: ${TAGS} tags (x2 layouts), ${LAYERS} layer reports; Deployment with ${IMAGES.length} containers in production`);
  console.log(`admission response: ${JSON.stringify(sample.response).slice(0, 300)}`);
  console.log(`ImageReview status: ${JSON.stringify(sampleIR.status).slice(0, 300)}`);
  if ((sample.response as { allowed: boolean }).allowed !== (sampleIR.status as { allowed: boolean }).allowed) {
    console.log('WARNING: the two paths disagree');
  }

  async function load(path: string, body: string, concurrency: number): Promise<{ rps: number; p50: number; p99: number; n: number }> {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
    // Warm-up.
    await Promise.all(Array.from({ length: concurrency }, () => post(agent, path, body)));
    const latencies: number[] = [];
    const end = Date.now() + seconds * 1000;
    const t0 = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < end) {
          const s = process.hrtime.bigint();
          await post(agent, path, body);
          latencies.push(Number(process.hrtime.bigint() - s) / 1e6);
        }
      }),
    );
    const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
    agent.destroy();
    latencies.sort((a, b) => a - b);
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
    return { rps: latencies.length / elapsed, p50: q(0.5), p99: q(0.99), n: latencies.length };
  }

  const f = (x: number) => x.toFixed(2).padStart(8);
  type Side = { label: string; path: string; body: string };
  /** Both sides at 1, 8 and 64 connections, one after the other, and their ratios. */
  async function compare(a: Side, b: Side): Promise<void> {
    console.log(`${seconds}s per run        | ${a.label.padStart(29)} | ${b.label.padStart(30)} | ${a.label.split(' ')[0]} / ${b.label.split(' ')[0]}`);
    console.log('connections | n     |  req/s    p50 ms   p99 ms |  req/s    p50 ms   p99 ms |  req/s   p50    p99');
    for (const c of [1, 8, 64]) {
      const x = await load(a.path, a.body, c);
      const y = await load(b.path, b.body, c);
      console.log(
        `${String(c).padStart(11)} | ${String(x.n).padStart(5)} | ${f(x.rps)} ${f(x.p50)} ${f(x.p99)} | ${f(y.rps)} ${f(y.p50)} ${f(y.p99)} | ${(x.rps / y.rps).toFixed(2).padStart(5)} ${(x.p50 / y.p50).toFixed(2).padStart(5)} ${(x.p99 / y.p99).toFixed(2).padStart(5)}`,
      );
    }
  }
  const admission: Side = { label: 'admission (/v1/admit)', path: '/v1/admit', body: admissionBody };
  console.log('');
  await compare(admission, { label: 'ImageReview (/v0/.../verify)', path: '/v0/data/io/k8s/image_policy/verify', body: imageReviewBody });

  const pinned = JSON.parse(await post(new Agent({ keepAlive: false }), '/v1/mutate', admissionBody)) as { response: { auditAnnotations?: Json } };
  console.log(`\nmutating response: ${JSON.stringify(pinned.response.auditAnnotations ?? pinned.response).slice(0, 400)}`);
  await compare({ label: 'mutating (/v1/mutate)', path: '/v1/mutate', body: admissionBody }, admission);
  server.close();
  runtime.close();
}

await main();
