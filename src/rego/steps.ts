// Closure compilation of bodies and terms: each expression and term is turned once into a JS
// closure specialised for its shape, so that evaluation runs direct calls instead of switching
// on node kinds and allocating a continuation per step.
//
// A body is a chain of steps: step i receives the frame and the body's final continuation `k`
// and calls step i+1 directly for each of its solutions. Expressions whose operands have one
// value each (the common case: assignments, calls, comparisons, `some x in xs`) bind and unbind
// frame slots in place. Anything unusual (`with`, `every`, unification of two patterns, refs
// that iterate) falls back to the Evaluator's generic continuation-passing code, which gives
// the same solutions in the same order.
//
// These closures are the first tier: code starts on them, and what runs often is generated as
// JavaScript (codegen.ts), which hands what it does not handle back to them (`closureTier`).
import type { CCall, CExpr, CRef, CTerm, CompiledPolicy, RuleNode } from './compiled.js';
import type { Evaluator } from './eval.js';
import type { ClosureTier } from './codegen.js';
import { RObject, RSet, equal, type Value } from './value.js';

export type Frame = Array<Value | undefined>;
export type K = () => boolean;
/** One step of a body: calls `next` (compiled in) for each solution; `k` ends the body. */
export type Step = (ev: Evaluator, f: Frame, k: K) => boolean;
/** The value of a term with at most one value; undefined when undefined; MULTI when it may iterate. */
export type SingleFn = (ev: Evaluator, f: Frame) => Value | undefined | typeof MULTI;
/** Unifies a compiled pattern with a value, then continues with `next`. */
type Unifier = (ev: Evaluator, f: Frame, v: Value, next: Step, k: K) => boolean;

export const MULTI = Symbol('multi');

/** An unbound variable (or undefined key) as MULTI: the general path decides. Not `??`: null is a value. */
export function unboundIsMulti<T>(v: T | undefined): T | typeof MULTI {
  return v === undefined ? MULTI : v;
}

// The end of a body: reached once per solution, so the deadline is checked there too.
const END: Step = (ev, _f, k) => {
  ev.tick();
  return k();
};
const TRUE: K = () => true;

// ---------------------------------------------------------------------------------------------
// Bodies

/** The closure steps from each expression of a body to its end (the last one is END). */
function closureChain(body: CExpr[]): Step[] {
  const chain: Step[] = new Array(body.length + 1);
  chain[body.length] = END;
  for (let i = body.length - 1; i >= 0; i--) chain[i] = exprStep(body[i], chain[i + 1]);
  return chain;
}

const closureChains = new WeakMap<CExpr[], Step[]>();

/** The closures the generated code hands over to (and, at `chain(body, 0)`, a body's closure form). */
export const closureTier: ClosureTier = {
  chain(body, i) {
    let chain = closureChains.get(body);
    if (chain === undefined) closureChains.set(body, (chain = closureChain(body)));
    return chain[i];
  },
  probe: (e) => positiveStep(e, END),
  single: singleFn,
  unifier,
  dataPrefix,
  multi: MULTI,
  lookup,
  member2,
  member3,
};

function exprStep(e: CExpr, next: Step): Step {
  if (e.withs.length) return (ev, f, k) => ev.evalExpr(e, f, () => next(ev, f, k));
  if (e.negated) {
    const pos = positiveStep(e, END);
    return (ev, f, k) => (pos(ev, f, TRUE) ? false : next(ev, f, k));
  }
  // The deadline is checked at the end of a body and on every iteration (here and in the
  // evaluator's generic loops), which bounds any evaluation without a check per expression.
  return positiveStep(e, next);
}

