// JavaScript generation for bodies, rule values, collections and the rules at a rule node:
// the second tier after the closures of steps.ts (tiers.ts decides which runs).
//
// A body compiled to closures pays a call between closures for every step, binding, lookup and
// iteration, and V8 cannot inline them: all closures of one kind share their code, so every
// call site between them sees many targets. Here a body becomes the source of one function in
// which iteration is a `for` loop, a binding is a frame store, a ref is a chain of lookups and
// the rest of the body is nested inside, so each body gets code (and type feedback) of its own.
// For example the body of
//
//   {v.Name | some layer in manifests[org][name][tag].layers; some v in reports[layer.digest].Vulnerabilities}
//
// becomes two nested loops with the lookups inlined, adding to the set in the inner loop.
//
// The generated function has the same contract as a Step and gives the same solutions in the
// same order. Whatever it does not handle inline it hands to the closures: a term it does not
// build itself is its compiled closure; an expression with `with`, `every`, a pattern it does
// not match in place, or a term that turns out to iterate (MULTI) continues with the closure
// chain from that expression, which finishes the body. A stop (the continuation `k` answering
// true) sets `stop`: loops end and every binding is undone on the way out, as the closures do.
//
// The source contains no text from the policy: only slot numbers, indexes and names of
// generated locals. Constants, closures and fallback steps are passed in an environment array.
import type { CCall, CExpr, CRef, CRule, CTerm, RuleNode } from './compiled.js';
import { outputConflict } from './errors.js';
import type { Evaluator } from './eval.js';
import type { Frame, SingleFn, Step } from './steps.js';
import { RObject, RSet, equal, type Value } from './value.js';

/** What the generated code uses from the closure tier (steps.ts). */
export interface ClosureTier {
  /** The closure chain from expression i of a body to its end (i = body.length ends it). */
  chain(body: CExpr[], i: number): Step;
  /** A negated expression's positive form, run to its first solution. */
  probe(e: CExpr): Step;
  /** The compiled closure of a term (SingleFn). */
  single(t: CTerm): unknown;
  /** The closure unification of a pattern with a value, continuing with a step. */
  unifier(t: CTerm): unknown;
  /** For a data ref: the value at its constant prefix when that is plain base data, else `multi`. */
  dataPrefix(r: CRef): unknown;
  /** The marker of a term that may have several values, and the lookup of a key in a value. */
  multi: symbol;
  lookup: (v: Value, key: Value) => Value | undefined;
  member2: (x: Value, xs: Value) => boolean;
  member3: (k: Value, v: Value, xs: Value) => boolean;
}

// Bodies longer than this are generated up to here and finished by the closure chain: keeps
// the nesting of the generated source (one block per expression) well within parser limits.
const MAX_INLINE = 48;
// Comprehensions nested deeper than this inside one generated body stay closures.
const MAX_COMPREHENSION_DEPTH = 4;
// Source longer than this is not compiled: V8 takes about a second per few megabytes (a node
// with thousands of rules), which would stall the evaluation that tiers up. Such code stays on
// closures. The bundled policies' largest function is about 10 KB.
const MAX_SOURCE = 64 * 1024;
// Rule nodes with more rules than this (counting else branches) are not generated at all: the
// source would be too long anyway, and building it first takes time of its own (about 150 ms
// for 5,000 rules).
const MAX_RULES = 256;

const EMPTY: Value[] = [];
const TRUE = (): boolean => true;

// Each generator answers null when it does not generate: the closures keep running.

/** Generates the function for a body. */
export function generateBody(body: CExpr[], tier: ClosureTier): Step | null {
  const src = new Source(tier);
  const code = new BodyGen(src, body, 'ev.tick();\nif (k()) stop = true;', 0).from(0);
  return src.compile('function body(ev, f, k) {\nlet stop = false;', code, 'return stop;\n}') as Step | null;
}

/** Generates the single-value function of a term (the SingleFn contract of steps.ts). */
export function generateTerm(t: CTerm, tier: ClosureTier): SingleFn | null {
  const src = new Source(tier);
  const code = new BodyGen(src, [], '', 0).term(t, 'out');
  return src.compile('function term(ev, f) {', code, 'return out;\n}') as SingleFn | null;
}

/** Calls `fn` with the value of `term` for each solution of `body` (comprehensions, partial sets). */
export type Each = (ev: Evaluator, f: Frame, fn: (v: Value) => unknown) => void;

export function generateEach(body: CExpr[], term: CTerm, tier: ClosureTier): Each | null {
  const src = new Source(tier);
  const code = new BodyGen(src, [], '', 0).collect(body, term, 'fn');
  return src.compile('function each(ev, f, fn) {', code, '}') as Each | null;
}

