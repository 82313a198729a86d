// `image-enforcer test --watch` (as `opa test -w`): the tests run again after every change to
// the files given — a changed, broken, fixed, added or removed file — and the command ends with
// exit code 0 on SIGINT or SIGTERM. Runs the real command on real files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from './helpers/paths.js';
import { tempFiles } from './helpers/cli.js';

const BANNER = `${'*'.repeat(80)}\nWatching for changes ...\n`;

/** The watching command, its output so far, and a way to wait for a run's output. */
function watch(args: string[]) {
  const child = spawn(process.execPath, [join(projectRoot(), 'bin/image-enforcer.js'), 'test', '--watch', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiters: Array<() => void> = [];
  const onData = (d: Buffer): void => {
    out += d.toString();
    waiters.splice(0).forEach((w) => w());
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let seen = 0;
  return {
    child,
    exited,
    /**
     * The output of the first run after the last one returned whose output matches `pattern`
     * (one save can give two runs of the same files; those are skipped).
     */
    async next(pattern: RegExp): Promise<string> {
      const deadline = Date.now() + 20_000;
      for (;;) {
        const runs = out.split(BANNER).slice(0, -1);
        for (let i = seen; i < runs.length; i++) {
          if (pattern.test(runs[i])) {
            seen = i + 1;
            return runs[i];
          }
        }
        if (Date.now() > deadline) throw new Error(`no run matching ${pattern} within 20 s; output so far:\n${out}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
  };
}

test('test --watch runs the tests again after each change, keeps watching through errors, and exits 0 on a signal', async () => {
  const dir = tempFiles({ 'p.rego': 'package p\n\nx := 1\n', 'p_test.rego': 'package p_test\n\nimport data.p\n\ntest_x if p.x == 1\n' }, 'ie-watch-');
  const w = watch(['-v', dir]);
  try {
    await w.next(/data\.p_test\.test_x: PASS[\s\S]*PASS: 1\/1/);

    writeFileSync(join(dir, 'p.rego'), 'package p\n\nx := 2\n');
    await w.next(/data\.p_test\.test_x: FAIL[\s\S]*FAIL: 1\/1/);

    writeFileSync(join(dir, 'p.rego'), 'package p\n\nx :=\n');
    await w.next(/p\.rego:4:1: rego_parse_error: /);

    writeFileSync(join(dir, 'p.rego'), 'package p\n\nx := 1\n');
    await w.next(/PASS: 1\/1/);

    writeFileSync(join(dir, 'q_test.rego'), 'package q_test\n\ntest_y if true\n');
    await w.next(/data\.q_test\.test_y: PASS[\s\S]*PASS: 2\/2/);

    rmSync(join(dir, 'p_test.rego'));
    assert.doesNotMatch(await w.next(/PASS: 1\/1/), /test_x/);
  } finally {
    w.child.kill('SIGINT');
  }
  assert.equal(await w.exited, 0);
});

test('test --watch with --coverage prints a report per run; SIGTERM ends it with exit code 0', async () => {
  const dir = tempFiles({ 'p.rego': 'package p\n\nx := 1\n\ny := 2\n', 'p_test.rego': 'package p_test\n\nimport data.p\n\ntest_x if p.x == 1\n' }, 'ie-watch-');
  const w = watch(['--coverage', dir]);
  try {
    const report = (text: string) => JSON.parse(text) as { coverage: number };
    // x and the test are covered, y is not.
    assert.equal(report(await w.next(/"coverage"/)).coverage, 200 / 3);
    writeFileSync(join(dir, 'p_test.rego'), 'package p_test\n\nimport data.p\n\ntest_x if p.x == 1\n\ntest_y if p.y == 2\n');
    assert.equal(report(await w.next(/"coverage": 100\n/)).coverage, 100);
  } finally {
    w.child.kill('SIGTERM');
  }
  assert.equal(await w.exited, 0);
});
