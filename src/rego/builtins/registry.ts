// The builtin table: one entry per OPA builtin, with its declared operand types so that
// operand checks, arity checks and the capabilities listing all come from one place.
//
// Category files (strings.ts, numbers.ts, ...) call `registerBuiltins` at import time;
// `builtins/index.ts` imports every category.
import { BuiltinError, evalCancelled } from '../errors.js';
import type { Location, Module } from '../ast.js';
import { RObject, RSet, typeName, type Value } from '../value.js';

/**
 * Operand/result types, written as in OPA's documentation:
 *   'any' | 'null' | 'boolean' | 'number' | 'string'
 *   'array' | 'array[string]' | 'set' | 'set[any]' | 'object' | 'object[string,any]'
 *   unions with '|': 'string|number', 'array|set'
 * Element types are documentation for the capabilities listing; runtime checks look at the
 * outer type only (as OPA's runtime operand checks do).
 */
export type TypeSpec = string;

export interface BuiltinContext {
  /** Nanoseconds since the Unix epoch, the same for every call within one query (time.now_ns). */
  readonly nowNs: bigint;
  /** Per-query memo for builtins that must return the same value within a query (rand.intn, uuid.rfc4122). */
  readonly queryCache: Map<string, Value>;
  /** Where the current call is, for messages (set by the evaluator before each call). */
  location?: Location;
  /** Optional hooks supplied by the embedding program (the rego core does no I/O itself). */
  readonly hooks: BuiltinHooks;
  /** The policy's modules (for rego.metadata.*). */
  readonly modules?: readonly Module[];
  /** When the evaluation must stop (ms since the epoch), if it has a time limit. */
  readonly deadline?: number;
}

/**
 * Ends the evaluation when its time limit has passed. The evaluator checks between steps; a
 * builtin that builds a large value in one call (numbers.range) checks as it goes.
 */
export function checkDeadline(ctx: BuiltinContext): void {
  if (ctx.deadline !== undefined && Date.now() > ctx.deadline) throw evalCancelled();
}

export interface BuiltinHooks {
  print?: (message: string, location?: Location) => void;
  /** http.send; absent means the builtin reports that network access is disabled. */
  httpSend?: (request: RObject, ctx: BuiltinContext) => Value;
  /** Extra information for opa.runtime(). */
  runtime?: () => Value;
  /** net.lookup_ip_addr: resolves a name to IP address strings; absent means no network access. */
  lookupIPAddr?: (name: string) => string[];
}

export interface BuiltinDef {
  name: string;
  /** Declared operand types; the arity is args.length. */
  args: TypeSpec[];
  /** Result type; 'boolean' for predicates such as startswith. */
  result: TypeSpec;
  /** Category for the capabilities listing and docs, e.g. 'strings'. */
  category: string;
  /**
   * The implementation. Operands have already been checked against `args`' outer types.
   * Return undefined for an undefined result; throw BuiltinError for errors.
   */
  impl: (args: Value[], ctx: BuiltinContext) => Value | undefined;
  /** Builtins whose result varies between queries (time.now_ns, rand.intn, http.send...). */
  nondeterministic?: boolean;
  /** Builtins OPA marks deprecated; rejected by the compiler for Rego v1 modules. */
  deprecated?: boolean;
  /** Infix form, for `plus` -> '+', used in messages. */
  infix?: string;
  /**
   * Relations (e.g. `walk`) produce several outputs: `impl` returns an array and each element
   * is one solution for the output operand.
   */
  relation?: boolean;
  /**
   * Takes any operands and never throws (the comparisons): the evaluator may call `impl`
   * without operand checks or error handling.
   */
  infallible?: boolean;
  /** @internal Bit masks of the outer operand types, derived from `args` on first use (see checkOperands). */
  operandMasks?: number[];
}

const table = new Map<string, BuiltinDef>();

export function registerBuiltins(...defs: BuiltinDef[]): void {
  for (const d of defs) {
    if (table.has(d.name)) throw new Error(`builtin ${d.name} registered twice`);
    table.set(d.name, d);
  }
}

export function getBuiltin(name: string): BuiltinDef | undefined {
  return table.get(name);
}

export function allBuiltins(): BuiltinDef[] {
  return [...table.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

// ---------------------------------------------------------------------------------------------
// Operand checks, with OPA's messages: "operand 1 must be string but got number".

const outerCache = new Map<TypeSpec, string[] | null>();

/** The outer type names of a spec, or null for 'any'. */
function outerTypes(spec: TypeSpec): string[] | null {
  let r = outerCache.get(spec);
  if (r === undefined) {
    const parts = splitTopLevel(spec, '|').map((p) => p.trim().replace(/\[.*$/s, ''));
    r = parts.includes('any') ? null : parts;
    outerCache.set(spec, r);
  }
  return r;
}

function splitTopLevel(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === sep && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

/** Throws eval_type_error if an operand's type does not match the declaration. */
export function checkOperands(def: BuiltinDef, args: Value[]): void {
  // Called on every builtin call: one bit per outer type, so a check is an AND.
  const masks = (def.operandMasks ??= def.args.map((spec) => typeMask(outerTypes(spec))));
  for (let i = 0; i < masks.length; i++) {
    const mask = masks[i];
    if (mask !== 0 && (typeBit(args[i]) & mask) === 0) {
      const want = outerTypes(def.args[i])!;
      const expected = want.length === 1 ? want[0] : `one of {${want.join(', ')}}`;
      throw new BuiltinError(`operand ${i + 1} must be ${expected} but got ${typeName(args[i])}`, 'eval_type_error');
    }
  }
}

const TYPE_BITS: Record<string, number> = { null: 1, boolean: 2, number: 4, string: 8, array: 16, object: 32, set: 64 };

/** The bits of the given outer type names; 0 (no check) for 'any'. */
function typeMask(types: string[] | null): number {
  if (types === null) return 0;
  let m = 0;
  for (const t of types) m |= TYPE_BITS[t] ?? 0;
  return m;
}

function typeBit(v: Value): number {
  if (v === null) return 1;
  switch (typeof v) {
    case 'boolean':
      return 2;
    case 'number':
    case 'bigint':
      return 4;
    case 'string':
      return 8;
  }
  if (Array.isArray(v)) return 16;
  return v instanceof RObject ? 32 : 64;
}

// ---------------------------------------------------------------------------------------------
// Small helpers shared by category files.

export function typeError(operand: number, expected: string, got: Value): BuiltinError {
  return new BuiltinError(`operand ${operand} must be ${expected} but got ${typeName(got)}`, 'eval_type_error');
}

export function str(v: Value): string {
  return v as string;
}

export function newSet(items: Iterable<Value>): RSet {
  return RSet.from(items);
}

export function newObject(entries: Iterable<[Value, Value]>): RObject {
  return RObject.from(entries);
}