/** The value of a complete rule or of a function for some arguments (undefined: undefined). */
export type RulesFn = (ev: Evaluator, args: Value[] | undefined, call: CCall | undefined) => Value | undefined;

/**
 * Generates the evaluation of all the rules at a node: complete rules (without a rule index)
 * and functions (with parameters that are patterns of variables and constants), with their
 * bodies inline. As Evaluator.computeRuleValue / computeFunction: each rule and, when it has
 * no solution, its `else` chain; a rule with a constant value stops at its first solution, and
 * is skipped when it cannot change the result; two different values are a conflict; the
 * default applies when nothing else does. Null for other nodes (the evaluator's code runs).
 */
export function generateRules(node: RuleNode, tier: ClosureTier): RulesFn | null {
  const kind = node.kind;
  if ((kind !== 'complete' && kind !== 'func') || node.index !== undefined) return null;
  const chains = node.rules.map((first) => {
    const chain: CRule[] = [];
    for (let r: CRule | undefined = first; r; r = r.else) chain.push(r);
    return chain;
  });
  if (chains.reduce((n, c) => n + c.length, 0) > MAX_RULES) return null;
  if (kind === 'func' && chains.some((c) => c.some((r) => !r.args!.every(inlinePattern)))) return null;
  const src = new Source(tier);
  const gen = new BodyGen(src, [], '', 0);
  const raise = src.ref((loc: CRule['loc']) => {
    throw outputConflict(kind, loc);
  });
  const code = chains.map((chain, j) => {
    const first = chain[0];
    const where = kind === 'func' ? 'call && call.loc' : src.ref(first.loc);
    // result := v, or a conflict when another value was found.
    const put = (v: string) => `if (result === undefined) result = ${v};\nelse if (!equal(result, ${v})) ${raise}(${where});`;
    const label = `chain${j}`;
    const elements = chain.map((r) => gen.ruleSolutions(r, put, label));
    const body = `${label}: {\n${elements.join('\n')}\n}`;
    // A constant value equal to the result so far cannot change it (unless an else might).
    return first.constValue !== undefined && chain.length === 1 ? `if (result === undefined || !equal(result, ${src.ref(first.constValue)})) {\n${body}\n}` : body;
  });
  const fallback = node.defaultRule?.constValue;
  const onDefault = node.defaultRule?.onDefault;
  const used = onDefault ? ` ${src.ref(onDefault)}();` : '';
  const tail = fallback === undefined ? '' : `if (result === undefined) { result = ${src.ref(fallback)};${used} }`;
  return src.compile('function rules(ev, args, call) {\nlet result;', `${code.join('\n')}\n${tail}`, 'return result;\n}') as RulesFn | null;
}

/** What one generated function collects: its environment and its local names. */
class Source {
  readonly env: unknown[] = [];
  private ids = 0;

  constructor(readonly tier: ClosureTier) {}

  /** A name for a value from outside (constant, closure, step), as an environment entry. */
  ref(x: unknown): string {
    this.env.push(x);
    return `e${this.env.length - 1}`;
  }

  local(prefix: string): string {
    return `${prefix}${this.ids++}`;
  }

  /** The function: its environment bound, its source compiled once; null when too long. */
  compile(head: string, code: string, tail: string): unknown {
    if (code.length > MAX_SOURCE) return null;
    const prologue = this.env.map((_, i) => `const e${i} = E[${i}];`).join('\n');
    const source = `${prologue}\nreturn ${head}\n${code}\n${tail};`;
    const factory = new Function('E', 'M', 'lookup', 'equal', 'RObject', 'RSet', 'EMPTY', 'TRUE', source) as (...a: unknown[]) => unknown;
    return factory(this.env, this.tier.multi, this.tier.lookup, equal, RObject, RSet, EMPTY, TRUE);
  }
}

class BodyGen {
  private readonly limit: number;

  constructor(
    private readonly src: Source,
    private readonly body: CExpr[],
    /** The code at the end of the body, once per solution. */
    private readonly end: string,
    /** How many comprehensions this body is nested in. */
    private readonly depth: number,
  ) {
    this.limit = Math.min(body.length, MAX_INLINE);
  }

  private get tier(): ClosureTier {
    return this.src.tier;
  }

