// Benchmark: the seed decision (data.io.k8s.image_policy.verify for a 2-container ImageReview)
// on generated data with 1k, 10k and 100k tags, against a hand-written TypeScript function that
// computes the same decision on the same data in the same run. Prints median and p99 per
// decision and the ratio to the baseline; then whole-process `image-enforcer eval` against
// `node -e 0`. Nothing here asserts: machines are noisy, read the ratios.
import { spawnSync } from 'node:child_process';
import YAML from 'yaml';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { fromJSON, stringifyJSON, toJSON, type RObject } from '../src/rego/value.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

function policySources(dir: string): Array<{ file: string; text: string }> {
  const out: Array<{ file: string; text: string }> = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...policySources(p));
    else if (e.name.endsWith('.rego') && !e.name.endsWith('_test.rego')) out.push({ file: p, text: readFileSync(p, 'utf8') });
  }
  return out;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Seed data plus `tags` generated manifests spread over orgs and names. */
function generateData(tags: number): Json {
  const docker = JSON.parse(readFileSync(join(root, 'data/docker/docker.json'), 'utf8'));
  const imagePolicy = YAML.parse(readFileSync(join(root, 'data/image_policy/config.yaml'), 'utf8'));
  const clair = JSON.parse(readFileSync(join(root, 'data/clair/clair.json'), 'utf8'));
  const clean = Object.keys(clair.layers).filter((d) => !clair.layers[d].Layer.Features);
  const layers = docker.layers;
  for (let i = 0; i < tags; i++) {
    const org = `org${i % 97}`;
    const name = `image${Math.floor(i / 97) % 31}`;
    const tag = `v${i}`;
    layers[org] ??= {};
    layers[org][name] ??= {};
    layers[org][name][tag] = {
      config: { digest: `sha256:${i.toString(16).padStart(64, '0')}`, size: 1000 },
      layers: [0, 1, 2].map((j) => ({ digest: clean[(i + j) % clean.length], size: 100 })),
    };
  }
  return { docker, clair, image_policy: imagePolicy };
}

/** The same decision written by hand: the baseline. */
function handWritten(data: Json, input: Json): Json {
  const denies: string[] = [];
  if (input.spec.namespace === 'production') {
    for (const c of input.spec.containers) {
      const image: string = c.image.split('@')[0];
      const parts = image.split('/');
      let path: string[];
      if (parts.length === 1) path = ['library', parts[0]];
      else if (parts[0] === 'docker.io' || parts[0] === 'index.docker.io') path = parts.length === 2 ? ['library', parts[1]] : parts.slice(1);
      else if (parts[0].includes('.') || parts[0].includes(':') || parts[0] === 'localhost') continue;
      else path = parts;
      if (path.length !== 2) continue;
      const [repo, tag = 'latest'] = path[1].split(':');
      const manifest = data.docker.layers[path[0]]?.[repo]?.[tag];
      if (!manifest) continue;
      const vulns = new Set<string>();
      for (const l of manifest.layers ?? []) {
        for (const f of data.clair.layers[l.digest]?.Layer?.Features ?? []) for (const v of f.Vulnerabilities ?? []) vulns.add(v.Name);
      }
      if (vulns.size > 0) {
        const names = [...vulns].sort();
        denies.push(`image ${c.image} has ${names.length} known vulnerabilities (${names.slice(0, 3).join(', ')})`);
      }
    }
  }
  denies.sort();
  const status = denies.length ? { allowed: false, reason: denies.join('; ') } : { allowed: true };
  return { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status };
}

