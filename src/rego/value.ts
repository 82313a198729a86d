// Rego values: the one representation used everywhere inside the engine.
//
//   null, boolean, string   -> the JS primitive
//   number                  -> JS number; integers outside the safe range are bigint.
//                              Safe integers are never bigint, so `===` is value equality
//                              for every scalar (1 and 1.0 are the same number, as in OPA).
//   array                   -> a frozen-by-convention JS array of values
//   object                  -> RObject (keys of any type)
//   set                     -> RSet
//
// JSON is converted at the edges only (fromJSON / toJSON). Ordering and equality follow OPA's
// ast.Compare: null < boolean < number < string < array < object < set.

import { parseJSONValue } from './json.js';

export type Scalar = null | boolean | number | bigint | string;
export type Value = Scalar | Value[] | RObject | RSet;

type Primitive = Scalar;

/** A key usable in a JS Map: the value itself for scalars, a canonical string for composites. */
function isComposite(v: Value): v is Value[] | RObject | RSet {
  return typeof v === 'object' && v !== null;
}

export class RObject {
  // Scalar keys map by identity (Map uses SameValueZero, so 1 === 1.0 and 'a' === 'a') straight
  // to the value; composite keys by their canonical encoding, to the (key, value) pair.
  private readonly prim = new Map<Primitive, Value>();
  private comp?: Map<string, [Value, Value]>;
  private sorted?: Array<[Value, Value]>;

  static from(entries: Iterable<[Value, Value]>): RObject {
    const o = new RObject();
    for (const [k, v] of entries) o.set(k, v);
    return o;
  }

  get size(): number {
    return this.prim.size + (this.comp ? this.comp.size : 0);
  }

  get(key: Value): Value | undefined {
    if (isComposite(key)) {
      const e = this.comp?.get(canonicalKey(key));
      return e ? e[1] : undefined;
    }
    return this.prim.get(key);
  }

  has(key: Value): boolean {
    return isComposite(key) ? (this.comp?.has(canonicalKey(key)) ?? false) : this.prim.has(key);
  }

  /** Mutates: only for building a new object (objects are immutable once shared). */
  set(key: Value, value: Value): this {
    this.sorted = undefined;
    if (isComposite(key)) {
      (this.comp ??= new Map()).set(canonicalKey(key), [key, value]);
    } else {
      this.prim.set(key, value);
    }
    return this;
  }

  /** Mutates: only while building. */
  delete(key: Value): boolean {
    this.sorted = undefined;
    return isComposite(key) ? (this.comp?.delete(canonicalKey(key)) ?? false) : this.prim.delete(key);
  }

  /** Entries in OPA's order (sorted by key). Cached; do not mutate the result. */
  entries(): Array<[Value, Value]> {
    if (this.sorted) return this.sorted;
    const out: Array<[Value, Value]> = [];
    for (const e of this.prim.entries()) out.push(e);
    if (this.comp) for (const e of this.comp.values()) out.push(e);
    if (out.length > 1) {
      if (!this.comp && out.every((e) => typeof e[0] === 'string')) {
        const native = !out.some((e) => SURROGATE.test(e[0] as string));
        out.sort(native ? (a, b) => compareCodeUnits(a[0] as string, b[0] as string) : (a, b) => compareStrings(a[0] as string, b[0] as string));
      } else out.sort((a, b) => compare(a[0], b[0]));
    }
    this.sorted = out;
    return out;
  }

  keys(): Value[] {
    return this.entries().map((e) => e[0]);
  }

  values(): Value[] {
    return this.entries().map((e) => e[1]);
  }

  /** Iterates without sorting (cheaper when order does not matter). */
  forEachUnordered(fn: (k: Value, v: Value) => void): void {
    for (const [k, v] of this.prim) fn(k, v);
    if (this.comp) for (const e of this.comp.values()) fn(e[0], e[1]);
  }

  copy(): RObject {
    const o = new RObject();
    this.forEachUnordered((k, v) => o.set(k, v));
    return o;
  }
}

export class RSet {
  // Scalar members by identity (SameValueZero, as for RObject keys); composites by canonical key.
  private readonly prim = new Set<Primitive>();
  private comp?: Map<string, Value>;
  private sorted?: Value[];

