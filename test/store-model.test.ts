// The store against a model: random sequences of Data API writes (PUT, DELETE, JSON Patch,
// storage writes, transactions) applied both to the Store and to a plain-JSON model of OPA's
// storage rules written separately here, mutating deep copies. After every step the two agree
// on the document and on success or failure; a failed step changes nothing; and every snapshot
// taken earlier still reads exactly as it did (copy-on-write never leaks a change into a
// document an evaluation may still hold).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Store, StoreError, type JsonPatchOp } from '../src/store/index.js';
import { fromJSON, stringifyJSON, toJSON, type RObject, type Value } from '../src/rego/value.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function random(seed: number): () => number {
  let x = seed;
  return () => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
}

// ---------------------------------------------------------------------------------------------
// The model: OPA's storage write rules on plain JSON, by mutation of a deep copy.

class ModelError extends Error {}

const clone = (x: Json): Json => JSON.parse(JSON.stringify(x)) as Json;
const isObject = (x: Json | undefined): x is { [k: string]: Json } => typeof x === 'object' && x !== null && !Array.isArray(x);

/** A decimal index in range, as Go's strconv.Atoi reads it (sign allowed, negative refused). */
function index(key: string, length: number): number | undefined {
  if (!/^[+-]?\d+$/.test(key)) return undefined;
  const n = Number(key);
  return n >= 0 && n < length ? n : undefined;
}

