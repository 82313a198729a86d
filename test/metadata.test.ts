// rego.metadata.chain / rego.metadata.rule (src/rego/metadata.ts), exercised through the builtin
// implementations with a context that carries the policy's modules, as the evaluator will once
// it is wired (see the header of src/rego/metadata.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import '../src/rego/metadata.js';
import { getBuiltin } from '../src/rego/builtins/registry.js';
import { parseModule } from '../src/rego/parser.js';
import type { Location, Module } from '../src/rego/ast.js';
import { toJSON } from '../src/rego/value.js';
import type { MetadataContext } from '../src/rego/metadata.js';

function call(name: string, modules: Module[], location: Location): unknown {
  const b = getBuiltin(name);
  assert.ok(b, name);
  const ctx: MetadataContext = { nowNs: 0n, queryCache: new Map(), hooks: {}, location, modules };
  return toJSON(b.impl([], ctx) as never);
}

const pkgAndRule = parseModule(
  `# METADATA
# description: The suite
package testing

# METADATA
# title: Checks
# authors:
# - Jane Doe <jane@example.com>
# - The contributors
# related_resources:
# - https://example.com/doc
p := x if {
	x := rego.metadata.chain()
}

q := 1
`,
  'a.rego',
);

test('chain: rule annotations first, then the package', () => {
  assert.deepEqual(call('rego.metadata.chain', [pkgAndRule], { file: 'a.rego', row: 13, col: 7 }), [
    {
      annotations: {
        authors: [{ name: 'Jane Doe', email: 'jane@example.com' }, { name: 'The contributors' }],
        related_resources: [{ ref: 'https://example.com/doc' }],
        scope: 'rule',
        title: 'Checks',
      },
      path: ['testing', 'p'],
    },
    { annotations: { description: 'The suite', scope: 'package' }, path: ['testing'] },
  ]);
});

test('rule: the rule-scope annotations, or {} for a rule without any', () => {
  assert.deepEqual(call('rego.metadata.rule', [pkgAndRule], { file: 'a.rego', row: 13, col: 7 }), {
    authors: [{ name: 'Jane Doe', email: 'jane@example.com' }, { name: 'The contributors' }],
    related_resources: [{ ref: 'https://example.com/doc' }],
    scope: 'rule',
    title: 'Checks',
  });
  assert.deepEqual(call('rego.metadata.rule', [pkgAndRule], { file: 'a.rego', row: 16, col: 6 }), {});
});

test('chain: a rule without annotations still comes first, without an annotations key', () => {
  assert.deepEqual(call('rego.metadata.chain', [pkgAndRule], { file: 'a.rego', row: 16, col: 6 }), [
    { path: ['testing', 'q'] },
    { annotations: { description: 'The suite', scope: 'package' }, path: ['testing'] },
  ]);
});

test('chain: document scope across rules, package annotations from another module, subpackages', () => {
  const a = parseModule('# METADATA\n# scope: subpackages\n# title: root\npackage x\n', 'a.rego');
  const b = parseModule('# METADATA\n# description: pkg\npackage x.y\n', 'b.rego');
  const c = parseModule(
    `package x.y

# METADATA
# scope: document
# title: doc
p := 1 if false

# METADATA
# title: this one
p := 2 if true
`,
    'c.rego',
  );
  assert.deepEqual(call('rego.metadata.chain', [a, b, c], { file: 'c.rego', row: 10, col: 6 }), [
    { annotations: { scope: 'rule', title: 'this one' }, path: ['x', 'y', 'p'] },
    { annotations: { scope: 'document', title: 'doc' }, path: ['x', 'y', 'p'] },
    { annotations: { description: 'pkg', scope: 'package' }, path: ['x', 'y'] },
    { annotations: { scope: 'subpackages', title: 'root' }, path: ['x'] },
  ]);
});

test('without the modules on the context the builtins report an error, not a wrong answer', () => {
  const b = getBuiltin('rego.metadata.rule')!;
  assert.throws(() => b.impl([], { nowNs: 0n, queryCache: new Map(), hooks: {}, location: { file: 'a.rego', row: 1, col: 1 } }), /not available/);
});
