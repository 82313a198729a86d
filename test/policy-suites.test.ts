// Runs `image-enforcer test` as a child process on the policy suites under
// test/fixtures/policy-suites and checks that the outcome is what `opa test` reports for them:
// exit codes, the PASS/FAIL/SKIPPED/ERROR summary, `--format json`, `-v` and `--run`.
// The CLI runs from dist/ (bin/image-enforcer.js), so `npx tsc -p .` must have been run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './helpers/paths.js';
import { cli, type CliRun as Run } from './helpers/cli.js';


const root = projectRoot();
const suites = 'test/fixtures/policy-suites';
const k8s = `${suites}/k8s-admission`;


interface JsonResult {
  location: { file: string; row: number; col: number };
  package: string;
  name: string;
  fail?: boolean;
  error?: { code: string; message: string };
  skip?: boolean;
  duration: number;
}

function json(run: Run): JsonResult[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(run.stdout);
  } catch (e) {
    assert.fail(`--format json did not print JSON (${(e as Error).message}); stderr: ${run.stderr}`);
  }
  assert.ok(Array.isArray(parsed), 'the JSON report is an array');
  return parsed as JsonResult[];
}

/** Test rules in the Rego files under dir, counted from the sources (`test_x if` / `test_x {` / `test_x :=`). */
function countTests(dir: string): { tests: number; todo: number } {
  let tests = 0;
  let todo = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.rego')) {
        for (const line of readFileSync(p, 'utf8').split('\n')) {
          if (/^test_\w+\s*(if\b|\{|:=|=)/.test(line)) tests++;
          if (/^todo_test_\w+\s*(if\b|\{|:=|=)/.test(line)) todo++;
        }
      }
    }
  };
  walk(join(root, dir));
  return { tests, todo };
}

const k8sCount = countTests(k8s).tests;

test('the k8s-admission suite has at least 12 policy packages and 100 tests', () => {
  const packages = readdirSync(join(root, k8s)).filter((d) => readdirSync(join(root, k8s, d)).some((f) => f.endsWith('_test.rego')));
  assert.ok(packages.length >= 12, `packages with tests: ${packages.join(', ')}`);
  assert.ok(k8sCount >= 100, `only ${k8sCount} tests`);
});

