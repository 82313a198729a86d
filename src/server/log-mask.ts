// Decision log masking, as OPA's `system.log.mask` decision defines it: the policy returns a set
// of rules, each a JSON-pointer-like path under /input or /result, either a plain string (erase
// what is there) or {"op": "remove" | "upsert", "path": ..., "value": ...}. Erased paths are
// listed in the event's "erased" field, upserted ones in "masked".
//
// Values are shared with the answer sent to the client, so masking never mutates them: every
// change copies the objects and arrays along its path.
import { RObject, isArray, isObject, isSet, type Value } from '../rego/value.js';

export interface MaskRule {
  op: 'remove' | 'upsert';
  /** The path as written, e.g. "/input/request/object/spec/password". */
  path: string;
  /** "input" or "result": the part of the event the rule applies to. */
  part: 'input' | 'result';
  /** Keys (and array indexes) below the part; empty for the whole part. */
  keys: string[];
  value?: Value;
}

/** The parts of a decision log event that masking may change. */
export interface Maskable {
  input?: Value;
  result?: Value;
  erased?: string[];
  masked?: string[];
}

/**
 * Reads the value of `data.system.log.mask`: a set (or array) of rules. Throws an Error saying
 * what is wrong; OPA then logs nothing for the decision rather than log it unmasked.
 */
export function parseMaskRules(v: Value): MaskRule[] {
  const items = isSet(v) ? v.values() : isArray(v) ? v : undefined;
  if (!items) throw new Error(`mask rules must be a set or an array, got ${describe(v)}`);
  return items.map((item) => {
    if (typeof item === 'string') return maskRule('remove', item);
    if (!isObject(item)) throw new Error(`a mask rule must be a path string or an object with "op" and "path", got ${describe(item)}`);
    const op = item.get('op');
    const path = item.get('path');
    if (op !== 'remove' && op !== 'upsert') throw new Error(`mask rule op must be "remove" or "upsert", got ${describe(op)}`);
    if (typeof path !== 'string') throw new Error(`mask rule path must be a string, got ${describe(path)}`);
    return maskRule(op, path, item.get('value'));
  });
}

function maskRule(op: 'remove' | 'upsert', path: string, value?: Value): MaskRule {
  if (!path.startsWith('/')) throw new Error(`mask path "${path}" must start with "/" (e.g. "/input/password")`);
  const segments = path.slice(1).split('/');
  const keys = segments.slice(1).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new Error(`mask path "${path}": bad percent-encoding in "${s}"`);
    }
  });
  const part = segments[0];
  if (part !== 'input' && part !== 'result') throw new Error(`mask path "${path}" must be under /input or /result`);
  return { op, path, part, keys, value: op === 'upsert' ? (value ?? null) : undefined };
}

/**
 * Applies the rules in order. A rule whose path is not there changes nothing and is not listed
 * (as in OPA); an upsert creates the objects missing on its way, but never array elements.
 */
export function applyMask(event: Maskable, rules: readonly MaskRule[]): Maskable {
  const out: Maskable = { ...event };
  for (const r of rules) {
    const current = out[r.part];
    if (current === undefined) continue;
    if (r.op === 'remove') {
      const next = r.keys.length === 0 ? undefined : removed(current, r.keys);
      if (next === NOT_THERE) continue;
      out[r.part] = next;
      (out.erased ??= []).push(r.path);
    } else {
      if (r.keys.length > 0 && !isObject(current)) continue;
      const next = r.keys.length === 0 ? r.value : upserted(current, r.keys, r.value!);
      if (next === NOT_THERE) continue;
      out[r.part] = next;
      (out.masked ??= []).push(r.path);
    }
  }
  return out;
}

const NOT_THERE = Symbol('not there');

/** The value without what `keys` leads to (an array loses the element), or NOT_THERE. */
function removed(v: Value, keys: readonly string[]): Value | typeof NOT_THERE {
  const [key, ...rest] = keys;
  if (isObject(v)) {
    const child = v.get(key);
    if (child === undefined) return NOT_THERE;
    const next = rest.length === 0 ? undefined : removed(child, rest);
    if (next === NOT_THERE) return NOT_THERE;
    const copy = v.copy();
    if (next === undefined) copy.delete(key);
    else copy.set(key, next);
    return copy;
  }
  if (isArray(v)) {
    const i = arrayIndex(key, v.length);
    if (i === undefined) return NOT_THERE;
    const next = rest.length === 0 ? undefined : removed(v[i], rest);
    if (next === NOT_THERE) return NOT_THERE;
    return next === undefined ? [...v.slice(0, i), ...v.slice(i + 1)] : v.map((x, j) => (j === i ? next : x));
  }
  return NOT_THERE;
}

/** The value with `value` at `keys`, creating missing objects on the way, or NOT_THERE. */
function upserted(v: Value | undefined, keys: readonly string[], value: Value): Value | typeof NOT_THERE {
  if (keys.length === 0) return value;
  const [key, ...rest] = keys;
  if (v === undefined || isObject(v)) {
    const next = upserted(v?.get(key), rest, value);
    if (next === NOT_THERE) return NOT_THERE;
    return (v?.copy() ?? new RObject()).set(key, next);
  }
  if (isArray(v)) {
    const i = arrayIndex(key, v.length);
    if (i === undefined) return NOT_THERE;
    const next = upserted(v[i], rest, value);
    if (next === NOT_THERE) return NOT_THERE;
    return v.map((x, j) => (j === i ? next : x));
  }
  return NOT_THERE;
}

function arrayIndex(key: string, length: number): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(key)) return undefined;
  const i = Number(key);
  return i < length ? i : undefined;
}

function describe(v: Value | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (isSet(v)) return 'a set';
  if (isObject(v)) return 'an object';
  if (isArray(v)) return 'an array';
  return `${typeof v} ${JSON.stringify(typeof v === 'bigint' ? String(v) : v)}`;
}
