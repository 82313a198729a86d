// Reloads of the files a Runtime was started on: `-w` (watching) and Runtime.reload(). A reload
// that fails keeps the last good state; reloads never overlap, so files read earlier are never
// applied after files read later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load, type LoadResult } from '../src/loader/index.js';
import { toJSON } from '../src/rego/value.js';
import { Runtime, type ReloadEvent } from '../src/runtime/runtime.js';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ie-reload-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function dataV(rt: Runtime): unknown {
  return (toJSON(rt.store.snapshot()) as { v?: unknown }).v;
}

/** Waits until `ok` holds (a generous limit for the file watcher, not a timing assertion). */
async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((res) => setTimeout(res, 25));
  assert.ok(ok(), `no ${what} within 10 s`);
}

/** A stand-in for the loader whose reads each wait for one release() by the test. */
function heldLoader(): { loadFiles: typeof load; started: number; read: number; release(): void } {
  let permits = 0;
  let waiting: (() => void) | undefined;
  const h = {
    started: 0,
    /** Reads done (each then waits for its release). */
    read: 0,
    loadFiles: async (...args: Parameters<typeof load>): Promise<LoadResult> => {
      h.started++;
      // What the files hold when the read starts is what this reload applies.
      const result = await load(...args);
      h.read++;
      if (permits === 0) await new Promise<void>((resolve) => (waiting = resolve));
      permits--;
      return result;
    },
    release: () => {
      permits++;
      waiting?.();
      waiting = undefined;
    },
  };
  return h;
}

const tick = (): Promise<void> => new Promise((res) => setTimeout(res, 20));

test('-w: changes are reloaded, a broken file keeps the last good state, and a fixed one is taken again', async () => {
  const dir = dirWith({ 'a.json': '{"v": 1}' });
  const rt = await Runtime.start({ paths: [dir], watch: true });
  const events: ReloadEvent[] = [];
  rt.on('reload', (e: ReloadEvent) => events.push(e));
  try {
    writeFileSync(join(dir, 'a.json'), '{"v": 2}');
    await until('reload', () => dataV(rt) === 2);

    writeFileSync(join(dir, 'a.json'), '{"v": ');
    await until('reload error', () => events.some((e) => !e.ok));
    assert.match(events.find((e) => !e.ok)?.error?.message ?? '', /a\.json:1:7: invalid JSON/);
    assert.equal(dataV(rt), 2, 'the last good data stays');

    writeFileSync(join(dir, 'a.json'), '{"v": 3}');
    await until('reload', () => dataV(rt) === 3);
  } finally {
    rt.close();
  }
});

test('-w: a YAML file edited to nest too deeply is a reload error (each time), and the last good data stays', async () => {
  const dir = dirWith({ 'a.yaml': 'v: 1\n' });
  const rt = await Runtime.start({ paths: [dir], watch: true });
  const errors: string[] = [];
  rt.on('reload', (e: ReloadEvent) => e.error && errors.push(e.error.message));
  try {
    writeFileSync(join(dir, 'a.yaml'), 'v: 2\n');
    await until('reload', () => dataV(rt) === 2);
    // The second stack overflow in the YAML library used to abort the process.
    const flow = `v: ${'['.repeat(1000)}${']'.repeat(1000)}\n`;
    const block = `v:\n${Array.from({ length: 400 }, (_, i) => ' '.repeat(i + 1) + 'x:').join('\n')} 1\n`;
    for (const text of [flow, block, flow]) {
      const before = errors.length;
      writeFileSync(join(dir, 'a.yaml'), text);
      await until('reload error', () => errors.length > before);
      assert.match(errors.at(-1) ?? '', /a\.yaml:\d+:\d+: invalid YAML: document is nested too deeply: YAML data may nest at most 200 levels/);
      assert.equal(dataV(rt), 2, 'the last good data stays');
    }
    writeFileSync(join(dir, 'a.yaml'), 'v: 3\n');
    await until('reload', () => dataV(rt) === 3);
  } finally {
    rt.close();
  }
});

test('a reload asked for while another runs starts after it, so the newer files win', async () => {
  const dir = dirWith({ 'a.json': '{"v": 1}' });
  const held = heldLoader();
  const rt = await Runtime.start({ paths: [dir], loadFiles: held.loadFiles });
  const first = rt.reload(); // reads v = 1 again, then waits
  await until('first read', () => held.read === 1);
  writeFileSync(join(dir, 'a.json'), '{"v": 2}');
  const second = rt.reload();
  await tick();
  assert.equal(held.started, 1, 'the second read waits for the first reload to end');
  held.release();
  assert.equal((await first).ok, true);
  assert.equal(dataV(rt), 1);
  await until('second read', () => held.started === 2);
  held.release();
  assert.equal((await second).ok, true);
  assert.equal(dataV(rt), 2, 'the files read last are the ones applied last');
});

test('reloads asked for while one runs share one more reload', async () => {
  const dir = dirWith({ 'a.json': '{"v": 1}' });
  const held = heldLoader();
  const rt = await Runtime.start({ paths: [dir], loadFiles: held.loadFiles });
  const running = rt.reload();
  await until('first read', () => held.read === 1);
  writeFileSync(join(dir, 'a.json'), '{"v": 5}');
  const queued = [rt.reload(), rt.reload(), rt.reload()];
  assert.ok(queued.every((p) => p === queued[0]), 'one promise for the requests in between');
  held.release();
  await running;
  await until('second read', () => held.started === 2);
  held.release();
  await queued[0];
  await tick();
  assert.equal(held.started, 2, 'two reads for four requests');
  assert.equal(dataV(rt), 5);
});

test('a reload still running when the runtime closes changes nothing', async () => {
  const dir = dirWith({ 'a.json': '{"v": 1}' });
  const held = heldLoader();
  const rt = await Runtime.start({ paths: [dir], watch: true, loadFiles: held.loadFiles });
  writeFileSync(join(dir, 'a.json'), '{"v": 2}');
  const pending = rt.reload();
  await until('read', () => held.read === 1);
  rt.close();
  held.release();
  const event = await pending;
  assert.equal(event.ok, false);
  assert.match(event.error?.message ?? '', /closed/);
  assert.equal(dataV(rt), 1, 'nothing read after close is applied');
  // Had the reload gone on, it would have started a new watcher and kept this process alive.
});