function positiveStep(e: CExpr, next: Step): Step {
  switch (e.k) {
    case 'nop':
      return next;
    case 'term': {
      const t = e.term;
      const sf = singleFn(t);
      return (ev, f, k) => {
        const v = sf(ev, f);
        if (v === MULTI) return ev.evalTerm(t, f, (x) => (x === false ? false : next(ev, f, k)));
        return v === undefined || v === false ? false : next(ev, f, k);
      };
    }
    case 'call': {
      const call = e.call;
      const sf = singleFn({ t: 'call', call });
      const out = e.out;
      if (out === undefined) {
        return (ev, f, k) => {
          const v = sf(ev, f);
          if (v === MULTI) return ev.evalCall(call, f, (x) => (x === false ? false : next(ev, f, k)));
          return v === undefined || v === false ? false : next(ev, f, k);
        };
      }
      const uo = unifier(out);
      return (ev, f, k) => {
        const v = sf(ev, f);
        if (v === MULTI) return ev.evalCall(call, f, (x) => uo(ev, f, x, next, k));
        return v === undefined ? false : uo(ev, f, v, next, k);
      };
    }
    case 'unify': {
      const { a, b } = e;
      const sa = singleFn(a);
      const sb = singleFn(b);
      const ua = unifier(a);
      const bVar = b.t === 'var' ? b.slot : -1;
      return (ev, f, k) => {
        // As Evaluator.unify: the right side first when it can be evaluated.
        const v = sb(ev, f);
        if (v !== MULTI) return v === undefined ? false : ua(ev, f, v, next, k);
        if (bVar >= 0 && f[bVar] === undefined) {
          const x = sa(ev, f);
          if (x === undefined) return false;
          if (x !== MULTI) {
            f[bVar] = x;
            const r = next(ev, f, k);
            f[bVar] = undefined;
            return r;
          }
        }
        return ev.unify(a, b, f, () => next(ev, f, k));
      };
    }
    case 'somein': {
      const sd = singleFn(e.domain);
      const uv = unifier(e.value);
      const keyTerm = e.key;
      if (keyTerm === undefined) {
        return (ev, f, k) => {
          const d = sd(ev, f);
          if (d === MULTI) return ev.evalPositive(e, f, () => next(ev, f, k), false);
          if (d === undefined) return false;
          if (Array.isArray(d)) {
            for (let i = 0; i < d.length; i++) {
              ev.tick();
              if (uv(ev, f, d[i], next, k)) return true;
            }
          } else if (d instanceof RObject) {
            for (const [, val] of d.entries()) {
              ev.tick();
              if (uv(ev, f, val, next, k)) return true;
            }
          } else if (d instanceof RSet) {
            for (const val of d.values()) {
              ev.tick();
              if (uv(ev, f, val, next, k)) return true;
            }
          }
          return false;
        };
      }
      const uk = unifier(keyTerm);
      return (ev, f, k) => {
        const d = sd(ev, f);
        if (d === MULTI) return ev.evalPositive(e, f, () => next(ev, f, k), false);
        if (d === undefined) return false;
        let key: Value = null;
        const afterValue: Step = (ev2, f2, k2) => uk(ev2, f2, key, next, k2);
        if (Array.isArray(d)) {
          for (let i = 0; i < d.length; i++) {
            ev.tick();
            key = i;
            if (uv(ev, f, d[i], afterValue, k)) return true;
          }
        } else if (d instanceof RObject) {
          for (const [kk, val] of d.entries()) {
            ev.tick();
            key = kk;
            if (uv(ev, f, val, afterValue, k)) return true;
          }
        } else if (d instanceof RSet) {
          for (const val of d.values()) {
            ev.tick();
            key = val;
            if (uv(ev, f, val, afterValue, k)) return true;
          }
        }
        return false;
      };
    }
    case 'every':
      return (ev, f, k) => ev.evalPositive(e, f, () => next(ev, f, k), false);
  }
}

/** Unification of a term with a value: direct for variables and constants, generic otherwise. */
function unifier(t: CTerm): Unifier {
  if (t.t === 'var') {
    const slot = t.slot;
    return (ev, f, v, next, k) => {
      const cur = f[slot];
      if (cur !== undefined) return equal(cur, v) ? next(ev, f, k) : false;
      // No try/finally: an exception abandons the whole evaluation and its frames.
      f[slot] = v;
      const r = next(ev, f, k);
      f[slot] = undefined;
      return r;
    };
  }
  if (t.t === 'const') {
    const c = t.v;
    return (ev, f, v, next, k) => (equal(c, v) ? next(ev, f, k) : false);
  }
  const match = t.t === 'array' || t.t === 'object' ? patternMatcher(t) : null;
  if (match !== null) {
    // A pattern such as [org, name]: matched in place; the variables it bound are unbound again
    // when the continuation returns (or the match fails half way).
    const slots = patternSlots(t);
    return (ev, f, v, next, k) => {
      const unbound = slots.filter((s) => f[s] === undefined);
      const r = match(f, v) && next(ev, f, k);
      for (const s of unbound) f[s] = undefined;
      return r;
    };
  }
  return (ev, f, v, next, k) => ev.unifyValue(t, v, f, () => next(ev, f, k));
}

