// The evaluator: top-down, with unification and backtracking, over the compiled rule tree.
//
// Continuation-passing style: every generator takes a continuation `k` and calls it once per
// solution; `k` returns true to stop the enumeration early (used by `not`, by complete rules
// with constant values, and by the first-solution checks of `every`). Variables live in a frame
// (one array per rule evaluation); bindings are undone when the continuation returns.
import type { Location } from './ast.js';
import type { EvalOptions } from './api.js';
import { checkOperands, type BuiltinContext, type BuiltinHooks } from './builtins/registry.js';
import type { CCall, CExpr, CRule, CTerm, CWith, CompiledPolicy, CRef } from './compiled.js';
import { RuleNode } from './compiled.js';
import { forEachTerm } from './walk.js';
import { mergeWithOverwrite } from './builtins/objects.js';
import { BuiltinError, HaltError, RegoError, evalCancelled, outputConflict } from './errors.js';
import { RObject, RSet, canonicalKey, equal, toRegoString, type Value } from './value.js';
import { MULTI, argMatcher, lookup, member2, member3, singleFn, unboundIsMulti, type Frame, type K } from './steps.js';
import type { RulesFn } from './codegen.js';
import { bodyTier, eachTier, rulesTier, termTier } from './tiers.js';

export { lookup } from './steps.js';

type VK = (v: Value) => boolean;

/**
 * Per-`with` evaluation context: input, data and function replacements, and memos. Rule values
 * are cached on the rule nodes for the context they were computed in (RuleNode.cachedIn).
 */
interface Ctx {
  input: Value | undefined;
  data: Value;
  /** Data paths replaced by `with` (joined by \u0000); rules at or below them are hidden. */
  shadow?: Set<string>;
  fns?: Map<string, { call?: CCall; value?: Value }>;
  /** This context without its function replacements, where replacement functions run. */
  unmocked?: Ctx;
  /** Values of partial sets/objects computed for single keys. */
  keyCache?: Map<RuleNode, Map<unknown, Value | typeof UNDEFINED>>;
}

const UNDEFINED = Symbol('undefined');
const NO_ARGS = Symbol('no arguments');
const STOP = (): boolean => true;
/** Memoised results: one map level per argument (JS maps key scalars by value, composites by identity). */
type FnMemo = Map<unknown, unknown>;
/** A function's only call so far in an evaluation context. */
interface FirstCall {
  args: Value[];
  result: Value | typeof UNDEFINED;
}

