// Bad and extreme input to the engine: clear errors, never a crash or a hang.
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { RegoError, RegoErrors } from '../src/rego/errors.js';
import { JSONSyntaxError, MAX_JSON_DEPTH } from '../src/rego/json.js';
import { parseJSON, stringifyJSON, toJSON, type Value } from '../src/rego/value.js';

const policy = compilePolicies([{ file: 'p.rego', text: 'package t\nn := count(input.a)\nsame if input.a == input.a\n' }]);

function nested(depth: number): string {
  return '{"a":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
}

test('documents nested up to the limit are evaluated', () => {
  const v = parseJSON(nested(MAX_JSON_DEPTH - 1));
  const out = prepareQuery(policy, 'data.t').evalValue({ input: v });
  assert.equal(stringifyJSON(toJSON(out as Value)), '{"n":1,"same":true}');
});

test('documents nested beyond the limit are refused with a positioned error', () => {
  for (const depth of [MAX_JSON_DEPTH + 1, 100_000]) {
    assert.throws(
      () => parseJSON(nested(depth)),
      (e: unknown) => e instanceof JSONSyntaxError && /max depth/.test(e.message) && e.line === 1,
    );
  }
});

test('brackets inside strings do not count as nesting', () => {
  const v = parseJSON(JSON.stringify({ s: '['.repeat(5000) }));
  assert.equal(stringifyJSON(toJSON(v)), JSON.stringify({ s: '['.repeat(5000) }));
});

test('huge integers stay exact through evaluation', () => {
  const q = prepareQuery(policy, 'x := 123456789012345678901234567890 * 10; y := 1e400 / 1e399');
  const r = q.eval({}).results[0];
  assert.equal(String(r.bindings.get('x')), '1234567890123456789012345678900');
  assert.equal(Number(r.bindings.get('y')), 10);
});

test('a runaway evaluation stops at the deadline with eval_cancel_error', () => {
  const slow = compilePolicies([{ file: 's.rego', text: 'package s\nn := count([x | some x in numbers.range(1, 5000000)])\n' }]);
  assert.throws(
    () => prepareQuery(slow, 'data.s.n').eval({ deadline: Date.now() + 50 }),
    (e: unknown) => e instanceof RegoError && e.code === 'eval_cancel_error',
  );
});

test('a builtin that builds a large value in one call stops at the deadline too', () => {
  // One call, one step for the evaluator: only numbers.range itself can notice the time limit.
  const big = compilePolicies([{ file: 'r.rego', text: 'package r\nn := count(numbers.range(1, 10000000))\n' }]);
  assert.throws(
    () => prepareQuery(big, 'data.r.n').eval({ deadline: Date.now() - 1 }),
    (e: unknown) => e instanceof RegoError && e.code === 'eval_cancel_error',
  );
  // Without a time limit the same range is built whole.
  assert.equal(prepareQuery(big, 'data.r.n').evalValue({}), 10_000_000);
});

test('long operator chains meet the parser depth limit instead of overflowing the compiler', () => {
  const chain = (n: number): string => `package c\nx := ${Array.from({ length: n }, () => '1').join(' + ')}\n`;
  assert.equal(prepareQuery(compilePolicies([{ file: 'c.rego', text: chain(400) }]), 'data.c.x').evalValue({}), 400);
  for (const n of [1150, 5000]) {
    assert.throws(
      () => compilePolicies([{ file: 'c.rego', text: chain(n) }]),
      (e: unknown) => e instanceof RegoErrors && e.code === 'rego_parse_error' && /^c\.rego:2:\d+: rego_parse_error: max parsing recursion depth exceeded$/.test(e.message),
      `a chain of ${n}`,
    );
  }
});

test('unsafe and unknown references in a query are compile errors, not crashes', () => {
  assert.throws(() => prepareQuery(policy, 'x > y'), (e: unknown) => e instanceof RegoErrors && e.code === 'rego_unsafe_var_error');
  assert.throws(() => prepareQuery(policy, 'x := nope.f(1)'), (e: unknown) => e instanceof RegoErrors && e.code === 'rego_type_error');
});

test('a pushed module that exhausts the stack anyway is refused like any module that does not compile', () => {
  // A small stack (as on a thread with little of it left) makes a 400-term chain, which the
  // parser accepts, overflow in the compiler. The runtime must report a compile error, and keep
  // serving with its last good state, rather than let a RangeError through (a 500 from the API).
  const runtime = new URL('../src/runtime/runtime.js', import.meta.url).href;
  const script = `
    const { Runtime } = await import(${JSON.stringify(runtime)});
    const rt = await Runtime.start({ paths: [${JSON.stringify(mkdtempSync(join(tmpdir(), 'ie-deep-')))}] });
    rt.putModule('ok', 'package ok\\nx := 1\\n');
    let error;
    try {
      rt.putModule('deep', 'package deep\\nx := 1' + ' + 1'.repeat(400) + '\\n');
    } catch (e) {
      error = { name: e.name, code: e.code, message: e.message };
    }
    console.log(JSON.stringify({ error, modules: rt.modules().map((m) => m.id) }));
  `;
  const r = spawnSync(process.execPath, ['--stack-size=200', '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { error: { name: string; code: string; message: string }; modules: string[] };
  assert.deepEqual(out.error, {
    name: 'RegoErrors',
    code: 'rego_compile_error',
    message: 'deep:1:1: rego_compile_error: module is nested too deeply to compile (the stack ran out): split deeply nested expressions into smaller rules',
  });
  assert.deepEqual(out.modules, ['ok']);
});
