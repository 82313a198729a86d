// The in-memory store of base documents (`data`).
//
// The store holds one immutable root. Every successful write (or patch, all-or-nothing)
// builds a new root by copying only the nodes on the changed paths (see ops.ts) and swaps it in.
// An evaluation takes snapshot() once and keeps a consistent view however many writes happen
// meanwhile; nothing is ever locked.
//
// Ownership: values passed in become part of the store and must not be mutated afterwards;
// values read out must not be mutated either (copy them first).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { RObject, equal, parseJSON, stringifyJSON, type Value } from '../rego/value.js';
import { StoreError, conflict, invalidPatch, notFound } from './errors.js';
import { applyWrite, parsePointer, readPath, type WriteOp } from './ops.js';

/** One RFC 6902 operation; `path` and `from` are JSON Pointers relative to the patch's base path. */
export interface JsonPatchOp {
  op: string;
  path: string;
  value?: Value;
  from?: string;
}

export interface ChangeEvent {
  /** The new root. */
  root: RObject;
  /** The root before the change. */
  previous: RObject;
  /** The paths written, in order. */
  paths: string[][];
}

export type ChangeListener = (event: ChangeEvent) => void;

export type PutResult = 'created' | 'replaced' | 'unchanged';

export interface StoreOptions {
  /** Called when a change listener throws (default: print to stderr). */
  onListenerError?: (err: unknown) => void;
}

/** A batch of writes applied all-or-nothing: see Store.transaction. */
export interface Txn {
  read(path: readonly string[]): Value | undefined;
  write(op: WriteOp, path: readonly string[], value?: Value): void;
}

export class Store {
  private root: RObject;
  private readonly listeners = new Set<ChangeListener>();
  private readonly onListenerError: (err: unknown) => void;

  constructor(initial: RObject = new RObject(), opts: StoreOptions = {}) {
    this.root = initial;
    this.onListenerError =
      opts.onListenerError ?? ((err) => process.stderr.write(`store change listener failed: ${String(err)}\n`));
  }

  /** The current root; it never changes, so it is a consistent snapshot for readers. */
  snapshot(): RObject {
    return this.root;
  }

  /** The value at `path`, or undefined. */
  read(path: readonly string[]): Value | undefined {
    return readPath(this.root, path);
  }

  /** One storage write with OPA's semantics (no parent creation). */
  write(op: WriteOp, path: readonly string[], value?: Value): void {
    this.commit(applyWrite(this.root, op, path, value), [path.slice()]);
  }

  /**
   * Several writes applied together: if `fn` throws, nothing changes. Reads inside see the
   * writes made so far.
   */
  transaction(fn: (txn: Txn) => void): void {
    let working = this.root;
    const paths: string[][] = [];
    fn({
      read: (p) => readPath(working, p),
      write: (op, p, v) => {
        working = applyWrite(working, op, p, v);
        paths.push(p.slice());
      },
    });
    if (paths.length) this.commit(working, paths);
  }

  /**
   * OPA's Data API PUT: creates missing parent objects (like mkdir -p) and sets the value,
   * replacing what was there. A parent that exists but is not an object is a write conflict.
   * With `ifNoneMatch` an existing document is left alone ('unchanged', HTTP 304).
   */
  put(path: readonly string[], value: Value, opts: { ifNoneMatch?: boolean } = {}): PutResult {
    let result: PutResult = 'created';
    this.transaction((txn) => {
      const existing = txn.read(path);
      if (existing !== undefined) {
        if (opts.ifNoneMatch) {
          result = 'unchanged';
          return;
        }
        result = 'replaced';
        txn.write('replace', path, value);
        return;
      }
      makeDir(txn, path.slice(0, -1));
      txn.write('add', path, value);
    });
    return result;
  }

  /** OPA's Data API DELETE: removes the document, not_found when it does not exist. */
  delete(path: readonly string[]): void {
    if (path.length > 0 && this.read(path) === undefined) throw notFound(path);
    this.write('remove', path);
  }

  /**
   * Applies a JSON Patch (RFC 6902) at `base`, all-or-nothing. Supports add, remove, replace
   * (what OPA supports) and test, move, copy.
   */
  patch(base: readonly string[], ops: readonly JsonPatchOp[]): void {
    if (!Array.isArray(ops)) throw invalidPatch(base, 'a patch must be an array of operations');
    this.transaction((txn) => {
      for (const op of ops) applyPatchOp(txn, base, op);
    });
  }