function modelRead(root: Json, path: string[]): Json | undefined {
  let node: Json | undefined = root;
  for (const key of path) {
    if (isObject(node)) node = Object.prototype.hasOwnProperty.call(node, key) ? node[key] : undefined;
    else if (Array.isArray(node)) {
      const i = index(key, node.length);
      node = i === undefined ? undefined : node[i];
    } else return undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** storage.Write: add / replace / remove at a path whose parent exists. Mutates `root`. */
function modelWrite(root: { doc: Json }, op: 'add' | 'replace' | 'remove', path: string[], value?: Json): void {
  if (path.length === 0) {
    if (op === 'remove' || !isObject(value ?? null)) throw new ModelError('root');
    root.doc = clone(value!);
    return;
  }
  const parent = modelRead(root.doc, path.slice(0, -1));
  const key = path[path.length - 1];
  if (isObject(parent)) {
    const has = Object.prototype.hasOwnProperty.call(parent, key);
    if (op !== 'add' && !has) throw new ModelError('missing');
    if (op === 'remove') delete parent[key];
    else parent[key] = clone(value!);
    return;
  }
  if (Array.isArray(parent)) {
    if (key === '-' || key === String(parent.length)) {
      if (op !== 'add') throw new ModelError('append');
      parent.push(clone(value!));
      return;
    }
    const i = index(key, parent.length);
    if (i === undefined) throw new ModelError('index');
    if (op === 'add') parent.splice(i, 0, clone(value!));
    else if (op === 'remove') parent.splice(i, 1);
    else parent[i] = clone(value!);
    return;
  }
  throw new ModelError('parent');
}

function modelPut(root: { doc: Json }, path: string[], value: Json): void {
  if (modelRead(root.doc, path) !== undefined) return modelWrite(root, 'replace', path, value);
  modelMakeDir(root, path.slice(0, -1));
  modelWrite(root, 'add', path, value);
}

/** storage.MakeDir: the missing end of a path becomes objects; an existing non-object is a conflict. */
function modelMakeDir(root: { doc: Json }, path: string[]): void {
  if (path.length === 0) return;
  const at = modelRead(root.doc, path);
  if (at === undefined) {
    modelMakeDir(root, path.slice(0, -1));
    modelWrite(root, 'add', path, {});
  } else if (!isObject(at)) throw new ModelError('conflict');
}

function pointer(p: string): string[] {
  const t = p.replace(/^\/+/, '').replace(/\/+$/, '');
  return t === '' ? [] : t.split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function modelPatch(root: { doc: Json }, base: string[], ops: Array<{ op: string; path: string; value?: Json; from?: string }>): void {
  for (const o of ops) {
    const target = [...base, ...pointer(o.path)];
    if (o.op === 'add' || o.op === 'replace') modelWrite(root, o.op, target, o.value);
    else if (o.op === 'remove') modelWrite(root, 'remove', target);
    else if (o.op === 'test') {
      const got = modelRead(root.doc, target);
      if (got === undefined || JSON.stringify(sortKeys(got)) !== JSON.stringify(sortKeys(o.value!))) throw new ModelError('test');
    } else if (o.op === 'copy' || o.op === 'move') {
      const from = [...base, ...pointer(o.from!)];
      if (o.op === 'move' && target.length > from.length && from.every((s, i) => target[i] === s)) throw new ModelError('into itself');
      const v = modelRead(root.doc, from);
      if (v === undefined) throw new ModelError('from');
      const copy = clone(v);
      if (o.op === 'move') modelWrite(root, 'remove', from);
      modelWrite(root, 'add', target, copy);
    } else throw new ModelError('op');
  }
}

function sortKeys(x: Json): Json {
  if (Array.isArray(x)) return x.map(sortKeys);
  if (isObject(x)) return Object.fromEntries(Object.keys(x).sort().map((k) => [k, sortKeys(x[k])]));
  return x;
}

// ---------------------------------------------------------------------------------------------
// Random steps

type Step =
  | { kind: 'put'; path: string[]; value: Json }
  | { kind: 'delete'; path: string[] }
  | { kind: 'write'; op: 'add' | 'replace' | 'remove'; path: string[]; value: Json }
  | { kind: 'patch'; base: string[]; ops: Array<{ op: string; path: string; value?: Json; from?: string }> }
  | { kind: 'transaction'; writes: Array<{ op: 'add' | 'replace' | 'remove'; path: string[]; value: Json }> };

// Object keys and array indexes (valid, appending, signed, padded, out of range) in equal measure.
const KEYS = ['a', 'b', 'c', 'x/y', 'p~q', '', '0', '1', '2', '-', '+1', '01', '3', '-1'];

function generator(next: () => number, current: () => Json) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)];
  const value = (depth = 0): Json => {
    const r = next();
    if (depth > 2 || r < 0.35) return pick([null, true, 0, 7, 'v', 'w', 2.5] as Json[]);
    if (r < 0.6) return Array.from({ length: Math.floor(next() * 3) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(next() * 3) }, () => [pick(KEYS.slice(0, 6)), value(depth + 1)]));
  };
  const randomPath = (): string[] => Array.from({ length: Math.floor(next() * 4) }, () => pick(KEYS));
  // Mostly a walk down the current document, so that writes meet real objects and arrays; the
  // last step may name a new key or an index in any spelling.
  const walk = (): string[] => {
    const out: string[] = [];
    let node: Json | undefined = current();
    while (node !== undefined && next() < 0.7) {
      let key: string;
      if (Array.isArray(node)) {
        const i = Math.floor(next() * (node.length + 1));
        key = pick([String(i), '+' + String(i), '0' + String(i), '-', String(node.length)]);
      } else if (isObject(node) && Object.keys(node).length > 0 && next() < 0.8) key = pick(Object.keys(node));
      else key = pick(KEYS);
      out.push(key);
      node = modelRead(current(), out);
    }
    return out;
  };
  const path = (): string[] => (next() < 0.7 ? walk() : randomPath());
  const ptr = (p: string[]): string => '/' + p.map((s) => s.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
  const writeOp = () => pick(['add', 'replace', 'remove'] as const);
  return (): Step => {
    const r = next();
    if (r < 0.3) return { kind: 'put', path: path(), value: value() };
    if (r < 0.4) return { kind: 'delete', path: path() };
    if (r < 0.6) return { kind: 'write', op: writeOp(), path: path(), value: value() };
    if (r < 0.85) {
      const ops = Array.from({ length: 1 + Math.floor(next() * 3) }, () => {
        const op = pick(['add', 'replace', 'remove', 'test', 'copy', 'move']);
        return { op, path: ptr(path()), value: value(), from: ptr(path()) };
      });
      return { kind: 'patch', base: path().slice(0, 1), ops };
    }
    return { kind: 'transaction', writes: Array.from({ length: 1 + Math.floor(next() * 3) }, () => ({ op: writeOp(), path: path(), value: value() })) };
  };
}

