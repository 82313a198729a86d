// The Rego image reference model (policies/lib/image_reference.rego) and its TypeScript twin
// (src/kube/reference.ts, what the webhook hands policies as input.spec.images) must agree:
// a policy gets the same answer whichever it uses. Checked on the bypass list of issue 6, the
// table of protocols.md §6.2, hostile strings, and random strings over the grammar's alphabet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { prepareQuery } from '../src/rego/index.js';
import { fromJSON, toJSON } from '../src/rego/value.js';
import { referenceDoc } from '../src/kube/admission.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const set = await loadPolicySet([join(root, 'policies', 'lib')]);
const query = prepareQuery(set.policy, 'data.lib.image_reference.parse(input.s)');

function rego(s: unknown): Record<string, unknown> {
  const v = query.evalValue({ input: fromJSON({ s }) });
  assert.ok(v !== undefined, `parse(${JSON.stringify(s)}) is defined`);
  return toJSON(v) as Record<string, unknown>;
}

/** Compares validity and every field (error texts may differ in wording, validity may not). */
function agree(s: string): void {
  const r = rego(s);
  const t = referenceDoc(s);
  assert.equal(r.valid, t.valid, `valid(${JSON.stringify(s)}): rego ${JSON.stringify(r)} vs ts ${JSON.stringify(t)}`);
  if (t.valid) assert.deepEqual(r, t, `parse(${JSON.stringify(s)})`);
  else assert.equal(typeof r.error, 'string');
}

const D = 'sha256:' + '0123456789abcdef'.repeat(4);

const BYPASSES: Array<[string, string | null]> = [
  ['nginx', 'docker.io/library/nginx:latest'],
  ['nginx:1.25', 'docker.io/library/nginx:1.25'],
  ['library/nginx', 'docker.io/library/nginx:latest'],
  ['docker.io/nginx', 'docker.io/library/nginx:latest'],
  ['index.docker.io/library/nginx', 'docker.io/library/nginx:latest'],
  ['localhost:5000/a/b:t', 'localhost:5000/a/b:t'],
  [`registry.io:443/x/y@${D}`, `registry.io:443/x/y@${D}`],
  [`registry.io:443/x/y:t@${D}`, `registry.io:443/x/y:t@${D}`],
  ['myregistry.io.evil.com/x', 'myregistry.io.evil.com/x:latest'],
  ['MyRegistry.io/x', 'myregistry.io/x:latest'],
  ['a//b', null],
  ['', null],
];

test('reference model: the bypass list normalises the same in Rego and TypeScript', () => {
  for (const [s, normalized] of BYPASSES) {
    agree(s);
    const r = rego(s);
    if (normalized === null) assert.equal(r.valid, false, `${JSON.stringify(s)} is rejected`);
    else assert.equal(r.normalized, normalized, `${JSON.stringify(s)} normalises to ${normalized}`);
  }
});

test('reference model: protocols.md §6.2 table and malformed references agree', () => {
  const cases = [
    'openpolicyagent/opa:0.4.9', 'localhost/foo:1', 'myhost:5000', 'quay.io/coreos/clair', `library/nginx@${D}`,
    '[::1]:5000/a', '[::1]/a', '[zz]:1/a', '10.0.0.1:5000/x', 'Docker.io/nginx', 'INDEX.DOCKER.IO/nginx', 'MyRegistry/x',
    'MyImage', 'quay.io/Org/x', 'nginx:', 'nginx@', ':t', '@' + D, 'nginx@sha256:abc', `nginx@SHA256:${'a'.repeat(64)}`,
    `nginx@sha512:${'a'.repeat(128)}`, `nginx@md5:${'a'.repeat(31)}`, 'a'.repeat(64), 'a'.repeat(63), 'a b', ' a', 'a\n',
    'nginx:' + 'x'.repeat(128), 'nginx:' + 'x'.repeat(129), 'quay.io/' + 'a'.repeat(247), 'quay.io/' + 'a'.repeat(248),
    'a/b:c:d', 'a:b/c', 'host:port/x', '-a', 'a-', 'a..b', 'a__b', 'a___b', 'a---b', 'a/b/', '/a', 'a@b@c', 'é', 'a\u00a0b',
  ];
  for (const s of cases) agree(s);
});

test('reference model: non-strings are invalid in Rego', () => {
  assert.deepEqual(toJSON(prepareQuery(set.policy, 'data.lib.image_reference.parse(7)').evalValue()!), {
    valid: false,
    error: 'image reference must be a string',
  });
});

test('reference model: random strings over the grammar alphabet agree', () => {
  const alphabet = 'abcAB019.-_:/@[]'.split('');
  const piece = fc.oneof(
    fc.constantFrom(...alphabet),
    fc.constantFrom('docker.io/', 'localhost:5000/', 'library/', ':latest', '@' + D, 'sha256:', '__', '--', 'index.docker.io/'),
  );
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 12 }), (parts) => {
      agree(parts.join(''));
    }),
    { numRuns: 400 },
  );
});
