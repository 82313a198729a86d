// Differential test of the two tiers (src/rego/tiers.ts): randomly built policies — loops over
// arrays, objects and sets, comprehensions, functions with patterns and else chains, negation,
// every, with, partial sets and objects — must give the same document (or the same error) on
// the closures alone and on generated code from the first run. Seeded: a failure replays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { RegoError, RegoErrors } from '../src/rego/errors.js';
import { setCompilation, type Compilation } from '../src/rego/tiers.js';
import { fromJSON, stringifyJSON, toJSON } from '../src/rego/value.js';

function random(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
}

const DATA = {
  xs: [1, 2, 3, 'a', 'b', null, [1, 2], { k: 1 }],
  o: { a: 1, b: [1, 'x'], c: { d: 2 }, e: 'a' },
  pairs: [[1, 'one'], [2, 'two'], [1, 'uno'], [3]],
  deep: { a: { b: { c: [1, 2, 3] } } },
};
const INPUT = { x: 2, name: 'a', list: [3, 'b', 1] };

/** One random policy: a package of rules built from small pieces. */
function policy(next: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)];
  const domain = () => pick(['data.xs', 'data.o', 'input.list', '{1, 2, "a"}', '[1, 2, 3]', 'data.pairs', 'data.deep.a.b.c', 'data.nothing', 'input.x', 'numbers.range(1, 4)']);
  let n = 0; // fresh names for the variables a condition declares
  const negatable = (v: string) => pick([`${v} == 3`, `is_string(${v})`, `${v} in {1, "a"}`, `h(${v})`, `${v} == input.x`, `g(${v}) == "big"`]);
  const cond = (v: string) => {
    const i = n++;
    return pick([
      `${v} != 2`,
      `not ${negatable(v)}`,
      `is_number(${v})`,
      `is_string(${v})`,
      `${v} in {1, "a", "x"}`,
      `[a${i}, b${i}] := [${v}, ${v}]`,
      `every y${i} in [1, 2] { y${i} != ${v} }`,
      `some z${i} in [${v}]`,
      `c${i} := count([w${i} | some w${i} in data.xs; w${i} == ${v}])`,
      `g(${v}) == "small"`,
      `t${i} := type_name(${v})`,
      `data.o[_] == ${v}`,
    ]);
  };
  const body = (v: string, d: string) => {
    const parts = [`some ${v} in ${d}`];
    for (let i = Math.floor(next() * 3); i > 0; i--) parts.push(cond(v));
    return parts.join('\n  ');
  };
  const rules = [
    `p contains x if {\n  ${body('x', domain())}\n}`,
    `q := [x | ${body('x', domain()).replace(/\n  /g, '; ')}]`,
    `r[k] := v if {\n  some k, v in ${pick(['data.o', '["p", "q"]', '{"s"}'])}\n  ${cond('v')}\n}`,
    `s := count({x | ${body('x', domain()).replace(/\n  /g, '; ')}})`,
    `u := max([x | ${body('x', domain()).replace(/\n  /g, '; ')}; is_number(x)])`,
    `w := v if v := data.t.q with input.x as ${pick(['1', '"a"', '[1]'])}`,
    `pat contains b if {\n  some pair in data.pairs\n  [${pick(['1', 'a'])}, b] = pair\n}`,
    `e := x if {\n  some x in ${domain()}\n  not ${negatable('x')}\n  x == input.x\n} else := "none"`,
  ];
  const chosen = rules.filter(() => next() < 0.6);
  return [
    'package t',
    'import rego.v1',
    'g(x) := "small" if { is_number(x); x < 2 } else := "big" if is_number(x)',
    'g([x, _]) := "pair" if x != 0',
    'h(x) if x == "b"',
    ...chosen,
  ].join('\n');
}

function evaluate(text: string, mode: Compilation): string {
  setCompilation(mode);
  try {
    const q = prepareQuery(compilePolicies([{ file: 't.rego', text }]), 'data.t');
    const v = q.evalValue({ input: fromJSON(INPUT), data: fromJSON(DATA) });
    return v === undefined ? 'undefined' : stringifyJSON(toJSON(v));
  } catch (e) {
    if (e instanceof RegoErrors) return `error ${e.errors[0].code}`;
    if (e instanceof RegoError) return `error ${e.code}`;
    throw e;
  } finally {
    setCompilation('tiered');
  }
}

test('tiers: random policies give the same documents on closures and on generated code', () => {
  const next = random(20261127);
  let evaluated = 0;
  for (let i = 0; i < 400; i++) {
    const text = policy(next);
    const closures = evaluate(text, 'closures');
    const generated = evaluate(text, 'generated');
    assert.equal(generated, closures, `policy ${i}:\n${text}`);
    if (!closures.startsWith('error')) evaluated++;
  }
  // Most policies must compile and evaluate, or the comparison says little.
  assert.ok(evaluated > 300, `only ${evaluated} of 400 random policies evaluated`);
});