function applyToStore(store: Store, step: Step): void {
  const v = (x: Json): Value => fromJSON(x);
  switch (step.kind) {
    case 'put':
      store.put(step.path, v(step.value));
      return;
    case 'delete':
      store.delete(step.path);
      return;
    case 'write':
      store.write(step.op, step.path, step.op === 'remove' ? undefined : v(step.value));
      return;
    case 'patch':
      store.patch(step.base, step.ops.map((o): JsonPatchOp => ({ op: o.op, path: o.path, value: o.value === undefined ? undefined : v(o.value), from: o.from })));
      return;
    case 'transaction':
      store.transaction((txn) => {
        for (const w of step.writes) txn.write(w.op, w.path, w.op === 'remove' ? undefined : v(w.value));
      });
  }
}

function applyToModel(root: { doc: Json }, step: Step): void {
  switch (step.kind) {
    case 'put':
      return modelPut(root, step.path, step.value);
    case 'delete':
      if (step.path.length > 0 && modelRead(root.doc, step.path) === undefined) throw new ModelError('missing');
      return modelWrite(root, 'remove', step.path);
    case 'write':
      return modelWrite(root, step.op, step.path, step.value);
    case 'patch':
      return modelPatch(root, step.base, step.ops);
    case 'transaction':
      for (const w of step.writes) modelWrite(root, w.op, w.path, w.value);
  }
}

const text = (v: RObject): string => stringifyJSON(toJSON(v));

test('random write sequences: the store agrees with the model, failures change nothing, snapshots never change', () => {
  let steps = 0;
  let failures = 0;
  for (let seed = 1; seed <= 200; seed++) {
    const next = random(seed);
    const initial: Json = { a: { b: [1, 2, { c: 'x' }] }, b: [{ a: 1 }, { b: [0, 1] }], c: [[1, 2], [3]] };
    const store = new Store(fromJSON(initial) as RObject);
    const model = { doc: clone(initial) };
    const step = generator(next, () => model.doc);
    const snapshots: Array<{ root: RObject; text: string }> = [];
    for (let i = 0; i < 60; i++) {
      const s = step();
      const before = store.snapshot();
      snapshots.push({ root: before, text: text(before) });
      const modelBefore = clone(model.doc);
      let storeError: unknown;
      let modelError: unknown;
      try {
        applyToStore(store, s);
      } catch (e) {
        storeError = e;
      }
      try {
        applyToModel(model, s);
      } catch (e) {
        modelError = e;
        model.doc = modelBefore; // the model's failed steps are all-or-nothing too
      }
      const where = `seed ${seed} step ${i}: ${JSON.stringify(s)}`;
      if (storeError !== undefined && !(storeError instanceof StoreError)) assert.fail(`${where}: not a StoreError: ${String(storeError)}`);
      assert.equal(storeError === undefined, modelError === undefined, `${where}: store ${String(storeError)}, model ${String(modelError)}`);
      if (storeError !== undefined) {
        failures++;
        assert.equal(store.snapshot(), before, `${where}: a failed write changed the root`);
      }
      assert.equal(text(store.snapshot()), stringifyJSON(sortKeys(model.doc)), where);
      steps++;
    }
    for (const [i, snap] of snapshots.entries()) assert.equal(text(snap.root), snap.text, `seed ${seed}: snapshot ${i} changed later`);
  }
  // Both kinds of step happen often enough to mean something.
  assert.ok(failures > steps / 5 && failures < (steps * 4) / 5, `${failures} failures in ${steps} steps`);
});
