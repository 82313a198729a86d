// The value layer's shortcuts give exactly what the plain versions give: string quoting in JSON
// output, string sorting, the evaluator's split, the canonical keys of composite values and compact JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { RObject, RSet, compareStrings, equal, formatJSON, formatNumber, stringifyJSON, toJSON, type Value } from '../src/rego/value.js';

/** What Go's encoder writes for a string: JSON.stringify, plus the HTML-safe escapes. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

test('strings are quoted as Go does for every UTF-16 code unit', () => {
  for (let c = 0; c < 0x10000; c++) {
    const s = 'a' + String.fromCharCode(c) + 'b';
    if (stringifyJSON(s) !== goQuote(s)) assert.fail(`U+${c.toString(16)}: ${stringifyJSON(s)} != ${goQuote(s)}`);
    // Without the HTML escapes (decision log lines): exactly JSON.stringify.
    if (stringifyJSON(s, 0, false) !== JSON.stringify(s)) assert.fail(`U+${c.toString(16)} unescaped: ${stringifyJSON(s, 0, false)} != ${JSON.stringify(s)}`);
  }
  for (const s of ['', 'plain', 'x"y', 'back\\slash', '\ud83d\ude00', '<a href="x">&</a>']) {
    assert.equal(stringifyJSON(s), goQuote(s));
    assert.equal(stringifyJSON(s, 0, false), JSON.stringify(s));
  }
});

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
}

test('sets of strings sort in code point order, with and without surrogate pairs', () => {
  const next = random(7);
  const alphabet = ['a', 'b', 'Z', '-', '0', '\u00e9', '\uffff', '\ue000', '\ud83d\ude00', '\ud800\udc00'];
  for (let round = 0; round < 300; round++) {
    const strings = Array.from({ length: 1 + Math.floor(next() * 20) }, () =>
      Array.from({ length: Math.floor(next() * 5) }, () => alphabet[Math.floor(next() * alphabet.length)]).join(''),
    );
    const want = [...new Set(strings)].sort(compareStrings);
    assert.deepEqual(RSet.from(strings).values(), want);
  }
});

test('split gives the parts strings.Split gives', () => {
  const policy = compilePolicies([]);
  const next = random(11);
  for (let round = 0; round < 300; round++) {
    const s = Array.from({ length: Math.floor(next() * 12) }, () => 'ab/:'[Math.floor(next() * 4)]).join('');
    const sep = ['/', ':', '//', 'ab', 'x'][Math.floor(next() * 5)];
    const got = toJSON(prepareQuery(policy, `split(${JSON.stringify(s)}, ${JSON.stringify(sep)})`).evalValue({})!);
    assert.deepEqual(got, s.split(sep), `split(${JSON.stringify(s)}, ${JSON.stringify(sep)})`);
  }
});

test('composite set members and object keys are told apart by their canonical keys', () => {
  // Strings that look like pieces of the encoding (separators, length prefixes, other types).
  const pieces = ['', ',', ':', 'x', 'y', 'x,sy', 'abcdefgh', ',s8abcdefgh', 's1:x', 'x,s1:y', '1', '11:x', ']', '[', '}', '>', 'd1', 'n', '1', '"x"', 'a\u0000b', '\ud83d\ude00'];
  const members: Value[] = [];
  for (const a of pieces) {
    members.push([a], [a, 'b'], [[a]], RObject.from([[a, 'b']]), RSet.from([a]));
    for (const b of pieces) members.push([a, b], RObject.from([[a, b]]), RObject.from([[[a], b]]));
  }
  members.push([1], ['1'], [null], ['n'], [true], ['t'], [[]], [''], RObject.from([]), RSet.from([]), [1.5], ['d1.5']);
  const distinct: Value[] = [];
  for (const m of members) if (!distinct.some((d) => equal(d, m))) distinct.push(m);
  const set = RSet.from(members);
  assert.equal(set.size, distinct.length);
  for (const m of distinct) assert.ok(set.has(m));
  const keys = RObject.from(distinct.map((m, i) => [m, i] as [Value, Value]));
  assert.equal(keys.size, distinct.length);
  distinct.forEach((m, i) => assert.equal(keys.get(m), i));
});

test('compact JSON output is the general formatter without indent', () => {
  const next = random(11);
  const strings = ['', 'a', 'b', 'x"y', '<&>', '\u2028', 'é', '\ud83d\ude00', 'back\\slash', 'tab\t'];
  const scalar = (): Value => {
    const r = next();
    if (r < 0.1) return null;
    if (r < 0.2) return r < 0.15;
    if (r < 0.4) return Math.floor(next() * 2000) - 1000 + (next() < 0.3 ? 0.5 : 0);
    if (r < 0.45) return 2n ** 70n;
    return strings[Math.floor(next() * strings.length)];
  };
  const value = (depth: number): Value => {
    const r = next();
    if (depth > 3 || r < 0.4) return scalar();
    const n = Math.floor(next() * 4);
    const items = Array.from({ length: n }, () => value(depth + 1));
    if (r < 0.6) return items;
    if (r < 0.7) return RSet.from(items);
    // Keys: mostly strings; sometimes numbers or composites, which the output turns into JSON text.
    return RObject.from(items.map((v) => [next() < 0.8 ? scalarString(next) : value(depth + 1), v] as [Value, Value]));
  };
  const scalarString = (rnd: () => number): string => strings[Math.floor(rnd() * strings.length)] + String(Math.floor(rnd() * 3));
  for (let i = 0; i < 3000; i++) {
    const v = value(0);
    assert.equal(stringifyJSON(v), formatJSON(v, 0, true));
    assert.equal(stringifyJSON(v, 0, false), formatJSON(v, 0, false));
  }
  // Plain objects (API envelopes): field order kept, undefined fields left out.
  const envelope = { result: RObject.from([['b', 1], ['a', [true, null]]]), skipped: undefined, metrics: { timer_ns: 5 } };
  assert.equal(stringifyJSON(envelope), formatJSON(envelope, 0, true));
  assert.equal(stringifyJSON(envelope), '{"result":{"a":[true,null],"b":1},"metrics":{"timer_ns":5}}');
});

test('numbers print as before the safe-integer shortcut: integral doubles in full, others shortest', () => {
  const cases: Array<[number | bigint, string]> = [
    [0, '0'],
    [-0, '0'],
    [42, '42'],
    [-7, '-7'],
    [Number.MAX_SAFE_INTEGER, '9007199254740991'],
    [-Number.MAX_SAFE_INTEGER, '-9007199254740991'],
    [2 ** 53, '9007199254740992'],
    [1e20, '100000000000000000000'],
    [123456789012345678901, '123456789012345683968'],
    [1e21, '1e+21'],
    [1.5, '1.5'],
    [1e-7, '1e-7'],
    [2n ** 70n, '1180591620717411303424'],
  ];
  for (const [n, text] of cases) assert.equal(formatNumber(n), text, String(n));
});
