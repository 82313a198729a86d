// The original description's walkthrough as a test: the bundled policies, evaluated on the
// bundled sample data (a copy of the seed data), allow data.mock.allowed and deny data.mock.denied.
// The same holds for a Rego v0 rendition of the policies, loaded without edits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { prepareQuery } from '../src/rego/index.js';
import { RObject, toJSON, type Value } from '../src/rego/value.js';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();

async function decide(paths: string[], which: 'allowed' | 'denied'): Promise<Record<string, unknown>> {
  const set = await loadPolicySet(paths);
  const input = prepareQuery(set.policy, `data.mock.${which}`).evalValue({ data: set.data });
  assert.ok(input instanceof RObject, `data.mock.${which} is defined`);
  const verify = prepareQuery(set.policy, 'data.io.k8s.image_policy.verify').evalValue({ input: input as Value, data: set.data });
  assert.ok(verify !== undefined, 'verify is defined');
  return toJSON(verify) as Record<string, unknown>;
}

test('bundled policies: sample data puts manifests at data.docker and Clair reports at data.clair', async () => {
  const set = await loadPolicySet([join(root, 'policies'), join(root, 'data')]);
  const q = prepareQuery(set.policy, 'count(data.docker.layers.library.wordpress["4-apache"].layers) > 0; data.clair.layers[_].Layer.Features');
  assert.ok(q.eval({ data: set.data }).results.length > 0);
});

test('bundled policies: data.mock.allowed is allowed', async () => {
  const review = await decide([join(root, 'policies'), join(root, 'data')], 'allowed');
  assert.deepEqual(review, { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
});

test('bundled policies: data.mock.denied is denied with a reason naming the image', async () => {
  const review = await decide([join(root, 'policies'), join(root, 'data')], 'denied');
  const status = review.status as { allowed: boolean; reason: string };
  assert.equal(review.kind, 'ImageReview');
  assert.equal(status.allowed, false);
  assert.match(status.reason, /^image wordpress:4-apache has \d+ known vulnerabilities \(CVE-/);
});

test('bundled policies: without vulnerability data nothing is denied', async () => {
  const set = await loadPolicySet([join(root, 'policies')]);
  const input = prepareQuery(set.policy, 'data.mock.denied').evalValue({});
  const allowed = prepareQuery(set.policy, 'data.io.k8s.image_policy.verify.status.allowed').evalValue({ input, data: set.data });
  assert.equal(allowed, true);
});

test('bundled policies: outside secure namespaces vulnerable images are allowed', async () => {
  const set = await loadPolicySet([join(root, 'policies'), join(root, 'data')]);
  const input = prepareQuery(set.policy, 'data.mock.denied').evalValue({ data: set.data }) as RObject;
  const spec = (input.get('spec') as RObject).copy().set('namespace', 'dev');
  const dev = input.copy().set('spec', spec);
  const allowed = prepareQuery(set.policy, 'data.io.k8s.image_policy.verify.status.allowed').evalValue({ input: dev, data: set.data });
  assert.equal(allowed, true);
});

test('Rego v0 policies in the original style load without edits and decide the same', async () => {
  const paths = [join(root, 'test/fixtures/seed-v0'), join(root, 'data')];
  const allowed = await decide(paths, 'allowed');
  const denied = await decide(paths, 'denied');
  assert.deepEqual(allowed.status, { allowed: true });
  assert.deepEqual(denied.status, { allowed: false });
});
