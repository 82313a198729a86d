// The webhook's request path keeps per-request work small: the body is read with a callback,
// the decision's query is kept per path and policy generation, and metrics find their series
// without building keys. These tests hold what those shortcuts must not change: every request
// is timed exactly once whatever its handler and outcome, a client that goes away mid-body is
// dropped without a decision, answers follow policy and data changes, and label values never
// share a series.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Counter, Histogram, Registry } from 'prom-client';
import { Runtime } from '../src/runtime/runtime.js';
import { createServer, type ServerHandle } from '../src/server/index.js';
import { RequestCounter, RequestHistogram } from '../src/server/metrics.js';
import { Lines, imageReview, json, request, type Reply, type RequestOptions } from './fixtures/server/client.js';

const VERIFY = '/v0/data/io/k8s/image_policy/verify';
const POLICY = `package io.k8s.image_policy

verify := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": allowed}}

default allowed := false

allowed if every c in input.spec.containers { startswith(c.image, "good/") }
`;

let runtime: Runtime;
let srv: ServerHandle;
let decisions: Lines;
const agent = new Agent({ keepAlive: true, maxSockets: 2 });

const call = (path: string, o: RequestOptions = {}): Promise<Reply> => request(srv.url + path, { agent, ...o });
const post = (path: string, body: string): Promise<Reply> => call(path, { method: 'POST', body, headers: { 'Content-Type': 'application/json' } });

/** The value of one sample line of /metrics, 0 when absent. */
async function sample(name: string, labels: string): Promise<number> {
  const text = (await call('/metrics')).text;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ie-hotpath-'));
  writeFileSync(join(dir, 'policy.rego'), POLICY);
  runtime = await Runtime.start({ paths: [dir] });
  decisions = new Lines();
  srv = await createServer(runtime, {
    addr: '127.0.0.1:0',
    authentication: 'off',
    maxBodyBytes: 4096,
    evalTimeoutMs: 5000,
    decisionLog: 'off',
    decisionLogSink: decisions,
    logSink: new Lines(),
  });
});

after(async () => {
  agent.destroy();
  await srv.close();
  runtime.close();
});

describe('request accounting', () => {
  test('every request is timed exactly once, whatever its handler and outcome', async () => {
    // Webhook calls: answered, refused before evaluation, undefined, too large.
    for (const images of [['good/a'], ['bad/b'], ['good/c']]) assert.equal((await post(VERIFY, imageReview(images))).status, 200);
    assert.equal((await post(VERIFY, 'garbage')).status, 400);
    assert.equal((await post(VERIFY, '{"kind": "ImageReview"}')).status, 400);
    assert.equal((await post('/v0/data/io/k8s/image_policy/nothing', imageReview(['good/a']))).status, 404);
    assert.equal((await post(VERIFY, imageReview(Array.from({ length: 300 }, (_, i) => `good/app-${i}`)))).status, 413);
    // The default decision (undefined here), synchronous handlers, routing failures, and a
    // handler that answers through a promise.
    assert.equal((await post('/', '{}')).status, 404);
    assert.equal((await call('/health')).status, 200);
    assert.equal((await call('/health')).status, 200);
    assert.equal((await call('/nowhere')).status, 404);
    assert.equal((await call(VERIFY)).status, 405);
    assert.equal((await post('/v1/data/io/k8s/image_policy/allowed', '{"input": {"spec": {"containers": [{"image": "good/x"}]}}}')).status, 200);

    const h = 'http_request_duration_seconds_count';
    assert.equal(await sample(h, 'code="200",handler="v0/data",method="POST"'), 3);
    assert.equal(await sample(h, 'code="400",handler="v0/data",method="POST"'), 2);
    assert.equal(await sample(h, 'code="404",handler="v0/data",method="POST"'), 1);
    assert.equal(await sample(h, 'code="413",handler="v0/data",method="POST"'), 1);
    assert.equal(await sample(h, 'code="404",handler="index",method="POST"'), 1);
    assert.equal(await sample(h, 'code="200",handler="health",method="GET"'), 2);
    assert.equal(await sample(h, 'code="404",handler="catchall",method="GET"'), 1);
    assert.equal(await sample(h, 'code="405",handler="v0/data",method="GET"'), 1);
    assert.equal(await sample(h, 'code="200",handler="v1/data",method="POST"'), 1);
    // The /metrics reads above are timed too, each after it was answered.
    assert.equal(await sample(h, 'code="200",handler="metrics",method="GET"'), 9);

    // Evaluations and decisions: the three reviews and the undefined path; nothing for bodies refused.
    assert.equal(await sample('image_enforcer_eval_duration_seconds_count', 'handler="v0/data"'), 4);
    assert.equal(await sample('image_enforcer_decisions_total', 'handler="v0/data",outcome="defined"'), 3);
    assert.equal(await sample('image_enforcer_decisions_total', 'handler="v0/data",outcome="undefined"'), 1);
    assert.equal(await sample('image_enforcer_decisions_total', 'handler="index",outcome="undefined"'), 1);
    assert.equal(await sample('image_enforcer_image_reviews_total', 'allowed="true"'), 2);
    assert.equal(await sample('image_enforcer_image_reviews_total', 'allowed="false"'), 1);
    assert.equal(await sample('image_enforcer_bad_requests_total', 'handler="v0/data",reason="invalid"'), 2);
    assert.equal(await sample('image_enforcer_bad_requests_total', 'handler="v0/data",reason="too_large"'), 1);
    // One decision log line per decision made.
    assert.equal(decisions.parsed().filter((l) => l.path === 'io/k8s/image_policy/verify').length, 3);
  });

  test('a client that goes away in the middle of its body gets no decision; the server keeps serving', async () => {
    const before = await sample('image_enforcer_decisions_total', 'handler="v0/data",outcome="defined"');
    const linesBefore = decisions.lines.length;
    const timedBefore = await sample('http_request_duration_seconds_count', 'code="200",handler="v0/data",method="POST"');
    await new Promise<void>((resolve, reject) => {
      const s = connect(srv.port, '127.0.0.1', () => {
        s.write(`POST ${VERIFY} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"kind": "Image`);
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 50);
      });
      s.on('error', reject);
    });
    // The server notices the client is gone, drops the request, and times it once (its
    // status still the default 200: nothing was answered).
    for (let i = 0; i < 100; i++) {
      if ((await sample('http_request_duration_seconds_count', 'code="200",handler="v0/data",method="POST"')) > timedBefore) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await sample('http_request_duration_seconds_count', 'code="200",handler="v0/data",method="POST"'), timedBefore + 1);
    assert.equal(await sample('image_enforcer_decisions_total', 'handler="v0/data",outcome="defined"'), before);
    assert.equal(decisions.lines.length, linesBefore);
    const r = await post(VERIFY, imageReview(['good/after']));
    assert.equal(r.status, 200);
    assert.deepEqual(json(r).status, { allowed: true });
  });
});

