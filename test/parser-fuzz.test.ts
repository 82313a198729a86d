// Fuzzing the parser: random text and mutations of valid policies must give a Module (or a
// query body) or RegoErrors with parse errors that carry a location — never another exception,
// a hang or a stack overflow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseModule, parseQuery, parseStatements, parseTerm } from '../src/rego/parser.js';
import { formatModule, formatTerm } from '../src/rego/format.js';
import type { Term } from '../src/rego/ast.js';
import { RegoErrors } from '../src/rego/errors.js';

const VALID = [
  `package io.k8s.image_policy

import rego.v1

# METADATA
# title: deny untrusted registries
deny contains msg if {
  some c in input.request.object.spec.containers
  not startswith(c.image, "registry.example.com/")
  msg := sprintf("image %v is not allowed", [c.image])
}

default allow := false

allow if count(deny) == 0

f(x, y) := z if { z := x + y * 2 } else := 0

layers[digest] := size if {
  some l in data.docker.layers[org][name][tag].layers
  digest := l.digest
  size := l.size
}

all_ok if every k, v in {"a": 1, "b": 2} { v > 0; is_string(k) }

s := {x | x := [1, 2, 3][_]; x % 2 == 1}
o := {k: v | some k, v in {"x": -1.5e3}}
r := \`raw \\ string\`
t := y if { y := data.lib.f(1).y with input as {"a": [null, true, false]} }
`,
  `package a.b["c-d"]

p[x] { x := input.xs[_] }
obj[k] = v { v := input.o[k] }
q { not r }
r = 1 { false } else = 2 { true }
s { false } { true }
u := [a | a := {1, 2} | {3}; a & {1}]
`,
  `package x
import future.keywords
v contains 1
w.z[y] := true if { y := "\\u00e9\\ud83d\\ude00" }
n := 123456789012345678901234567890
`,
];

const TOKENS = [
  'package', 'import', 'default', 'if', 'else', 'contains', 'in', 'every', 'some', 'not', 'with', 'as',
  ':=', '=', '==', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '|', '&', '(', ')', '[', ']', '{', '}',
  ',', ';', '.', ':', '_', 'x', 'input', 'data', '"s"', '`r`', '1', '-1', '1.5e3', '\n', ' ', '#c\n', 'set()', '"\\u12',
];

function checkOutcome(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof RegoErrors)) throw e;
    assert.ok(e.errors.length > 0);
    for (const err of e.errors) {
      assert.equal(err.code, 'rego_parse_error');
      assert.ok(!err.detail.includes('internal parser error'), err.detail);
      assert.ok(err.location && err.location.row >= 1 && err.location.col >= 1, `location of ${err.message}`);
    }
  }
}

function checkAll(text: string): void {
  checkOutcome(() => parseModule(text, 'fuzz.rego'));
  checkOutcome(() => parseModule(text, 'fuzz.rego', { regoVersion: 0 }));
  checkOutcome(() => parseQuery(text));
  checkOutcome(() => parseStatements(text));
}

type Mutation =
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'swap'; a: number; b: number; len: number }
  | { kind: 'dup'; at: number; len: number };

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 3 })) }),
  fc.record({ kind: fc.constant('swap' as const), a: fc.nat(), b: fc.nat(), len: fc.integer({ min: 1, max: 6 }) }),
  fc.record({ kind: fc.constant('dup' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20 }) }),
);

function mutate(src: string, muts: Mutation[]): string {
  let s = src;
  for (const m of muts) {
    const L = Math.max(s.length, 1);
    switch (m.kind) {
      case 'delete': {
        const at = m.at % L;
        s = s.slice(0, at) + s.slice(at + m.len);
        break;
      }
      case 'insert': {
        const at = m.at % (s.length + 1);
        s = s.slice(0, at) + m.text + s.slice(at);
        break;
      }
      case 'swap': {
        let a = m.a % L;
        let b = m.b % L;
        if (a > b) [a, b] = [b, a];
        if (a + m.len > b) break;
        s = s.slice(0, a) + s.slice(b, b + m.len) + s.slice(a + m.len, b) + s.slice(a, a + m.len) + s.slice(b + m.len);
        break;
      }
      case 'dup': {
        const at = m.at % L;
        s = s.slice(0, at) + s.slice(at, at + m.len) + s.slice(at);
        break;
      }
    }
  }
  return s;
}

test('the seed policies parse', () => {
  const m0 = parseModule(VALID[0], 'a.rego');
  assert.equal(m0.regoVersion, 1);
  assert.equal(m0.rules.length, 10);
  const m1 = parseModule(VALID[1], 'b.rego');
  assert.equal(m1.regoVersion, 0);
  assert.equal(m1.rules.length, 7);
  const m2 = parseModule(VALID[2], 'c.rego', { regoVersion: 0 });
  assert.equal(m2.rules.length, 3);
});

test('mutated policies: a module or parse errors with locations', () => {
  fc.assert(
    fc.property(fc.constantFrom(...VALID), fc.array(mutationArb, { minLength: 1, maxLength: 6 }), (src, muts) => {
      checkAll(mutate(src, muts));
    }),
    { numRuns: 1500, seed: 4242 },
  );
});

test('random token soup', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }), (toks) => {
      const text = toks.join(' ');
      checkAll(text);
      checkAll(toks.join(''));
      checkAll('package p\n' + text);
    }),
    { numRuns: 1000, seed: 7 },
  );
});

