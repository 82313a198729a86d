// `opa test` semantics: every rule whose name starts with `test_` is a test; it passes when it
// is defined and not false. `todo_test_` rules are reported as skipped.
import type { Location, Module, Rule } from '../rego/ast.js';
import { compile } from '../rego/compiler.js';
import { RegoError, RegoErrors } from '../rego/errors.js';
import { prepareQuery } from '../rego/index.js';
import type { CompiledPolicy } from '../rego/compiled.js';
import type { Coverage, CoverageReport } from '../rego/coverage.js';
import type { Value } from '../rego/value.js';

export interface TestResult {
  location: { file: string; row: number; col: number };
  package: string;
  name: string;
  fail?: boolean;
  error?: { code: string; message: string; location?: Location };
  skip?: boolean;
  /** Nanoseconds. */
  duration: number;
  /** Lines printed by print() during the test. */
  output?: string[];
}

export interface TestOptions {
  /** Only run tests whose `data.<pkg>.<name>` matches. */
  run?: RegExp;
  data: Value;
  strictBuiltinErrors?: boolean;
  /** Per-test time limit in ms (default 5 s). */
  timeoutMs?: number;
  /** Records the lines the tests reach (`test --coverage`); the policy must not have run yet. */
  coverage?: Coverage;
}

interface TestRule {
  module: Module;
  pkg: string;
  name: string;
  rule: Rule;
  /** The reported name: repeated definitions become name#01, name#02, ... as in `opa test`. */
  reported: string;
  /** Set when the name has several definitions: each runs on its own. */
  alone: boolean;
}

function packageName(m: Module): string {
  return m.package.path.terms
    .slice(1)
    .map((t) => (t.type === 'string' ? t.value : t.type === 'var' ? t.name : '?'))
    .join('.');
}

function collectTests(policy: CompiledPolicy): TestRule[] {
  const out: TestRule[] = [];
  const count = new Map<string, number>();
  for (const m of policy.modules) {
    const pkg = packageName(m);
    for (const rule of m.rules) {
      const head = rule.head.ref;
      if (head.length !== 1 || head[0].type !== 'var' || rule.head.args) continue;
      const name = head[0].name;
      if (!name.startsWith('test_') && !name.startsWith('todo_test_')) continue;
      const key = `${pkg}.${name}`;
      const n = count.get(key) ?? 0;
      count.set(key, n + 1);
      out.push({ module: m, pkg, name, rule, reported: n === 0 ? name : `${name}#${String(n).padStart(2, '0')}`, alone: false });
    }
  }
  for (const t of out) t.alone = (count.get(`${t.pkg}.${t.name}`) ?? 0) > 1;
  return out;
}

/** The policy with only one definition of a repeated test rule. */
function policyWithOnly(policy: CompiledPolicy, t: TestRule): CompiledPolicy {
  const modules = policy.modules.map((m) =>
    packageName(m) !== t.pkg
      ? m
      : {
          ...m,
          rules: m.rules.filter((r) => r === t.rule || !(r.head.ref.length === 1 && r.head.ref[0].type === 'var' && r.head.ref[0].name === t.name)),
        },
  );
  return compile(modules);
}

export function runTests(policy: CompiledPolicy, opts: TestOptions): TestResult[] {
  const results: TestResult[] = [];
  const instrumented = (p: CompiledPolicy): CompiledPolicy => {
    opts.coverage?.instrument(p);
    return p;
  };
  instrumented(policy);
  for (const t of collectTests(policy)) {
    const full = `data.${t.pkg}.${t.name}`;
    if (opts.run && !opts.run.test(`data.${t.pkg}.${t.reported}`)) continue;
    const location = { file: t.module.file, row: t.rule.loc?.row ?? 1, col: t.rule.loc?.col ?? 1 };
    const base = { location, package: `data.${t.pkg}`, name: t.reported };
    if (t.name.startsWith('todo_test_')) {
      results.push({ ...base, skip: true, duration: 0 });
      continue;
    }
    const output: string[] = [];
    const started = process.hrtime.bigint();
    let value: Value | undefined;
    let error: TestResult['error'];
    try {
      const q = prepareQuery(t.alone ? instrumented(policyWithOnly(policy, t)) : policy, full);
      value = q.evalValue({
        data: opts.data,
        strictBuiltinErrors: opts.strictBuiltinErrors,
        deadline: Date.now() + (opts.timeoutMs ?? 5000),
        hooks: { print: (msg) => output.push(msg) },
      });
    } catch (e) {
      const err = e instanceof RegoErrors ? e.errors[0] : e instanceof RegoError ? e : undefined;
      if (!err) throw e;
      error = err.location ? { code: err.code, message: err.detail, location: err.location } : { code: err.code, message: err.detail };
    }
    const duration = Number(process.hrtime.bigint() - started);
    const r: TestResult = { ...base, duration };
    if (error) r.error = error;
    // A test passes only when its value is exactly true, like `opa test`.
    else if (value !== true) r.fail = true;
    if (output.length) r.output = output;
    results.push(r);
  }
  return results;
}

export function formatDuration(ns: number): string {
  if (ns < 1_000) return `${ns}ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(3).replace(/\.?0+$/, '')}µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(3).replace(/\.?0+$/, '')}ms`;
  return `${(ns / 1_000_000_000).toFixed(3).replace(/\.?0+$/, '')}s`;
}

/** Human report in `opa test` style. */
export function formatTestReport(results: TestResult[], verbose: boolean): string {
  const lines: string[] = [];
  const byFile = new Map<string, TestResult[]>();
  for (const r of results) {
    const list = byFile.get(r.location.file) ?? [];
    list.push(r);
    byFile.set(r.location.file, list);
  }
  const status = (r: TestResult) => (r.skip ? 'SKIPPED' : r.error ? 'ERROR' : r.fail ? 'FAIL' : 'PASS');
  for (const [file, list] of byFile) {
    const shown = verbose ? list : list.filter((r) => r.fail || r.error);
    if (shown.length === 0) continue;
    lines.push(`${file}:`);
    for (const r of shown) {
      const detail = r.error ? `\n  ${r.error.location ? `${r.error.location.file}:${r.error.location.row}: ` : ''}${r.error.code}: ${r.error.message}` : '';
      lines.push(`${r.package}.${r.name}: ${status(r)} (${formatDuration(r.duration)})${detail}`);
      if (r.output && (verbose || r.fail || r.error)) for (const o of r.output) lines.push(`  ${o}`);
    }
    lines.push('');
  }
  const count = (s: string) => results.filter((r) => status(r) === s).length;
  const total = results.length;
  if (lines.length) lines.push('-'.repeat(80));
  if (total === 0) {
    lines.push('no tests found');
    return lines.join('\n');
  }
  for (const s of ['PASS', 'FAIL', 'SKIPPED', 'ERROR']) {
    const n = count(s);
    if (n > 0) lines.push(`${s}: ${n}/${total}`);
  }
  return lines.join('\n');
}

/** Why `test --threshold` failed, as `opa test` says it; verbose: with the lines not covered. */
export function formatCoverageShortfall(report: CoverageReport, threshold: number, verbose: boolean): string {
  const lines = [`Code coverage threshold not met: got ${report.coverage.toFixed(2)} instead of ${threshold.toFixed(2)}`];
  if (verbose) {
    lines.push('Lines not covered:');
    for (const [file, fc] of Object.entries(report.files)) {
      for (const r of fc.not_covered ?? []) lines.push(`\t${file}:${r.start.row === r.end.row ? r.start.row : `${r.start.row}-${r.end.row}`}`);
    }
  }
  return lines.join('\n');
}
