// OPA's rules for local variables, checked on the parsed form before compilation (OPA applies them
// while it rewrites local variables, so the messages and positions are OPA's):
//
//   - in one scope (a rule body with its arguments, a comprehension, an `every` body), a variable
//     is a function argument, assigned (`x :=`) or declared (`some x`, `every x in`) at most
//     once, and never after it was referenced there: "var x referenced above", "var x assigned
//     above", "var x declared above", "arg x redeclared";
//   - an assignment cannot be negated;
//   - in Rego v1 (and strict mode), a variable cannot be named `input` or `data`;
//   - a variable declared with `some` or by `every` must be used: "declared var x unused";
//   - strict mode (check -S) also requires assigned variables and function arguments to be used:
//     "assigned var x unused", "unused argument x. (hint: use _ (wildcard variable) instead)".
//
// How "used" is decided follows OPA: every reference to a variable counts one use in the scope
// that introduced it, and a variable is unused when only its introduction was counted.
import type * as A from './ast.js';
import { RegoError } from './errors.js';

type Occurrence = 'arg' | 'seen' | 'assigned' | 'declared';

interface Frame {
  occurrence: Map<string, Occurrence>;
  count: Map<string, number>;
}

const newFrame = (): Frame => ({ occurrence: new Map(), count: new Map() });

/** Wildcards (`_`) and generated names start with `$`: never reported. */
const isGenerated = (name: string): boolean => name.startsWith('$');

class Checker {
  readonly errors: RegoError[] = [];
  private frames: Frame[] = [newFrame()];

  constructor(private readonly o: LocalsOptions) {}

  private get top(): Frame {
    return this.frames[this.frames.length - 1];
  }

  private fail(message: string, l?: A.Location): void {
    this.errors.push(new RegoError('rego_compile_error', message, l));
  }

  /** Starts over with one empty scope (each rule branch, each head comprehension). */
  private reset(): void {
    this.frames = [newFrame()];
  }

  /** The nearest scope that knows the variable (it counts its uses). */
  private scopeOf(name: string): Frame | undefined {
    for (let i = this.frames.length - 1; i >= 0; i--) if (this.frames[i].count.has(name)) return this.frames[i];
    return undefined;
  }

  private count(name: string): number {
    return this.scopeOf(name)?.count.get(name) ?? 0;
  }

  /** A reference: one more use of a variable some scope knows, or a new variable seen in this scope. */
  private reference(name: string): void {
    const f = this.scopeOf(name);
    if (f) f.count.set(name, f.count.get(name)! + 1);
    else {
      this.top.occurrence.set(name, 'seen');
      this.top.count.set(name, 1);
    }
  }

  /** An argument, assignment or declaration: allowed once per scope, and not after a reference. */
  private introduce(name: string, occurrence: Occurrence, l?: A.Location): void {
    switch (this.top.occurrence.get(name)) {
      case 'seen':
        return this.fail(`var ${name} referenced above`, l);
      case 'assigned':
        return this.fail(`var ${name} assigned above`, l);
      case 'declared':
        return this.fail(`var ${name} declared above`, l);
      case 'arg':
        return this.fail(`arg ${name} redeclared`, l);
    }
    this.top.occurrence.set(name, occurrence);
    this.top.count.set(name, 1);
  }

  // -------------------------------------------------------------------------------------------

  rule(rule: A.Rule): void {
    const args = rule.head.args ?? [];
    const unusedArgs = new Set<string>();
    for (const a of args) for (const v of termVars(a)) if (!isGenerated(v)) unusedArgs.add(v);
    for (let branch: A.Rule | undefined = rule; branch; branch = branch.else) {
      const h = branch.head;
      const branchArgs = h.args ?? args;
      // The head's variables count as used (bound by the body); the value's also use arguments.
      const headTerms = [...h.ref.slice(1), ...(h.key ? [h.key] : []), ...(h.value ? [h.value] : [])];
      const used = new Set(headTerms.flatMap(termVars));
      for (const v of h.value ? termVars(h.value) : []) unusedArgs.delete(v);
      // Comprehensions in the head are scopes of their own, checked apart from the body.
      for (const t of [...headTerms, ...branchArgs]) this.headComprehensions(t);
      this.reset();
      for (const a of branchArgs) this.argument(a);
      this.body(branch.body, used);
      for (const v of [...unusedArgs]) if (this.count(v) > 1) unusedArgs.delete(v);
    }
    if (this.o.strict && this.errors.length === 0) {
      for (const v of unusedArgs) this.fail(`unused argument ${v}. (hint: use _ (wildcard variable) instead)`, rule.head.loc ?? rule.loc);
    }
  }

