// Pure, copy-on-write operations on a tree of values. Nothing here mutates a value that may be
// shared: a write copies only the objects/arrays on the path from the root to the change, and
// returns a new root. Everything else is shared with the old root, which stays valid for any
// reader still holding it.
//
// Semantics follow OPA's in-memory store (storage.Write):
//   add      object: set the key (replacing any value); array: insert at index, `-` or len appends
//   replace  the target must exist
//   remove   the target must exist
// A missing parent, a step into a scalar, a non-integer or out-of-range array index are
// not_found errors; the root can only be replaced by an object and cannot be removed.
import { RObject, type Value } from '../rego/value.js';
import { invalidPatch, notFound } from './errors.js';

export type WriteOp = 'add' | 'replace' | 'remove';

/** Reads the value at `path`, or undefined when there is none. */
export function readPath(root: Value, path: readonly string[]): Value | undefined {
  let node: Value | undefined = root;
  for (const key of path) {
    if (node instanceof RObject) node = node.get(key);
    else if (Array.isArray(node)) {
      const i = arrayIndex(key);
      node = i !== undefined && i < node.length ? node[i] : undefined;
    } else return undefined;
    if (node === undefined) return undefined;
  }
  return node;
}

/** Like Go's strconv.Atoi as OPA uses it: optional sign, decimal digits. Negative -> undefined. */
function arrayIndex(key: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(key)) return undefined;
  const n = Number(key);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function validIndex(arr: Value[], key: string, path: readonly string[]): number {
  if (!/^[+-]?[0-9]+$/.test(key)) throw notFound(path, 'array index must be integer');
  const n = Number(key);
  if (!Number.isSafeInteger(n) || n < 0 || n >= arr.length) throw notFound(path, 'array index out of range');
  return n;
}

/** Applies one write and returns the new root (the old root is untouched). */
export function applyWrite(root: RObject, op: WriteOp, path: readonly string[], value?: Value): RObject {
  if (path.length === 0) {
    if (op === 'remove') throw invalidPatch(path, 'root cannot be removed');
    if (!(value instanceof RObject)) throw invalidPatch(path, 'root must be object');
    return value;
  }
  if (op !== 'remove' && value === undefined) throw invalidPatch(path, `${op} needs a value`);
  return writeAt(root, op, path, 0, value) as RObject;
}

function writeAt(node: Value, op: WriteOp, path: readonly string[], i: number, value: Value | undefined): Value {
  const key = path[i];
  const last = i === path.length - 1;
  if (node instanceof RObject) {
    if (last) {
      if (op !== 'add' && !node.has(key)) throw notFound(path);
      const copy = node.copy();
      if (op === 'remove') copy.delete(key);
      else copy.set(key, value as Value);
      return copy;
    }
    const child = node.get(key);
    if (child === undefined) throw notFound(path);
    return node.copy().set(key, writeAt(child, op, path, i + 1, value));
  }
  if (Array.isArray(node)) {
    if (last) {
      if (key === '-' || key === String(node.length)) {
        if (op !== 'add') throw invalidPatch(path, 'invalid patch path');
        return [...node, value as Value];
      }
      const pos = validIndex(node, key, path);
      const copy = node.slice();
      if (op === 'add') copy.splice(pos, 0, value as Value);
      else if (op === 'remove') copy.splice(pos, 1);
      else copy[pos] = value as Value;
      return copy;
    }
    const pos = validIndex(node, key, path);
    const copy = node.slice();
    copy[pos] = writeAt(node[pos], op, path, i + 1, value);
    return copy;
  }
  // A scalar (or a set, which base documents never hold) has no children.
  throw notFound(path);
}

/**
 * Parses a JSON Pointer (RFC 6901: `/a/b~1c` -> ["a", "b/c"]). Like OPA, a pointer without the
 * leading slash is accepted and a trailing slash is ignored; "" and "/" denote the base path.
 */
export function parsePointer(pointer: string): string[] {
  const trimmed = pointer.replace(/^\/+/, '').replace(/\/+$/, '');
  if (trimmed === '') return [];
  return trimmed.split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}
