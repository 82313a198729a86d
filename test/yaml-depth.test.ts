// The YAML depth guard: exact on the CST, and a one-pass scan that refuses plainly absurd nesting
// before the (slow on deep input) CST parser runs. The scan must never refuse a sane document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { MAX_YAML_DEPTH, farTooDeepAt, yamlNestedDeeperThan } from '../src/rego/yaml-depth.js';

function random(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
}

/** A random JSON-shaped value exactly `depth` collections deep, with awkward strings inside. */
function nested(next: () => number, depth: number): unknown {
  const strings = ['plain', 'a[b', 'x: [y', '{not: flow}', "it's", 'say "hi"', '# no comment', '- dash', '[[[[[[', ']]]', 'url: http://x/[a]', ''];
  const leaf = (): unknown => (next() < 0.5 ? strings[Math.floor(next() * strings.length)] : Math.floor(next() * 100));
  if (depth === 0) return leaf();
  const inner = nested(next, depth - 1);
  const siblings = Array.from({ length: Math.floor(next() * 3) }, leaf);
  if (next() < 0.5) return [...siblings, inner];
  return Object.fromEntries([...siblings.map((s, i) => [`k${i}`, s]), ['deep', inner]]);
}

test('the exact check agrees with the real depth, block and flow style, with brackets in strings', () => {
  const next = random(5);
  for (let round = 0; round < 120; round++) {
    const depth = 1 + Math.floor(next() * 260);
    const value = nested(next, depth);
    for (const flow of [false, true]) {
      const text = stringify(value, { collectionStyle: flow ? 'flow' : 'block', lineWidth: 0 });
      assert.equal(yamlNestedDeeperThan(text, MAX_YAML_DEPTH), depth > MAX_YAML_DEPTH, `depth ${depth}, ${flow ? 'flow' : 'block'}`);
      // Far below five times the limit: the one-pass scan never refuses these.
      assert.equal(farTooDeepAt(text, MAX_YAML_DEPTH), -1, `depth ${depth}, ${flow ? 'flow' : 'block'}`);
    }
  }
});

test('plainly absurd nesting is found in one pass, with its position', () => {
  const bound = 5 * MAX_YAML_DEPTH;
  assert.equal(farTooDeepAt('a: ' + '['.repeat(bound + 10), MAX_YAML_DEPTH), 3 + bound);
  assert.equal(farTooDeepAt('a:\n  b: ' + '{c: '.repeat(bound + 1) + '1', MAX_YAML_DEPTH), 8 + 4 * bound);
  assert.equal(farTooDeepAt('- '.repeat(bound + 1) + 'x', MAX_YAML_DEPTH), 2 * bound);
  assert.equal(yamlNestedDeeperThan('['.repeat(1_000_000) + ']'.repeat(1_000_000), MAX_YAML_DEPTH), true);
  // Brackets that open no node: inside plain and quoted scalars, and in comments.
  for (const text of [
    'url: http://x/' + '['.repeat(5000),
    'q: "' + '['.repeat(5000) + '"',
    "q: '" + "['".repeat(2500) + "'",
    '# ' + '['.repeat(5000) + '\nz: 1',
    'a: b' + '[{'.repeat(2500),
    '---\n' + 'x: -1\n'.repeat(2000),
  ]) {
    assert.equal(farTooDeepAt(text, MAX_YAML_DEPTH), -1, text.slice(0, 40));
  }
});
