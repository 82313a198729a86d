// Tiering (src/rego/tiers.ts): the engine starts on closures and switches bodies, rule values,
// collections and rule nodes to generated JavaScript once they have run TIER_UP times. The
// switch happens in the middle of a server's life, between (and within) decisions: answers
// before, during and after it must be the same, and the same as on closures alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { generateRules } from '../src/rego/codegen.js';
import { closureTier } from '../src/rego/steps.js';
import { fromJSON, stringifyJSON, toJSON, type Value } from '../src/rego/value.js';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { TIER_UP, Tier, setCompilation, setGenerationBudget, type Compilation } from '../src/rego/tiers.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();

/** The bundled policies' answers to each mock review, `rounds` times over, in one compilation mode. */
async function answers(mode: Compilation, rounds: number): Promise<string[]> {
  setCompilation(mode);
  try {
    // Loaded per mode: tiers belong to the compiled policy.
    const set = await loadPolicySet([join(root, 'policies'), join(root, 'data')]);
    const mocks = ['allowed', 'denied'].map((m) => prepareQuery(set.policy, `data.mock.${m}`).evalValue({ data: set.data }) as Value);
    const verify = prepareQuery(set.policy, 'data.io.k8s.image_policy.verify');
    const out: string[] = [];
    for (let i = 0; i < rounds; i++) {
      for (const input of mocks) out.push(stringifyJSON(toJSON(verify.evalValue({ input, data: set.data })!)));
    }
    return out;
  } finally {
    setCompilation('tiered');
  }
}

test('tiers: decisions stay the same across the switch to generated code', async () => {
  const rounds = 3 * TIER_UP;
  const tiered = await answers('tiered', rounds);
  const closures = await answers('closures', rounds);
  const generated = await answers('generated', 1);
  assert.deepEqual(tiered, closures);
  for (let i = 0; i < tiered.length; i++) assert.equal(tiered[i], generated[i % 2], `decision ${i}`);
  assert.match(generated[0], /"allowed":true/);
  assert.match(generated[1], /"allowed":false/);
});

test('tiers: a tier runs its closure form TIER_UP - 1 times, then its generated form', () => {
  setGenerationBudget(1e9, 1e9);
  let generated = 0;
  const t = new Tier('closure', () => (generated++, 'generated'));
  const seen: string[] = [];
  for (let i = 0; i < TIER_UP + 3; i++) seen.push(t.current());
  assert.deepEqual(seen, [...Array(TIER_UP - 1).fill('closure'), ...Array(4).fill('generated')]);
  assert.equal(generated, 1, 'generated once');
  const never = new Tier('closure');
  for (let i = 0; i < 2 * TIER_UP; i++) assert.equal(never.current(), 'closure');
});

test('tiers: rule nodes too large to compile quickly stay on the evaluator', () => {
  const node = (rules: number) => {
    const text = `package r\nimport rego.v1\ndefault allow := false\n${Array.from({ length: rules }, (_, i) => `allow if startswith(input.x, "a${i}")`).join('\n')}\n`;
    return compilePolicies([{ file: 'r.rego', text }]).root.children.get('r')!.children.get('allow')!;
  };
  assert.equal(typeof generateRules(node(10), closureTier), 'function');
  assert.equal(generateRules(node(3000), closureTier), null);
  // Either way, the answers are the evaluator's.
  const text = `package r\nimport rego.v1\ndefault allow := false\n${Array.from({ length: 3000 }, (_, i) => `allow if startswith(input.x, "a${i}")`).join('\n')}\n`;
  const q = prepareQuery(compilePolicies([{ file: 'r.rego', text }]), 'data.r.allow');
  setCompilation('generated');
  try {
    assert.equal(q.evalValue({ input: fromJSON({ x: 'a2999-' }) }), true);
    assert.equal(q.evalValue({ input: fromJSON({ x: 'b' }) }), false);
  } finally {
    setCompilation('tiered');
  }
});

test('tiers: past the generation budget, tiers keep their closures and switch on a later run', () => {
  // A budget of 1 ms in a window that never ends: the first generation uses it up.
  setGenerationBudget(1, 1e9);
  const burn = (ms: number): void => {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      // busy: a generation that takes this long
    }
  };
  const first = new Tier('closure', () => (burn(2), 'generated'));
  const second = new Tier('closure', () => 'generated');
  for (let i = 0; i < TIER_UP - 1; i++) {
    first.current();
    second.current();
  }
  assert.equal(first.current(), 'generated');
  // The budget is spent: the second keeps running its closure form, run after run.
  for (let i = 0; i < 5; i++) assert.equal(second.current(), 'closure');
  // A new window: it switches on its next run.
  setGenerationBudget(1, 1e9);
  assert.equal(second.current(), 'generated');
  setGenerationBudget(10, 100);
});
