// Test coverage (src/rego/coverage.ts, `image-enforcer test --coverage`): which lines OPA's
// coverage report counts as covered and not covered, its JSON shape, and the command's exit
// codes. OPA's rules, from its cover package and `opa test`: a line is covered when evaluation
// reached an expression on it, or when a rule whose head is on it produced a value (a default
// rule: when its value was used); `some x` declarations, comments, imports and package clauses
// are not counted. That instrumentation changes no answer is checked by the conformance suite,
// which runs every case a third time with coverage markers (test/conformance.test.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { Coverage, type CoverageReport, type FileCoverage } from '../src/rego/coverage.js';
import { setCompilation, TIER_UP, type Compilation } from '../src/rego/tiers.js';
import { fromJSON, type Value } from '../src/rego/value.js';
import { runTests } from '../src/runtime/tester.js';
import { cli, tempFiles } from './helpers/cli.js';

/** Rows listed in a file's ranges. */
function rows(ranges: FileCoverage['covered']): number[] {
  const out: number[] = [];
  for (const r of ranges ?? []) for (let row = r.start.row; row <= r.end.row; row++) out.push(row);
  return out;
}

/** Evaluates each query once on an instrumented policy; the report of test.rego. */
function cover(text: string, queries: Array<{ query: string; input?: unknown }>, mode: Compilation = 'tiered', rounds = 1): FileCoverage {
  setCompilation(mode);
  try {
    const policy = compilePolicies([{ file: 'test.rego', text }]);
    const coverage = new Coverage();
    coverage.instrument(policy);
    for (let i = 0; i < rounds; i++) {
      for (const q of queries) prepareQuery(policy, q.query).evalValue({ input: q.input === undefined ? undefined : fromJSON(q.input), data: fromJSON({}) });
    }
    return coverage.report().files['test.rego'];
  } finally {
    setCompilation('tiered');
  }
}

// Row numbers are those of the module text below (line 1 is `package test`).
const MODULE = `package test

import data.unused

foo if {
	bar
	p
	not baz
}

bar if {
	a := 1
	b := 2
	a != b
}

baz if {
	true
	false
	true
}

p if {
	some x
	x = 1
	x + 1 == 2
}
`;

test('coverage: reached expressions and rules that produced a value are covered; the rest of the counted lines are not', () => {
  const fc = cover(MODULE, [{ query: 'data.test.foo' }]);
  // foo's head and body, bar's, baz's first two expressions (the second fails), p's head and
  // the expressions after `some x`.
  assert.deepEqual(rows(fc.covered), [5, 6, 7, 8, 11, 12, 13, 14, 18, 19, 23, 25, 26]);
  // baz produced no value; its third expression was never reached. `some x` (24), the import
  // and the package clause are not counted at all.
  assert.deepEqual(rows(fc.not_covered), [17, 20]);
  assert.equal(fc.covered_lines, 13);
  assert.equal(fc.not_covered_lines, 2);
  assert.equal(fc.coverage, (100 * 13) / 15);
});

test('coverage: the same report on closures, on generated code, and across the switch between them', () => {
  const queries = [{ query: 'data.test.foo' }];
  const closures = cover(MODULE, queries, 'closures');
  assert.deepEqual(cover(MODULE, queries, 'generated'), closures);
  assert.deepEqual(cover(MODULE, queries, 'tiered', TIER_UP + 2), closures);
});

test('coverage: a default rule is covered only when its value is used', () => {
  const text = `package test

default allow := false

allow if input.user == "admin"
`;
  for (const mode of ['closures', 'generated'] as const) {
    let fc = cover(text, [{ query: 'data.test.allow', input: { user: 'admin' } }], mode);
    assert.deepEqual(rows(fc.covered), [5], mode);
    assert.deepEqual(rows(fc.not_covered), [3], mode);
    fc = cover(text, [{ query: 'data.test.allow', input: { user: 'guest' } }], mode);
    // The rule's expression was reached (line 5 is covered by it) but gave no value.
    assert.deepEqual(rows(fc.covered), [3, 5], mode);
    assert.equal(fc.not_covered, undefined, mode);
  }
});