  static from(items: Iterable<Value>): RSet {
    const s = new RSet();
    for (const v of items) s.add(v);
    return s;
  }

  get size(): number {
    return this.prim.size + (this.comp ? this.comp.size : 0);
  }

  has(v: Value): boolean {
    return isComposite(v) ? (this.comp?.has(canonicalKey(v)) ?? false) : this.prim.has(v);
  }

  /** Mutates: only for building a new set. Returns false if the value was already present. */
  add(v: Value): boolean {
    if (isComposite(v)) {
      const k = canonicalKey(v);
      this.comp ??= new Map();
      if (this.comp.has(k)) return false;
      this.comp.set(k, v);
    } else {
      // One hash operation: a set of an existing member leaves the size unchanged.
      const before = this.prim.size;
      this.prim.add(v);
      if (this.prim.size === before) return false;
    }
    this.sorted = undefined;
    return true;
  }

  delete(v: Value): boolean {
    this.sorted = undefined;
    return isComposite(v) ? (this.comp?.delete(canonicalKey(v)) ?? false) : this.prim.delete(v);
  }

  /** Members in OPA's order (sorted). Cached; do not mutate the result. */
  values(): Value[] {
    if (this.sorted) return this.sorted;
    const out: Value[] = [...this.prim.values()];
    if (this.comp) for (const v of this.comp.values()) out.push(v);
    if (out.length > 1) sortValues(out, !this.comp);
    this.sorted = out;
    return out;
  }

  forEachUnordered(fn: (v: Value) => void): void {
    for (const v of this.prim.values()) fn(v);
    if (this.comp) for (const v of this.comp.values()) fn(v);
  }

  copy(): RSet {
    const s = new RSet();
    this.forEachUnordered((v) => s.add(v));
    return s;
  }
}

/** Sorts in OPA's order, with fast paths for the common all-strings and all-numbers cases. */
function sortValues(out: Value[], scalarsOnly: boolean): void {
  if (scalarsOnly) {
    const t = typeof out[0];
    if (t === 'string' && out.every((v) => typeof v === 'string')) {
      sortStrings(out as string[]);
      return;
    }
    if (t === 'number' && out.every((v) => typeof v === 'number')) {
      out.sort((a, b) => (a as number) - (b as number));
      return;
    }
  }
  out.sort(compare);
}

// ---------------------------------------------------------------------------------------------
// Type tests and names

export function isObject(v: Value | undefined): v is RObject {
  return v instanceof RObject;
}
export function isSet(v: Value | undefined): v is RSet {
  return v instanceof RSet;
}
export function isArray(v: Value | undefined): v is Value[] {
  return Array.isArray(v);
}
export function isNumber(v: Value | undefined): v is number | bigint {
  return typeof v === 'number' || typeof v === 'bigint';
}

export type TypeName = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'set';

/** OPA's `type_name` for a value. */
export function typeName(v: Value): TypeName {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'boolean':
      return 'boolean';
    case 'number':
    case 'bigint':
      return 'number';
    case 'string':
      return 'string';
  }
  if (Array.isArray(v)) return 'array';
  if (v instanceof RObject) return 'object';
  return 'set';
}

const TYPE_RANK: Record<TypeName, number> = {
  null: 0,
  boolean: 1,
  number: 2,
  string: 3,
  array: 4,
  object: 5,
  set: 6,
};

// ---------------------------------------------------------------------------------------------
// Ordering and equality

/** Compares strings by Unicode code point, as Go compares UTF-8 bytes. */
const SURROGATE = /[\uD800-\uDFFF]/;
const compareCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Sorts strings in code point order. Without surrogate pairs that is JS's native UTF-16 code
 * unit order, which is much faster than comparing character by character.
 */
export function sortStrings(xs: string[]): void {
  // Array.prototype.sort without a comparator compares strings natively, by code unit.
  if (xs.some((x) => SURROGATE.test(x))) xs.sort(compareStrings);
  else xs.sort();
}

export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (astral code points) sort above every BMP code point in UTF-8/code point order.
      const xs = x >= 0xd800 && x <= 0xdfff;
      const ys = y >= 0xd800 && y <= 0xdfff;
      if (xs !== ys) return xs ? 1 : -1;
      return x < y ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

