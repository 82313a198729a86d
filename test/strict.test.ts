// OPA's compiler strict mode (check -S, eval -S) and the module checks Rego v1 makes by default:
// messages and positions as OPA's (its compiler's checkImports, checkKeywordOverrides,
// rewriteLocalVars and checkDeprecatedBuiltins).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { parseModule } from '../src/rego/parser.js';
import { compile } from '../src/rego/compiler.js';
import { RegoErrors } from '../src/rego/errors.js';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { cli, tempFiles } from './helpers/cli.js';
import { projectRoot } from './helpers/paths.js';

/** The compile errors of one module, as `row:col: message` lines ([] when it compiles). */
function errorsOf(text: string, opts: { strict?: boolean; v0?: boolean } = {}): string[] {
  const m = parseModule(text, 'p.rego', { regoVersion: opts.v0 ? 0 : 1 });
  const lib = parseModule('package lib\n\nf(x) := x\n\nd := 1\n', 'lib.rego');
  try {
    compile([m, lib], { strict: opts.strict });
    return [];
  } catch (e) {
    if (!(e instanceof RegoErrors)) throw e;
    return e.errors.map((x) => `${x.location?.row}:${x.location?.col}: ${x.detail}`);
  }
}

test('strict: an import no rule uses is an error at the import', () => {
  const text = 'package p\n\nimport data.lib.x\nimport data.lib.y as why\nimport data.lib.z\n\nq := z\n';
  assert.deepEqual(errorsOf(text), []);
  assert.deepEqual(errorsOf(text, { strict: true }), ['3:1: import data.lib.x unused', '4:1: import data.lib.y as why unused']);
  // Keyword imports are not imports of documents.
  assert.deepEqual(errorsOf('package p\nimport future.keywords.if\nimport rego.v1\nq if true\n', { strict: true, v0: true }), []);
  // Used as a function or a with target: used.
  assert.deepEqual(errorsOf('package p\nimport data.lib.f\nimport data.lib.d\nq := x if { x := f(1) with d as 2 }\n', { strict: true }), []);
  // A local of the same name is not the import.
  assert.deepEqual(errorsOf('package p\nimport data.lib.x\nq := x if { x := 1 }\n', { strict: true }), ['2:1: import data.lib.x unused']);
});

test('strict: an assignment nothing reads is an error at the start of its body', () => {
  assert.deepEqual(errorsOf('package p\nq if {\n\tx := 1\n\ty := 2\n\ty > 1\n}\n', { strict: true }), ['3:2: assigned var x unused']);
  assert.deepEqual(errorsOf('package p\nq if {\n\tx := 1\n}\n'), []);
  // Read in the head, in a nested comprehension, or a wildcard: used.
  assert.deepEqual(errorsOf('package p\nq := x if { x := 1 }\nr := [y | some y in [1]; z := y; z > 0] if { y := 0; y == 0 }\ns if { _ := 1 }\n', { strict: true }), []);
  assert.deepEqual(errorsOf('package p\nq := [1 | x := 2]\n', { strict: true }), ['2:11: assigned var x unused']);
});

test('strict: a function argument no branch uses is an error at the head', () => {
  assert.deepEqual(errorsOf('package p\nf(x, y) := y\n', { strict: true }), ['2:1: unused argument x. (hint: use _ (wildcard variable) instead)']);
  assert.deepEqual(errorsOf('package p\nf(x, y) := y\n'), []);
  // Used in any branch, or a wildcard: fine.
  assert.deepEqual(errorsOf('package p\nf(x, y) := 1 if { y > 0 } else := x\ng(_) := 1\n', { strict: true }), []);
});

test('Rego v1 refuses duplicate imports and rules named after a root document; strict mode refuses them in v0', () => {
  const dup = 'package p\nimport data.a\nimport data.b as a\nq := a\n';
  assert.deepEqual(errorsOf(dup), ['3:1: import must not shadow import data.a']);
  assert.deepEqual(errorsOf(dup, { v0: true }), []);
  assert.deepEqual(errorsOf(dup, { v0: true, strict: true }), ['3:1: import must not shadow import data.a']);
  const rule = 'package p\ninput := 1\n';
  assert.deepEqual(errorsOf(rule), ['2:1: rules must not shadow input (use a different rule name)']);
  assert.deepEqual(errorsOf(rule, { v0: true }), []);
  assert.deepEqual(errorsOf('package p\ndata := 1\n', { v0: true, strict: true }), ['2:1: rules must not shadow data (use a different rule name)']);
});

test('strict mode gives Rego v0 modules the v1 checks on variables and deprecated builtins', () => {
  const v0 = 'package p\nq { input := {"a": 1}; input.a == 1 }\nr { any([true]) }\n';
  assert.deepEqual(errorsOf(v0, { v0: true }), []);
  assert.deepEqual(errorsOf(v0, { v0: true, strict: true }), [
    '2:5: variables must not shadow input (use a different variable name)',
    '3:5: deprecated built-in function calls in expression: any',
  ]);
});

test('the bundled policies and their deployed copy pass strict mode', async () => {
  for (const dir of ['policies', 'deploy/kubernetes/policies']) {
    await loadPolicySet([join(projectRoot(), dir)], { strict: true });
  }
});

test('CLI: check -S and eval --strict report strict errors; without the flag the same policy passes', () => {
  const dir = tempFiles({ 'p.rego': 'package p\n\nimport data.unused\n\nq := 1\n' });
  const file = join(dir, 'p.rego');
  assert.equal(cli('check', file).code, 0);
  for (const flag of ['-S', '--strict']) {
    const r = cli('check', flag, file);
    assert.equal(r.code, 1);
    assert.equal(r.stderr.trim(), `${file}:3:1: rego_compile_error: import data.unused unused`);
  }
  const ev = cli('eval', '--strict', '-d', file, 'data.p.q');
  assert.notEqual(ev.code, 0);
  assert.match(ev.stderr, /import data\.unused unused/);
  assert.equal(cli('eval', '-d', file, 'data.p.q').code, 0);
});