test('coverage: else branches, functions, comprehensions and every bodies count where evaluation went', () => {
  const text = `package test

level := "low" if {
	input.n < 10
} else := "high" if {
	input.n >= 10
}

double(x) := y if {
	y := x * 2
}

unused(x) := y if {
	y := x + 1
}

doubled := [d |
	some n in input.ns
	d := double(n)
]

all_small if {
	every n in input.ns {
		n < 10
	}
}
`;
  const fc = cover(text, [{ query: 'data.test.level', input: { n: 3, ns: [] } }, { query: 'data.test.doubled', input: { ns: [1, 2] } }, { query: 'data.test.all_small', input: { ns: [1, 20] } }]);
  // The else branch was not needed; the unused function was never called; all_small's every
  // failed (20 is not < 10), so its head is not covered, though its body was reached.
  assert.deepEqual(rows(fc.not_covered), [5, 6, 13, 14, 22]);
  assert.deepEqual(rows(fc.covered), [3, 4, 9, 10, 17, 18, 19, 23, 24]);
});

test('coverage: a rule the rule index rules out is not entered, so not covered (as with OPA\'s indexer)', () => {
  // Enough rules on one input path for the compiler to index them.
  const rules = Array.from({ length: 12 }, (_, i) => `allow if {\n\tinput.action == "a${i}"\n}\n`).join('\n');
  const text = `package test\n\n${rules}`;
  const fc = cover(text, [{ query: 'data.test.allow', input: { action: 'a3' } }]);
  // Rule i's head is on line 3 + 4i and its expression on the line after.
  assert.deepEqual(rows(fc.covered), [15, 16]);
  assert.equal(fc.not_covered_lines, 22);
});

test('coverage: the report has OPA\'s shape: files by name, runs of lines, empty fields left out, totals', () => {
  const policy = compilePolicies([
    { file: 'b.rego', text: 'package b\n\nx := 1\ny := 2\nz := 3\n\nw := 4\n' },
    { file: 'a.rego', text: 'package a\n\nnever if {\n\tinput.x\n}\n' },
  ]);
  const coverage = new Coverage();
  coverage.instrument(policy);
  prepareQuery(policy, 'data.b.x').evalValue({ data: fromJSON({}) });
  prepareQuery(policy, 'data.b.y').evalValue({ data: fromJSON({}) });
  prepareQuery(policy, 'data.b.w').evalValue({ data: fromJSON({}) });
  const report: CoverageReport = coverage.report();
  assert.deepEqual(Object.keys(report.files), ['a.rego', 'b.rego']);
  assert.deepEqual(report.files['a.rego'], { not_covered: [{ start: { row: 3 }, end: { row: 4 } }], not_covered_lines: 2 });
  assert.deepEqual(report.files['b.rego'], {
    covered: [
      { start: { row: 3 }, end: { row: 4 } },
      { start: { row: 7 }, end: { row: 7 } },
    ],
    not_covered: [{ start: { row: 5 }, end: { row: 5 } }],
    covered_lines: 3,
    not_covered_lines: 1,
    coverage: 75,
  });
  assert.deepEqual({ ...report, files: undefined }, { files: undefined, covered_lines: 3, not_covered_lines: 3, coverage: 50 });
});

test('coverage: repeated test rules run one definition at a time and all count', () => {
  const policy = compilePolicies([
    { file: 'p.rego', text: 'package p\n\nf(x) := "a" if x == 1\n\ng(x) := "b" if x == 2\n' },
    { file: 'p_test.rego', text: 'package p_test\n\nimport data.p\n\ntest_one if p.f(1) == "a"\n\ntest_one if p.g(2) == "b"\n' },
  ]);
  const coverage = new Coverage();
  const results = runTests(policy, { data: fromJSON({}) as Value, coverage });
  assert.deepEqual(
    results.map((r) => [r.name, r.fail ?? false]),
    [
      ['test_one', false],
      ['test_one#01', false],
    ],
  );
  const report = coverage.report();
  assert.deepEqual(rows(report.files['p.rego'].covered), [3, 5]);
  assert.deepEqual(rows(report.files['p_test.rego'].covered), [5, 7]);
});