  query(body: A.Body): void {
    this.reset();
    this.body(body, new Set());
  }

  private headComprehensions(t: A.Term): void {
    forEachClosure(t, (c) => {
      this.reset();
      this.term(c);
    });
  }

  private argument(t: A.Term): void {
    switch (t.type) {
      case 'var':
        if (this.count(t.name) > 0) this.reference(t.name);
        else this.introduce(t.name, 'arg');
        return;
      case 'object':
        for (const [, v] of t.items) this.argument(v);
        return;
      case 'array':
        t.items.forEach((x) => this.argument(x));
        return;
      case 'ref':
        t.terms.forEach((x) => this.argument(x));
        return;
      default:
        return; // scalars, sets, comprehensions: nothing to bind
    }
  }

  private body(exprs: A.Body, used: Set<string>): void {
    for (const e of exprs) this.expr(e);
    if (this.errors.length > 0) return; // as OPA: no unused-variable errors on top of others
    const at = exprs[0]?.loc;
    const unused = (kind: Occurrence) =>
      [...this.top.occurrence].filter(([v, o]) => o === kind && !isGenerated(v) && this.count(v) <= 1 && !used.has(v)).map(([v]) => v);
    if (this.o.strict) for (const v of unused('assigned')) this.fail(`assigned var ${v} unused`, at);
    for (const v of unused('declared')) this.fail(`declared var ${v} unused`, at);
  }

  private scoped(fn: () => void): void {
    this.frames.push(newFrame());
    fn();
    this.frames.pop();
  }

  private expr(e: A.Expr): void {
    const t = e.terms;
    if (t.type === 'some') {
      for (const s of t.symbols) {
        if (s.type === 'var') this.introduce(s.name, 'declared', t.loc ?? e.loc);
        else if (s.type === 'call') {
          // `some k, v in xs` reads as `v = xs[k]`: the new variables are those of k and v that
          // the collection does not mention.
          const domain = s.args[s.args.length - 1];
          const inDomain = new Set(termVars(domain));
          const patterns = s.args.slice(0, -1);
          const fresh = [...new Set(patterns.flatMap(termVars))].filter((v) => !inDomain.has(v)).sort();
          for (const v of fresh) if (!isGenerated(v)) this.introduce(v, 'declared', t.loc ?? e.loc);
          this.term(patterns[patterns.length - 1]);
          this.term(domain);
          if (patterns.length === 2) this.term(patterns[0]);
        }
      }
      return;
    }
    if (t.type === 'every') {
      this.term(t.domain);
      this.scoped(() => {
        for (const p of [t.key, t.value]) if (p?.type === 'var' && !isGenerated(p.name)) this.introduce(p.name, 'declared', t.loc ?? e.loc);
        this.body(t.body, new Set());
      });
      return;
    }
    if (t.type === 'call' && isAssign(t) && t.args.length === 2) {
      if (e.negated) {
        this.fail('cannot assign vars inside negated expression', e.loc);
        return;
      }
      const root = rootDocumentName(t.args[0]);
      if (root && this.o.v1Checks) {
        this.fail(`variables must not shadow ${root} (use a different variable name)`, e.loc);
        return;
      }
      this.term(t.args[1]);
      for (const w of e.with) this.term(w.value);
      this.assignTarget(t.args[0]);
      return;
    }
    this.term(t);
    for (const w of e.with) this.term(w.value);
  }

  private assignTarget(t: A.Term): void {
    switch (t.type) {
      case 'var':
        this.introduce(t.name, 'assigned', t.loc);
        return;
      case 'array':
        t.items.forEach((x) => this.assignTarget(x));
        return;
      case 'object':
        for (const [, v] of t.items) this.assignTarget(v);
        return;
      case 'ref':
        // `input := ...` / `data := ...`: a variable named after the root document.
        if (t.terms.length === 1 && t.terms[0].type === 'var') this.introduce(t.terms[0].name, 'assigned', t.loc);
        return;
      default:
        return; // the compiler reports "cannot assign to ..."
    }
  }