  /** The code of expressions i..end. */
  from(i: number): string {
    if (i === this.body.length) return this.end;
    if (i >= this.limit) return this.handOver(i);
    const e = this.body[i];
    if (e.withs.length > 0 || e.k === 'every') return this.handOver(i);
    if (e.negated) return `if (!${this.src.ref(this.tier.probe(e))}(ev, f, TRUE)) {\n${this.from(i + 1)}\n}`;
    switch (e.k) {
      case 'nop':
        return this.from(i + 1);
      case 'term':
      case 'call': {
        const v = this.src.local('v');
        const value = e.k === 'term' ? this.term(e.term, v) : this.call(e.call, v);
        const rest =
          e.k === 'call' && e.out !== undefined
            ? `if (${v} !== undefined) {\n${this.unifyThen(e.out, v, i + 1, this.from(i + 1))}\n}`
            : `if (${v} !== undefined && ${v} !== false) {\n${this.from(i + 1)}\n}`;
        return `${value}\nif (${v} === M) {\n${this.handOver(i)}\n} else ${rest}`;
      }
      case 'unify': {
        // As the closures (and Evaluator.unify): the right side first.
        const v = this.src.local('v');
        return `${this.term(e.b, v)}\nif (${v} === M) {\n${this.handOver(i)}\n} else if (${v} !== undefined) {\n${this.unifyThen(e.a, v, i + 1, this.from(i + 1))}\n}`;
      }
      case 'somein':
        return this.someIn(e, i);
    }
  }

  /** The closure chain finishes the body from expression i. */
  private handOver(i: number): string {
    return `if (${this.src.ref(this.tier.chain(this.body, i))}(ev, f, k)) stop = true;`;
  }

  private someIn(e: Extract<CExpr, { k: 'somein' }>, i: number): string {
    // Patterns the closures would have to finish go to the closures whole (the key is unified
    // after the value, so a closure unifier for the value could not continue with it).
    if (!inlinePattern(e.value) || (e.key !== undefined && !inlinePattern(e.key))) return this.handOver(i);
    const local = (p: string) => this.src.local(p);
    const [d, items, isArr, isObj, n, x, key] = ['d', 'xs', 'isArr', 'isObj', 'i', 'x', 'key'].map(local);
    // One loop for arrays, objects (in key order) and sets, so the rest of the body is
    // generated once.
    const afterValue = e.key === undefined ? this.from(i + 1) : this.unifyThen(e.key, key, i + 1, this.from(i + 1));
    return [
      this.term(e.domain, d),
      `if (${d} === M) {\n${this.handOver(i)}\n} else if (${d} !== undefined) {`,
      `const ${isArr} = Array.isArray(${d});`,
      `const ${isObj} = !${isArr} && ${d} instanceof RObject;`,
      `const ${items} = ${isArr} ? ${d} : ${isObj} ? ${d}.entries() : ${d} instanceof RSet ? ${d}.values() : EMPTY;`,
      `for (let ${n} = 0; ${n} < ${items}.length && !stop; ${n}++) {`,
      'ev.tick();',
      `const ${x} = ${isObj} ? ${items}[${n}][1] : ${items}[${n}];`,
      e.key === undefined ? '' : `const ${key} = ${isArr} ? ${n} : ${isObj} ? ${items}[${n}][0] : ${x};`,
      this.unifyThen(e.value, x, i + 1, afterValue),
      '}',
      '}',
    ].join('\n');
  }

  /**
   * Unifies a pattern with the value in local `v`, then runs `rest` (the code from expression
   * `next` on). Variables are bound for the rest and unbound after it; constants compare;
   * arrays of those match element by element. Other patterns use the closure unifier, which
   * continues with the closure chain from `next`.
   */
  private unifyThen(p: CTerm, v: string, next: number, rest: string): string {
    switch (p.t) {
      case 'var': {
        // Bound already (a variable of an enclosing scope, or earlier in a pattern): compare.
        const fresh = this.src.local('b');
        const s = p.slot;
        return [
          `const ${fresh} = f[${s}] === undefined;`,
          `if (${fresh}) f[${s}] = ${v};`,
          `if (${fresh} || equal(f[${s}], ${v})) {\n${rest}\n}`,
          `if (${fresh}) f[${s}] = undefined;`,
        ].join('\n');
      }
      case 'const': {
        const c = p.v;
        // Scalars are equal exactly when they are === (see value.ts); bigint constants are not.
        const same = typeof c === 'object' || typeof c === 'bigint' ? `equal(${this.src.ref(c)}, ${v})` : `${v} === ${this.src.ref(c)}`;
        return `if (${same}) {\n${rest}\n}`;
      }
      case 'array': {
        if (p.items.every(simplePattern)) {
          const items = p.items.map(() => this.src.local('a'));
          let code = rest;
          for (let j = p.items.length - 1; j >= 0; j--) code = `const ${items[j]} = ${v}[${j}];\n${this.unifyThen(p.items[j], items[j], next, code)}`;
          return `if (Array.isArray(${v}) && ${v}.length === ${p.items.length}) {\n${code}\n}`;
        }
        break;
      }
    }
    return `if (${this.src.ref(this.tier.unifier(p))}(ev, f, ${v}, ${this.src.ref(this.tier.chain(this.body, next))}, k)) stop = true;`;
  }