/** The frame slots of the variables in a pattern. */
function patternSlots(t: CTerm): number[] {
  switch (t.t) {
    case 'var':
      return [t.slot];
    case 'array':
      return t.items.flatMap(patternSlots);
    case 'object':
      return t.items.flatMap(([, v]) => patternSlots(v));
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Terms with one value

const singleFns = new WeakMap<CTerm, SingleFn>();

/** The compiled single-value evaluation of a term (compiled on first use, then cached). */
export function singleFn(t: CTerm): SingleFn {
  let fn = singleFns.get(t);
  if (fn === undefined) {
    fn = compileSingle(t);
    singleFns.set(t, fn);
  }
  return fn;
}

/**
 * Constants, variables, refs, arrays, sets, objects, comprehensions and calls whose arguments
 * have one value; anything that may iterate answers MULTI.
 */
function compileSingle(t: CTerm): SingleFn {
  // Collections of constants are built once (values are never mutated once built).
  const constant = constantValue(t);
  if (constant !== undefined) return () => constant;
  switch (t.t) {
    case 'const': {
      const v = t.v;
      return () => v;
    }
    case 'var': {
      const slot = t.slot;
      return (_ev, f) => unboundIsMulti(f[slot]);
    }
    case 'ref':
      return compileSingleRef(t);
    case 'array': {
      const items = t.items.map(singleFn);
      return (ev, f) => {
        const out: Value[] = new Array(items.length);
        for (let i = 0; i < items.length; i++) {
          const x = items[i](ev, f);
          if (x === MULTI || x === undefined) return x;
          out[i] = x;
        }
        return out;
      };
    }
    case 'set': {
      const items = t.items.map(singleFn);
      return (ev, f) => {
        const out = new RSet();
        for (const item of items) {
          const x = item(ev, f);
          if (x === MULTI || x === undefined) return x;
          out.add(x);
        }
        return out;
      };
    }
    case 'object': {
      const pairs = t.items.map(([k, v]) => [singleFn(k), singleFn(v)] as const);
      return (ev, f) => {
        const out = new RObject();
        for (const [kf, vf] of pairs) {
          const key = kf(ev, f);
          if (key === MULTI || key === undefined) return key;
          const val = vf(ev, f);
          if (val === MULTI || val === undefined) return val;
          out.set(key, val);
        }
        return out;
      };
    }
    case 'compr':
    case 'ocompr': {
      const c = t;
      return (ev, f) => ev.comprehension(c, f);
    }
    case 'call':
      return compileSingleCall(t.call);
  }
}

/** The value of a term made only of constants (e.g. `{"docker.io", "index.docker.io"}`), or undefined. */
function constantValue(t: CTerm): Value | undefined {
  switch (t.t) {
    case 'const':
      return t.v;
    case 'array': {
      const items = t.items.map(constantValue);
      return items.every((x) => x !== undefined) ? (items as Value[]) : undefined;
    }
    case 'set': {
      const items = t.items.map(constantValue);
      return items.every((x) => x !== undefined) ? RSet.from(items as Value[]) : undefined;
    }
    case 'object': {
      const out = new RObject();
      for (const [k, v] of t.items) {
        const key = constantValue(k);
        const val = constantValue(v);
        if (key === undefined || val === undefined) return undefined;
        out.set(key, val);
      }
      return out;
    }
    default:
      return undefined;
  }
}

/**
 * Refs rooted at input or at a term step through values with keys that have one value each;
 * data refs walk the rule tree (Evaluator.singleRef).
 */
function compileSingleRef(r: CRef): SingleFn {
  if (r.root === 'data') return compileSingleDataRef(r);
  const walk = pathWalker(r.path);
  const head = r.root === 'term' ? singleFn(r.head!) : undefined;
  return (ev, f) => {
    const v = head === undefined ? ev.ctx.input : head(ev, f);
    return v === MULTI ? MULTI : walk(ev, f, v, 0);
  };
}

/**
 * Steps from a value along ref keys from position `from`: undefined as soon as a value is
 * missing, MULTI when a key has no single value.
 */
function pathWalker(path: CTerm[]): (ev: Evaluator, f: Frame, v: Value | undefined, from: number, to?: number) => Value | undefined | typeof MULTI {
  const n = path.length;
  const read = termReader(path);
  return (ev, f, v, from, to = n) => {
    for (let i = from; i < to; i++) {
      if (v === undefined) return undefined;
      const key = readTerm(read, i, ev, f);
      if (key === MULTI || key === undefined) return key;
      v = lookup(v, key);
    }
    return v;
  };
}

/**
 * A data ref whose constant prefix leads, in the rule tree, to plain base data (no rules at or
 * below it) or to one rule that is not looked up by key: where it leads is worked out once per
 * policy, and then the ref is a chain of lookups. Other data refs (and any ref while `with`
 * replaces data) take the evaluator's general walk.
 */
function compileSingleDataRef(r: CRef): SingleFn {
  const walk = pathWalker(r.path);
  const plan = planOf(r);
  const base = dataPrefix(r, plan);
  return (ev, f) => {
    const prefix = base(ev);
    if (prefix !== MULTI) return walk(ev, f, prefix, r.staticLen);
    if (ev.ctx.shadow) return ev.singleRef(r, f);
    const p = plan(ev);
    if (p.kind === 'rule') return walk(ev, f, ev.ruleValue(p.node), p.start);
    if (p.kind === 'extent') return ev.extent(p.node, walk(ev, f, ev.ctx.data, 0) as Value | undefined);
    return ev.singleRef(r, f);
  };
}

/** Where a data ref leads in the rule tree of the policy being evaluated, worked out once per policy. */
function planOf(r: CRef): (ev: Evaluator) => DataRefPlan {
  let policy: CompiledPolicy | undefined;
  let plan: DataRefPlan = { kind: 'general' };
  return (ev) => {
    if (policy !== ev.policy) {
      policy = ev.policy;
      plan = dataRefPlan(r, policy.root);
    }
    return plan;
  };
}

/**
 * For a data ref whose constant prefix leads to plain base data: the value at that prefix, or
 * MULTI for any other ref (and any ref while `with` replaces data). The value is kept for the
 * data document it was read from: documents are immutable, so it stays right for as long as the
 * same document is evaluated (typically many queries: until the data is next written).
 */
function dataPrefix(r: CRef, plan = planOf(r)): (ev: Evaluator) => Value | undefined | typeof MULTI {
  const walk = pathWalker(r.path.slice(0, r.staticLen));
  const noFrame: Frame = [];
  let prefixOf: Value | undefined;
  let prefix: Value | undefined;
  return (ev) => {
    if (ev.ctx.shadow || plan(ev).kind !== 'base') return MULTI;
    const data = ev.ctx.data;
    if (data !== prefixOf) {
      prefix = walk(ev, noFrame, data, 0) as Value | undefined;
      prefixOf = data;
    }
    return prefix;
  };
}

type DataRefPlan = { kind: 'base' } | { kind: 'rule'; node: RuleNode; start: number } | { kind: 'extent'; node: RuleNode } | { kind: 'general' };

function dataRefPlan(r: CRef, root: RuleNode): DataRefPlan {
  let node: RuleNode | undefined = root;
  for (let i = 0; ; i++) {
    if (node === undefined || !node.hasRules) return { kind: 'base' };
    if (node.rules.length > 0 || node.defaultRule) {
      if (node.rulesBelow) return { kind: 'general' };
      const kind = node.kind;
      // Functions are not values; partial sets/objects followed by a key are evaluated by key.
      if (kind === 'func' || ((kind === 'multi' || kind === 'object') && i < r.path.length)) return { kind: 'general' };
      return { kind: 'rule', node, start: i };
    }
    // The end of the ref at a package: its whole document (base data merged with rules below).
    if (i === r.path.length) return { kind: 'extent', node };
    if (i >= r.staticLen) return { kind: 'general' };
    node = node.children.get((r.path[i] as { v: string }).v);
  }
}

function compileSingleCall(c: CCall): SingleFn {
  if (c.special === 'print' || c.special === 'walk' || c.builtin?.relation) return () => MULTI;
  const args = argsFn(c.args);
  if (c.special === 'member2') {
    return (ev, f) => {
      const xs = args(ev, f);
      return Array.isArray(xs) ? member2(xs[0], xs[1]) : xs;
    };
  }
  if (c.special === 'member3') {
    return (ev, f) => {
      const xs = args(ev, f);
      return Array.isArray(xs) ? member3(xs[0], xs[1], xs[2]) : xs;
    };
  }
  if (c.func !== undefined) {
    return (ev, f) => {
      const xs = args(ev, f);
      return Array.isArray(xs) ? ev.functionValue(c, xs) : xs;
    };
  }
  // Builtins that take any operands and cannot fail (comparisons): no operand check, no error
  // handling, straight to the implementation.
  const b = c.builtin;
  if (b?.infallible) {
    return (ev, f) => {
      const xs = args(ev, f);
      return Array.isArray(xs) ? b.impl(xs, ev.builtinCtx) : xs;
    };
  }
  return (ev, f) => {
    const xs = args(ev, f);
    return Array.isArray(xs) ? ev.callBuiltin(c, xs) : xs;
  };
}

/**
 * How to read the single values of a list of terms (ref keys, call arguments): variables and
 * constants — most of them — in place, other terms through their compiled closures.
 */
interface TermReader {
  slots: number[];
  consts: Array<Value | undefined>;
  fns: Array<SingleFn | undefined>;
}

function termReader(terms: CTerm[]): TermReader {
  const slots = terms.map((t) => (t.t === 'var' ? t.slot : -1));
  const consts = terms.map((t) => constantValue(t));
  const fns = terms.map((t, i) => (slots[i] >= 0 || consts[i] !== undefined ? undefined : singleFn(t)));
  return { slots, consts, fns };
}

// One top-level function (not a closure per term list), so that V8 can inline it at its callers.
function readTerm(r: TermReader, i: number, ev: Evaluator, f: Frame): Value | undefined | typeof MULTI {
  const slot = r.slots[i];
  if (slot >= 0) return unboundIsMulti(f[slot]);
  const c = r.consts[i];
  // Not `??`: null is a constant like any other.
  return c !== undefined ? c : r.fns[i]!(ev, f);
}

/** The argument values of a call, or undefined / MULTI when an argument has no single value. */
function argsFn(terms: CTerm[]): (ev: Evaluator, f: Frame) => Value[] | undefined | typeof MULTI {
  const n = terms.length;
  const read = termReader(terms);
  return (ev, f) => {
    // Replaced functions (`with`) go through the generic path.
    if (ev.ctx.fns) return MULTI;
    const out: Value[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const x = readTerm(read, i, ev, f);
      if (x === MULTI || x === undefined) return x;
      out[i] = x;
    }
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// Function arguments

/**
 * Binds a function rule's parameters to the call's arguments in a fresh frame, or answers
 * false when they do not match. Parameters are variables, constants, and arrays or objects
 * (with constant keys) of those — e.g. `f([name, tag])`. A failed match leaves bindings behind,
 * which is harmless: the frame is discarded.
 */
export type ArgMatcher = (f: Frame, args: Value[]) => boolean;

/** The matcher for these parameters, or null when a parameter needs general unification. */
export function argMatcher(params: CTerm[]): ArgMatcher | null {
  const ms = params.map(patternMatcher);
  if (ms.some((m) => m === null)) return null;
  const matchers = ms as PatternMatcher[];
  const n = matchers.length;
  return (f, args) => {
    for (let i = 0; i < n; i++) if (!matchers[i](f, args[i])) return false;
    return true;
  };
}

type PatternMatcher = (f: Frame, v: Value) => boolean;

function patternMatcher(t: CTerm): PatternMatcher | null {
  const constant = constantValue(t);
  if (constant !== undefined) return (_f, v) => equal(constant, v);
  switch (t.t) {
    case 'var': {
      const slot = t.slot;
      return (f, v) => {
        const cur = f[slot];
        if (cur === undefined) {
          f[slot] = v;
          return true;
        }
        return equal(cur, v);
      };
    }
    case 'array': {
      const items = t.items.map(patternMatcher);
      if (items.some((m) => m === null)) return null;
      const ms = items as PatternMatcher[];
      return (f, v) => {
        if (!Array.isArray(v) || v.length !== ms.length) return false;
        for (let i = 0; i < ms.length; i++) if (!ms[i](f, v[i])) return false;
        return true;
      };
    }
    case 'object': {
      const keys = t.items.map(([k]) => constantValue(k));
      const vals = t.items.map(([, v]) => patternMatcher(v));
      if (keys.some((k) => k === undefined) || vals.some((m) => m === null)) return null;
      const ms = vals as PatternMatcher[];
      return (f, v) => {
        if (!(v instanceof RObject) || v.size !== keys.length) return false;
        for (let i = 0; i < keys.length; i++) {
          const x = v.get(keys[i]!);
          if (x === undefined || !ms[i](f, x)) return false;
        }
        return true;
      };
    }
    default:
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Value helpers shared with the evaluator

export function lookup(v: Value, key: Value): Value | undefined {
  if (Array.isArray(v)) {
    if (typeof key !== 'number' || !Number.isInteger(key) || key < 0 || key >= v.length) return undefined;
    return v[key];
  }
  if (v instanceof RObject) return v.get(key);
  if (v instanceof RSet) return v.has(key) ? key : undefined;
  return undefined;
}

/** `x in xs`. */
export function member2(x: Value, xs: Value): boolean {
  if (Array.isArray(xs)) return xs.some((y) => equal(x, y));
  if (xs instanceof RSet) return xs.has(x);
  if (xs instanceof RObject) return xs.values().some((y) => equal(x, y));
  return false;
}

/** `k, v in xs`. */
export function member3(k: Value, v: Value, xs: Value): boolean {
  const got = lookup(xs, k);
  if (xs instanceof RSet) return false;
  return got !== undefined && equal(got, v);
}
