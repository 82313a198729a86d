// Polls a few small files (certificates, keys, token lists) and calls back when their content
// changes. Polling the content, not watching inodes, copes with every way files get replaced:
// in-place writes, rename over (editors, cert-manager), and Kubernetes' symlink swaps for
// mounted Secrets.
import { readFile } from 'node:fs/promises';

export interface FilePoller {
  stop(): void;
  /** Checks now (tests and signals); resolves after any callback has run. */
  check(): Promise<void>;
}

export function pollFiles(
  files: string[],
  intervalMs: number,
  onChange: (contents: Buffer[]) => void | Promise<void>,
  onError: (err: Error) => void,
  initial?: Buffer[],
): FilePoller {
  let last = initial?.map((b) => b.toString('base64')).join('\u0000');
  let running: Promise<void> | undefined;
  let lastError = '';
  const check = (): Promise<void> => {
    running ??= (async () => {
      try {
        const contents = await Promise.all(files.map((f) => readFile(f)));
        lastError = '';
        const key = contents.map((b) => b.toString('base64')).join('\u0000');
        if (key !== last) {
          last = key;
          await onChange(contents);
        }
      } catch (e) {
        // A file that is missing for a moment (being replaced) is reported once, then retried.
        const msg = (e as Error).message;
        if (msg !== lastError) onError(e as Error);
        lastError = msg;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), check };
}