  /**
   * Code that declares local `out` and sets it to the term's single value, undefined, or M when
   * the term may have several values (the closures' SingleFn contract).
   */
  term(t: CTerm, out: string): string {
    switch (t.t) {
      case 'const':
        return `const ${out} = ${this.src.ref(t.v)};`;
      case 'var':
        return `const ${out} = f[${t.slot}] === undefined ? M : f[${t.slot}];`;
      case 'ref':
        return this.ref(t, out);
      case 'call':
        return this.call(t.call, out);
      case 'compr':
        if (this.depth < MAX_COMPREHENSION_DEPTH) return this.comprehension(t, out);
        break;
      case 'array':
        return this.array(t.items, out);
    }
    return `const ${out} = ${this.src.ref(this.tier.single(t))}(ev, f);`;
  }

  /** An array of terms with one value each. */
  private array(items: CTerm[], out: string): string {
    const label = this.src.local('L');
    const xs = items.map(() => this.src.local('x'));
    const lines = [`let ${out};`, `${label}: {`];
    items.forEach((t, i) => lines.push(this.term(t, xs[i]), `if (${xs[i]} === M || ${xs[i]} === undefined) { ${out} = ${xs[i]}; break ${label}; }`));
    lines.push(`${out} = [${xs.join(', ')}];`, '}');
    return lines.join('\n');
  }

  /**
   * A ref as a chain of lookups from its head: the input document, a term, or the value at the
   * constant prefix of a data ref when that is plain base data (otherwise the ref's closure,
   * which walks the rule tree).
   */
  private ref(r: CRef, out: string): string {
    const label = this.src.local('L');
    const w = this.src.local('w');
    const lines = [`let ${out};`, `${label}: {`];
    let from = 0;
    if (r.root === 'input') lines.push(`let ${w} = ev.ctx.input;`);
    else if (r.root === 'data') {
      lines.push(
        `let ${w} = ${this.src.ref(this.tier.dataPrefix(r))}(ev);`,
        `if (${w} === M) { ${out} = ${this.src.ref(this.tier.single(r))}(ev, f); break ${label}; }`,
      );
      from = r.staticLen;
    } else {
      const h = this.src.local('h');
      lines.push(this.term(r.head!, h), `if (${h} === M) { ${out} = M; break ${label}; }`, `let ${w} = ${h};`);
    }
    for (const key of r.path.slice(from)) {
      lines.push(`if (${w} === undefined) { ${out} = undefined; break ${label}; }`);
      if (key.t === 'const') {
        const c = this.src.ref(key.v);
        // Objects are the common case: straight to the map lookup.
        lines.push(`${w} = ${w} instanceof RObject ? ${w}.get(${c}) : lookup(${w}, ${c});`);
      } else {
        const kv = this.src.local('k');
        lines.push(this.term(key, kv), `if (${kv} === M || ${kv} === undefined) { ${out} = ${kv}; break ${label}; }`, `${w} = lookup(${w}, ${kv});`);
      }
    }
    lines.push(`${out} = ${w};`, '}');
    return lines.join('\n');
  }

  /**
   * A call with arguments of one value each: user functions through the evaluator's memo,
   * builtins through its error handling (comparisons straight to their implementation).
   * Special forms, relations and calls while `with` replaces functions take the closure.
   */
  private call(c: CCall, out: string): string {
    const closure = (): string => `const ${out} = ${this.src.ref(this.tier.single({ t: 'call', call: c }))}(ev, f);`;
    if (c.special === 'print' || c.special === 'walk' || c.builtin?.relation) return closure();
    const label = this.src.local('L');
    const args = c.args.map(() => this.src.local('x'));
    const lines = [`let ${out};`, `${label}: {`, `if (ev.ctx.fns) { ${out} = M; break ${label}; }`];
    c.args.forEach((a, i) => lines.push(this.term(a, args[i]), `if (${args[i]} === M || ${args[i]} === undefined) { ${out} = ${args[i]}; break ${label}; }`));
    const list = args.join(', ');
    if (c.special === 'member2') lines.push(`${out} = ${this.src.ref(this.tier.member2)}(${list});`);
    else if (c.special === 'member3') lines.push(`${out} = ${this.src.ref(this.tier.member3)}(${list});`);
    else if (c.func !== undefined) lines.push(`${out} = ev.functionValue(${this.src.ref(c)}, [${list}]);`);
    else if (c.builtin?.infallible) lines.push(`${out} = ${this.src.ref(c.builtin.impl)}([${list}], ev.builtinCtx);`);
    else lines.push(`${out} = ev.callBuiltin(${this.src.ref(c)}, [${list}]);`);
    lines.push('}');
    return lines.join('\n');
  }