describe('answers follow changes', () => {
  test('the webhook path answers with the policy as it is now', async () => {
    const allowed = async (path: string): Promise<unknown> => json(await post(path, imageReview(['good/a']))).status;
    assert.deepEqual(await allowed(VERIFY), { allowed: true });
    const put = await call('/v1/policies/strict', {
      method: 'PUT',
      body: 'package io.k8s.image_policy\n\nstrict := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": false}}\n',
    });
    assert.equal(put.status, 200, put.text);
    // Two paths in turn: each keeps its own answer.
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await allowed('/v0/data/io/k8s/image_policy/strict'), { allowed: false });
      assert.deepEqual(await allowed(VERIFY), { allowed: true });
    }
    const replaced = await call('/v1/policies/strict', {
      method: 'PUT',
      body: 'package io.k8s.image_policy\n\nstrict := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": true}}\n',
    });
    assert.equal(replaced.status, 200, replaced.text);
    assert.deepEqual(await allowed('/v0/data/io/k8s/image_policy/strict'), { allowed: true });
    assert.equal((await call('/v1/policies/strict', { method: 'DELETE' })).status, 200);
    const gone = await post('/v0/data/io/k8s/image_policy/strict', imageReview(['good/a']));
    assert.equal(gone.status, 404);
    assert.deepEqual(json(gone), { code: 'undefined_document', message: 'document missing or undefined: data.io.k8s.image_policy.strict' });
  });

  test('an integer segment follows the data: an index into an array, a key of an object', async () => {
    assert.equal((await call('/v1/data/lists/l', { method: 'PUT', body: '["a", "b"]' })).status, 204);
    assert.equal((await post('/v0/data/lists/l/1', '')).text, '"b"');
    assert.equal((await post('/v0/data/lists/l/1', '')).text, '"b"');
    assert.equal((await call('/v1/data/lists/l', { method: 'PUT', body: '{"1": "one"}' })).status, 204);
    assert.equal((await post('/v0/data/lists/l/1', '')).text, '"one"');
  });
});

describe('metric series by label values', () => {
  // Values that would run together if the series were found by joining the values.
  const tricky: Array<Record<'a' | 'b', string>> = [
    { a: 'x\u0000', b: 'y' },
    { a: 'x', b: '\u0000y' },
    { a: 'x', b: 'y' },
    { a: '', b: 'xy' },
    { a: 'xy', b: '' },
    { a: 'x\u0000', b: 'y' },
  ];

  test('RequestCounter keeps every combination apart, as prom-client does', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const c = new RequestCounter<'a' | 'b'>('t_total', 'help', ['a', 'b'], ours);
    const p = new Counter<'a' | 'b'>({ name: 't_total', help: 'help', labelNames: ['a', 'b'], registers: [theirs] });
    for (const l of tricky) {
      c.inc(l);
      p.inc(l);
    }
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
    assert.equal((await ours.getMetricsAsJSON())[0].values.length, 5);
  });

  test('RequestHistogram keeps every combination apart, as prom-client does', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const buckets = [0.001, 0.01];
    const h = new RequestHistogram<'a' | 'b'>('t_seconds', 'help', ['a', 'b'], buckets, ours);
    const p = new Histogram<'a' | 'b'>({ name: 't_seconds', help: 'help', labelNames: ['a', 'b'], buckets, registers: [theirs] });
    tricky.forEach((l, i) => {
      h.observe(l, i / 1000);
      p.observe(l, i / 1000);
    });
    assert.deepEqual(await ours.getMetricsAsJSON(), await theirs.getMetricsAsJSON());
    const values = (await ours.getMetricsAsJSON())[0].values as Array<{ metricName?: string }>;
    const counts = values.filter((v) => v.metricName === 't_seconds_count');
    assert.equal(counts.length, 5);
  });

  test('a histogram and a counter without labels', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new RequestHistogram<never>('n_seconds', 'help', [], [0.5], ours);
    const c = new RequestCounter<never>('n_total', 'help', [], ours);
    const ph = new Histogram<never>({ name: 'n_seconds', help: 'help', labelNames: [], buckets: [0.5], registers: [theirs] });
    const pc = new Counter<never>({ name: 'n_total', help: 'help', labelNames: [], registers: [theirs] });
    for (const v of [0.1, 0.7, 0.2]) {
      h.observe({}, v);
      ph.observe({}, v);
      c.inc({});
      pc.inc();
    }
    assert.equal(await ours.metrics(), await theirs.metrics());
    assert.match(await ours.metrics(), /^n_total 3$/m);
  });
});
