// coalesce(): serialised runs with calls during a run sharing the next one (reloads, test -w).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coalesce } from '../src/runtime/coalesce.js';

test('coalesce: runs never overlap; calls during a run share one more run', async () => {
  let active = 0;
  let runs = 0;
  const releases: Array<() => void> = [];
  const job = coalesce(async () => {
    assert.equal(active++, 0, 'runs overlap');
    runs++;
    await new Promise<void>((r) => releases.push(r));
    active--;
    return runs;
  });
  const first = job();
  const second = job();
  const third = job();
  assert.equal(second, third, 'calls during a run share the next one');
  releases.shift()!();
  assert.equal(await first, 1);
  await new Promise((r) => setImmediate(r));
  releases.shift()!();
  assert.equal(await second, 2);
  assert.equal(runs, 2);
  // Idle again: a call starts a run at once.
  const fourth = job();
  releases.shift()!();
  assert.equal(await fourth, 3);
});

test('coalesce: a failed run does not stop the next', async () => {
  let n = 0;
  const job = coalesce(async () => {
    if (++n === 1) throw new Error('first fails');
    return n;
  });
  const first = job();
  const second = job();
  await assert.rejects(first, /first fails/);
  assert.equal(await second, 2);
});
