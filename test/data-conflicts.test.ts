// Rules and base data at the same path are refused, as OPA's path conflict check refuses them:
// when loading, when a policy is pushed, and when a reload would bring them together. (Data
// written where rules live is refused by the Data API: test/server.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dataConflicts } from '../src/rego/data-conflicts.js';
import { RegoErrors } from '../src/rego/errors.js';
import { parseModule } from '../src/rego/parser.js';
import { fromJSON, stringifyJSON, toJSON, type Value } from '../src/rego/value.js';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { Runtime } from '../src/runtime/runtime.js';
import { createServer } from '../src/server/index.js';
import { json, request } from './fixtures/server/client.js';

function conflicts(rego: string, data: unknown): string[] {
  return dataConflicts([parseModule(rego, 'p.rego')], fromJSON(data)).map((e) => e.message);
}

test('a rule where the data has a document conflicts, with OPA wording and the rule location', () => {
  assert.deepEqual(conflicts('package p\nimport rego.v1\nallow := false\n', { p: { allow: true } }), [
    'p.rego:3:1: rego_compile_error: conflicting rule for data path p/allow found',
  ]);
  // An empty object is a document too, as in OPA's store.
  assert.equal(conflicts('package p\nallow := false\n', { p: { allow: {} } }).length, 1);
  // A non-object on the way to the rule's path: data.p would have to be both.
  assert.deepEqual(conflicts('package p.q\nimport rego.v1\nr := 1\n', { p: 5 }), [
    'p.rego:3:1: rego_compile_error: conflicting rule for data path p/q/r found',
  ]);
  // Rules with variable keys define their document at the ground prefix of the head.
  assert.equal(conflicts('package p\nimport rego.v1\ns[x] := 1 if some x in ["a"]\n', { p: { s: { b: 2 } } }).length, 1);
  // One error per path, at its first rule.
  assert.deepEqual(conflicts('package p\nimport rego.v1\nf := 1 if input.a\nf := 2 if input.b\n', { p: { f: 0 } }), [
    'p.rego:3:1: rego_compile_error: conflicting rule for data path p/f found',
  ]);
});

test('rules beside data, and data beside rules, do not conflict', () => {
  assert.deepEqual(conflicts('package p\nimport rego.v1\nallow := false\n', { p: { other: 1 }, q: { allow: true } }), []);
  // Data deeper than a package, but not at a rule: package p.q with data p.x.
  assert.deepEqual(conflicts('package p.q\nimport rego.v1\nr := 1\n', { p: { x: { r: 1 } } }), []);
  assert.deepEqual(conflicts('package p\nimport rego.v1\nallow := false\n', {}), []);
});

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmpdir(), 'ie-conflicts-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

function value(v: Value | undefined): string {
  return v === undefined ? 'undefined' : stringifyJSON(toJSON(v));
}

test('loading files whose rules and data overlap fails with the conflict', async () => {
  const d = dir({ 'p.rego': 'package p\nimport rego.v1\nallow := false\n', 'data.json': '{"p": {"allow": true}}' });
  await assert.rejects(Runtime.start({ paths: [d] }), (e: unknown) => e instanceof RegoErrors && /conflicting rule for data path p\/allow found/.test(e.message));
});

test('eval, test and check load policy sets with the same check', async () => {
  const d = dir({ 'p.rego': 'package p\nimport rego.v1\nallow := false\n', 'data.json': '{"p": {"allow": true}}' });
  await assert.rejects(loadPolicySet([d]), (e: unknown) => e instanceof RegoErrors && /p\.rego:3:1: rego_compile_error: conflicting rule for data path p\/allow found/.test(e.message));
  const ok = dir({ 'p.rego': 'package p\nimport rego.v1\nallow := false\n', 'data.json': '{"p": {"other": true}}' });
  assert.equal((await loadPolicySet([ok])).modules.length, 1);
});

test('a pushed policy that overlaps data is refused and changes nothing', async () => {
  const d = dir({ 'data.json': '{"a": {"b": 1}}' });
  const rt = await Runtime.start({ paths: [d] });
  try {
    assert.throws(
      () => rt.putModule('x', 'package a\nimport rego.v1\nb := 2\nc := 3\n'),
      (e: unknown) => e instanceof RegoErrors && e.errors[0].code === 'rego_compile_error' && e.errors[0].detail === 'conflicting rule for data path a/b found',
    );
    assert.equal(rt.module('x'), undefined);
    assert.equal(value(rt.prepare('data.a').evalValue({ data: rt.store.snapshot() })), '{"b":1}');
    rt.putModule('y', 'package a\nimport rego.v1\nc := 3\n');
    assert.equal(value(rt.prepare('data.a').evalValue({ data: rt.store.snapshot() })), '{"b":1,"c":3}');
  } finally {
    rt.close();
  }
});

test('a reload that would bring rules and data together keeps the last good state', async () => {
  const d = dir({ 'p.rego': 'package p\nimport rego.v1\nallow := false\n', 'data.json': '{"p": {"other": 1}}' });
  const rt = await Runtime.start({ paths: [d] });
  try {
    writeFileSync(join(d, 'data.json'), '{"p": {"allow": true}}');
    const event = await rt.reload();
    assert.equal(event.ok, false);
    assert.match(String(event.error?.message), /conflicting rule for data path p\/allow found/);
    assert.equal(value(rt.prepare('data.p').evalValue({ data: rt.store.snapshot() })), '{"allow":false,"other":1}');
    // Data pushed through the API counts as well: a reload's rule may not land on it.
    writeFileSync(join(d, 'data.json'), '{"p": {"other": 2}}');
    rt.store.transaction((txn) => txn.write('add', ['q'], fromJSON({ r: 1 })));
    writeFileSync(join(d, 'q.rego'), 'package q\nimport rego.v1\nr := 2\n');
    const second = await rt.reload();
    assert.equal(second.ok, false);
    assert.match(String(second.error?.message), /conflicting rule for data path q\/r found/);
    assert.equal(value(rt.prepare('data.q').evalValue({ data: rt.store.snapshot() })), '{"r":1}');
  } finally {
    rt.close();
  }
});

test('PUT /v1/policies answers 400 with the conflict, as OPA does', async () => {
  const d = dir({ 'data.json': '{"a": {"b": 1}}' });
  const rt = await Runtime.start({ paths: [d] });
  const quiet = { write: () => true };
  const srv = await createServer(rt, { addr: '127.0.0.1:0', authentication: 'off', maxBodyBytes: 1 << 20, evalTimeoutMs: 1000, decisionLog: 'off', logSink: quiet });
  try {
    const base = `http://127.0.0.1:${srv.port}`;
    const r = await request(`${base}/v1/policies/x`, { method: 'PUT', body: 'package a\nimport rego.v1\nb := 2\n' });
    assert.equal(r.status, 400, r.text);
    const body = json<{ code: string; errors: Array<{ code: string; message: string; location: { file: string; row: number } }> }>(r);
    assert.equal(body.code, 'invalid_parameter');
    assert.deepEqual(
      body.errors.map((e) => [e.code, e.message, e.location.file, e.location.row]),
      [['rego_compile_error', 'conflicting rule for data path a/b found', 'x', 3]],
    );
    assert.deepEqual(json(await request(`${base}/v1/data/a`)).result, { b: 1 });
  } finally {
    await srv.close();
    rt.close();
  }
});
