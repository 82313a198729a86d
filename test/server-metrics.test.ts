// The per-request histograms (RequestHistogram in src/server/metrics.ts) stand in for
// prom-client's Histogram on the hot path; /metrics must read exactly as it did with
// prom-client's own: same text, same JSON, for the same observations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { RequestCounter, RequestHistogram, ServerMetrics } from '../src/server/metrics.js';

const BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
type L = 'code' | 'handler' | 'method';

function pair(): { ours: RequestHistogram<L>; theirs: Histogram<L>; ourRegistry: Registry; theirRegistry: Registry } {
  const ourRegistry = new Registry();
  const theirRegistry = new Registry();
  const name = 'http_request_duration_seconds';
  const help = 'Time to answer an HTTP request, by handler, method and status code.';
  const labelNames: L[] = ['code', 'handler', 'method'];
  const ours = new RequestHistogram<L>(name, help, labelNames, BUCKETS, ourRegistry);
  const theirs = new Histogram<L>({ name, help, labelNames, buckets: BUCKETS, registers: [theirRegistry] });
  return { ours, theirs, ourRegistry, theirRegistry };
}

// Values on, between, below and above the bucket bounds, for several label combinations
// (first seen in an order that is not sorted), plus 0.
const observations: Array<[Record<L, string>, number]> = [];
const labelSets: Array<Record<L, string>> = [
  { code: '200', handler: 'v0/data', method: 'POST' },
  { code: '400', handler: 'v0/data', method: 'POST' },
  { code: '200', handler: 'v1/data', method: 'GET' },
  { code: '404', handler: 'catchall', method: 'GET' },
];
const values = [0, 0.00001, 0.00005, 0.00007, 0.0001, 0.0003, 0.004, 0.1, 0.7, 3, 10, 11, 120];
for (let i = 0; i < 200; i++) observations.push([labelSets[(i * 7) % labelSets.length], values[(i * 5) % values.length] * (1 + (i % 3) / 10)]);

test('RequestHistogram reads exactly like prom-client Histogram (text and JSON)', async () => {
  const { ours, theirs, ourRegistry, theirRegistry } = pair();
  assert.equal(await ourRegistry.metrics(), await theirRegistry.metrics()); // nothing observed yet
  for (const [labels, v] of observations) {
    ours.observe(labels, v);
    theirs.observe(labels, v);
  }
  const text = await ourRegistry.metrics();
  assert.equal(text, await theirRegistry.metrics());
  assert.match(text, /^http_request_duration_seconds_bucket\{le="\+Inf",code="404",handler="catchall",method="GET"\} \d+$/m);
  assert.deepEqual(await ourRegistry.getMetricsAsJSON(), await theirRegistry.getMetricsAsJSON());
});

test('RequestHistogram reset empties every series', async () => {
  const { ours, theirs, ourRegistry, theirRegistry } = pair();
  ours.observe(labelSets[0], 0.001);
  theirs.observe(labelSets[0], 0.001);
  ours.reset();
  theirs.reset();
  assert.equal(await ourRegistry.metrics(), await theirRegistry.metrics());
  assert.doesNotMatch(await ourRegistry.metrics(), /_count/);
});

test('RequestHistogram ignores a value that is not a finite number', async () => {
  const { ours, ourRegistry } = pair();
  ours.observe(labelSets[0], Number.NaN);
  ours.observe(labelSets[0], Number.POSITIVE_INFINITY);
  assert.doesNotMatch(await ourRegistry.metrics(), /_count/);
});

test('RequestCounter reads exactly like prom-client Counter, also between reads', async () => {
  const ourRegistry = new Registry();
  const theirRegistry = new Registry();
  const name = 'image_enforcer_decisions_total';
  const help = 'Policy decisions, by handler and outcome (defined, undefined, error).';
  const ours = new RequestCounter<'handler' | 'outcome'>(name, help, ['handler', 'outcome'], ourRegistry);
  const theirs = new Counter<'handler' | 'outcome'>({ name, help, labelNames: ['handler', 'outcome'], registers: [theirRegistry] });
  assert.equal(await ourRegistry.metrics(), await theirRegistry.metrics());
  const seq: Array<Record<'handler' | 'outcome', string>> = [
    { handler: 'v0/data', outcome: 'defined' },
    { handler: 'v1/data', outcome: 'undefined' },
    { handler: 'v0/data', outcome: 'defined' },
    { handler: 'v0/data', outcome: 'error' },
  ];
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i <= round * 5; i++) {
      ours.inc(seq[i % seq.length]);
      theirs.inc(seq[i % seq.length]);
    }
    const text = await ourRegistry.metrics();
    assert.equal(text, await theirRegistry.metrics());
    assert.deepEqual(await ourRegistry.getMetricsAsJSON(), await theirRegistry.getMetricsAsJSON());
  }
  assert.match(await ourRegistry.metrics(), /^image_enforcer_decisions_total\{handler="v0\/data",outcome="defined"\} 10$/m);
});

test('server metrics: both request histograms are on the registry', async () => {
  const m = new ServerMetrics();
  m.httpDuration.observe({ code: '200', handler: 'v0/data', method: 'POST' }, 0.0002);
  m.evalDuration.observe({ handler: 'v0/data' }, 0.00003);
  const text = await m.registry.metrics();
  assert.match(text, /^# TYPE http_request_duration_seconds histogram$/m);
  assert.match(text, /^http_request_duration_seconds_bucket\{le="0.00025",code="200",handler="v0\/data",method="POST"\} 1$/m);
  assert.match(text, /^http_request_duration_seconds_bucket\{le="0.0001",code="200",handler="v0\/data",method="POST"\} 0$/m);
  assert.match(text, /^image_enforcer_eval_duration_seconds_bucket\{le="0.00005",handler="v0\/data"\} 1$/m);
  assert.match(text, /^image_enforcer_eval_duration_seconds_sum\{handler="v0\/data"\} 0.00003$/m);
});
