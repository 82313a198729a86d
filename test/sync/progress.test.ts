// The `sync --once` progress bar: drawn in place on a terminal, cleared before log lines, never
// wider than the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TtyProgress } from '../../src/sync/progress.js';

class FakeTerminal {
  written = '';
  constructor(readonly columns: number) {}
  write(s: string): boolean {
    this.written += s;
    return true;
  }
}

function screen(t: FakeTerminal): string {
  // What is left on the line after carriage returns and erase-line sequences.
  const afterLastReturn = t.written.split('\r').pop() ?? '';
  return afterLastReturn.replace(/\x1b\[K/g, '');
}

test('the bar shows done/total and the current repository, redrawn in place', () => {
  const t = new FakeTerminal(80);
  const p = new TtyProgress(t as unknown as NodeJS.WriteStream, 10);
  p.start(4);
  p.tick('library/wordpress:4-apache');
  assert.equal(screen(t), '[###-------] 1/4 library/wordpress:4-apache');
  p.addTotal(4);
  p.tick('library/nginx:1.25');
  assert.equal(screen(t), '[###-------] 2/8 library/nginx:1.25');
  assert.ok(!t.written.includes('\n'), 'never scrolls the terminal');
});

test('clear() erases the line before a log line; done() leaves nothing behind', () => {
  const t = new FakeTerminal(80);
  const p = new TtyProgress(t as unknown as NodeJS.WriteStream, 10);
  p.start(1);
  p.tick('a/b:1');
  p.clear();
  assert.equal(screen(t), '');
  p.done();
  assert.equal(screen(t), '');
});

test('long labels are cut to the terminal width', () => {
  const t = new FakeTerminal(40);
  const p = new TtyProgress(t as unknown as NodeJS.WriteStream, 10);
  p.start(2);
  p.tick('registry.example.com/a/very/long/repository/name:with-a-long-tag');
  assert.equal(screen(t).length, 39);
});
