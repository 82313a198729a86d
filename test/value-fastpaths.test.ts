// The value layer's shortcuts give exactly what the plain versions give: string quoting in JSON
// output, string sorting, and the evaluator's split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { RSet, compareStrings, stringifyJSON, toJSON } from '../src/rego/value.js';

/** What Go's encoder writes for a string: JSON.stringify, plus the HTML-safe escapes. */
function goQuote(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

test('strings are quoted as Go does for every UTF-16 code unit', () => {
  for (let c = 0; c < 0x10000; c++) {
    const s = 'a' + String.fromCharCode(c) + 'b';
    if (stringifyJSON(s) !== goQuote(s)) assert.fail(`U+${c.toString(16)}: ${stringifyJSON(s)} != ${goQuote(s)}`);
  }
  for (const s of ['', 'plain', 'x"y', 'back\\slash', '\ud83d\ude00', '<a href="x">&</a>']) assert.equal(stringifyJSON(s), goQuote(s));
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