  /** Calls `listener` after every committed change; returns a function that unsubscribes. */
  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Writes the data as JSON atomically (temp file, fsync, rename): a crash leaves old or new. */
  async saveTo(file: string): Promise<void> {
    await writeFileAtomic(file, stringifyJSON(this.root));
  }

  /** Replaces the data with the JSON object in `file` (a change event is emitted). */
  async loadFrom(file: string): Promise<void> {
    const text = await fsp.readFile(file, 'utf8');
    const value = parseJSON(text);
    if (!(value instanceof RObject)) throw invalidPatch([], `${file}: root must be object`);
    this.write('replace', [], value);
  }

  /**
   * Saves to `file` after every change (writes are coalesced: at most one save runs at a time,
   * and the last state is always saved). Returns a function that stops persisting and resolves
   * once pending saves are done.
   */
  persistTo(file: string, onError: (err: unknown) => void = this.onListenerError): () => Promise<void> {
    let running: Promise<void> | undefined;
    let again = false;
    const run = (): Promise<void> => {
      running = (async () => {
        do {
          again = false;
          try {
            await this.saveTo(file);
          } catch (e) {
            onError(e);
          }
        } while (again);
        running = undefined;
      })();
      return running;
    };
    const off = this.onChange(() => {
      if (running) again = true;
      else void run();
    });
    return async () => {
      off();
      if (running) await running;
    };
  }

  private commit(next: RObject, paths: string[][]): void {
    const previous = this.root;
    if (next === previous) return;
    this.root = next;
    const event: ChangeEvent = { root: next, previous, paths };
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (e) {
        this.onListenerError(e);
      }
    }
  }
}

/** Creates empty objects along `path` where missing; conflict where a step is not an object. */
function makeDir(txn: Txn, path: readonly string[]): void {
  if (path.length === 0) return;
  const node = txn.read(path);
  if (node === undefined) {
    makeDir(txn, path.slice(0, -1));
    txn.write('add', path, new RObject());
    return;
  }
  if (!(node instanceof RObject)) throw conflict(path);
}

function applyPatchOp(txn: Txn, base: readonly string[], op: JsonPatchOp): void {
  if (typeof op !== 'object' || op === null) throw invalidPatch(base, 'a patch operation must be an object');
  if (typeof op.path !== 'string') throw invalidPatch(base, `patch operation ${JSON.stringify(op.op)} needs a string "path"`);
  const target = [...base, ...parsePointer(op.path)];
  const needValue = () => {
    if (op.value === undefined) throw invalidPatch(target, `patch operation "${op.op}" needs a "value"`);
    return op.value;
  };
  const source = () => {
    if (typeof op.from !== 'string') throw invalidPatch(target, `patch operation "${op.op}" needs a string "from"`);
    return [...base, ...parsePointer(op.from)];
  };
  switch (op.op) {
    case 'add':
      txn.write('add', target, needValue());
      return;
    case 'replace':
      txn.write('replace', target, needValue());
      return;
    case 'remove':
      txn.write('remove', target);
      return;
    case 'test': {
      const want = needValue();
      const got = txn.read(target);
      if (got === undefined) throw notFound(target);
      if (!equal(got, want)) throw invalidPatch(target, 'test failed: value differs');
      return;
    }
    case 'copy': {
      const from = source();
      const v = txn.read(from);
      if (v === undefined) throw notFound(from);
      txn.write('add', target, v);
      return;
    }
    case 'move': {
      const from = source();
      if (target.length > from.length && from.every((s, i) => target[i] === s)) {
        throw invalidPatch(target, 'cannot move a document into one of its own children');
      }
      const v = txn.read(from);
      if (v === undefined) throw notFound(from);
      txn.write('remove', from);
      txn.write('add', target, v);
      return;
    }
    default:
      throw invalidPatch(target, `bad patch operation: ${String(op.op)}`);
  }
}

let tmpCounter = 0;

/** Writes `text` to `file` so that readers (and a crash) see either the old or the new content. */
export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${(tmpCounter++).toString(36)}.tmp`);
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  // Make the rename itself durable.
  try {
    const d = await fsp.open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* some filesystems cannot fsync a directory; the data file itself is synced */
  }
}

export { StoreError };
