// Builtins of OPA's "object" category: object.get, object.keys, object.remove, object.filter,
// object.union, object.union_n, object.subset, json.filter, json.remove, json.patch; and `walk`
// (OPA files it under "graph"), a relation. Registered at import time.
import { BuiltinError } from '../errors.js';
import { RObject, RSet, equal, typeName, type Value } from '../value.js';
import { registerBuiltins } from './registry.js';

function objectOperand(v: Value, pos: number): RObject {
  if (v instanceof RObject) return v;
  throw new BuiltinError(`operand ${pos} must be object but got ${typeName(v)}`, 'eval_type_error');
}

// ---------------------------------------------------------------------------------------------
// Path lookup as OPA's Value.Find: objects by key, arrays by integer index, sets by membership.

function child(node: Value, key: Value): Value | undefined {
  if (node instanceof RObject) return node.get(key);
  if (node instanceof RSet) return node.has(key) ? key : undefined;
  if (Array.isArray(node)) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= node.length) return undefined;
    return node[key];
  }
  return undefined;
}

function find(node: Value, path: Value[]): Value | undefined {
  let cur: Value | undefined = node;
  for (const k of path) {
    if (cur === undefined) return undefined;
    cur = child(cur, k);
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// object.* helpers

/** The keys given to object.remove/object.filter: an array, set or object (its keys). */
function keySet(v: Value): RSet {
  if (Array.isArray(v)) return RSet.from(v);
  if (v instanceof RSet) return v;
  if (v instanceof RObject) return RSet.from(v.keys());
  throw new BuiltinError(`operand 2 must be one of {object, set, array} but got ${typeName(v)}`, 'eval_type_error');
}

/** Asymmetric recursive union: the right side wins unless both values are objects. */
export function mergeWithOverwrite(a: RObject, b: RObject): RObject {
  const out = a.copy();
  b.forEachUnordered((k, vb) => {
    const va = out.get(k);
    out.set(k, va instanceof RObject && vb instanceof RObject ? mergeWithOverwrite(va, vb) : vb);
  });
  return out;
}

function objectSubset(sup: RObject, sub: RObject): boolean {
  for (const [k, vs] of sub.entries()) {
    const vp = sup.get(k);
    if (vp === undefined) return false;
    if (equal(vs, vp)) continue;
    if (vp instanceof RObject && vs instanceof RObject) {
      if (!objectSubset(vp, vs)) return false;
    } else if (vp instanceof RSet && vs instanceof RSet) {
      if (!setSubset(vp, vs)) return false;
    } else if (Array.isArray(vp) && Array.isArray(vs)) {
      if (!arraySubset(vp, vs)) return false;
    } else {
      return false;
    }
  }
  return true;
}

function setSubset(sup: RSet, sub: RSet): boolean {
  for (const v of sub.values()) if (!sup.has(v)) return false;
  return true;
}

/** `sub` appears contiguously, in order, in `sup`. */
function arraySubset(sup: Value[], sub: Value[]): boolean {
  if (sub.length > sup.length) return false;
  outer: for (let start = 0; start + sub.length <= sup.length; start++) {
    for (let i = 0; i < sub.length; i++) if (!equal(sup[start + i], sub[i])) continue outer;
    return true;
  }
  return false;
}

/**
 * Every member of `sub` occurs somewhere in `sup`, computed exactly as OPA does: it counts
 * matching array elements, so duplicates in `sup` count more than once ([1, 1] vs {1, 2} is
 * true), and an empty set is a subset only of a non-empty array. Kept for compatibility.
 */
function arraySetSubset(sup: Value[], sub: RSet): boolean {
  let unmatched = sub.size;
  for (const x of sup) {
    if (sub.has(x)) unmatched--;
    if (unmatched === 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Filtering and removal by path trees (OPA's pathsToObject / Object.Filter / jsonRemove).
// A path tree is an object whose leaves are null: {"a": {"b": null}} selects a.b.

function pathTree(paths: Value[][]): RObject {
  const root = new RObject();
  for (const path of paths) {
    if (path.length === 0) continue;
    let node = root;
    let done = false;
    for (let i = 0; i < path.length - 1 && !done; i++) {
      const c = node.get(path[i]);
      if (c === undefined) {
        const o = new RObject();
        node.set(path[i], o);
        node = o;
      } else if (c === null) {
        done = true; // a shorter path already selects everything below
      } else {
        node = c as RObject;
      }
    }
    if (!done) node.set(path[path.length - 1], null);
  }
  return root;
}

function filterValue(v: Value, filter: Value): Value {
  if (filter === null) return v;
  if (!(filter instanceof RObject)) throw new BuiltinError('invalid filter value, expected an object');
  if (Array.isArray(v)) {
    const out: Value[] = [];
    for (let i = 0; i < v.length; i++) {
      const sub = filter.get(String(i));
      if (sub !== undefined) out.push(filterValue(v[i], sub));
    }
    return out;
  }
  if (v instanceof RSet) {
    const out = new RSet();
    for (const x of v.values()) {
      const sub = filter.get(x);
      if (sub !== undefined) out.add(filterValue(x, sub));
    }
    return out;
  }
  if (v instanceof RObject) {
    const out = new RObject();
    const [iter, other] = v.size < filter.size ? [v, filter] : [filter, v];
    iter.forEachUnordered((k) => {
      if (other.has(k)) out.set(k, filterValue(v.get(k) as Value, filter.get(k) as Value));
    });
    return out;
  }
  return v;
}

function removeValue(v: Value, tree: Value | undefined): Value | undefined {
  if (tree === undefined) return v;
  if (tree === null) return undefined;
  if (!(tree instanceof RObject)) return v;
  if (v instanceof RObject) {
    const out = new RObject();
    v.forEachUnordered((k, x) => {
      const r = removeValue(x, tree.get(k));
      if (r !== undefined) out.set(k, r);
    });
    return out;
  }
  if (v instanceof RSet) {
    const out = new RSet();
    v.forEachUnordered((x) => {
      const r = removeValue(x, tree.get(x));
      if (r !== undefined) out.add(r);
    });
    return out;
  }
  if (Array.isArray(v)) {
    // Array positions are addressed by their decimal strings ("a/1/b"); removal closes the gaps.
    const out: Value[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = removeValue(v[i], tree.get(String(i)));
      if (r !== undefined) out.push(r);
    }
    return out;
  }
  return v;
}

/** A path given as "a/b/c" (JSON-pointer escapes ~0 ~1, leading slashes ignored) or as an array. */
function parsePath(p: Value): Value[] {
  if (typeof p === 'string') {
    if (p === '') return [];
    return p
      .replace(/^\/+/, '')
      .split('/')
      .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  }
  if (Array.isArray(p)) return p.slice();
  throw new BuiltinError(
    `operand 2 must be one of {set, array} containing string paths or array of path segments but got ${typeName(p)}`,
    'eval_type_error',
  );
}

function jsonPaths(v: Value): Value[][] {
  if (Array.isArray(v)) return v.map(parsePath);
  if (v instanceof RSet) return v.values().map(parsePath);
  throw new BuiltinError(`operand 2 must be one of {set, array} but got ${typeName(v)}`, 'eval_type_error');
}

// ---------------------------------------------------------------------------------------------
// json.patch (RFC 6902 over Rego values; a set member is addressed by its own value). Any
// failure makes the whole result undefined, as in OPA.

class PatchFailure extends Error {}

function fail(msg: string): never {
  throw new PatchFailure(msg);
}

/** An array position: an integer, "-" (one past the end) or a decimal string without leading zeros. */
function toIndex(len: number, key: Value): number {
  if (typeof key === 'number') {
    if (!Number.isInteger(key)) fail('invalid number type for indexing');
    return key;
  }
  if (typeof key === 'string') {
    if (key === '-') return len;
    if (!/^-?[0-9]+$/.test(key)) fail('invalid string for indexing');
    if (key !== '0' && key.startsWith('0')) fail('leading zeros are not allowed in JSON paths');
    return Number(key);
  }
  return fail('invalid type for indexing');
}

function patchChild(node: Value, key: Value): Value {
  if (node instanceof RObject) {
    const v = node.get(key);
    return v === undefined ? fail('path does not exist') : v;
  }
  if (node instanceof RSet) return node.has(key) ? key : fail('path does not exist');
  if (Array.isArray(node)) {
    const i = toIndex(node.length, key);
    return i >= 0 && i < node.length ? node[i] : fail('path does not exist');
  }
  return fail('expected composite type');
}

function replaceChild(node: Value, key: Value, c: Value): Value {
  if (node instanceof RObject) return node.copy().set(key, c);
  if (node instanceof RSet) {
    const s = node.copy();
    s.delete(key);
    s.add(c);
    return s;
  }
  const arr = (node as Value[]).slice();
  arr[toIndex(arr.length, key)] = c;
  return arr;
}

function insertChild(node: Value, key: Value, value: Value): Value {
  if (node instanceof RObject) return node.copy().set(key, value);
  if (node instanceof RSet) {
    if (!equal(key, value)) fail('set key does not equal value to be inserted');
    const s = node.copy();
    s.add(value);
    return s;
  }
  if (Array.isArray(node)) {
    const i = toIndex(node.length, key);
    if (i < 0 || i > node.length) fail('index for array insertion out of bounds');
    return [...node.slice(0, i), value, ...node.slice(i)];
  }
  return fail('expected composite type');
}

function deleteChild(node: Value, key: Value): Value {
  if (node instanceof RObject) {
    if (!node.has(key)) fail('cannot delete child key that does not exist');
    const o = node.copy();
    o.delete(key);
    return o;
  }
  if (node instanceof RSet) {
    if (!node.has(key)) fail('cannot delete child key that does not exist');
    const s = node.copy();
    s.delete(key);
    return s;
  }
  if (Array.isArray(node)) {
    const i = toIndex(node.length, key);
    if (i < 0 || i > node.length - 1) fail('index for array delete out of bounds');
    return [...node.slice(0, i), ...node.slice(i + 1)];
  }
  return fail('expected composite type');
}

/** Rebuilds `root` with `leaf` applied to the parent of the last path segment. */
function editAt(root: Value | undefined, path: Value[], leaf: (parent: Value, key: Value) => Value): Value {
  if (root === undefined) fail('deleted node encountered');
  const rec = (node: Value, i: number): Value => {
    if (i === path.length - 1) return leaf(node, path[i]);
    return replaceChild(node, path[i], rec(patchChild(node, path[i]), i + 1));
  };
  return rec(root, 0);
}

function renderAt(root: Value | undefined, path: Value[]): Value {
  if (root === undefined) fail('deleted node encountered');
  let cur = root;
  for (const k of path) cur = patchChild(cur, k);
  return cur;
}

function addAt(root: Value | undefined, path: Value[], value: Value): Value {
  if (path.length === 0) return value;
  return editAt(root, path, (p, k) => insertChild(p, k, value));
}

function removeAt(root: Value | undefined, path: Value[]): Value | undefined {
  if (path.length === 0) {
    if (root === undefined) fail('deleted node encountered');
    return undefined;
  }
  return editAt(root, path, deleteChild);
}

function patchPath(v: Value): Value[] {
  if (typeof v === 'string' || Array.isArray(v)) return parsePath(v);
  return fail('invalid path');
}

const PATCH_OPS = new Set(['add', 'remove', 'replace', 'move', 'copy', 'test']);

function applyPatches(target: Value, ops: Value[]): Value | undefined {
  let doc: Value | undefined = target;
  for (const opv of ops) {
    if (!(opv instanceof RObject)) fail('must be an array of JSON-Patch objects');
    const attr = (name: string): Value => {
      const v = opv.get(name);
      return v === undefined ? fail(`missing '${name}' attribute`) : v;
    };
    const op = attr('op');
    if (typeof op !== 'string') fail("attribute 'op' must be a string");
    if (!PATCH_OPS.has(op)) fail(`unrecognized op '${op}'`);
    const pathv = attr('path');
    const from = op === 'move' || op === 'copy' ? attr('from') : undefined;
    const value = op === 'add' || op === 'replace' || op === 'test' ? attr('value') : undefined;
    const path = patchPath(pathv);
    switch (op) {
      case 'add':
        doc = addAt(doc, path, value as Value);
        break;
      case 'remove':
        doc = removeAt(doc, path);
        break;
      case 'replace':
        doc = addAt(removeAt(doc, path), path, value as Value);
        break;
      case 'move': {
        const fp = patchPath(from as Value);
        const chunk = renderAt(doc, fp);
        doc = addAt(removeAt(doc, fp), path, chunk);
        break;
      }
      case 'copy': {
        const chunk = renderAt(doc, patchPath(from as Value));
        doc = addAt(doc, path, chunk);
        break;
      }
      case 'test':
        if (!equal(renderAt(doc, path), value as Value)) fail('test failed');
        break;
    }
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// walk: every [path, value] pair under x, pre-order, object keys and set members in sorted order.

function walk(x: Value): Value[] {
  const out: Value[] = [];
  const path: Value[] = [];
  const visit = (v: Value): void => {
    out.push([path.slice(), v]);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        visit(v[i]);
        path.pop();
      }
    } else if (v instanceof RObject) {
      for (const [k, c] of v.entries()) {
        path.push(k);
        visit(c);
        path.pop();
      }
    } else if (v instanceof RSet) {
      for (const m of v.values()) {
        path.push(m);
        visit(m);
        path.pop();
      }
    }
  };
  visit(x);
  return out;
}

// ---------------------------------------------------------------------------------------------

const ANY_OBJECT = 'object[any,any]';
// Unions in the order OPA names them in operand errors.
const KEYS = 'object[any,any]|set[any]|array[any]';
const JSON_PATHS = 'set[string|array[any]]|array[string|array[any]]';

registerBuiltins(
  {
    name: 'object.get',
    args: [ANY_OBJECT, 'any', 'any'],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const obj = objectOperand(args[0], 1);
      const key = args[1];
      // A present null is a value, not a miss: compare with undefined, never `??`.
      const found = !Array.isArray(key) ? obj.get(key) : key.length === 0 ? obj : find(obj, key);
      return found === undefined ? args[2] : found;
    },
  },
  {
    name: 'object.keys',
    args: [ANY_OBJECT],
    result: 'set[any]',
    category: 'object',
    impl: (args) => RSet.from(objectOperand(args[0], 1).keys()),
  },
  {
    name: 'object.remove',
    args: [ANY_OBJECT, KEYS],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const obj = objectOperand(args[0], 1);
      const keys = keySet(args[1]);
      const out = new RObject();
      obj.forEachUnordered((k, v) => {
        if (!keys.has(k)) out.set(k, v);
      });
      return out;
    },
  },
  {
    name: 'object.filter',
    args: [ANY_OBJECT, KEYS],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const obj = objectOperand(args[0], 1);
      const keys = keySet(args[1]);
      const out = new RObject();
      keys.forEachUnordered((k) => {
        const v = obj.get(k);
        if (v !== undefined) out.set(k, v);
      });
      return out;
    },
  },
  {
    name: 'object.union',
    args: [ANY_OBJECT, ANY_OBJECT],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const a = objectOperand(args[0], 1);
      const b = objectOperand(args[1], 2);
      return equal(a, b) ? a : mergeWithOverwrite(a, b);
    },
  },
  {
    name: 'object.union_n',
    args: ['array[object[any,any]]'],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const arr = args[0] as Value[];
      // OPA checks from the back, so the last non-object is the one reported.
      for (let i = arr.length - 1; i >= 0; i--) {
        if (!(arr[i] instanceof RObject)) {
          throw new BuiltinError(`operand 1 must be array of objects but got array containing ${typeName(arr[i])}`, 'eval_type_error');
        }
      }
      let acc = new RObject();
      for (const o of arr) acc = mergeWithOverwrite(acc, o as RObject);
      return acc;
    },
  },
  {
    name: 'object.subset',
    args: ['object[any,any]|set[any]|array[any]', 'object[any,any]|set[any]|array[any]'],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const [sup, sub] = args;
      if (sup instanceof RObject && sub instanceof RObject) return objectSubset(sup, sub);
      if (sup instanceof RSet && sub instanceof RSet) return setSubset(sup, sub);
      if (Array.isArray(sup) && Array.isArray(sub)) return arraySubset(sup, sub);
      if (Array.isArray(sup) && sub instanceof RSet) return arraySetSubset(sup, sub);
      throw new BuiltinError('both arguments object.subset must be of the same type or array and set', 'eval_type_error');
    },
  },
  {
    name: 'json.filter',
    args: [ANY_OBJECT, JSON_PATHS],
    result: 'any',
    category: 'object',
    impl: (args) => filterValue(objectOperand(args[0], 1), pathTree(jsonPaths(args[1]))),
  },
  {
    name: 'json.remove',
    args: [ANY_OBJECT, JSON_PATHS],
    result: 'any',
    category: 'object',
    impl: (args) => removeValue(objectOperand(args[0], 1), pathTree(jsonPaths(args[1]))),
  },
  {
    name: 'json.patch',
    args: ['any', 'array[object[string,any]]'],
    result: 'any',
    category: 'object',
    impl: (args) => {
      const ops = args[1];
      if (!Array.isArray(ops)) {
        throw new BuiltinError(`operand 2 must be array but got ${typeName(ops)}`, 'eval_type_error');
      }
      try {
        return applyPatches(args[0], ops);
      } catch (e) {
        if (e instanceof PatchFailure) return undefined;
        throw e;
      }
    },
  },
  {
    name: 'walk',
    args: ['any'],
    result: 'array[any]',
    category: 'graph',
    relation: true,
    impl: (args) => walk(args[0]),
  },
);