test('k8s-admission: every test passes, exit 0', () => {
  const r = cli('test', k8s);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^PASS: ${k8sCount}/${k8sCount}$`, 'm'));
  assert.doesNotMatch(r.stdout, /FAIL|ERROR/);
});

test('k8s-admission --format json: one passing result per test rule', () => {
  const r = cli('test', '--format', 'json', k8s);
  assert.equal(r.code, 0, r.stderr);
  const results = json(r);
  assert.equal(results.length, k8sCount);
  for (const t of results) {
    assert.ok(t.name.startsWith('test_'), t.name);
    assert.ok(t.package.startsWith('data.'), t.package);
    assert.ok(t.location.file.endsWith('_test.rego'), t.location.file);
    assert.ok(t.location.row >= 1 && t.location.col >= 1);
    assert.equal(typeof t.duration, 'number');
    assert.equal(t.fail, undefined, `${t.package}.${t.name} failed`);
    assert.equal(t.error, undefined, `${t.package}.${t.name} errored: ${JSON.stringify(t.error)}`);
  }
  const names = new Set(results.map((t) => `${t.package}.${t.name}`));
  assert.equal(names.size, k8sCount, 'test names are unique');
  for (const expected of [
    'data.k8s.container_limits_test.test_memory_quantities',
    'data.k8s.unique_ingress_host_test.test_shared_wildcard_one_label',
    'data.admission_test.test_end_to_end_pod',
    'data.lib.k8s_test.test_image_tag_cases',
  ]) {
    assert.ok(names.has(expected), `missing ${expected}`);
  }
});

test('k8s-admission -v lists every test and shows print() output', () => {
  const r = cli('test', '-v', k8s);
  assert.equal(r.code, 0, r.stderr);
  const passLines = r.stdout.split('\n').filter((l) => /^data\.\S+: PASS \(/.test(l));
  assert.equal(passLines.length, k8sCount);
  assert.match(r.stdout, /^data\.k8s\.required_probes_test\.test_print_is_allowed_in_tests: PASS/m);
  assert.match(r.stdout, /violations: 1/);
});

test('--run filters tests by regular expression on data.<package>.<name>', () => {
  const r = cli('test', '--format', 'json', '--run', 'container_limits_test\\.test_m', k8s);
  assert.equal(r.code, 0, r.stderr);
  const names = json(r)
    .map((t) => t.name)
    .sort();
  assert.deepEqual(names, ['test_memory_decimal_below_binary', 'test_memory_quantities', 'test_memory_too_high_decimal_units', 'test_missing_limits']);

  const byPackage = cli('test', '-v', '--run', '^data\\.k8s\\.seccomp_test\\.', k8s);
  assert.equal(byPackage.code, 0);
  assert.match(byPackage.stdout, /^PASS: 8\/8$/m);

  const none = cli('test', '--run', 'no-such-test-anywhere', k8s);
  assert.equal(none.code, 0);
  assert.match(none.stdout, /no tests found/);
});

test('a single package directory can be tested on its own (with the shared lib)', () => {
  const r = cli('test', '--format', 'json', `${k8s}/lib`, `${k8s}/privileged`);
  assert.equal(r.code, 0, r.stderr);
  const results = json(r);
  assert.equal(results.length, countTests(`${k8s}/lib`).tests + countTests(`${k8s}/privileged`).tests);
  assert.ok(results.every((t) => !t.fail && !t.error));
});

test('v0 suites (Gatekeeper-era syntax) pass with --v0-compatible', () => {
  for (const dir of ['psp', 'requiredlabels']) {
    const path = `${suites}/v0/${dir}`;
    const n = countTests(path).tests;
    const r = cli('test', '--v0-compatible', path);
    assert.equal(r.code, 0, `${dir}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^PASS: ${n}/${n}$`, 'm'), dir);
  }
});

test('v0 suite with `input := {...}` locals in tests (Gatekeeper library idiom) passes', () => {
  // OPA accepts a local variable named input in v0 modules; see
  // test/conformance/engine-gaps/v0-syntax.yaml.
  const path = `${suites}/v0`;
  const n = countTests(path).tests;
  const r = cli('test', '--v0-compatible', path);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`^PASS: ${n}/${n}$`, 'm'));
});

test('failing suite: exit 2 and FAIL/ERROR/SKIPPED reported like opa test', () => {
  const path = `${suites}/failing`;
  const r = cli('test', path);
  assert.equal(r.code, 2, r.stdout + r.stderr);
  assert.match(r.stdout, /^PASS: 1\/7$/m);
  assert.match(r.stdout, /^FAIL: 4\/7$/m);
  assert.match(r.stdout, /^SKIPPED: 1\/7$/m);
  assert.match(r.stdout, /^ERROR: 1\/7$/m);
  // Without -v only failures and errors are listed.
  assert.match(r.stdout, /^data\.failing\.test_fails_false_assertion: FAIL/m);
  assert.match(r.stdout, /^data\.failing\.test_errors_conflict: ERROR/m);
  assert.match(r.stdout, /eval_conflict_error/);
  assert.doesNotMatch(r.stdout, /test_passes/);
  // print() output of a failing test is shown.
  assert.match(r.stdout, /checking \{"n": 1\}/);
});

test('failing suite --format json: fail, error and skip fields', () => {
  const r = cli('test', '--format', 'json', `${suites}/failing`);
  assert.equal(r.code, 2);
  const results = json(r);
  const by = new Map(results.map((t) => [`${t.package}.${t.name}`, t]));
  assert.equal(results.length, 7);
  assert.equal(by.get('data.failing.test_passes')?.fail, undefined);
  assert.equal(by.get('data.failing.test_fails_false_assertion')?.fail, true);
  assert.equal(by.get('data.failing.test_fails_undefined')?.fail, true);
  // A test whose value is not true fails, even when it is defined.
  assert.equal(by.get('data.failing.test_fails_non_boolean_value')?.fail, true);
  assert.equal(by.get('data.failing.printing.test_fails_with_print')?.fail, true);
  const err = by.get('data.failing.test_errors_conflict');
  assert.equal(err?.fail, undefined);
  assert.equal(err?.error?.code, 'eval_conflict_error');
  assert.equal(by.get('data.failing.todo_test_skipped')?.skip, true);
  const row = by.get('data.failing.test_fails_false_assertion')?.location.row;
  assert.equal(row, 10);
});

test('--run on the failing suite selects only passing tests: exit 0', () => {
  const r = cli('test', '--run', 'test_passes', `${suites}/failing`);
  assert.equal(r.code, 0, r.stdout);
  assert.match(r.stdout, /^PASS: 1\/1$/m);
});

test('repeated test names run separately (opa test renames the second to test_dup#01)', () => {
  const r = cli('test', '--format', 'json', `${suites}/duplicates`);
  assert.equal(r.code, 2, r.stdout);
  const results = json(r);
  assert.deepEqual(
    results.map((t) => [t.name, t.fail ?? false]),
    [
      ['test_dup', false],
      ['test_dup#01', true],
    ],
  );
});
