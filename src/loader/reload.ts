// `-w`: watch the loaded paths and load them again after changes.
//
// Loads never overlap: changes that arrive while a load runs cause exactly one more load
// afterwards, so the last state on disk is always the last one reported. A failed load is
// reported through onError and the caller keeps its last good result (OPA prints the error and
// keeps serving the previous policies).
import { load, type LoadOptions, type LoadResult } from './loader.js';
import { watchPaths, type Watcher } from './watch.js';

export interface ReloadHandlers {
  /** A successful load after `changed` paths changed. */
  onLoad(result: LoadResult, changed: string[]): void;
  /** A failed load (usually LoadErrors); the previous result stays in force. */
  onError(err: unknown, changed: string[]): void;
}

export interface Reloader extends Watcher {
  /** Resolves when no load is running or pending (for tests and shutdown). */
  idle(): Promise<void>;
}

export function watchAndReload(
  paths: readonly string[],
  opts: LoadOptions & { debounceMs?: number },
  handlers: ReloadHandlers,
): Reloader {
  let running: Promise<void> | undefined;
  let queued: string[] | undefined;
  let closed = false;

  const run = (changed: string[]): Promise<void> => {
    running = (async () => {
      let batch: string[] | undefined = changed;
      while (batch && !closed) {
        queued = undefined;
        try {
          const result = await load(paths, opts);
          if (!closed) handlers.onLoad(result, batch);
        } catch (e) {
          if (!closed) handlers.onError(e, batch);
        }
        batch = queued;
      }
      running = undefined;
    })();
    return running;
  };

  const watcher = watchPaths(
    paths,
    (changed) => {
      if (running) queued = [...new Set([...(queued ?? []), ...changed])].sort();
      else void run(changed);
    },
    { debounceMs: opts.debounceMs, ignore: opts.ignore },
  );

  return {
    close() {
      closed = true;
      watcher.close();
    },
    async idle() {
      while (running) await running;
    },
  };
}
