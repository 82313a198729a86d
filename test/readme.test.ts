// The README's promises, checked: `npm start`'s command serves the bundled policies and data,
// the curl example answers exactly what the README shows, and the eval example works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const readme = readFileSync(join(root, 'README.md'), 'utf8');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      const r = await fetch(url + '/health');
      if (r.ok) return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > until) throw new Error('server did not become healthy');
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('npm start serves the bundled policies; the README curl example answers as shown', async () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const start = pkg.scripts.start;
  assert.match(start, /^node bin\/image-enforcer\.js run --server --addr 127\.0\.0\.1:8181 policies data$/);
  const port = await freePort();
  const args = start.replace('127.0.0.1:8181', `127.0.0.1:${port}`).split(' ').slice(1);
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitForHealth(url, 20_000);
    const shown = /```json\n(\{"apiVersion".*\})\n```/.exec(readme);
    assert.ok(shown, 'README shows the denied answer');
    for (const [file, allowed] of [
      ['imagereview-denied.json', false],
      ['imagereview-allowed.json', true],
    ] as const) {
      const body = readFileSync(join(root, 'docs/examples', file));
      const r = await fetch(url + '/v0/data/io/k8s/image_policy/verify', { method: 'POST', body });
      assert.equal(r.status, 200);
      const text = await r.text();
      const review = JSON.parse(text) as { status: { allowed: boolean } };
      assert.equal(review.status.allowed, allowed);
      if (!allowed) assert.equal(text, shown[1]);
    }
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  assert.doesNotMatch(stderr, /Error|error:/);
});

test('the README eval example answers false for the denied mock input', () => {
  assert.ok(readme.includes("'data.io.k8s.image_policy.verify.status.allowed with input as data.mock.denied'"));
  const out = execFileSync(
    process.execPath,
    ['bin/image-enforcer.js', 'eval', '-d', 'policies', '-d', 'data', '--format', 'pretty', 'data.io.k8s.image_policy.verify.status.allowed with input as data.mock.denied'],
    { cwd: root, encoding: 'utf8' },
  );
  assert.equal(out.trim(), 'false');
});