test('random bytes and unicode', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 120 }), (text) => {
      checkAll(text);
      checkAll('package p\np := ' + text);
    }),
    { numRuns: 700, seed: 99 },
  );
});

test('deeply nested random brackets', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('[', '{', '(', 'f(', '[x |', '{"a":', 'not ', '-'), { minLength: 500, maxLength: 3000 }), (parts) => {
      checkOutcome(() => parseQuery(parts.join('')));
    }),
    { numRuns: 30, seed: 3 },
  );
});

// ------------------------------------------------------------------ formatter round trips

/** AST without locations, module pointers and wildcard numbering. */
function shape(x: unknown): string {
  return JSON.stringify(x, (k, val) => {
    if (k === 'loc' || k === 'module') return undefined;
    if (val && typeof val === 'object' && (val as { wildcard?: boolean }).wildcard) return { type: 'var', name: '_' };
    return val;
  });
}

test('formatted seed policies re-parse to the same rules', () => {
  for (const src of VALID) {
    const m = parseModule(src, 'a.rego');
    const text = formatModule(m);
    const m2 = parseModule(text, 'b.rego', { regoVersion: 1 });
    assert.equal(shape(m2.rules), shape(m.rules), text);
    assert.equal(shape(m2.package), shape(m.package));
    assert.equal(shape(m2.imports), shape(m.imports));
  }
});

test('formatted mutated policies re-parse to the same rules', () => {
  let checked = 0;
  fc.assert(
    fc.property(fc.constantFrom(...VALID), fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (src, muts) => {
      let m;
      try {
        m = parseModule(mutate(src, muts), 'fuzz.rego', { regoVersion: 1 });
      } catch {
        return;
      }
      checked++;
      const text = formatModule(m);
      const m2 = parseModule(text, 'b.rego', { regoVersion: 1 });
      assert.equal(shape(m2.rules), shape(m.rules), text);
    }),
    { numRuns: 800, seed: 11 },
  );
  assert.ok(checked > 20, `only ${checked} mutated modules parsed`);
});

const leaf: fc.Arbitrary<Term> = fc.oneof(
  fc.constantFrom('a', 'b', 'xs').map((name): Term => ({ type: 'var', name })),
  fc.constantFrom('0', '1', '-2', '3.5', '1e3', '-0.5').map((raw): Term => ({ type: 'number', raw })),
  fc.constantFrom('', 'k', 'a-b', 'é"\\\n').map((value): Term => ({ type: 'string', value })),
  fc.constantFrom<Term>({ type: 'null' }, { type: 'boolean', value: true }, { type: 'boolean', value: false }),
);

const OPS = ['equal', 'neq', 'lt', 'lte', 'gt', 'gte', 'or', 'and', 'plus', 'minus', 'mul', 'div', 'rem', 'internal.member_2', 'count', 'strings.replace_n'];

function opCall(op: string, args: Term[]): Term {
  const [h, ...rest] = op.split('.');
  return {
    type: 'call',
    operator: { type: 'ref', terms: [{ type: 'var', name: h }, ...rest.map((value): Term => ({ type: 'string', value }))] },
    args,
  };
}

const termArb: fc.Arbitrary<Term> = fc.letrec<{ term: Term }>((tie) => ({
  term: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc.array(tie('term'), { maxLength: 3 }).map((items): Term => ({ type: 'array', items })),
    fc.array(tie('term'), { minLength: 1, maxLength: 3 }).map((items): Term => ({ type: 'set', items })),
    fc.array(fc.tuple(tie('term'), tie('term')), { maxLength: 2 }).map((items): Term => ({ type: 'object', items })),
    fc.tuple(fc.constantFrom(...OPS), tie('term'), tie('term')).map(([op, x, y]) => opCall(op, [x, y])),
    fc.tuple(tie('term'), tie('term'), tie('term')).map(([k, v, xs]) => opCall('internal.member_3', [k, v, xs])),
    fc
      .tuple(fc.constantFrom('a', 'xs'), fc.array(fc.oneof(leaf, tie('term')), { minLength: 1, maxLength: 3 }))
      .map(([h, parts]): Term => ({ type: 'ref', terms: [{ type: 'var', name: h }, ...parts] })),
    fc.tuple(tie('term'), tie('term')).map(([t, cond]): Term => ({ type: 'arraycompr', term: t, body: [{ terms: cond, negated: false, with: [] }] })),
    fc.tuple(tie('term'), tie('term')).map(([t, cond]): Term => ({ type: 'setcompr', term: t, body: [{ terms: cond, negated: true, with: [] }] })),
    fc
      .tuple(tie('term'), tie('term'), tie('term'))
      .map(([k, v, cond]): Term => ({ type: 'objectcompr', key: k, value: v, body: [{ terms: cond, negated: false, with: [] }] })),
  ),
})).term;

test('formatTerm output parses back to the same term (precedence and ambiguity)', () => {
  fc.assert(
    fc.property(termArb, (t) => {
      const text = formatTerm(t);
      let back: Term;
      try {
        back = parseTerm(text);
      } catch (e) {
        assert.fail(`${text}: ${(e as Error).message}`);
      }
      assert.equal(shape(back), shape(t), text);
    }),
    { numRuns: 1500, seed: 5 },
  );
});