function measure(fn: () => void, iterations: number): { median: number; p99: number } {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn(); // warm up
  const times = new Float64Array(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    times[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  times.sort();
  return { median: times[Math.floor(iterations / 2)], p99: times[Math.floor(iterations * 0.99)] };
}

const us = (x: number) => `${x.toFixed(1)} µs`;

/** The mock ImageReviews a policy set ships (data.mock.allowed / denied). */
function mockInputs(sources: Array<{ file: string; text: string }>): { allowed: Json; denied: Json } {
  const mock = prepareQuery(compilePolicies(sources), 'data.mock').evalValue({}) as RObject;
  return { allowed: toJSON(mock.get('allowed')!) as Json, denied: toJSON(mock.get('denied')!) as Json };
}

// The seed decision as the original description defines it (the bundled entry point, scan policy
// and mocks), a Rego v0 rendition in the original example's structure (partial sets joined by
// key), and the full bundled policy set with the configurable image policy library (issue 6),
// all measured on the same generated data. Only the seed policy computes exactly what the
// hand-written baseline computes, so only it is compared with the baseline.
const bundled = policySources(join(root, 'policies'));
const seedFiles = new Set(['default.rego', 'scan.rego', 'input.rego']);
const policies = [
  { name: 'seed', sources: bundled.filter((s) => seedFiles.has(s.file.split('/').pop()!)), compareToBaseline: true },
  { name: 'v0-orig', sources: policySources(join(root, 'test/fixtures/seed-v0')), compareToBaseline: false },
  { name: 'library', sources: bundled, compareToBaseline: false },
];

console.log('seed decision: data.io.k8s.image_policy.verify, 2 containers');
console.log('policy   tags     input    engine median  p99        baseline median  p99       ratio (median)');
for (const tags of [1_000, 10_000, 100_000]) {
  const json = generateData(tags);
  const data = fromJSON(json);
  for (const p of policies) {
    const verify = prepareQuery(compilePolicies(p.sources), 'data.io.k8s.image_policy.verify');
    const inputs = mockInputs(p.sources);
    for (const which of ['allowed', 'denied'] as const) {
      const input = inputs[which];
      const regoInput = fromJSON(input);
      const decision = toJSON(verify.evalValue({ input: regoInput, data })!) as Json;
      if (p.compareToBaseline) {
        // Same answer, or the comparison means nothing.
        const want = stringifyJSON(handWritten(json, input));
        if (stringifyJSON(decision) !== want) throw new Error(`engine and baseline disagree:\n${stringifyJSON(decision)}\n${want}`);
      } else if (decision.status.allowed !== (which === 'allowed')) {
        throw new Error(`${p.name}: unexpected decision for ${which}`);
      }
      const iterations = p.name === 'library' ? 2_000 : 20_000;
      const e = measure(() => verify.evalValue({ input: fromJSON(input), data }), iterations);
      const row = `${p.name.padEnd(8)} ${String(tags).padEnd(8)} ${which.padEnd(8)} ${us(e.median).padEnd(14)} ${us(e.p99).padEnd(10)}`;
      if (!p.compareToBaseline) {
        console.log(`${row} ${'-'.padEnd(16)} ${'-'.padEnd(9)} -`);
        continue;
      }
      const b = measure(() => handWritten(json, input), iterations);
      console.log(`${row} ${us(b.median).padEnd(16)} ${us(b.p99).padEnd(9)} ${(e.median / b.median).toFixed(1)}x`);
    }
  }
}

// Whole process: `image-enforcer eval` on the bundled policies and data vs `node -e 0`.
function processTime(cmd: string, args: string[], runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { cwd: root, stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)];
}
const runs = 10;
const nodeMs = processTime(process.execPath, ['-e', '0'], runs);
const evalMs = processTime(process.execPath, [join(root, 'bin/image-enforcer.js'), 'eval', '-d', 'policies', '-d', 'data', 'data.io.k8s.image_policy.verify', '-i', 'test/fixtures/seed/denied.json'], runs);
console.log(`\nwhole process (median of ${runs}): image-enforcer eval ${evalMs.toFixed(0)} ms, node -e 0 ${nodeMs.toFixed(0)} ms, ratio ${(evalMs / nodeMs).toFixed(1)}x`);