export function compareNumbers(a: number | bigint, b: number | bigint): number {
  // JS compares number and bigint exactly across types.
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Total order over values, matching OPA's ast.Compare. */
export function compare(a: Value, b: Value): number {
  if (a === b) return 0;
  const ta = typeName(a);
  const tb = typeName(b);
  if (ta !== tb) return TYPE_RANK[ta] - TYPE_RANK[tb];
  switch (ta) {
    case 'null':
      return 0;
    case 'boolean':
      return a === b ? 0 : a === false ? -1 : 1;
    case 'number':
      return compareNumbers(a as number | bigint, b as number | bigint);
    case 'string':
      return compareStrings(a as string, b as string);
    case 'array':
      return compareSequences(a as Value[], b as Value[]);
    case 'set':
      return compareSequences((a as RSet).values(), (b as RSet).values());
    case 'object': {
      const ea = (a as RObject).entries();
      const eb = (b as RObject).entries();
      const n = Math.min(ea.length, eb.length);
      for (let i = 0; i < n; i++) {
        const c = compare(ea[i][0], eb[i][0]);
        if (c !== 0) return c;
        const d = compare(ea[i][1], eb[i][1]);
        if (d !== 0) return d;
      }
      return ea.length - eb.length;
    }
  }
}

function compareSequences(a: Value[], b: Value[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compare(a[i], b[i]);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

export function equal(a: Value, b: Value): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equal(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof RObject) {
    if (!(b instanceof RObject) || a.size !== b.size) return false;
    let ok = true;
    a.forEachUnordered((k, v) => {
      if (!ok) return;
      const w = b.get(k);
      if (w === undefined || !equal(v, w)) ok = false;
    });
    return ok;
  }
  if (a instanceof RSet) {
    if (!(b instanceof RSet) || a.size !== b.size) return false;
    let ok = true;
    a.forEachUnordered((v) => {
      if (ok && !b.has(v)) ok = false;
    });
    return ok;
  }
  return false;
}

/**
 * Canonical string of a value: equal values give equal strings. Used to key composite values
 * in maps and sets. Not meant for display.
 */
export function canonicalKey(v: Value): string {
  if (v === null) return 'n';
  switch (typeof v) {
    case 'boolean':
      return v ? 't' : 'f';
    case 'number':
      return 'd' + String(v);
    case 'bigint':
      return 'd' + v.toString();
    case 'string':
      // Length-prefixed, so the encoding stays unambiguous without escaping anything.
      return 's' + v.length + ':' + v;
  }
  let out: string;
  if (Array.isArray(v)) {
    out = '[';
    for (let i = 0; i < v.length; i++) out += (i === 0 ? '' : ',') + canonicalKey(v[i]);
    return out + ']';
  }
  if (v instanceof RObject) {
    out = '{';
    const es = v.entries();
    for (let i = 0; i < es.length; i++) out += (i === 0 ? '' : ',') + canonicalKey(es[i][0]) + ':' + canonicalKey(es[i][1]);
    return out + '}';
  }
  out = '<';
  const xs = (v as RSet).values();
  for (let i = 0; i < xs.length; i++) out += (i === 0 ? '' : ',') + canonicalKey(xs[i]);
  return out + '>';
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** Normalises a bigint back to a JS number when it is a safe integer. */
export function normalizeBigInt(n: bigint): number | bigint {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

/**
 * Parses a Rego/JSON number literal. Integers keep full precision (bigint when large);
 * other literals become doubles. Returns undefined for text that is not a number.
 */
export function parseNumber(raw: string): number | bigint | undefined {
  if (!/^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/.test(raw)) return undefined;
  if (/^-?[0-9]+$/.test(raw)) {
    const n = Number(raw);
    if (Number.isSafeInteger(n)) return n;
    return normalizeBigInt(BigInt(raw));
  }
  const f = Number(raw);
  // A literal that denotes a large integer (1e20, 1.5e400) stays exact, up to 10^1000.
  if (!Number.isSafeInteger(f)) {
    const m = /^(-?)([0-9]+)(?:\.([0-9]+))?[eE]([+-]?[0-9]+)$/.exec(raw);
    if (m) {
      const frac = m[3] ?? '';
      const exp = Number(m[4]) - frac.length;
      const digits = (m[2] + frac).replace(/^0+(?=.)/, '');
      if (exp >= 0 && digits.length + exp <= 1000) {
        const n = BigInt(digits) * 10n ** BigInt(exp);
        return normalizeBigInt(m[1] ? -n : n);
      }
    }
  }
  if (!Number.isFinite(f)) return undefined;
  return f;
}

/** Formats a number as OPA prints it in JSON. */
export function formatNumber(n: number | bigint): string {
  if (typeof n === 'bigint') return n.toString();
  // The same digits as toFixed(0) for safe integers, and several times faster.
  if (Number.isSafeInteger(n)) return String(n);
  // Larger integral doubles print all their digits, not the shortest form with zeros.
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return n.toFixed(0);
  return String(n);
}

// ---------------------------------------------------------------------------------------------
// JSON edges

/**
 * The internalized copy of a string (the one V8 keeps for property names). Map lookups compare
 * internalized strings by pointer; any other string is compared character by character, and a
 * slice of a larger text (as the lexer's tokens are) is flattened again on every lookup. Policy
 * constants are internalized once at compile time, which makes looking them up several times
 * cheaper.
 */
export function internString(s: string): string {
  const o: Record<string, null> = {};
  o[s] = null;
  for (const k in o) return k;
  return s;
}

/** Converts parsed JSON (or YAML) data into a Rego value. */
export function fromJSON(x: unknown): Value {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case 'boolean':
    case 'string':
      return x;
    case 'number':
      return x;
    case 'bigint':
      return normalizeBigInt(x);
  }
  if (Array.isArray(x)) return x.map(fromJSON);
  if (x instanceof RObject || x instanceof RSet) return x;
  if (x instanceof Map) {
    const o = new RObject();
    for (const [k, v] of x) o.set(fromJSON(k), fromJSON(v));
    return o;
  }
  if (x instanceof Set) return RSet.from([...x].map(fromJSON));
  if (x instanceof Date) return x.toISOString();
  const o = new RObject();
  for (const k of Object.keys(x as object)) {
    const v = (x as Record<string, unknown>)[k];
    if (v !== undefined) o.set(k, fromJSON(v));
  }
  return o;
}

/**
 * Converts a value to plain JSON data: sets become sorted arrays, object keys that are not
 * strings become their JSON text (as OPA does), bigints stay bigints (use stringifyJSON to print).
 */
export function toJSON(v: Value): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toJSON);
  if (v instanceof RSet) return v.values().map(toJSON);
  const out: Record<string, unknown> = {};
  for (const [k, x] of v.entries()) out[typeof k === 'string' ? k : stringifyJSON(k)] = toJSON(x);
  return out;
}

// Characters that JSON.stringify escapes, plus the ones Go's encoder escapes for HTML safety.
const NEEDS_ESCAPE = /["\\\u0000-\u001f<>&\u2028\u2029\ud800-\udfff]/;

/** Go's encoding/json escapes <, > and & in strings; OPA output does too. */
function quoteString(s: string): string {
  // Most strings (names, digests, messages) need no escaping: skip JSON.stringify and the replace.
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

// Characters that JSON.stringify escapes (control characters, quote, backslash, lone surrogates).
const NEEDS_PLAIN_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify's quoting, without its call for the strings that need no escaping. */
function quotePlain(s: string): string {
  return NEEDS_PLAIN_ESCAPE.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/**
 * Serialises a value as JSON text, with OPA's ordering (sorted object keys and sets for Rego
 * values; plain JS objects keep their own key order).
 * `indent` > 0 pretty-prints like Go's json.MarshalIndent.
 */
export function stringifyJSON(v: Value | unknown, indent = 0, escapeHTML = true): string {
  // The common case (API answers, decision log lines) without the closures and arrays below.
  return indent === 0 ? compactJSON(v, escapeHTML ? quoteString : quotePlain) : formatJSON(v, indent, escapeHTML);
}

/** The JSON text of a scalar (undefined is null), or undefined for a composite value. */
function scalarJSON(x: unknown, quote: (s: string) => string): string | undefined {
  if (x === null || x === undefined) return 'null';
  switch (typeof x) {
    case 'boolean':
      return x ? 'true' : 'false';
    case 'number':
    case 'bigint':
      return formatNumber(x);
    case 'string':
      return quote(x);
  }
  return undefined;
}

/** stringifyJSON's general form: any indent, with or without HTML escapes. */
export function formatJSON(v: Value | unknown, indent: number, escapeHTML: boolean): string {
  const q = escapeHTML ? quoteString : quotePlain;
  const pad = (depth: number) => (indent > 0 ? '\n' + ' '.repeat(indent * depth) : '');
  const sep = indent > 0 ? ': ' : ':';
  const walk = (x: unknown, depth: number): string => {
    const scalar = scalarJSON(x, q);
    if (scalar !== undefined) return scalar;
    let items: string[];
    if (Array.isArray(x)) {
      items = x.map((e) => walk(e, depth + 1));
      if (items.length === 0) return '[]';
      return '[' + items.map((s) => pad(depth + 1) + s).join(',') + pad(depth) + ']';
    }
    if (x instanceof RSet) return walk(x.values(), depth);
    let entries: Array<[string, unknown]>;
    if (x instanceof RObject) {
      entries = x.entries().map(([k, e]) => [typeof k === 'string' ? k : stringifyJSON(k, 0, escapeHTML), e]);
      // Non-string keys become strings, which can change the order: re-sort like Go's encoder.
      if (entries.some((_, i) => typeof x.entries()[i][0] !== 'string')) entries.sort((a, b) => compareStrings(a[0], b[0]));
    } else {
      // Plain objects are output envelopes built in a deliberate field order (like Go structs).
      entries = Object.keys(x as object)
        .filter((k) => (x as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, (x as Record<string, unknown>)[k]]);
    }
    if (entries.length === 0) return '{}';
    return '{' + entries.map(([k, e]) => pad(depth + 1) + q(k) + sep + walk(e, depth + 1)).join(',') + pad(depth) + '}';
  };
  return walk(v, 0);
}

/** stringifyJSON(v) with no indent: the same text, built in one pass. `quote` says whether HTML characters are escaped. */
function compactJSON(x: unknown, quote: (s: string) => string): string {
  const scalar = scalarJSON(x, quote);
  if (scalar !== undefined) return scalar;
  if (Array.isArray(x)) return compactArray(x, quote);
  if (x instanceof RSet) return compactArray(x.values(), quote);
  let out = '{';
  if (x instanceof RObject) {
    const es = x.entries();
    for (let i = 0; i < es.length; i++) {
      // Non-string keys become JSON text, which changes the order: the general form re-sorts.
      if (typeof es[i][0] !== 'string') return formatJSON(x, 0, quote === quoteString);
      out += (i === 0 ? '' : ',') + quote(es[i][0] as string) + ':' + compactJSON(es[i][1], quote);
    }
    return out + '}';
  }
  // Plain objects are output envelopes built in a deliberate field order (like Go structs).
  const o = x as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (o[k] === undefined) continue;
    out += (out.length === 1 ? '' : ',') + quote(k) + ':' + compactJSON(o[k], quote);
  }
  return out + '}';
}

function compactArray(xs: unknown[], quote: (s: string) => string): string {
  let out = '[';
  for (let i = 0; i < xs.length; i++) out += (i === 0 ? '' : ',') + compactJSON(xs[i], quote);
  return out + ']';
}

/**
 * Parses JSON text keeping integers exact (large integers become bigint), for data files and
 * HTTP bodies. Throws JSONSyntaxError (a SyntaxError-like error with line/column) on invalid JSON.
 * (Node 20's JSON.parse does not give revivers the literal source, so this delegates to our own
 * parser in json.ts whenever JSON.parse could have rounded an integer.)
 */
export function parseJSON(text: string): Value {
  return parseJSONValue(text);
}

/** Human/Rego display of a value, as the REPL and `sprintf("%v")` print composites. */
export function toRegoString(v: Value): string {
  const scalar = scalarJSON(v, (x) => JSON.stringify(x));
  if (scalar !== undefined) return scalar;
  if (Array.isArray(v)) return '[' + v.map(toRegoString).join(', ') + ']';
  if (v instanceof RSet) return v.size === 0 ? 'set()' : '{' + v.values().map(toRegoString).join(', ') + '}';
  return '{' + (v as RObject).entries().map(([k, x]) => toRegoString(k) + ': ' + toRegoString(x)).join(', ') + '}';
}
