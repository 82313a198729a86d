// Watching loaded paths for `run -w`.
//
// We watch every directory ourselves (one non-recursive fs.watch each) instead of relying on
// `recursive: true`, whose Linux support in Node 20 is young: after each burst of events the
// directory set is re-scanned, so new subdirectories are watched and removed ones dropped.
// A file argument is watched through its parent directory, which also catches editors that
// save by writing a temp file and renaming it over the original. Events are debounced so one
// save (often several events) gives one callback.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compileGlob } from './glob.js';
import { cleanPath, DATA_EXTENSIONS, REGO_EXTENSION, splitPrefix } from './loader.js';

export interface WatchOptions {
  /** Quiet time after the last event before onChange fires (default 100 ms). */
  debounceMs?: number;
  /** The same ignore patterns as load(); matching names never trigger a reload. */
  ignore?: string[];
  /** Called when a watcher fails (e.g. too many watches); watching continues where possible. */
  onError?: (err: Error) => void;
}

export interface Watcher {
  close(): void;
}

const RELEVANT = new Set<string>([REGO_EXTENSION, ...DATA_EXTENSIONS]);

interface Watched {
  watcher: fs.FSWatcher;
  /** undefined: every entry matters; otherwise only these names (file arguments). */
  names?: Set<string>;
}

/**
 * Watches the paths given to load() (prefix and file:// forms accepted). `onChange` receives the
 * paths that changed (added, modified or removed), after a quiet period.
 */
export function watchPaths(
  paths: readonly string[],
  onChange: (changed: string[]) => void,
  opts: WatchOptions = {},
): Watcher {
  const debounce = opts.debounceMs ?? 100;
  const ignore = (opts.ignore ?? []).map(compileGlob);
  const roots: string[] = [];
  for (const arg of paths) {
    try {
      roots.push(path.resolve(cleanPath(splitPrefix(arg).path)));
    } catch {
      /* an unusable argument was already reported by load() */
    }
  }
  const explicitFiles = new Set<string>();
  const watched = new Map<string, Watched>();
  const treeDirs = new Set<string>();
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const isIgnored = (name: string) => ignore.some((re) => re.test(name));

  /** The directories to watch now, each with its name filter. */
  const desired = (): Map<string, Set<string> | undefined> => {
    const want = new Map<string, Set<string> | undefined>();
    treeDirs.clear();
    explicitFiles.clear();
    const addFilter = (dir: string, name: string) => {
      if (want.has(dir) && want.get(dir) === undefined) return;
      const s = want.get(dir) ?? new Set<string>();
      s.add(name);
      want.set(dir, s);
    };
    const walk = (dir: string, seen: Set<string>) => {
      let real: string;
      try {
        real = fs.realpathSync(dir);
      } catch {
        return;
      }
      if (seen.has(real)) return;
      want.set(dir, undefined);
      treeDirs.add(dir);
      let entries: string[];
      try {
        entries = fs.readdirSync(dir);
      } catch {
        return;
      }
      const next = new Set(seen).add(real);
      for (const name of entries) {
        if (isIgnored(name)) continue;
        const full = path.join(dir, name);
        try {
          if (fs.statSync(full).isDirectory()) walk(full, next);
        } catch {
          /* vanished or dangling */
        }
      }
    };
    for (const root of roots) {
      let st: fs.Stats | undefined;
      try {
        st = fs.statSync(root);
      } catch {
        st = undefined;
      }
      if (st?.isDirectory()) {
        walk(root, new Set());
        // Also watch the parent for this name, so a root directory that is deleted and
        // re-created (e.g. by a deploy tool) is noticed and watched again.
        addFilter(path.dirname(root), path.basename(root));
      } else {
        // A file, or a path that does not exist yet: watch its directory for that name.
        explicitFiles.add(root);
        addFilter(path.dirname(root), path.basename(root));
      }
    }
    return want;
  };

  const relevant = (dir: string, name: string | null): boolean => {
    if (name === null) return true;
    const full = path.join(dir, name);
    if (explicitFiles.has(full) || roots.includes(full)) return true;
    if (isIgnored(name)) return false;
    if (name.endsWith('.tar.gz') || RELEVANT.has(path.extname(name))) return true;
    if (treeDirs.has(full)) return true; // a watched directory was removed or renamed
    try {
      return fs.statSync(full).isDirectory(); // a new directory may hold data
    } catch {
      return false;
    }
  };

  const fire = () => {
    timer = undefined;
    if (closed) return;
    reconcile();
    const changed = [...pending].sort();
    pending.clear();
    if (changed.length) onChange(changed);
  };

  const onEvent = (dir: string, name: string | null) => {
    if (closed) return;
    const w = watched.get(dir);
    if (w?.names && name !== null && !w.names.has(name)) return;
    if (!relevant(dir, name)) return;
    pending.add(name === null ? dir : path.join(dir, name));
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounce);
  };

  const reconcile = () => {
    const want = desired();
    for (const [dir, w] of watched) {
      if (!want.has(dir)) {
        w.watcher.close();
        watched.delete(dir);
      }
    }
    for (const [dir, names] of want) {
      const have = watched.get(dir);
      if (have) {
        have.names = names;
        continue;
      }
      try {
        const watcher = fs.watch(dir, { persistent: true }, (_type, filename) => onEvent(dir, filename === null ? null : String(filename)));
        watcher.on('error', (err) => {
          // The directory went away (or the watch limit was hit): drop it; the next event
          // elsewhere re-scans. Report, never crash.
          watcher.close();
          if (watched.get(dir)?.watcher === watcher) watched.delete(dir);
          opts.onError?.(err);
        });
        watched.set(dir, { watcher, names });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') opts.onError?.(err as Error);
      }
    }
  };

  reconcile();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watched.values()) w.watcher.close();
      watched.clear();
    },
  };
}