function sameArgs(a: Value[], b: Value[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function memoLookup(memo: FnMemo, args: Value[]): unknown {
  let level: FnMemo | undefined = memo;
  const last = args.length - 1;
  for (let i = 0; i < last && level; i++) level = level.get(args[i]) as FnMemo | undefined;
  return level?.get(last >= 0 ? args[last] : NO_ARGS);
}

function memoStore(memo: FnMemo, args: Value[], result: Value | typeof UNDEFINED): void {
  let level = memo;
  const last = args.length - 1;
  for (let i = 0; i < last; i++) {
    let next = level.get(args[i]) as FnMemo | undefined;
    if (next === undefined) {
      next = new Map();
      level.set(args[i], next);
    }
    level = next;
  }
  level.set(last >= 0 ? args[last] : NO_ARGS, result);
}

export type EvaluatorOptions = EvalOptions;

export class Evaluator {
  /** @internal */
  ctx: Ctx;
  private readonly strict: boolean;
  private readonly deadline?: number;
  private steps = 0;
  readonly builtinCtx: BuiltinContext;
  readonly notes: Array<{ message: string; location?: Location }> = [];
  private readonly collectNotes: boolean;
  /** The first builtin error swallowed in non-strict mode (reported by tools that want it). */
  builtinErrors: RegoError[] = [];
  /** Rule nodes holding values cached by this evaluation (see remember/release). */
  private readonly cachedNodes: RuleNode[] = [];

  constructor(
    readonly policy: CompiledPolicy,
    opts: EvaluatorOptions = {},
  ) {
    this.ctx = { input: opts.input, data: opts.data ?? new RObject() };
    this.strict = opts.strictBuiltinErrors ?? false;
    this.deadline = opts.deadline;
    this.collectNotes = opts.collectNotes ?? false;
    this.builtinCtx = new QueryBuiltinContext(opts.nowNs, opts.hooks ?? {}, policy.modules, opts.deadline);
  }

  // -------------------------------------------------------------------------------------------
  // Bodies and expressions

  /** Caches a node's value (or function memo) for the current context; see release(). */
  private remember(node: RuleNode, value: unknown): void {
    this.cachedNodes.push(node);
    node.cachedIn = this.ctx;
    node.cachedValue = value;
  }

  /**
   * Drops what this evaluation cached on rule nodes. Called when a query is done: values held
   * from long-lived nodes would otherwise survive into the old generation, and every collection
   * there costs in proportion to the (possibly large) data.
   */
  release(): void {
    for (const node of this.cachedNodes) {
      node.cachedIn = undefined;
      node.cachedValue = undefined;
    }
    this.cachedNodes.length = 0;
  }

  /** Runs a body from its first expression, in the form it runs in now (closures or generated code, see tiers.ts). */
  evalBody(body: CExpr[], f: Frame, k: K): boolean {
    return bodyTier(body).current()(this, f, k);
  }

  /**
   * Called at the end of every body and on every iteration step, so no loop escapes the
   * deadline. @internal
   */
  tick(): void {
    if (this.deadline !== undefined && (++this.steps & 1023) === 0 && Date.now() > this.deadline) {
      throw evalCancelled();
    }
  }

  /**
   * Evaluates one expression; `k` receives the expression's value (true for most kinds).
   * With `capture`, a term or call whose value is false still succeeds (OPA captures the value
   * of a lone query expression, so `opa eval '1 > 2'` answers false rather than undefined).
   */
  evalExpr(e: CExpr, f: Frame, k: VK, capture = false): boolean {
    if (e.withs.length) return this.evalWith(e, f, k, capture);
    if (e.negated) {
      const found = this.evalPositive(e, f, () => true, false);
      return found ? false : k(true);
    }
    return this.evalPositive(e, f, k, capture);
  }

  /** @internal */
  evalPositive(e: CExpr, f: Frame, k: VK, capture: boolean): boolean {
    switch (e.k) {
      case 'unify':
        return this.unify(e.a, e.b, f, () => k(true));
      case 'term':
        return this.evalTerm(e.term, f, (v) => (v === false && !capture ? false : k(v)));
      case 'call':
        return this.evalCall(e.call, f, (v) => {
          if (e.out) return this.unifyValue(e.out, v, f, () => k(true));
          return v === false && !capture ? false : k(v);
        });
      case 'somein':
        return this.evalTerm(e.domain, f, (d) =>
          this.members(d, (key, val) =>
            this.unifyValue(e.value, val, f, () => (e.key ? this.unifyValue(e.key, key, f, () => k(true)) : k(true))),
          ),
        );
      case 'every':
        return this.evalTerm(e.domain, f, (d) => {
          let ok = true;
          this.members(d, (key, val) => {
            const found = this.unifyValue(e.value, val, f, () =>
              e.key ? this.unifyValue(e.key, key, f, () => this.evalBody(e.body, f, () => true)) : this.evalBody(e.body, f, () => true),
            );
            if (!found) ok = false;
            return !ok;
          });
          return ok ? k(true) : false;
        });
      case 'nop':
        return k(true);
    }
  }

  /** Iterates the (key, value) members of a collection: array index/elem, object key/value, set elem/elem. */
  private members(d: Value, fn: (key: Value, val: Value) => boolean): boolean {
    if (Array.isArray(d)) {
      for (let i = 0; i < d.length; i++) {
        this.tick();
        if (fn(i, d[i])) return true;
      }
    } else if (d instanceof RObject) {
      for (const [key, val] of d.entries()) {
        this.tick();
        if (fn(key, val)) return true;
      }
    } else if (d instanceof RSet) {
      for (const v of d.values()) {
        this.tick();
        if (fn(v, v)) return true;
      }
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // with

  private evalWith(e: CExpr, f: Frame, k: VK, capture: boolean): boolean {
    const outer = this.ctx;
    const inner: Ctx = { input: outer.input, data: outer.data, shadow: outer.shadow, fns: outer.fns };
    try {
      this.applyWiths(e.withs, f, inner);
    } catch (x) {
      if (x instanceof UndefinedWith) return false;
      throw x;
    }
    const plain: CExpr = { ...e, withs: [] };
    this.ctx = inner;
    try {
      return this.evalExpr(
        plain,
        f,
        (v) => {
          this.ctx = outer;
          try {
            return k(v);
          } finally {
            this.ctx = inner;
          }
        },
        capture,
      );
    } finally {
      this.ctx = outer;
    }
  }

  private applyWiths(withs: CWith[], f: Frame, inner: Ctx): void {
    for (const w of withs) {
      if (w.kind === 'func' || (w.kind === 'data' && w.replacement && w.replacement.func)) {
        inner.fns = new Map(inner.fns ?? []);
        const key = w.funcName ?? 'data.' + w.path.join('.');
        if (w.replacement) inner.fns.set(key, { call: w.replacement });
        else inner.fns.set(key, { value: this.groundValue(w.value, f, w) });
        continue;
      }
      const v = this.groundValue(w.value, f, w);
      if (w.kind === 'input') {
        inner.input = w.path.length === 0 ? v : setPath(inner.input ?? new RObject(), w.path, v);
      } else {
        inner.data = w.path.length === 0 ? v : setPath(inner.data, w.path, v);
        inner.shadow = new Set(inner.shadow ?? []);
        inner.shadow.add(w.path.join('\u0000'));
      }
    }
  }

  private groundValue(t: CTerm, f: Frame, w: CWith): Value {
    let out: Value | undefined;
    this.evalTerm(t, f, (v) => {
      out = v;
      return true;
    });
    if (out === undefined) {
      // OPA: an undefined `with` value makes the expression undefined; model as a value that
      // never matches by throwing a private signal.
      throw new UndefinedWith(w);
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Terms

  evalTerm(t: CTerm, f: Frame, k: VK): boolean {
    // Most terms have at most one value: compute it directly, without continuations.
    const v = this.single(t, f);
    if (v !== MULTI) return v === undefined ? false : k(v);
    switch (t.t) {
      case 'const':
        return k(t.v);
      case 'var': {
        const v = f[t.slot];
        if (v === undefined) throw new RegoError('eval_internal_error', `var ${t.name} is unbound`);
        return k(v);
      }
      case 'ref':
        return this.evalRef(t, f, k);
      case 'array':
        return this.evalItems(t.items, 0, f, [], (vals) => k(vals));
      case 'set':
        return this.evalItems(t.items, 0, f, [], (vals) => k(RSet.from(vals)));
      case 'object': {
        const flat: CTerm[] = [];
        for (const [a, b] of t.items) flat.push(a, b);
        return this.evalItems(flat, 0, f, [], (vals) => {
          const o = new RObject();
          for (let i = 0; i < vals.length; i += 2) o.set(vals[i], vals[i + 1]);
          return k(o);
        });
      }
      case 'compr':
      case 'ocompr':
        return k(this.comprehension(t, f));
      case 'call':
        return this.evalCall(t.call, f, k);
    }
  }

  /**
   * The value of a term that cannot have several values, or undefined; MULTI when the term may
   * iterate (a ref with an unbound key, a relation) and needs the generic path.
   */
  private single(t: CTerm, f: Frame): Value | undefined | typeof MULTI {
    // Each term is compiled once into a closure specialised for its shape.
    return singleFn(t)(this, f);
  }

  /** @internal */
  singleRef(r: CRef, f: Frame): Value | undefined | typeof MULTI {
    const path = r.path;
    let v: Value | undefined;
    let i = 0;
    if (r.root === 'input') v = this.ctx.input;
    else if (r.root === 'term') {
      const h = this.single(r.head!, f);
      if (h === MULTI) return MULTI;
      v = h;
    } else {
      // data: descend the rule tree while it has rules below; then plain values.
      let node: RuleNode | undefined = this.policy.root;
      let base: Value | undefined = this.ctx.data;
      if (this.ctx.shadow) return MULTI;
      for (;;) {
        if (!node || !node.hasRules) {
          v = base;
          break;
        }
        if (node.rules.length > 0 || node.defaultRule) {
          if (node.isFunction) return undefined;
          if (node.rulesBelow) return MULTI;
          if (i < path.length && this.keyedLookup(node)) {
            const key = this.singleKey(path[i], f);
            if (key === MULTI) return MULTI;
            v = this.ruleValueAt(node, key);
            i++;
            break;
          }
          v = this.ruleValue(node);
          break;
        }
        // A package (or a ref-head prefix such as p in p["a"] := 1): its whole document.
        if (i === path.length) return this.extent(node, base);
        const key = this.singleKey(path[i], f);
        if (key === MULTI) return MULTI;
        if (typeof key !== 'string') return MULTI;
        node = node.children.get(key);
        base = base instanceof RObject ? base.get(key) : undefined;
        i++;
      }
    }
    for (; i < path.length; i++) {
      if (v === undefined) return undefined;
      const key = this.singleKey(path[i], f);
      if (key === MULTI) return MULTI;
      v = lookup(v, key);
    }
    return v;
  }

  /** A ref key with one value (MULTI when it may have several or is an unbound pattern). */
  private singleKey(p: CTerm, f: Frame): Value | typeof MULTI {
    if (p.t === 'const') return p.v;
    if (p.t === 'var') return unboundIsMulti(f[p.slot]);
    // An undefined key makes the whole ref undefined: MULTI lets the generic path say so.
    return unboundIsMulti(this.single(p, f));
  }

  /** The value of a comprehension: always exactly one (possibly empty) collection. @internal */
  comprehension(t: Extract<CTerm, { t: 'compr' | 'ocompr' }>, f: Frame): Value {
    if (t.t === 'ocompr') {
      const out = new RObject();
      this.evalBody(t.body, f, () =>
        this.evalTerm(t.key, f, (key) =>
          this.evalTerm(t.value, f, (val) => {
            const prev = out.get(key);
            if (prev !== undefined && !equal(prev, val)) throw new RegoError('eval_conflict_error', 'object keys must be unique');
            out.set(key, val);
            return false;
          }),
        ),
      );
      return out;
    }
    if (t.kind === 'array') {
      const out: Value[] = [];
      this.forEachValue(t.body, t.term, f, (v) => out.push(v));
      return out;
    }
    const out = new RSet();
    this.forEachValue(t.body, t.term, f, (v) => out.add(v));
    return out;
  }

  /** Calls `fn` with each value of `term` in each solution of `body` (comprehensions, partial sets). */
  private forEachValue(body: CExpr[], term: CTerm, f: Frame, fn: (v: Value) => void): void {
    eachTier(body, term).current()(this, f, fn);
  }

  private evalItems(items: CTerm[], i: number, f: Frame, acc: Value[], k: (vals: Value[]) => boolean): boolean {
    if (i === items.length) return k(acc.slice());
    return this.evalTerm(items[i], f, (v) => {
      acc.push(v);
      const r = this.evalItems(items, i + 1, f, acc, k);
      acc.pop();
      return r;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Unification

  /** True when the term can be evaluated to values now (unbound vars only in ref key positions). */
  private evaluable(t: CTerm, f: Frame): boolean {
    switch (t.t) {
      case 'var':
        return f[t.slot] !== undefined;
      case 'array':
      case 'set':
        return t.items.every((x) => this.evaluable(x, f));
      case 'object':
        return t.items.every(([a, b]) => this.evaluable(a, f) && this.evaluable(b, f));
      default:
        return true;
    }
  }

  unify(a: CTerm, b: CTerm, f: Frame, k: K): boolean {
    if (this.evaluable(b, f)) return this.evalTerm(b, f, (v) => this.unifyValue(a, v, f, k));
    if (this.evaluable(a, f)) return this.evalTerm(a, f, (v) => this.unifyValue(b, v, f, k));
    if (a.t === 'array' && b.t === 'array') {
      if (a.items.length !== b.items.length) return false;
      return this.unifyPairs(
        a.items.map((x, i) => [x, b.items[i]] as [CTerm, CTerm]),
        f,
        k,
      );
    }
    if (a.t === 'object' && b.t === 'object') {
      if (a.items.length !== b.items.length) return false;
      // Keys are ground; pair values by key.
      const pairs: Array<[CTerm, CTerm]> = [];
      for (const [ka, va] of a.items) {
        const kv = this.first(ka, f);
        const match = b.items.find(([kb]) => kv !== undefined && equal(this.first(kb, f) as Value, kv));
        if (!match) return false;
        pairs.push([va, match[1]]);
      }
      return this.unifyPairs(pairs, f, k);
    }
    throw new RegoError('eval_internal_error', 'cannot unify two unbound terms');
  }

  /** Unifies pairs in an order that always has one evaluable side (like the compiler's check). */
  private unifyPairs(pairs: Array<[CTerm, CTerm]>, f: Frame, k: K): boolean {
    if (pairs.length === 0) return k();
    let idx = pairs.findIndex(([x, y]) => this.evaluable(x, f) || this.evaluable(y, f));
    if (idx < 0) idx = 0;
    const [x, y] = pairs[idx];
    const rest = pairs.slice(0, idx).concat(pairs.slice(idx + 1));
    return this.unify(x, y, f, () => this.unifyPairs(rest, f, k));
  }

  private first(t: CTerm, f: Frame): Value | undefined {
    let out: Value | undefined;
    this.evalTerm(t, f, (v) => {
      out = v;
      return true;
    });
    return out;
  }

  /** Unifies a (possibly partly unbound) term with a value. */
  unifyValue(t: CTerm, v: Value, f: Frame, k: K): boolean {
    switch (t.t) {
      case 'const':
        return equal(t.v, v) ? k() : false;
      case 'var': {
        const cur = f[t.slot];
        if (cur !== undefined) return equal(cur, v) ? k() : false;
        f[t.slot] = v;
        try {
          return k();
        } finally {
          f[t.slot] = undefined;
        }
      }
      case 'array': {
        if (!Array.isArray(v) || v.length !== t.items.length) return false;
        return this.unifyItems(t.items, v, 0, f, k);
      }
      case 'object': {
        if (!(v instanceof RObject) || v.size !== t.items.length) return false;
        const keys: CTerm[] = [];
        const vals: Value[] = [];
        for (const [kt] of t.items) {
          const kv = this.first(kt, f);
          if (kv === undefined) return false;
          const x = v.get(kv);
          if (x === undefined) return false;
          keys.push(kt);
          vals.push(x);
        }
        return this.unifyItems(
          t.items.map(([, vt]) => vt),
          vals,
          0,
          f,
          k,
        );
      }
      default:
        return this.evalTerm(t, f, (x) => (equal(x, v) ? k() : false));
    }
  }

  private unifyItems(ts: CTerm[], vs: Value[], i: number, f: Frame, k: K): boolean {
    if (i === ts.length) return k();
    return this.unifyValue(ts[i], vs[i], f, () => this.unifyItems(ts, vs, i + 1, f, k));
  }

  // -------------------------------------------------------------------------------------------
  // References

  private evalRef(r: CRef, f: Frame, k: VK): boolean {
    if (r.root === 'input') {
      const input = this.ctx.input;
      if (input === undefined) return false;
      return this.walkValue(input, r.path, 0, f, k);
    }
    if (r.root === 'term') return this.evalTerm(r.head!, f, (h) => this.walkValue(h, r.path, 0, f, k));
    return this.walkData(this.policy.root, this.ctx.data, r.path, 0, f, k);
  }

  /** Steps into a value along the remaining path, iterating where a key is unbound. */
  private walkValue(v: Value, path: CTerm[], i: number, f: Frame, k: VK): boolean {
    while (i < path.length) {
      const p = path[i];
      let key: Value | undefined;
      if (p.t === 'const') key = p.v;
      else if (p.t === 'var') key = f[p.slot];
      else if (this.evaluable(p, f) && p.t !== 'array' && p.t !== 'object') {
        // ref / call / comprehension as key: evaluate (may be generative)
        const rest = i + 1;
        return this.evalTerm(p, f, (kv) => {
          const child = lookup(v, kv);
          return child === undefined ? false : this.walkValue(child, path, rest, f, k);
        });
      } else if (this.evaluable(p, f)) {
        const rest = i + 1;
        return this.evalTerm(p, f, (kv) => {
          const child = lookup(v, kv);
          return child === undefined ? false : this.walkValue(child, path, rest, f, k);
        });
      }
      if (key === undefined) {
        // Unbound: iterate over the collection's keys.
        const rest = i + 1;
        if (p.t === 'var') {
          // The common `xs[_]` / `xs[i]`: bind the slot in place for each member.
          const slot = p.slot;
          return this.members(v, (mk, mv) => {
            f[slot] = mk;
            const r = this.walkValue(mv, path, rest, f, k);
            f[slot] = undefined;
            return r;
          });
        }
        return this.members(v, (mk, mv) => this.unifyValue(p, mk, f, () => this.walkValue(mv, path, rest, f, k)));
      }
      const child = lookup(v, key);
      if (child === undefined) return false;
      v = child;
      i++;
    }
    return k(v);
  }

  /** Steps through the rule tree merged with base data. */
  private walkData(node: RuleNode | undefined, base: Value | undefined, path: CTerm[], i: number, f: Frame, k: VK): boolean {
    for (;;) {
      if (node && this.ctx.shadow && this.ctx.shadow.has(node.path.join('\u0000'))) node = undefined;
      if (!node || !node.hasRules) {
        if (base === undefined) return false;
        return this.walkValue(base, path, i, f, k);
      }
      if (node.rules.length > 0 || node.defaultRule) {
        if (node.isFunction) return false;
        if (node.rulesBelow) return this.walkValue(this.extent(node, undefined), path, i, f, k);
        // Partial sets/objects looked up by a ground key evaluate only what that key needs.
        if (i < path.length && this.keyedLookup(node)) {
          const p = path[i];
          const key = p.t === 'const' ? p.v : p.t === 'var' ? f[p.slot] : undefined;
          if (key !== undefined) {
            const v = this.ruleValueAt(node, key);
            if (v === undefined) return false;
            return this.walkValue(v, path, i + 1, f, k);
          }
        }
        const v = this.ruleValue(node);
        if (v === undefined) return false;
        return this.walkValue(v, path, i, f, k);
      }
      if (i === path.length) return k(this.extent(node, base));
      const p = path[i];
      let key: Value | undefined;
      if (p.t === 'const') key = p.v;
      else if (p.t === 'var') key = f[p.slot];
      else if (this.evaluable(p, f)) {
        const rest = i + 1;
        const n = node;
        const b = base;
        return this.evalTerm(p, f, (kv) => this.stepData(n, b, kv, path, rest, f, k));
      }
      if (key === undefined) {
        // Unbound key: every child with rules, plus every key of the base document.
        const rest = i + 1;
        const n = node;
        const keys = new Set<Value>();
        for (const [name, c] of n.children) if (c.hasRules) keys.add(name);
        if (base instanceof RObject) for (const bk of base.keys()) keys.add(bk);
        const sorted = RSet.from(keys).values();
        const b = base;
        for (const kv of sorted) {
          this.tick();
          if (this.unifyValue(p, kv, f, () => this.stepData(n, b, kv, path, rest, f, k))) return true;
        }
        return false;
      }
      if (typeof key !== 'string') {
        if (base === undefined) return false;
        const child = lookup(base, key);
        if (child === undefined) return false;
        return this.walkValue(child, path, i + 1, f, k);
      }
      node = node.children.get(key);
      base = base instanceof RObject ? base.get(key) : undefined;
      i++;
    }
  }

  private stepData(node: RuleNode, base: Value | undefined, key: Value, path: CTerm[], i: number, f: Frame, k: VK): boolean {
    const child = typeof key === 'string' ? node.children.get(key) : undefined;
    const childBase = base instanceof RObject ? base.get(key) : undefined;
    return this.walkData(child, childBase, path, i, f, k);
  }

  /** The whole document at a node: base data merged with the values of all rules below. */
  /** @internal */
  extent(node: RuleNode, base: Value | undefined): Value {
    if (this.ctx.shadow && this.ctx.shadow.has(node.path.join('\u0000'))) return base ?? new RObject();
    if (node.rules.length || node.defaultRule) {
      const v = this.ruleValue(node);
      if (!node.rulesBelow) return v === undefined ? new RObject() : v;
      // Rules here and below (ref heads): their documents merged.
      return mergeWithOverwrite(v instanceof RObject ? v : new RObject(), this.extentBelow(node, undefined));
    }
    return this.extentBelow(node, base);
  }

  /** Base data merged with the values of the rules below a node (not at it). */
  private extentBelow(node: RuleNode, base: Value | undefined): RObject {
    const out = base instanceof RObject ? base.copy() : new RObject();
    for (const [name, c] of node.children) {
      if (!c.hasRules) continue;
      if (this.ctx.shadow && this.ctx.shadow.has(c.path.join('\u0000'))) continue;
      if ((c.rules.length || c.defaultRule) && c.isFunction) continue;
      const cb = base instanceof RObject ? base.get(name) : undefined;
      if ((c.rules.length || c.defaultRule) && !c.rulesBelow) {
        const v = this.ruleValue(c);
        if (v !== undefined) out.set(name, v);
      } else {
        out.set(name, this.extent(c, cb));
      }
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Rules

  /** The value of the rules at a node (cached per context); undefined when undefined. */
  ruleValue(node: RuleNode): Value | undefined {
    const ctx = this.ctx;
    if (node.cachedIn === ctx) return node.cachedValue === UNDEFINED ? undefined : (node.cachedValue as Value);
    const v = this.computeRuleValue(node);
    this.remember(node, v === undefined ? UNDEFINED : v);
    return v;
  }

  /**
   * Whether `node[key]` can be computed by evaluating the rules with their head key bound to
   * `key` (OPA does the same), instead of computing every key: partial sets and objects whose
   * head key is a pattern (var, constant, or array/object of those), when the whole document
   * is not already cached.
   */
  private keyedLookup(node: RuleNode): boolean {
    const kind = node.kind;
    if (kind !== 'multi' && kind !== 'object') return false;
    if (node.cachedIn === this.ctx) return false;
    let ok = node.keyed;
    if (ok === undefined) {
      ok = node.rules.every((r) => {
        if (r.else) return false;
        const head = kind === 'multi' ? (r.dyn.length ? r.dyn[0] : r.key!) : r.dyn[0];
        return head !== undefined && isPattern(head);
      });
      node.keyed = ok;
    }
    return ok;
  }

  /** The value of `node[key]` for a partial set or object, evaluating only rules that can produce it. */
  private ruleValueAt(node: RuleNode, key: Value): Value | undefined {
    let byKey = this.ctx.keyCache?.get(node);
    if (!byKey) {
      this.ctx.keyCache ??= new Map();
      byKey = new Map();
      this.ctx.keyCache.set(node, byKey);
    }
    const ck = isCompositeValue(key) ? canonicalKey(key) : key;
    const cached = byKey.get(ck);
    if (cached !== undefined) return cached === UNDEFINED ? undefined : cached;
    const v = this.computeRuleValueAt(node, key);
    byKey.set(ck, v === undefined ? UNDEFINED : v);
    return v;
  }

  private computeRuleValueAt(node: RuleNode, key: Value): Value | undefined {
    const rules = this.candidateRules(node);
    if (node.kind === 'multi' && rules.every((r) => r.dyn.length === 0)) {
      // Set membership: one solution is enough.
      for (const rule of rules) {
        const f: Frame = new Array(rule.nslots);
        const found = this.unifyValue(rule.key!, key, f, () => this.evalBody(rule.body, f, () => true));
        if (found) return key;
      }
      return undefined;
    }
    // Objects (and multi-value rules with ref heads): collect what lives under `key`.
    let single: Value | undefined;
    let nested: RObject | undefined;
    for (const rule of rules) {
      const f: Frame = new Array(rule.nslots);
      const rest = rule.dyn.slice(1);
      this.unifyValue(rule.dyn[0], key, f, () =>
        this.evalBody(rule.body, f, () =>
          this.evalItems(rest, 0, f, [], (keys) =>
            this.evalTerm(node.kind === 'multi' ? rule.key! : rule.value, f, (v) => {
              if (node.kind === 'multi') {
                if (keys.length === 0) {
                  const s = single instanceof RSet ? single : new RSet();
                  s.add(v);
                  single = s;
                } else insertSetPath((nested ??= new RObject()), keys, v, rule.loc);
              } else if (keys.length === 0) {
                if (single !== undefined && !equal(single, v)) throw new RegoError('eval_conflict_error', 'object keys must be unique', rule.loc);
                single = v;
              } else insertPath((nested ??= new RObject()), keys, v, rule.loc);
              return false;
            }),
          ),
        ),
      );
    }
    if (single !== undefined && nested !== undefined) throw new RegoError('eval_conflict_error', 'object keys must be unique', node.rules[0]?.loc);
    return single ?? nested;
  }

  private candidateRules(node: RuleNode): CRule[] {
    const idx = node.index;
    if (!idx) return node.rules;
    let v: Value | undefined = this.ctx.input;
    for (const seg of idx.path) {
      if (v === undefined) break;
      v = v instanceof RObject ? v.get(seg) : undefined;
    }
    if (v === undefined || (v !== null && typeof v === 'object')) return idx.unconditional;
    const hit = idx.byValue.get(v);
    if (!hit) return idx.unconditional;
    if (idx.unconditional.length === 0) return hit;
    // Keep the written order so results and conflicts match unindexed evaluation.
    const sel = new Set([...hit, ...idx.unconditional]);
    return node.rules.filter((r) => sel.has(r));
  }

  private computeRuleValue(node: RuleNode): Value | undefined {
    const kind = node.kind;
    if (kind === 'complete') {
      const generated = generatedRules(node);
      if (generated !== null) return generated(this, undefined, undefined);
    }
    const rules = this.candidateRules(node);
    if (kind === 'complete') {
      let result: Value | undefined;
      for (const rule of rules) {
        if (result !== undefined && rule.constValue !== undefined && equal(rule.constValue, result) && !rule.else) continue;
        this.evalRuleChain(rule, (v) => {
          if (result === undefined) result = v;
          else if (!equal(result, v)) {
            throw outputConflict('complete', rule.loc);
          }
          return false;
        });
      }
      if (result === undefined && node.defaultRule) result = defaultValue(node.defaultRule);
      return result;
    }
    if (kind === 'multi') {
      const dynamic = rules.some((r) => r.dyn.length > 0);
      if (!dynamic) {
        const out = new RSet();
        for (const rule of rules) {
          const f: Frame = new Array(rule.nslots);
          this.forEachValue(rule.body, rule.key!, f, (v) => out.add(v));
        }
        return out;
      }
      const out = new RObject();
      for (const rule of rules) {
        const f: Frame = new Array(rule.nslots);
        this.evalBody(rule.body, f, () =>
          this.evalItems(rule.dyn, 0, f, [], (keys) =>
            this.evalTerm(rule.key!, f, (v) => {
              insertSetPath(out, keys, v, rule.loc);
              return false;
            }),
          ),
        );
      }
      return out;
    }
    if (kind === 'object') {
      const out = new RObject();
      for (const rule of rules) {
        this.evalRuleChain(rule, (v, f) =>
          this.evalItems(rule.dyn, 0, f, [], (keys) => {
            insertPath(out, keys, v, rule.loc);
            return false;
          }),
        );
      }
      return out;
    }
    return undefined;
  }

  /**
   * Evaluates a rule and, if it has no solution, its `else` chain; calls `onValue` with each
   * head value (and the frame, for ref-head keys). Stops after the first solution when the
   * value is constant.
   */
  private evalRuleChain(rule: CRule, onValue: (v: Value, f: Frame) => boolean, args?: Value[]): boolean {
    for (let r: CRule | undefined = rule; r; r = r.else) {
      const f: Frame = new Array(r.nslots);
      let found = false;
      const cur = r;
      const step = (cur.bodyTier ??= bodyTier(cur.body)).current();
      // A constant value cannot change between solutions (ref-head keys can).
      const once = cur.constValue !== undefined && cur.kind !== 'object';
      // Parameters that are patterns of variables and constants are matched in place.
      const match = args ? (cur.argsMatch === undefined ? (cur.argsMatch = argMatcher(cur.args!)) : cur.argsMatch) : null;
      if (match && !match(f, args!)) continue;
      if (once && (match || !args)) {
        // One solution is all it takes, and the value needs no frame.
        if (step(this, f, STOP)) {
          onValue(cur.constValue!, f);
          return true;
        }
        continue;
      }
      const value = (cur.valueTier ??= termTier(cur.value)).current();
      const solution = (): boolean => {
        const v = value(this, f);
        if (v === undefined) return false;
        if (v === MULTI) {
          return this.evalTerm(cur.value, f, (x) => {
            found = true;
            return onValue(x, f) || once;
          });
        }
        found = true;
        return onValue(v, f) || once;
      };
      if (match || !args) step(this, f, solution);
      else this.unifyItems(cur.args!, args, 0, f, () => step(this, f, solution));
      if (found) return true;
    }
    return false;
  }

  // -------------------------------------------------------------------------------------------
  // Calls

  /** @internal */
  evalCall(call: CCall, f: Frame, k: VK): boolean {
    const override = this.ctx.fns?.get(call.name);
    if (override) {
      if (override.value !== undefined) return this.evalItems(call.args, 0, f, [], () => k(override.value as Value));
      const repl = override.call!;
      if (!repl.func) return this.evalCall({ ...repl, args: call.args, loc: call.loc }, f, k);
      // A replacement function runs without the replacements in effect, as in OPA: it may call
      // the function it replaces (the original), and never reaches another replacement.
      return this.evalItems(call.args, 0, f, [], (args) => {
        const outer = this.ctx;
        this.ctx = outer.unmocked ??= { input: outer.input, data: outer.data, shadow: outer.shadow };
        let result: Value | undefined;
        try {
          result = this.functionValue(repl, args);
        } finally {
          this.ctx = outer;
        }
        return result === undefined ? false : k(result);
      });
    }
    if (call.special === 'print') return this.evalPrint(call, f, k);
    if (!call.special && !call.builtin?.relation) {
      // Arguments with one value each (the common case): no continuations needed.
      const args: Value[] = new Array(call.args.length);
      let simple = true;
      for (let i = 0; i < args.length; i++) {
        const x = this.single(call.args[i], f);
        if (x === undefined) return false;
        if (x === MULTI) {
          simple = false;
          break;
        }
        args[i] = x;
      }
      if (simple) {
        if (call.func) return this.callFunction(call, args, k);
        const r = this.callBuiltin(call, args);
        return r === undefined ? false : k(r);
      }
    }
    return this.evalItems(call.args, 0, f, [], (args) => {
      if (call.func) return this.callFunction(call, args, k);
      if (call.special === 'member2') return k(member2(args[0], args[1]));
      if (call.special === 'member3') return k(member3(args[0], args[1], args[2]));
      if (call.special === 'walk') {
        for (const pair of walkPairs(args[0])) {
          this.tick();
          if (k(pair)) return true;
        }
        return false;
      }
      const b = call.builtin!;
      const result = this.callBuiltin(call, args);
      if (result === undefined) return false;
      if (b.relation && Array.isArray(result)) {
        for (const r of result) {
          this.tick();
          if (k(r)) return true;
        }
        return false;
      }
      return k(result);
    });
  }

  /** Calls a builtin; undefined for undefined results and (non-strict) builtin errors. */
  /** @internal */
  callBuiltin(call: CCall, args: Value[]): Value | undefined {
    const b = call.builtin!;
    let result: Value | undefined;
    try {
      checkOperands(b, args);
      this.builtinCtx.location = call.loc;
      result = b.impl(args, this.builtinCtx);
    } catch (e) {
      if (e instanceof HaltError || e instanceof RegoError) throw e;
      const err =
        e instanceof BuiltinError
          ? new RegoError(e.code, `${b.name}: ${e.message}`, call.loc)
          : new RegoError('eval_builtin_error', `${b.name}: ${(e as Error).message}`, call.loc);
      if (this.strict) throw err;
      this.builtinErrors.push(err);
      return undefined;
    }
    if (result !== undefined && b.name === 'trace' && this.collectNotes) this.notes.push({ message: String(args[0]), location: call.loc });
    return result;
  }

  /** @internal */
  callFunction(call: CCall, args: Value[], k: VK): boolean {
    const result = this.functionValue(call, args);
    return result === undefined ? false : k(result);
  }

  /**
   * A user function's value for these arguments. Functions are pure within a query, so results
   * are memoised per evaluation context (a `with` starts a new one); arguments are keyed by value
   * for scalars and by identity for composites (values are immutable, so that is safe).
   */
  /** @internal */
  functionValue(call: CCall, args: Value[]): Value | undefined {
    const node = call.func!;
    if (!(node.memoise ??= worthMemoising(node))) return this.computeFunction(call, args);
    // The memo lives on the node, for one evaluation context at a time (see RuleNode.cachedIn).
    // Most functions are called with one set of arguments per query: the first call is kept as
    // is, and maps are built only when a second set comes along.
    if (node.cachedIn !== this.ctx) {
      const result = this.computeFunction(call, args);
      this.remember(node, { args, result: result === undefined ? UNDEFINED : result } satisfies FirstCall);
      return result;
    }
    let level = node.cachedValue as FnMemo | FirstCall;
    if (!(level instanceof Map)) {
      const first = level;
      if (sameArgs(first.args, args)) return first.result === UNDEFINED ? undefined : first.result;
      level = new Map();
      memoStore(level, first.args, first.result);
      node.cachedValue = level;
    }
    const hit = memoLookup(level, args);
    if (hit !== undefined) return hit === UNDEFINED ? undefined : (hit as Value);
    const result = this.computeFunction(call, args);
    memoStore(level, args, result === undefined ? UNDEFINED : result);
    return result;
  }

  private computeFunction(call: CCall, args: Value[]): Value | undefined {
    const node = call.func!;
    const generated = generatedRules(node);
    if (generated !== null) return generated(this, args, call);
    let result: Value | undefined;
    const onValue = (v: Value): boolean => {
      if (result === undefined) result = v;
      else if (!equal(result, v)) {
        throw outputConflict('func', call.loc);
      }
      return false;
    };
    for (const rule of node.rules) {
      if (result !== undefined && rule.constValue !== undefined && equal(rule.constValue, result) && !rule.else) continue;
      this.evalRuleChain(rule, onValue, args);
    }
    if (result === undefined && node.defaultRule) result = defaultValue(node.defaultRule);
    return result;
  }

  private evalPrint(call: CCall, f: Frame, k: VK): boolean {
    const parts: string[] = [];
    for (const a of call.args) {
      const vals: Value[] = [];
      this.evalTerm(a, f, (v) => (vals.push(v), false));
      if (vals.length === 0) parts.push('<undefined>');
      else parts.push(vals.map((v) => (typeof v === 'string' ? v : toRegoString(v))).join(' '));
    }
    this.builtinCtx.hooks.print?.(parts.join(' '), call.loc);
    return k(true);
  }
}

/**
 * What builtins see of the query. The clock is read and the cache made on first use: most
 * queries need neither, and they are evaluated many thousands of times a second.
 */
class QueryBuiltinContext implements BuiltinContext {
  private now?: bigint;
  private cache?: Map<string, Value>;
  location?: Location;

  constructor(
    now: bigint | undefined,
    readonly hooks: BuiltinHooks,
    readonly modules: CompiledPolicy['modules'],
    readonly deadline: number | undefined,
  ) {
    this.now = now;
  }

  get nowNs(): bigint {
    return (this.now ??= BigInt(Date.now()) * 1_000_000n);
  }

  get queryCache(): Map<string, Value> {
    return (this.cache ??= new Map());
  }
}

/** Signals that a `with` value was undefined: the expression is undefined. */
class UndefinedWith extends Error {
  constructor(readonly w: CWith) {
    super('undefined with value');
  }
}
export { UndefinedWith };

/** A node's complete rules or function as generated code, once hot (see tiers.ts); null until then, or never. */
function generatedRules(node: RuleNode): RulesFn | null {
  return (node.rulesTier ??= rulesTier(node)).current();
}

/** The value of a default rule, used because no other rule gave one. */
function defaultValue(rule: CRule): Value | undefined {
  rule.onDefault?.();
  return rule.constValue;
}

// ---------------------------------------------------------------------------------------------
// Value helpers


/**
 * Memoising costs two map lookups per call and a map per function per query: worth it only for
 * functions that do real work — iterate, build comprehensions or call other functions. Small
 * helpers such as a tag split are cheaper to recompute.
 */
function worthMemoising(node: RuleNode): boolean {
  let costly = false;
  const visit = (t: CTerm): void => {
    if (t.t === 'compr' || t.t === 'ocompr' || (t.t === 'call' && t.call.func) || (t.t === 'ref' && t.path.some((p) => p.t !== 'const'))) costly = true;
  };
  for (const first of node.rules) {
    for (let r: CRule | undefined = first; r && !costly; r = r.else) {
      for (const e of r.body) {
        if (e.k === 'somein' || e.k === 'every' || (e.k === 'call' && e.call.func)) costly = true;
        forEachTerm(e, visit);
      }
      forEachTerm(r.value, visit);
    }
  }
  return costly;
}

function isCompositeValue(v: Value): boolean {
  return typeof v === 'object' && v !== null;
}

/** Terms that unification can match against a value without evaluating anything. */
function isPattern(t: CTerm): boolean {
  switch (t.t) {
    case 'const':
    case 'var':
      return true;
    case 'array':
      return t.items.every(isPattern);
    case 'object':
      return t.items.every(([k, v]) => k.t === 'const' && isPattern(v));
    default:
      return false;
  }
}

function walkPairs(v: Value): Value[] {
  const out: Value[] = [];
  const rec = (x: Value, path: Value[]) => {
    out.push([path.slice(), x]);
    if (Array.isArray(x)) x.forEach((e, i) => rec(e, [...path, i]));
    else if (x instanceof RObject) for (const [kk, e] of x.entries()) rec(e, [...path, kk]);
    else if (x instanceof RSet) for (const e of x.values()) rec(e, [...path, e]);
  };
  rec(v, []);
  return out;
}

/** Returns a copy of `root` with `value` at `path`, creating objects as needed (copy-on-write). */
function setPath(root: Value, path: string[], value: Value): Value {
  if (path.length === 0) return value;
  const obj = root instanceof RObject ? root.copy() : new RObject();
  const [head, ...rest] = path;
  const child = obj.get(head);
  obj.set(head, setPath(child ?? new RObject(), rest, value));
  return obj;
}

/** The object that holds the last of `keys` inside `out`, creating the objects on the way. */
function parentObject(out: RObject, keys: Value[], l?: Location): RObject {
  let o = out;
  for (let i = 0; i < keys.length - 1; i++) {
    let next = o.get(keys[i]);
    if (next === undefined) {
      next = new RObject();
      o.set(keys[i], next);
    } else if (!(next instanceof RObject)) {
      throw new RegoError('eval_conflict_error', 'object keys must be unique', l);
    }
    o = next;
  }
  return o;
}

/** Sets out[k1][k2]...[kn] = v for a ref-head rule; a different value already there is a conflict. */
function insertPath(out: RObject, keys: Value[], v: Value, l?: Location): void {
  const o = parentObject(out, keys, l);
  const last = keys[keys.length - 1];
  const prev = o.get(last);
  if (prev !== undefined && !equal(prev, v)) throw new RegoError('eval_conflict_error', 'object keys must be unique', l);
  o.set(last, v);
}

/** Adds v to the set at out[k1]...[kn] for a multi-value ref-head rule. */
function insertSetPath(out: RObject, keys: Value[], v: Value, l?: Location): void {
  const o = parentObject(out, keys, l);
  const last = keys[keys.length - 1];
  let s = o.get(last);
  if (s === undefined) {
    s = new RSet();
    o.set(last, s);
  } else if (!(s instanceof RSet)) throw new RegoError('eval_conflict_error', 'object keys must be unique', l);
  s.add(v);
}
