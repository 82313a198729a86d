// The policy library's own Rego tests (policies/**/*_test.rego), run the way `image-enforcer test
// policies` runs them, with and without the bundled data; plus the shipped configuration keeping
// the original walkthrough's decisions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { runTests } from '../src/runtime/tester.js';
import { Coverage } from '../src/rego/coverage.js';
import { prepareQuery } from '../src/rego/index.js';
import { fromJSON, toJSON } from '../src/rego/value.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();

for (const paths of [['policies'], ['policies', 'data']]) {
  test(`library: every _test.rego passes (${paths.join(' ')})`, async () => {
    const set = await loadPolicySet(paths.map((p) => join(root, p)));
    const results = runTests(set.policy, { data: set.data });
    const failed = results.filter((r) => r.fail || r.error);
    assert.deepEqual(failed.map((r) => `${r.package}.${r.name}${r.error ? ': ' + r.error.message : ''}`), []);
    const names = results.map((r) => `${r.package}.${r.name}`);
    // Every rule and setting has tests.
    for (const topic of ['reference', 'registries', 'naming', 'pinning', 'severity', 'exception', 'missing_scan_data', 'max_report_age', 'exempt', 'action', 'config_problems', 'bypass|lookalike']) {
      assert.ok(names.some((n) => new RegExp(topic).test(n)), `a test about ${topic}`);
    }
    assert.ok(results.length >= 70, `${results.length} tests`);
  });
}

// `image-enforcer test --threshold 100 -v policies` says the same, with the lines to test.
test('library: the policies\' own tests reach every line of the bundled policies', async () => {
  const set = await loadPolicySet([join(root, 'policies')]);
  const coverage = new Coverage();
  runTests(set.policy, { data: set.data, coverage });
  const report = coverage.report();
  const missed = Object.entries(report.files).flatMap(([file, fc]) => (fc.not_covered ?? []).map((r) => `${file}:${r.start.row}-${r.end.row}`));
  assert.deepEqual(missed, []);
  assert.equal(report.coverage, 100);
});

test('library: the shipped configuration has no problems and keeps the walkthrough decisions', async () => {
  const set = await loadPolicySet([join(root, 'policies'), join(root, 'data')]);
  const problems = prepareQuery(set.policy, 'data.library.image_policy.config_problems').evalValue({ data: set.data });
  assert.deepEqual(toJSON(problems!), []);
  const verify = prepareQuery(set.policy, 'data.io.k8s.image_policy.verify');
  const decide = (ns: string, images: string[]) =>
    toJSON(verify.evalValue({ data: set.data, input: fromJSON({ spec: { namespace: ns, containers: images.map((image) => ({ image })) } }) })!) as {
      status: { allowed: boolean; reason?: string };
    };
  assert.deepEqual(decide('production', ['alpine:3.5', 'openpolicyagent/opa:0.4.10']).status, { allowed: true });
  assert.match(decide('production', ['wordpress:4-apache']).status.reason!, /^image wordpress:4-apache has 36 known vulnerabilities \(CVE-/);
  // The library sees the image through every spelling the original rule missed.
  for (const spelling of ['docker.io/library/wordpress:4-apache', 'index.docker.io/wordpress:4-apache', 'library/wordpress:4-apache']) {
    assert.equal(decide('production', [spelling]).status.allowed, false, spelling);
  }
  assert.deepEqual(decide('dev', ['wordpress:4-apache']).status, { allowed: true });
  // Malformed references are denied everywhere.
  assert.equal(decide('dev', ['Wordpress']).status.allowed, false);
});
