// The real command line (bin/image-enforcer.js) as a child process, and scratch directories of
// policy files for it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from './paths.js';

export interface CliRun {
  /** The exit code; -1 when the process was killed. */
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `image-enforcer ARGS...` in the project root and waits for it. */
export function cli(...args: string[]): CliRun {
  const root = projectRoot();
  const r = spawnSync(process.execPath, [join(root, 'bin/image-enforcer.js'), ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A new temporary directory holding these files (name -> text). */
export function tempFiles(files: Record<string, string>, prefix = 'ie-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