// ---------------------------------------------------------------------------------------------
// The command

const POLICY = `package img

deny contains msg if {
	endswith(input.image, ":latest")
	msg := "no latest"
}

deny contains msg if {
	not contains(input.image, "/")
	msg := "no registry"
}
`;
const TESTS = `package img_test

import data.img

test_latest if {
	"no latest" in img.deny with input as {"image": "r.io/x:latest"}
}
`;

test('test --coverage prints the JSON report instead of the results; --threshold fails below it with the lines not covered', () => {
  const dir = tempFiles({ 'img.rego': POLICY, 'img_test.rego': TESTS });
  let r = cli('test', '--coverage', dir);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as CoverageReport;
  const file = join(dir, 'img.rego');
  // The second rule was evaluated too (the test reads the whole set): its first expression
  // was reached and failed.
  assert.deepEqual(report.files[file].not_covered, [
    { start: { row: 8 }, end: { row: 8 } },
    { start: { row: 10 }, end: { row: 10 } },
  ]);
  assert.equal(report.covered_lines, 6);
  assert.equal(report.not_covered_lines, 2);
  assert.match(r.stdout, /^\{\n {2}"files": \{/);

  r = cli('test', '--threshold', '75', dir);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((JSON.parse(r.stdout) as CoverageReport).coverage, 75);

  r = cli('test', '--threshold', '80', dir);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'Code coverage threshold not met: got 75.00 instead of 80.00\n');

  r = cli('test', '--threshold', '80', '-v', dir);
  assert.equal(r.code, 2);
  assert.equal(r.stderr, `Code coverage threshold not met: got 75.00 instead of 80.00\nLines not covered:\n\t${file}:8\n\t${file}:10\n`);
});

test('test --coverage: failing tests are reported instead of the coverage (exit 2); a bad threshold is a usage error', () => {
  const dir = tempFiles({ 'img.rego': POLICY, 'img_test.rego': TESTS.replace('"no latest" in', '"no registry" in') });
  let r = cli('test', '--coverage', dir);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /data\.img_test\.test_latest: FAIL/);
  for (const bad of ['101', '-1', 'abc', '']) {
    r = cli('test', '--threshold', bad, dir);
    assert.equal(r.code, 1, bad);
    assert.match(r.stderr, /code coverage threshold must be between 0 and 100/, bad);
  }
});

test('test --coverage on the bundled policies: every policy file is reported and the tests pass', () => {
  const r = cli('test', '--coverage', 'policies');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as CoverageReport;
  for (const f of ['policies/library/library.rego', 'policies/library/vulnerabilities.rego', 'policies/lib/image_reference.rego', 'policies/default.rego']) {
    assert.ok((report.files[f]?.covered_lines ?? 0) > 0, f);
  }
});

test('eval --coverage adds the report to the JSON output, and the overall percentage to the pretty one', () => {
  const dir = tempFiles({ 'img.rego': POLICY });
  const file = join(dir, 'img.rego');
  const query = 'data.img.deny with input as {"image": "r.io/x:latest"}';
  let r = cli('eval', '--coverage', '-d', dir, query);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { result: unknown[]; coverage: CoverageReport };
  assert.equal(out.result.length, 1);
  // Both rules ran: the first produced "no latest", the second failed at its first expression.
  assert.deepEqual(Object.keys(out.coverage.files), [file]);
  assert.deepEqual(out.coverage.files[file]!.not_covered, [
    { start: { row: 8 }, end: { row: 8 } },
    { start: { row: 10 }, end: { row: 10 } },
  ]);
  assert.equal(out.coverage.coverage, (100 * 4) / 6);
  r = cli('eval', '--coverage', '--format', 'pretty', '-d', dir, query);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n┌─+┬─+┐\n│ Overall Coverage │ 66\.67 │\n└─+┴─+┘\n$/);
  r = cli('eval', '-d', dir, query);
  assert.equal((JSON.parse(r.stdout) as { coverage?: unknown }).coverage, undefined);
});
