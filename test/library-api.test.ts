// Embedding the engine: compile once, prepare a query once, evaluate many times with different
// inputs and data snapshots, through the package's entry point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, fromJSON, prepareQuery, RegoErrors, toJSON } from '../src/index.js';

const policy = compilePolicies([
  {
    file: 'images.rego',
    text: `package images
import rego.v1

default allow := false

allow if every c in input.containers { not endswith(c, ":latest"); startswith(c, data.registry) }
`,
  },
]);

test('one prepared query, many inputs and data snapshots', () => {
  const q = prepareQuery(policy, 'data.images.allow');
  const cases: Array<[unknown, unknown, boolean]> = [
    [{ containers: ['reg.io/a:1', 'reg.io/b:2'] }, { registry: 'reg.io/' }, true],
    [{ containers: ['reg.io/a:latest'] }, { registry: 'reg.io/' }, false],
    [{ containers: ['other.io/a:1'] }, { registry: 'reg.io/' }, false],
    [{ containers: ['other.io/a:1'] }, { registry: 'other.io/' }, true],
  ];
  for (const [input, data, want] of cases) {
    assert.equal(q.evalValue({ input: fromJSON(input), data: fromJSON(data) }), want, JSON.stringify(input));
  }
});

test('results carry expressions and bindings as OPA reports them', () => {
  const q = prepareQuery(policy, 'x := input.containers[i]; endswith(x, ":1")');
  const { results } = q.eval({ input: fromJSON({ containers: ['a:1', 'b:2', 'c:1'] }) });
  assert.deepEqual(
    results.map((r) => Object.fromEntries([...r.bindings].map(([k, v]) => [k, toJSON(v)]))),
    [
      { i: 0, x: 'a:1' },
      { i: 2, x: 'c:1' },
    ],
  );
  assert.equal(results[0].expressions[1].text, 'endswith(x, ":1")');
});

test('errors are typed RegoErrors with OPA codes and locations', () => {
  assert.throws(
    () => compilePolicies([{ file: 'bad.rego', text: 'package bad\np if { x > 1 }\n' }]),
    (e: unknown) => e instanceof RegoErrors && e.code === 'rego_unsafe_var_error' && e.errors[0].location?.file === 'bad.rego' && e.errors[0].location.row === 2,
  );
});