  private term(t: A.Term): void {
    switch (t.type) {
      case 'var':
        this.reference(t.name);
        return;
      case 'ref':
        t.terms.forEach((x) => this.term(x));
        return;
      case 'array':
      case 'set':
        t.items.forEach((x) => this.term(x));
        return;
      case 'object':
        for (const [k, v] of t.items) {
          this.term(k);
          this.term(v);
        }
        return;
      case 'call':
        this.term(t.operator);
        t.args.forEach((x) => this.term(x));
        return;
      case 'arraycompr':
      case 'setcompr':
        this.scoped(() => {
          this.body(t.body, new Set(termVars(t.term)));
          this.term(t.term);
        });
        return;
      case 'objectcompr':
        this.scoped(() => {
          this.body(t.body, new Set([...termVars(t.key), ...termVars(t.value)]));
          this.term(t.key);
          this.term(t.value);
        });
        return;
      default:
        return;
    }
  }
}

/** `input` or `data` as a whole assignment target (Rego v0 lets a local take the name). */
function rootDocumentName(t: A.Term): string | undefined {
  const v = t.type === 'ref' && t.terms.length === 1 ? t.terms[0] : t;
  return v.type === 'var' && (v.name === 'input' || v.name === 'data') ? v.name : undefined;
}

function isAssign(t: A.CallTerm): boolean {
  const o = t.operator.terms;
  return o.length === 1 && o[0].type === 'var' && o[0].name === 'assign';
}

/** Every variable name in a term, comprehension bodies included. */
function termVars(t: A.Term): string[] {
  const out: string[] = [];
  const term = (x: A.Term): void => {
    switch (x.type) {
      case 'var':
        out.push(x.name);
        return;
      case 'ref':
        x.terms.forEach(term);
        return;
      case 'array':
      case 'set':
        x.items.forEach(term);
        return;
      case 'object':
        for (const [k, v] of x.items) {
          term(k);
          term(v);
        }
        return;
      case 'call':
        x.operator.terms.forEach(term);
        x.args.forEach(term);
        return;
      case 'arraycompr':
      case 'setcompr':
        term(x.term);
        x.body.forEach(expr);
        return;
      case 'objectcompr':
        term(x.key);
        term(x.value);
        x.body.forEach(expr);
        return;
      default:
        return;
    }
  };
  const expr = (e: A.Expr): void => {
    const t = e.terms;
    if (t.type === 'some') t.symbols.forEach(term);
    else if (t.type === 'every') {
      if (t.key) term(t.key);
      term(t.value);
      term(t.domain);
      t.body.forEach(expr);
    } else term(t);
    for (const w of e.with) term(w.value);
  };
  term(t);
  return out;
}

/** The outermost comprehensions in a term. */
function forEachClosure(t: A.Term, fn: (c: A.Term) => void): void {
  switch (t.type) {
    case 'arraycompr':
    case 'setcompr':
    case 'objectcompr':
      fn(t);
      return;
    case 'ref':
      t.terms.forEach((x) => forEachClosure(x, fn));
      return;
    case 'array':
    case 'set':
      t.items.forEach((x) => forEachClosure(x, fn));
      return;
    case 'object':
      for (const [k, v] of t.items) {
        forEachClosure(k, fn);
        forEachClosure(v, fn);
      }
      return;
    case 'call':
      t.args.forEach((x) => forEachClosure(x, fn));
      return;
    default:
      return;
  }
}

export interface LocalsOptions {
  /** Strict mode: unused assignments and function arguments are errors too. */
  strict?: boolean;
  /** Rego v1's checks (a v1 module, or strict mode): no variable named input or data. */
  v1Checks?: boolean;
}

/** The local-variable errors of a rule (with its else branches). */
export function checkRuleLocals(rule: A.Rule, o: LocalsOptions): RegoError[] {
  const c = new Checker(o);
  c.rule(rule);
  return c.errors;
}

/**
 * The local-variable errors of a query. As in OPA, strict mode does not apply (a query's
 * variables are its output) and a query may name a variable `input`.
 */
export function checkQueryLocals(body: A.Body): RegoError[] {
  const c = new Checker({});
  c.query(body);
  return c.errors;
}
