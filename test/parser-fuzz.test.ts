// Fuzzing the parser: random text and mutations of valid policies must give a Module (or a
// query body) or RegoErrors with parse errors that carry a location — never another exception,
// a hang or a stack overflow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseModule, parseQuery, parseStatements } from '../src/rego/parser.js';
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