  /**
   * One rule of a chain, in a fresh frame: its parameters matched (functions), its body
   * generated in place, `put` called with its value for each solution. A rule with a constant
   * value stops at its first solution; any solution ends the chain (break `label`).
   */
  ruleSolutions(r: CRule, put: (v: string) => string, label: string): string {
    const once = r.constValue !== undefined;
    const v = this.src.local('rv');
    const found = this.src.local('found');
    const match = r.args === undefined ? 'true' : r.args.map((p, i) => matchCode(this.src, p, `args[${i}]`)).join(' && ');
    // The end of the body, as a continuation the closures can call too.
    const solution = once
      ? 'return true;'
      : [
          this.term(r.value, v),
          `if (${v} === undefined) return false;`,
          `if (${v} === M) return ev.evalTerm(${this.src.ref(r.value)}, f, (x) => {\n${found} = true;\n${put('x')}\nreturn false;\n});`,
          `${found} = true;`,
          put(v),
          'return false;',
        ].join('\n');
    return [
      '{',
      `const f = new Array(${r.nslots});`,
      `let ${found} = false;`,
      `if (${match}) {`,
      `const k = () => {\n${solution}\n};`,
      'let stop = false;',
      new BodyGen(this.src, r.body, 'ev.tick();\nif (k()) stop = true;', 0).from(0),
      once ? `if (stop) {\n${found} = true;\n${put(this.src.ref(r.constValue))}\n}` : '',
      '}',
      `if (${found}) break ${label};`,
      '}',
    ].join('\n');
  }

  /**
   * An array or set comprehension, its body generated in place: each solution adds the term's
   * value to a new array or set.
   */
  private comprehension(t: Extract<CTerm, { t: 'compr' }>, out: string): string {
    const acc = this.src.local('acc');
    return [
      `let ${out};`,
      '{',
      `const ${acc} = ${t.kind === 'set' ? 'new RSet()' : '[]'};`,
      this.collect(t.body, t.term, t.kind === 'set' ? `${acc}.add` : `${acc}.push`),
      `${out} = ${acc};`,
      '}',
    ].join('\n');
  }

  /**
   * Calls the function `add` with the value of `term` (through the evaluator when the term
   * iterates) for each solution of `body`, generated in place. The body's own `k` and `stop`
   * are the collector and a flag nothing sets, since a collection takes every solution.
   */
  collect(body: CExpr[], term: CTerm, add: string): string {
    const cv = this.src.local('cv');
    return [
      '{',
      'const k = () => {',
      this.term(term, cv),
      `if (${cv} === M) ev.evalTerm(${this.src.ref(term)}, f, (x) => (${add}(x), false));`,
      `else if (${cv} !== undefined) ${add}(${cv});`,
      'return false;',
      '};',
      'let stop = false;',
      new BodyGen(this.src, body, 'ev.tick();\nk();', this.depth + 1).from(0),
      '}',
    ].join('\n');
  }
}

/**
 * A boolean expression matching a parameter pattern (inlinePattern) with the value of the
 * expression `x` in a fresh frame `f`, binding its variables; a variable seen before compares.
 */
function matchCode(src: Source, p: CTerm, x: string): string {
  switch (p.t) {
    case 'var':
      return `(f[${p.slot}] === undefined ? ((f[${p.slot}] = ${x}), true) : equal(f[${p.slot}], ${x}))`;
    case 'const': {
      const c = p.v;
      return typeof c === 'object' || typeof c === 'bigint' ? `equal(${src.ref(c)}, ${x})` : `${x} === ${src.ref(c)}`;
    }
    case 'array':
      return `(Array.isArray(${x}) && ${x}.length === ${p.items.length}${p.items.map((q, i) => ` && ${matchCode(src, q, `${x}[${i}]`)}`).join('')})`;
    default:
      throw new Error(`not an inline pattern: ${p.t}`);
  }
}

/** A pattern matched in place: a variable or a constant. */
function simplePattern(t: CTerm): boolean {
  return t.t === 'var' || t.t === 'const';
}

/** A pattern unifyThen matches without the closure unifier. */
function inlinePattern(t: CTerm): boolean {
  return simplePattern(t) || (t.t === 'array' && t.items.every(simplePattern));
}
