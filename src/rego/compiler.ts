// The compiler: turns parsed modules into the rule tree the evaluator runs.
//
//  1. Group rules by path (package + static head ref) into a RuleNode tree; check conflicts.
//  2. Resolve every variable: a local (frame slot), a rule of the package, an import, `input`
//     or `data`; and every call: builtin, user function or special form.
//  3. Check safety and reorder bodies so that variables are bound before use (as OPA does).
//  4. Reject recursion, unknown functions and arity mismatches.
import type * as A from './ast.js';
import { getBuiltin, type BuiltinDef } from './builtins/index.js';
import type { CCall, CExpr, CRule, CTerm, CWith, CompiledPolicy, CRef, RuleKind } from './compiled.js';
import { RuleNode } from './compiled.js';
import { forEachTerm } from './walk.js';
import { RegoError, RegoErrors } from './errors.js';
import { checkQueryLocals, checkRuleLocals } from './local-vars.js';
import { checkModule, importName, unusedImports } from './module-checks.js';
import { isGround as isGroundTerm } from './parser.js';
import { RObject, RSet, internString, parseNumber, typeName, type Value } from './value.js';

export interface CompileOptions {
  /** Builtins that may not be called (e.g. http.send when network access is off). */
  disabledBuiltins?: Set<string>;
  /**
   * OPA's strict mode (check -S): unused imports, assignments and function arguments are
   * errors, and Rego v0 modules get Rego v1's checks (duplicate imports, rules or variables
   * named input or data, deprecated builtins).
   */
  strict?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Entry points

export function compile(modules: A.Module[], options: CompileOptions = {}): CompiledPolicy {
  const c = new Compiler(modules, options);
  c.run();
  return { root: c.root, modules };
}

export interface CompiledQuery {
  body: CExpr[];
  nslots: number;
  /** User-visible variables of the query (not wildcards or generated ones), with their slots. */
  vars: Array<{ name: string; slot: number }>;
}

export interface QueryContext {
  /** Package whose rules can be referenced by bare name (the REPL's `package repl`). */
  package?: string[];
  imports?: A.Import[];
}

export function compileQuery(policy: CompiledPolicy, body: A.Body, ctx: QueryContext = {}, options: CompileOptions = {}): CompiledQuery {
  const c = new Compiler(policy.modules, options, policy.root);
  return c.compileQuery(body, ctx);
}

// ---------------------------------------------------------------------------------------------

const SPECIALS: Record<string, CCall['special']> = {
  print: 'print',
  'internal.member_2': 'member2',
  'internal.member_3': 'member3',
  walk: 'walk',
};
const SPECIAL_ARITY: Record<string, number> = { 'internal.member_2': 2, 'internal.member_3': 3, walk: 1 };

interface ModuleCtx {
  module: A.Module;
  pkg: string[];
  imports: Map<string, A.RefTerm>;
  /** Import names some reference resolved to (strict mode reports the others). */
  usedImports: Set<string>;
  ruleNames: Set<string>;
  /** Rego v1's checks apply: a v1 module, or strict mode. */
  v1Checks: boolean;
}

/** Frame slot allocator shared by a rule and all its nested bodies. */
class Frame {
  n = 0;
  alloc(): number {
    return this.n++;
  }
}

/**
 * A lexical scope: the body of a rule, query, comprehension or `every`.
 *
 * Variables declared with `:=` or `some` are visible to the scopes nested in their body only
 * from the expression that declares them on, as in OPA: in `y := {x | xs[x]}; x := count(y)`
 * the comprehension's `x` is its own. Other variables are the same throughout the body.
 */
class Scope {
  readonly vars = new Map<string, number>();
  /** Explicitly declared variables: the index of the expression that declares them. */
  readonly declaredAt = new Map<string, number>();
  /** The index of the expression being compiled (where nested scopes open). */
  current = Infinity;
  /** In the parent: the index of the expression this scope is nested in. */
  private readonly position: number;
  constructor(
    readonly parent: Scope | undefined,
    readonly frame: Frame,
  ) {
    this.position = parent?.current ?? Infinity;
  }
  lookup(name: string): number | undefined {
    return this.vars.get(name) ?? this.parent?.lookupBefore(name, this.position);
  }
  /** A lookup from a scope nested at expression `position` of this one. */
  private lookupBefore(name: string, position: number): number | undefined {
    const at = this.declaredAt.get(name);
    if (at === undefined || at <= position) {
      const slot = this.vars.get(name);
      if (slot !== undefined) return slot;
    }
    return this.parent?.lookupBefore(name, this.position);
  }
  /** Slots visible here that belong to enclosing scopes. */
  isOuter(slot: number): boolean {
    for (const s of this.vars.values()) if (s === slot) return false;
    return true;
  }
}

function loc(x: { loc?: A.Location } | undefined): A.Location | undefined {
  return x?.loc;
}

function err(code: RegoError['code'], msg: string, l?: A.Location): RegoError {
  return new RegoError(code, msg, l);
}

class Compiler {
  readonly root: RuleNode;
  private readonly errors: RegoError[] = [];
  private readonly ctxs: ModuleCtx[] = [];
  private readonly rulesByPkg = new Map<string, Set<string>>();

  constructor(
    modules: A.Module[],
    private readonly options: CompileOptions,
    existingRoot?: RuleNode,
  ) {
    this.root = existingRoot ?? new RuleNode([]);
    for (const m of modules) {
      const pkg = packagePath(m);
      const key = pkg.join('\u0000');
      let names = this.rulesByPkg.get(key);
      if (!names) this.rulesByPkg.set(key, (names = new Set()));
      for (const r of m.rules) {
        const h = r.head.ref[0];
        if (h && h.type === 'var') names.add(h.name);
      }
    }
    for (const m of modules) this.ctxs.push(this.moduleCtx(m, packagePath(m), m.imports));
  }

  private moduleCtx(module: A.Module, pkg: string[], imports: A.Import[]): ModuleCtx {
    const map = new Map<string, A.RefTerm>();
    for (const imp of imports) {
      const terms = imp.path.terms;
      const head = terms[0];
      if (head.type !== 'var') continue;
      if (head.name !== 'data' && head.name !== 'input') continue; // future.keywords, rego.v1
      const alias = importName(imp);
      if (alias === undefined) continue;
      if (alias === 'input' && head.name === 'input' && terms.length === 1) continue;
      map.set(alias, imp.path);
    }
    return {
      module,
      pkg,
      imports: map,
      usedImports: new Set(),
      ruleNames: this.rulesByPkg.get(pkg.join('\u0000')) ?? new Set(),
      v1Checks: module.regoVersion !== 0 || this.options.strict === true,
    };
  }

  private fail(): void {
    if (this.errors.length) throw new RegoErrors(this.errors);
  }

  run(): void {
    const strict = this.options.strict === true;
    for (const ctx of this.ctxs) this.errors.push(...checkModule(ctx.module, strict));
    this.fail();
    // 1. the tree
    const pending: Array<{ rule: A.Rule; ctx: ModuleCtx; node: RuleNode; dynTerms: A.Term[]; kind: RuleKind }> = [];
    for (const ctx of this.ctxs) {
      for (const rule of ctx.module.rules) {
        const placed = this.place(rule, ctx);
        if (placed) pending.push({ rule, ctx, ...placed });
      }
    }
    this.fail();
    this.checkTree(this.root);
    this.fail();
    // 2-3. bodies
    for (const p of pending) {
      const locals = checkRuleLocals(p.rule, { strict, v1Checks: p.ctx.v1Checks });
      if (locals.length > 0) {
        this.errors.push(...locals);
        continue;
      }
      try {
        const cr = this.compileRule(p.rule, p.ctx, p.node, p.dynTerms, p.kind);
        if (p.rule.default) p.node.defaultRule = cr;
        else p.node.rules.push(cr);
      } catch (e) {
        if (e instanceof RegoError) this.errors.push(e);
        else if (e instanceof RegoErrors) this.errors.push(...e.errors);
        else throw e;
      }
    }
    if (strict) for (const ctx of this.ctxs) this.errors.push(...unusedImports(ctx.module, ctx.usedImports));
    this.fail();
    markHasRules(this.root);
    this.checkRecursion();
    this.fail();
    buildIndexes(this.root);
  }

  /** Finds the node of a rule and classifies it. */
  private place(rule: A.Rule, ctx: ModuleCtx): { node: RuleNode; dynTerms: A.Term[]; kind: RuleKind } | undefined {
    const h = rule.head;
    const ref = h.ref;
    const first = ref[0];
    if (!first || first.type !== 'var') {
      this.errors.push(err('rego_parse_error', 'rule name must be a var', loc(h) ?? loc(rule)));
      return undefined;
    }
    const segs = [...ctx.pkg, first.name];
    let i = 1;
    for (; i < ref.length; i++) {
      const t = ref[i];
      if (t.type === 'string') segs.push(t.value);
      else break;
    }
    const dynTerms = ref.slice(i);
    let kind: RuleKind;
    if (h.args) kind = 'func';
    else if (h.key) kind = 'multi';
    else if (dynTerms.length > 0) kind = 'object';
    else kind = 'complete';
    if (rule.default && kind !== 'complete' && kind !== 'func') {
      this.errors.push(err('rego_type_error', 'default rules must not have arguments or keys', loc(rule)));
      return undefined;
    }
    let node = this.root;
    for (const s of segs) node = node.child(s, true)!;
    // All definitions at one path must be of one kind (rules are placed before any is compiled).
    if (node.declaredKind && node.declaredKind !== kind) {
      this.errors.push(err('rego_type_error', `conflicting rules data.${segs.join('.')} found`, loc(rule)));
      return undefined;
    }
    node.declaredKind = kind;
    if (dynTerms.length > 0) node.variableHead = true;
    if (kind === 'func') {
      const arity = h.args!.length;
      const prev = node.arity;
      if (prev !== undefined && prev !== arity) {
        this.errors.push(err('rego_type_error', `conflicting rules data.${segs.join('.')} found`, loc(rule)));
        return undefined;
      }
      node.arity = arity;
    }
    if (rule.default) {
      if (node.hasDefault) {
        this.errors.push(err('rego_type_error', `multiple default rules data.${segs.join('.')} found`, loc(rule)));
        return undefined;
      }
      node.hasDefault = true;
    }
    return { node, dynTerms, kind };
  }

  /** A complete rule or function at a node leaves no room for rules below it. */
  private checkTree(node: RuleNode): void {
    const kind = node.declaredKind;
    // Rules with variables in their head ref may have more specific rules below (their
    // documents are merged); other complete, function and multi-value rules may not.
    if ((kind === 'complete' || kind === 'func' || kind === 'multi') && !node.variableHead && node.children.size > 0) {
      const below: string[] = [];
      const walk = (n: RuleNode) => {
        if (n.declaredKind) below.push('data.' + n.path.join('.'));
        for (const c of n.children.values()) walk(c);
      };
      for (const c of node.children.values()) walk(c);
      if (below.length) {
        this.errors.push(err('rego_type_error', `rule data.${node.path.join('.')} conflicts with [${below.join(' ')}]`));
      }
    }
    for (const c of node.children.values()) this.checkTree(c);
  }

  // -------------------------------------------------------------------------------------------
  // Rules

  private compileRule(original: A.Rule, ctx: ModuleCtx, node: RuleNode, dynTerms: A.Term[], kind: RuleKind): CRule {
    const rule = withHeadRefsInBody(original);
    const frame = new Frame();
    const scope = new Scope(undefined, frame);
    const h = rule.head;
    // Function arguments are bound on entry.
    const initiallySafe = new Set<number>();
    if (h.args) {
      for (const a of h.args) for (const v of patternVars(a)) if (!scope.vars.has(v)) scope.vars.set(v, frame.alloc());
      for (const s of scope.vars.values()) initiallySafe.add(s);
    }
    const headTerms: A.Term[] = [...dynTerms];
    if (h.key) headTerms.push(h.key);
    if (h.value) headTerms.push(h.value);
    const body = this.compileBody(rule.body, scope, ctx, initiallySafe, headTerms);
    const conv = (t: A.Term) => this.term(t, scope, ctx);
    const args = h.args?.map(conv);
    const dyn = dynTerms.map(conv);
    const key = h.key ? conv(h.key) : undefined;
    const value: CTerm = h.value ? conv(h.value) : { t: 'const', v: true };
    // Head vars must be bound by the body (or the arguments).
    const safe = new Set(initiallySafe);
    for (const e of body.exprs) for (const s of e.binds) safe.add(s);
    for (const s of body.safe) safe.add(s);
    for (const t of [...dyn, ...(key ? [key] : []), value]) {
      for (const v of unsafeVarsOf(t, safe)) {
        throw err('rego_unsafe_var_error', `var ${v} is unsafe`, loc(h) ?? loc(rule));
      }
    }
    const cr: CRule = {
      kind,
      node,
      dyn,
      key,
      value,
      args,
      body: body.exprs.map((e) => e.expr),
      nslots: 0,
      isDefault: rule.default,
      loc: loc(rule),
      module: ctx.module,
      constValue: value.t === 'const' ? value.v : undefined,
    };
    if (rule.else) cr.else = this.compileElse(rule.else, ctx, node, kind, h.args);
    cr.nslots = frame.n;
    if (rule.default && !isGround(value)) {
      throw err('rego_type_error', 'default rule value cannot contain variables or calls', loc(rule));
    }
    return cr;
  }

  private compileElse(rule: A.Rule, ctx: ModuleCtx, node: RuleNode, kind: RuleKind, args?: A.Term[]): CRule {
    const head: A.Head = { ...rule.head, args: rule.head.args ?? args };
    return this.compileRule({ ...rule, head, default: false }, ctx, node, [], kind);
  }

  // -------------------------------------------------------------------------------------------
  // Bodies: declaration, resolution, safety and reordering

  /**
   * Compiles a body in a new or given scope. `extraTerms` are terms outside the body (rule head)
   * whose variables belong to this scope.
   */
  private compileBody(
    exprs: A.Expr[],
    scope: Scope,
    ctx: ModuleCtx,
    initiallySafe: Set<number>,
    extraTerms: A.Term[] = [],
    query = false,
  ): { exprs: Array<{ expr: CExpr; binds: number[] }>; safe: Set<number> } {
    // A query keeps its expressions as written: its results list them one by one.
    if (!query) exprs = hoistBindingRefs(exprs);
    this.declare(exprs, scope, ctx, extraTerms);
    const converted = exprs.map((e, i) => {
      scope.current = i;
      return this.expr(e, scope, ctx, i);
    });
    scope.current = Infinity; // the rule head comes after the body
    return reorder(converted, initiallySafe, exprs);
  }

  /**
   * Allocates slots for the variables local to this scope. Redeclarations were refused before
   * (local-vars.ts); a name declared twice in one statement (`some x, x in xs`) gets one slot.
   */
  private declare(exprs: A.Expr[], scope: Scope, ctx: ModuleCtx, extraTerms: A.Term[]): void {
    let index = 0;
    const add = (name: string, explicit = false) => {
      if (explicit) {
        if (!scope.vars.has(name)) {
          scope.vars.set(name, scope.frame.alloc());
          scope.declaredAt.set(name, index);
        }
        return;
      }
      if (scope.lookup(name) !== undefined) return;
      if (this.isGlobal(name, ctx)) return;
      scope.vars.set(name, scope.frame.alloc());
    };
    // Explicit declarations first: `some x`, `x := ...`, `some x in xs`.
    for (const [i, e] of exprs.entries()) {
      index = i;
      const t = e.terms;
      if (t.type === 'some') {
        for (const s of t.symbols) {
          if (s.type === 'var') add(s.name, true);
          else if (s.type === 'call') {
            const n = s.args.length;
            const pats = s.args.slice(0, n - 1);
            for (const p of pats) for (const v of patternVars(p)) add(v, true);
          }
        }
      } else if (t.type === 'call' && isOp(t, 'assign')) {
        const lhs = bareVar(t.args[0]);
        if (lhs.type !== 'var' && lhs.type !== 'array' && lhs.type !== 'object') {
          throw err('rego_parse_error', 'cannot assign to ' + lhs.type, loc(e));
        }
        // Rego v0 lets a local shadow input/data (Gatekeeper-era tests do `input := {...}`);
        // Rego v1 refuses it for rules (local-vars.ts), a query may.
        for (const v of patternVars(lhs)) add(v, true);
      }
    }
    // Then every other variable used directly in this scope (not in nested scopes).
    const visit = (t: A.Term) => {
      walkScopeVars(t, (name) => add(name));
    };
    for (const e of exprs) {
      const t = e.terms;
      if (t.type === 'some') {
        for (const s of t.symbols) if (s.type === 'call') visit(s.args[s.args.length - 1]);
      } else if (t.type === 'every') {
        visit(t.domain);
      } else visit(t);
      // A builtin's name as a replacement (`with count as object.union_n`) is not a variable.
      for (const w of e.with) if (!this.functionRef(w.value, scope, ctx)?.builtin) visit(w.value);
    }
    for (const t of extraTerms) visit(t);
  }

  private isGlobal(name: string, ctx: ModuleCtx): boolean {
    return name === 'input' || name === 'data' || ctx.imports.has(name) || ctx.ruleNames.has(name);
  }

  private expr(e: A.Expr, scope: Scope, ctx: ModuleCtx, index: number): CExpr {
    const base = { negated: e.negated, withs: e.with.map((w) => this.withMod(w, scope, ctx)), loc: loc(e), index };
    const t = e.terms;
    if (t.type === 'some') {
      const sym = t.symbols[0];
      if (t.symbols.length === 1 && sym.type === 'call') {
        const args = sym.args.map((a) => this.term(a, scope, ctx));
        if (args.length === 2) return { ...base, k: 'somein', value: args[0], domain: args[1] };
        return { ...base, k: 'somein', key: args[0], value: args[1], domain: args[2] };
      }
      return { ...base, k: 'nop' };
    }
    if (t.type === 'every') {
      const inner = new Scope(scope, scope.frame);
      const domain = this.term(t.domain, scope, ctx);
      for (const p of [t.key, t.value]) {
        if (!p) continue;
        for (const v of patternVars(p)) inner.vars.set(v, scope.frame.alloc());
      }
      const key = t.key ? this.term(t.key, inner, ctx) : undefined;
      const value = this.term(t.value, inner, ctx);
      const safe = new Set<number>(inner.vars.values());
      const outerSafe = this.outerSlots(scope);
      for (const s of outerSafe) safe.add(s);
      const body = this.compileBody(t.body, inner, ctx, safe);
      const ev: CExpr = {
        ...base,
        k: 'every',
        key,
        value,
        domain,
        body: body.exprs.map((x) => x.expr),
        slots: [...inner.vars.values()],
      };
      recordCaptures(ev, outerSafe);
      return ev;
    }
    if (t.type === 'call') {
      const op = opName(t);
      if (op === 'eq' || op === 'assign') {
        if (t.args.length !== 2) throw err('rego_type_error', `${op}: arity mismatch`, loc(t));
        return { ...base, k: 'unify', a: this.term(t.args[0], scope, ctx), b: this.term(t.args[1], scope, ctx) };
      }
      const { call, out } = this.call(t, scope, ctx, true);
      return { ...base, k: 'call', call, out };
    }
    return { ...base, k: 'term', term: this.term(t, scope, ctx) };
  }

  /** All slots visible from scope that are not its own (for nested scopes: captured candidates). */
  private outerSlots(scope: Scope): number[] {
    const out: number[] = [];
    for (let s: Scope | undefined = scope; s; s = s.parent) for (const v of s.vars.values()) out.push(v);
    return out;
  }

  private withMod(w: A.With, scope: Scope, ctx: ModuleCtx): CWith {
    const target = w.target;
    let terms: A.Term[];
    if (target.type === 'var') terms = [target];
    else if (target.type === 'ref') terms = target.terms;
    else throw err('rego_type_error', 'with keyword target must reference existing input, data, or a function', loc(w));
    const expanded = this.expandHead(terms, scope, ctx);
    const head = expanded[0];
    if (head.type !== 'var') throw err('rego_type_error', 'with keyword target must reference existing input, data, or a function', loc(w));
    const path: string[] = [];
    for (const t of expanded.slice(1)) {
      if (t.type !== 'string') throw err('rego_type_error', 'with keyword target must be a ground reference', loc(w));
      path.push(t.value);
    }
    const replacement = this.functionRef(w.value, scope, ctx);
    const valueTerm = (): CTerm => this.term(w.value, scope, ctx);
    // A function replaced by a function (`with count as mock_count`, `... as object.union_n`):
    // the replacement is called, its name is not a value.
    const funcValue = (): CTerm => (replacement ? { t: 'const', v: null } : valueTerm());
    if (head.name === 'input') return { kind: 'input', path, value: valueTerm() };
    if (head.name === 'data') {
      const node = this.findNode(path);
      if (node && node.declaredKind === 'func') {
        return { kind: 'func', path, funcName: 'data.' + path.join('.'), value: funcValue(), replacement };
      }
      return { kind: 'data', path, value: valueTerm(), replacement };
    }
    // A builtin: `with count as mock_count` or `with strings.upper as ...`.
    const name = [head.name, ...path].join('.');
    if (getBuiltin(name) || SPECIALS[name]) {
      return { kind: 'func', path: [], funcName: name, value: funcValue(), replacement };
    }
    throw err('rego_type_error', 'with keyword target must reference existing input, data, or a function', loc(w));
  }

  /** When a `with` value names a function (user or builtin), the call to substitute. */
  private functionRef(t: A.Term, scope: Scope, ctx: ModuleCtx): CCall | undefined {
    let terms: A.Term[];
    if (t.type === 'var') terms = [t];
    else if (t.type === 'ref') terms = t.terms;
    else return undefined;
    if (terms[0].type === 'var' && scope.lookup(terms[0].name) !== undefined) return undefined;
    const expanded = this.expandHead(terms, scope, ctx);
    const h = expanded[0];
    if (h.type !== 'var') return undefined;
    const segs: string[] = [];
    for (const s of expanded.slice(1)) {
      if (s.type !== 'string') return undefined;
      segs.push(s.value);
    }
    if (h.name === 'data') {
      const node = this.findNode(segs);
      if (node && node.declaredKind === 'func') return { name: 'data.' + segs.join('.'), func: node, args: [] };
      return undefined;
    }
    const name = [h.name, ...segs].join('.');
    const b = getBuiltin(name);
    if (b) return { name, builtin: b, args: [] };
    return undefined;
  }

  private findNode(path: string[]): RuleNode | undefined {
    let n: RuleNode | undefined = this.root;
    for (const s of path) {
      n = n.children.get(s);
      if (!n) return undefined;
    }
    return n;
  }

  /** Expands a leading import alias or rule name into its full `data`/`input` ref terms. */
  private expandHead(terms: A.Term[], scope: Scope, ctx: ModuleCtx): A.Term[] {
    const head = terms[0];
    if (head.type !== 'var') return terms;
    if (scope.lookup(head.name) !== undefined) return terms;
    if (head.name === 'data' || head.name === 'input') return terms;
    const imp = ctx.imports.get(head.name);
    if (imp) {
      ctx.usedImports.add(head.name);
      return [...imp.terms, ...terms.slice(1)];
    }
    if (ctx.ruleNames.has(head.name)) {
      const str = (v: string): A.StringTerm => ({ type: 'string', value: v, loc: head.loc });
      return [{ type: 'var', name: 'data', loc: head.loc }, ...ctx.pkg.map(str), str(head.name), ...terms.slice(1)];
    }
    return terms;
  }

  // -------------------------------------------------------------------------------------------
  // Terms

  private term(t: A.Term, scope: Scope, ctx: ModuleCtx): CTerm {
    switch (t.type) {
      case 'null':
        return { t: 'const', v: null };
      case 'boolean':
        return { t: 'const', v: t.value };
      case 'number': {
        const n = parseNumber(t.raw);
        if (n === undefined) throw err('rego_parse_error', `invalid number ${t.raw}`, loc(t));
        return { t: 'const', v: n };
      }
      case 'string':
        return { t: 'const', v: internString(t.value) };
      case 'var': {
        const slot = scope.lookup(t.name);
        if (slot !== undefined) return { t: 'var', slot, name: t.name };
        return this.ref({ type: 'ref', terms: [t], loc: t.loc }, scope, ctx);
      }
      case 'ref':
        return this.ref(t, scope, ctx);
      case 'array':
        return fold({ t: 'array', items: t.items.map((x) => this.term(x, scope, ctx)) });
      case 'set':
        return fold({ t: 'set', items: t.items.map((x) => this.term(x, scope, ctx)) });
      case 'object':
        return fold({ t: 'object', items: t.items.map(([k, v]) => [this.term(k, scope, ctx), this.term(v, scope, ctx)] as [CTerm, CTerm]) });
      case 'arraycompr':
      case 'setcompr': {
        const inner = new Scope(scope, scope.frame);
        const body = this.compileBody(t.body, inner, ctx, new Set(this.outerSlots(scope)), [t.term]);
        const term = this.term(t.term, inner, ctx);
        checkHeadSafe([term], body, this.outerSlots(scope), t.loc);
        const c: CTerm = { t: 'compr', kind: t.type === 'arraycompr' ? 'array' : 'set', term, body: body.exprs.map((x) => x.expr) };
        recordCaptures(c, this.outerSlots(scope));
        return c;
      }
      case 'objectcompr': {
        const inner = new Scope(scope, scope.frame);
        const body = this.compileBody(t.body, inner, ctx, new Set(this.outerSlots(scope)), [t.key, t.value]);
        const key = this.term(t.key, inner, ctx);
        const value = this.term(t.value, inner, ctx);
        checkHeadSafe([key, value], body, this.outerSlots(scope), t.loc);
        const c: CTerm = { t: 'ocompr', key, value, body: body.exprs.map((x) => x.expr) };
        recordCaptures(c, this.outerSlots(scope));
        return c;
      }
      case 'call': {
        const op = opName(t);
        if (op === 'eq' || op === 'assign') {
          throw err('rego_parse_error', `${op === 'eq' ? '=' : ':='} cannot be used inside a term`, loc(t));
        }
        const { call } = this.call(t, scope, ctx, false);
        return { t: 'call', call };
      }
    }
  }

  private ref(r: A.RefTerm, scope: Scope, ctx: ModuleCtx): CTerm {
    const terms = this.expandHead(r.terms, scope, ctx);
    const head = terms[0];
    const rest = terms.slice(1).map((x) => this.term(x, scope, ctx));
    if (head.type === 'var') {
      const slot = scope.lookup(head.name);
      if (slot !== undefined) {
        if (rest.length === 0) return { t: 'var', slot, name: head.name };
        return { t: 'ref', root: 'term', head: { t: 'var', slot, name: head.name }, path: rest, staticLen: 0 };
      }
      if (head.name === 'data' || head.name === 'input') {
        let staticLen = 0;
        while (staticLen < rest.length) {
          const p = rest[staticLen];
          if (p.t === 'const' && typeof p.v === 'string') staticLen++;
          else break;
        }
        const ref: CRef = { t: 'ref', root: head.name, path: rest, staticLen };
        return ref;
      }
      // An unknown global: treat as an (unsafe) local var; safety will report it.
      throw err('rego_unsafe_var_error', `var ${head.name} is unsafe`, loc(head) ?? loc(r));
    }
    const h = this.term(head, scope, ctx);
    if (rest.length === 0) return h;
    return { t: 'ref', root: 'term', head: h, path: rest, staticLen: 0 };
  }

  private call(t: A.CallTerm, scope: Scope, ctx: ModuleCtx, statement: boolean): { call: CCall; out?: CTerm } {
    const opTerms = this.expandHead(t.operator.terms, scope, ctx);
    const h = opTerms[0];
    if (h.type !== 'var') throw err('rego_type_error', 'invalid function call', loc(t));
    if (scope.lookup(h.name) !== undefined && opTerms === t.operator.terms) {
      throw err('rego_type_error', `undefined function ${h.name}`, loc(t));
    }
    const segs: string[] = [];
    for (const s of opTerms.slice(1)) {
      if (s.type !== 'string') throw err('rego_type_error', 'function references must be ground', loc(t));
      segs.push(s.value);
    }
    const args = t.args.map((a) => this.term(a, scope, ctx));
    let name: string;
    let arity: number;
    const call: CCall = { name: '', args, loc: loc(t) };
    if (h.name === 'data') {
      name = 'data.' + segs.join('.');
      const node = this.findNode(segs);
      const kind = node && node.declaredKind;
      if (!node || kind !== 'func') throw err('rego_type_error', `undefined function ${name}`, loc(t));
      arity = node.arity!;
      call.func = node;
    } else {
      name = [h.name, ...segs].join('.');
      if (this.options.disabledBuiltins?.has(name)) throw err('rego_type_error', `undefined function ${name}`, loc(t));
      const special = SPECIALS[name];
      const b: BuiltinDef | undefined = getBuiltin(name);
      if (special) {
        call.special = special;
        if (b) call.builtin = b;
        arity = name === 'print' ? args.length : SPECIAL_ARITY[name];
      } else if (b) {
        call.builtin = b;
        arity = b.args.length;
        if (b.deprecated && ctx.v1Checks) {
          throw err('rego_type_error', `deprecated built-in function calls in expression: ${name}`, loc(t));
        }
      } else {
        throw err('rego_type_error', `undefined function ${name}`, loc(t));
      }
    }
    call.name = name;
    let out: CTerm | undefined;
    if (args.length === arity + 1 && statement && !(call.special === 'print')) {
      out = args.pop();
    } else if (args.length !== arity) {
      throw err('rego_type_error', `${name}: arity mismatch\n\thave: (${args.length} operand${args.length === 1 ? '' : 's'})\n\twant: (${arity} operand${arity === 1 ? '' : 's'})`, loc(t));
    }
    if (call.builtin && !call.special) checkLiteralTypes(call.builtin, args, loc(t));
    return { call, out };
  }

  // -------------------------------------------------------------------------------------------
  // Queries

  compileQuery(body: A.Body, qctx: QueryContext): CompiledQuery {
    const pkg = qctx.package ?? [];
    const ctx = this.moduleCtx(
      { package: { path: { type: 'ref', terms: [] } }, imports: [], rules: [], regoVersion: 1, file: '' },
      pkg,
      qctx.imports ?? [],
    );
    if (qctx.package) {
      // Bare names of the query's package rules resolve to them (the REPL's `package repl`).
      const names = new Set<string>();
      const node = this.findNode(pkg);
      if (node) for (const k of node.children.keys()) names.add(k);
      (ctx as { ruleNames: Set<string> }).ruleNames = names;
    }
    const locals = checkQueryLocals(body);
    if (locals.length > 0) throw new RegoErrors(locals);
    const frame = new Frame();
    const scope = new Scope(undefined, frame);
    try {
      const compiled = this.compileBody(body, scope, ctx, new Set(), [], true);
      const vars: Array<{ name: string; slot: number }> = [];
      for (const [name, slot] of scope.vars) if (!name.startsWith('$')) vars.push({ name, slot });
      return { body: compiled.exprs.map((x) => x.expr), nslots: frame.n, vars };
    } catch (e) {
      if (e instanceof RegoError) throw new RegoErrors([e]);
      throw e;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Recursion

  private checkRecursion(): void {
    // Edges from each rule node to the nodes its bodies reference.
    const deps = new Map<RuleNode, Set<RuleNode>>();
    const visitNode = (n: RuleNode) => {
      const set = new Set<RuleNode>();
      const rules = [...n.rules];
      if (n.defaultRule) rules.push(n.defaultRule);
      for (let r of rules) {
        for (let rr: CRule | undefined = r; rr; rr = rr.else) collectDeps(rr, this.root, set);
      }
      deps.set(n, set);
      for (const c of n.children.values()) visitNode(c);
    };
    visitNode(this.root);
    const state = new Map<RuleNode, number>(); // 1 = in progress, 2 = done
    const stack: RuleNode[] = [];
    const reported = new Set<RuleNode>();
    const dfs = (n: RuleNode) => {
      state.set(n, 1);
      stack.push(n);
      for (const d of deps.get(n) ?? []) {
        const s = state.get(d);
        if (s === 1) {
          const cycle = stack.slice(stack.indexOf(d));
          if (!reported.has(d)) {
            reported.add(d);
            const names = [...cycle, d].map((x) => 'data.' + x.path.join('.'));
            const r = d.rules[0] ?? d.defaultRule;
            this.errors.push(err('rego_recursion_error', `rule ${names[0]} is recursive: ${names.join(' -> ')}`, r?.loc));
          }
        } else if (!s) dfs(d);
      }
      stack.pop();
      state.set(n, 2);
    };
    for (const n of deps.keys()) if (!state.get(n) && (n.rules.length || n.defaultRule)) dfs(n);
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers on the AST

function packagePath(m: A.Module): string[] {
  const out: string[] = [];
  for (const t of m.package.path.terms.slice(1)) {
    if (t.type === 'string') out.push(t.value);
    else if (t.type === 'var') out.push(t.name);
  }
  return out;
}

function opName(t: A.CallTerm): string {
  return t.operator.terms
    .map((x) => (x.type === 'var' ? x.name : x.type === 'string' ? x.value : '?'))
    .join('.');
}

function isOp(t: A.CallTerm, name: string): boolean {
  return t.operator.terms.length === 1 && t.operator.terms[0].type === 'var' && t.operator.terms[0].name === name;
}

/**
 * A rule whose head value or key is a ref with variables in its path (`q := xs[_]`, `p contains
 * input.a[i]`) evaluates that ref as the last expression of its body, as OPA rewrites it: the
 * ref's variables are bound there (the rule enumerates) instead of being unsafe in the head.
 * Other rules are returned as they are.
 */
function withHeadRefsInBody(rule: A.Rule): A.Rule {
  const moved: A.Expr[] = [];
  const move = (t: A.Term | undefined, name: string): A.Term | undefined => {
    if (t?.type !== 'ref' || t.terms.slice(1).every(isGroundTerm)) return t;
    const v: A.VarTerm = { type: 'var', name, loc: t.loc };
    moved.push(unification(v, t, [], t.loc));
    return v;
  };
  const value = move(rule.head.value, '$head_value');
  const key = move(rule.head.key, '$head_key');
  if (moved.length === 0) return rule;
  return { ...rule, head: { ...rule.head, value, key }, body: [...rule.body, ...moved] };
}

/** The expression `v = t` (with these modifiers), for terms moved out of where they were written. */
function unification(v: A.VarTerm, t: A.Term, withs: A.With[], l?: A.Location): A.Expr {
  const eq: A.RefTerm = { type: 'ref', terms: [{ type: 'var', name: 'eq', loc: t.loc }], loc: t.loc };
  return { terms: { type: 'call', operator: eq, args: [v, t], loc: t.loc }, negated: false, with: withs, loc: l };
}

let hoisted = 0;

/**
 * A call whose argument is a ref binding a variable that an earlier argument uses
 * (`foo == input.foos[foo]`) gets that ref evaluated first, in an expression of its own before
 * the call, as OPA rewrites it: arguments are otherwise evaluated left to right, and the earlier
 * one would read the variable before the ref binds it. Other bodies are returned as they are.
 */
function hoistBindingRefs(exprs: A.Expr[]): A.Expr[] {
  let out: A.Expr[] | undefined;
  exprs.forEach((e, i) => {
    const t = e.terms;
    const before: A.Expr[] = [];
    if (t.type === 'call' && !e.negated && !isOp(t, 'eq') && !isOp(t, 'assign')) {
      const earlier = new Set<string>();
      const args = t.args.map((a) => {
        if (a.type === 'ref' && a.terms.slice(1).some((x) => x.type === 'var' && earlier.has(x.name))) {
          const v: A.VarTerm = { type: 'var', name: `$ref${hoisted++}`, loc: a.loc };
          before.push(unification(v, a, e.with, e.loc));
          return v;
        }
        walkScopeVars(a, (name) => earlier.add(name));
        return a;
      });
      if (before.length > 0) {
        out ??= exprs.slice(0, i);
        out.push(...before, { ...e, terms: { ...t, args } });
        return;
      }
    }
    out?.push(e);
  });
  return out ?? exprs;
}

/** `input` or `data` alone parses as a one-term ref; as an assignment target it is a variable. */
function bareVar(t: A.Term): A.Term {
  return t.type === 'ref' && t.terms.length === 1 && t.terms[0].type === 'var' ? t.terms[0] : t;
}

/**
 * Vars in pattern positions: the term itself, or nested in array/object literals. A bare `input`
 * or `data` there names a local, as in OPA (`[input, x] := ...`, `f(input) := ...`).
 */
function patternVars(t: A.Term): string[] {
  const out: string[] = [];
  const walk = (term: A.Term) => {
    const x = bareVar(term);
    if (x.type === 'var') out.push(x.name);
    else if (x.type === 'array') x.items.forEach(walk);
    else if (x.type === 'object') x.items.forEach(([, v]) => walk(v));
  };
  walk(t);
  return out;
}

/**
 * Visits the variables of a term that live in the current scope: it does not descend into
 * comprehension bodies (their own scope), but it does visit the comprehension's free variables
 * only when they also appear outside, which is decided by the caller's declare() order.
 */
function walkScopeVars(t: A.Term, fn: (name: string, l?: A.Location) => void): void {
  switch (t.type) {
    case 'var':
      fn(t.name, t.loc);
      return;
    case 'ref':
      // The head of a ref may be a global (data/input/rule/import); the rest are terms.
      t.terms.forEach((x) => walkScopeVars(x, fn));
      return;
    case 'array':
    case 'set':
      t.items.forEach((x) => walkScopeVars(x, fn));
      return;
    case 'object':
      t.items.forEach(([k, v]) => {
        walkScopeVars(k, fn);
        walkScopeVars(v, fn);
      });
      return;
    case 'call':
      t.args.forEach((x) => walkScopeVars(x, fn));
      // operator refs name functions; only dynamic parts matter, which OPA forbids.
      return;
    default:
      return; // scalars and comprehensions
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers on compiled terms

function isGround(t: CTerm): boolean {
  return t.t === 'const';
}

/** Folds literals whose items are all constants into one constant. */
function fold(t: CTerm): CTerm {
  if (t.t === 'array') {
    if (t.items.every(isGround)) return { t: 'const', v: t.items.map((x) => (x as { v: Value }).v) };
  } else if (t.t === 'set') {
    if (t.items.every(isGround)) return { t: 'const', v: RSet.from(t.items.map((x) => (x as { v: Value }).v)) };
  } else if (t.t === 'object') {
    if (t.items.every(([k, v]) => isGround(k) && isGround(v))) {
      const o = new RObject();
      for (const [k, v] of t.items) o.set((k as { v: Value }).v, (v as { v: Value }).v);
      return { t: 'const', v: o };
    }
  }
  return t;
}

/** Compile-time operand checks for literal arguments, like OPA's type checker. */
function checkLiteralTypes(b: BuiltinDef, args: CTerm[], l?: A.Location): void {
  for (let i = 0; i < b.args.length && i < args.length; i++) {
    const a = args[i];
    if (a.t !== 'const' && a.t !== 'array' && a.t !== 'object' && a.t !== 'set' && a.t !== 'compr' && a.t !== 'ocompr') continue;
    const got = a.t === 'const' ? typeName(a.v) : a.t === 'compr' ? a.kind : a.t === 'ocompr' ? 'object' : a.t;
    const want = b.args[i]
      .split('|')
      .map((s) => s.trim().replace(/\[.*$/s, ''));
    if (want.includes('any') || want.includes(got)) continue;
    throw err('rego_type_error', `${b.name}: invalid argument(s)\n\thave: (${argTypes(args)})\n\twant: (${b.args.join(', ')})`, l);
  }
}

function argTypes(args: CTerm[]): string {
  return args.map((a) => (a.t === 'const' ? typeName(a.v) : 'any')).join(', ');
}

/** Slots referenced by a term, and which of them are in "pattern" (bindable) positions. */
interface TermVars {
  /** Slots that must already be bound to evaluate the term. */
  needs: Set<number>;
  /** Slots the term binds when evaluated (ref keys, unification patterns). */
  binds: Set<number>;
}

function termVars(t: CTerm, safe: Set<number>, pattern: boolean, tv: TermVars): void {
  switch (t.t) {
    case 'const':
      return;
    case 'var':
      if (safe.has(t.slot)) return;
      if (pattern) tv.binds.add(t.slot);
      else tv.needs.add(t.slot);
      return;
    case 'ref': {
      if (t.head) termVars(t.head, safe, false, tv);
      for (const p of t.path) {
        // Vars (and patterns) in ref key positions are bound by iteration.
        if (p.t === 'var' || p.t === 'array' || p.t === 'object') termVars(p, safe, true, tv);
        else termVars(p, safe, false, tv);
      }
      return;
    }
    case 'array':
      for (const x of t.items) termVars(x, safe, pattern, tv);
      return;
    case 'object':
      for (const [k, v] of t.items) {
        termVars(k, safe, false, tv);
        termVars(v, safe, pattern, tv);
      }
      return;
    case 'set':
      for (const x of t.items) termVars(x, safe, false, tv);
      return;
    case 'compr':
    case 'ocompr':
      for (const s of capturedSlots(t)) if (!safe.has(s)) tv.needs.add(s);
      return;
    case 'call':
      for (const a of t.call.args) termVars(a, safe, false, tv);
      return;
  }
}

/** Slots used inside a comprehension that belong to enclosing scopes (set by reorder). */
const CAPTURED = new WeakMap<object, number[]>();
function capturedSlots(t: CTerm | CExpr): number[] {
  return CAPTURED.get(t) ?? [];
}

/** Collects every slot that appears in a term or expression, including nested bodies. */
function allSlots(x: CTerm | CExpr, out: Set<number>): void {
  forEachTerm(x, (t) => {
    if (t.t === 'var') out.add(t.slot);
  });
}

/**
 * What an expression needs bound and what it binds, given the safe set. Returns null when
 * it cannot run yet.
 */
function analyze(e: CExpr, safe: Set<number>): Set<number> | null {
  const tv: TermVars = { needs: new Set(), binds: new Set() };
  for (const w of e.withs) termVars(w.value, safe, false, tv);
  let binds: Set<number>;
  switch (e.k) {
    case 'nop':
      return new Set();
    case 'term':
      termVars(e.term, safe, false, tv);
      binds = tv.binds;
      break;
    case 'call': {
      for (const a of e.call.args) termVars(a, safe, false, tv);
      if (e.out) termVars(e.out, safe, true, tv);
      binds = tv.binds;
      break;
    }
    case 'somein': {
      termVars(e.domain, safe, false, tv);
      if (e.key) termVars(e.key, safe, true, tv);
      termVars(e.value, safe, true, tv);
      binds = tv.binds;
      break;
    }
    case 'every': {
      termVars(e.domain, safe, false, tv);
      for (const s of capturedSlots(e)) if (!safe.has(s)) tv.needs.add(s);
      binds = new Set();
      break;
    }
    case 'unify': {
      const r = analyzeUnify(e.a, e.b, safe);
      if (!r) return null;
      for (const n of tv.needs) if (!safe.has(n)) return null;
      return r;
    }
  }
  for (const n of tv.needs) if (!safe.has(n) && !binds.has(n)) return null;
  if (e.negated) {
    // A negated expression binds nothing and needs all its variables.
    if (binds.size > 0) return null;
    return new Set();
  }
  return binds;
}

/** Unification can bind vars on either side, as long as one side can be evaluated. */
function analyzeUnify(a: CTerm, b: CTerm, safe: Set<number>): Set<number> | null {
  const evaluable = (t: CTerm, s: Set<number>): Set<number> | null => {
    const tv: TermVars = { needs: new Set(), binds: new Set() };
    termVars(t, s, false, tv);
    for (const n of tv.needs) if (!s.has(n) && !tv.binds.has(n)) return null;
    return tv.binds;
  };
  const patternBinds = (t: CTerm, s: Set<number>): Set<number> | null => {
    const tv: TermVars = { needs: new Set(), binds: new Set() };
    termVars(t, s, true, tv);
    for (const n of tv.needs) if (!s.has(n) && !tv.binds.has(n)) return null;
    return tv.binds;
  };
  const union = (x: Set<number>, y: Set<number>) => new Set([...x, ...y]);
  // Both sides literal arrays: unify element-wise, in any order that works.
  if (a.t === 'array' && b.t === 'array' && a.items.length === b.items.length) {
    const s = new Set(safe);
    const pending = a.items.map((x, i) => [x, b.items[i]] as [CTerm, CTerm]);
    const binds = new Set<number>();
    let progress = true;
    while (pending.length && progress) {
      progress = false;
      for (let i = 0; i < pending.length; i++) {
        const r = analyzeUnify(pending[i][0], pending[i][1], s);
        if (r) {
          for (const v of r) {
            s.add(v);
            binds.add(v);
          }
          pending.splice(i, 1);
          progress = true;
          break;
        }
      }
    }
    return pending.length ? null : binds;
  }
  // Both sides literal objects with the same constant keys: unify the values pairwise.
  if (a.t === 'object' && b.t === 'object' && a.items.length === b.items.length) {
    const pairs: Array<[CTerm, CTerm]> = [];
    for (const [ka, va] of a.items) {
      if (ka.t !== 'const') return null;
      const m = b.items.find(([kb]) => kb.t === 'const' && kb.v === ka.v);
      if (!m) return null;
      pairs.push([va, m[1]]);
    }
    return analyzeUnify({ t: 'array', items: pairs.map((x) => x[0]) }, { t: 'array', items: pairs.map((x) => x[1]) }, safe);
  }
  const eb = evaluable(b, safe);
  if (eb) {
    const s = union(safe, eb);
    const pa = patternBinds(a, s);
    if (pa) return union(eb, pa);
  }
  const ea = evaluable(a, safe);
  if (ea) {
    const s = union(safe, ea);
    const pb = patternBinds(b, s);
    if (pb) return union(ea, pb);
  }
  return null;
}

/**
 * Reorders a body so every expression runs after the expressions that bind its inputs, keeping
 * the written order otherwise (OPA's algorithm). Reports unsafe variables.
 */
function reorder(
  exprs: CExpr[],
  initiallySafe: Set<number>,
  source: A.Expr[],
): { exprs: Array<{ expr: CExpr; binds: number[] }>; safe: Set<number> } {
  const safe = new Set(initiallySafe);
  const remaining = exprs.slice();
  const out: Array<{ expr: CExpr; binds: number[] }> = [];
  while (remaining.length) {
    let picked = -1;
    let binds: Set<number> | null = null;
    for (let i = 0; i < remaining.length; i++) {
      binds = analyze(remaining[i], safe);
      if (binds) {
        picked = i;
        break;
      }
    }
    if (picked < 0) {
      const errors: RegoError[] = [];
      const seen = new Set<number>();
      for (const e of remaining) {
        const slots = new Set<number>();
        allSlots(e, slots);
        const names = slotNames(e);
        for (const s of slots) {
          if (safe.has(s) || seen.has(s)) continue;
          seen.add(s);
          const name = names.get(s) ?? `$${s}`;
          errors.push(err('rego_unsafe_var_error', `var ${name.startsWith('$_') ? '_' : name} is unsafe`, source[e.index]?.loc ?? e.loc));
        }
      }
      if (errors.length === 0) errors.push(err('rego_unsafe_var_error', 'expression is unsafe', remaining[0].loc));
      throw new RegoErrors(errors);
    }
    const e = remaining.splice(picked, 1)[0];
    for (const v of binds!) safe.add(v);
    out.push({ expr: e, binds: [...binds!] });
  }
  return { exprs: out, safe };
}

function slotNames(e: CExpr): Map<number, string> {
  const m = new Map<number, string>();
  forEachTerm(
    e,
    (t) => {
      if (t.t === 'var') m.set(t.slot, t.name);
    },
    false,
  );
  return m;
}

/** Records which slots a comprehension or `every` uses from its enclosing scopes. */
function recordCaptures(x: CTerm | CExpr, outer: number[]): void {
  const inner = new Set<number>();
  if ('k' in x && x.k === 'every') x.body.forEach((b) => allSlots(b, inner));
  else allSlots(x, inner);
  const o = new Set(outer);
  CAPTURED.set(x, [...inner].filter((s) => o.has(s)));
}

function checkHeadSafe(terms: CTerm[], body: { exprs: Array<{ binds: number[] }>; safe: Set<number> }, outer: number[], l?: A.Location): void {
  const safe = new Set<number>([...body.safe, ...outer]);
  for (const t of terms) {
    for (const v of unsafeVarsOf(t, safe)) throw err('rego_unsafe_var_error', `var ${v} is unsafe`, l);
  }
}

function unsafeVarsOf(t: CTerm, safe: Set<number>): string[] {
  const tv: TermVars = { needs: new Set(), binds: new Set() };
  termVars(t, safe, false, tv);
  const names = new Map<number, string>();
  forEachTerm(
    t,
    (x) => {
      if (x.t === 'var') names.set(x.slot, x.name);
    },
    false,
  );
  return [...tv.needs, ...tv.binds].filter((s) => !safe.has(s)).map((s) => names.get(s) ?? `$${s}`);
}

// ---------------------------------------------------------------------------------------------
// Tree post-processing

function markHasRules(n: RuleNode): boolean {
  const here = n.rules.length > 0 || n.defaultRule !== undefined;
  let below = false;
  for (const c of n.children.values()) if (markHasRules(c)) below = true;
  n.hasRules = here || below;
  n.rulesBelow = here && below;
  return n.hasRules;
}

/** The rule nodes a rule's bodies (and head) may read. */
function collectDeps(r: CRule, root: RuleNode, out: Set<RuleNode>): void {
  const visit = (t: CTerm): void => {
    if (t.t === 'call' && t.call.func) out.add(t.call.func);
    if (t.t !== 'ref' || t.root !== 'data') return;
    // The rules the ref may read: those on its path, where a variable part may be any key and
    // a string names one (`data[x].allow.see` reads no rule outside some `*.allow.see`, as in
    // OPA's dependency graph), and every rule below where the path ends. A part that leaves the
    // tree reads only base data.
    const path = t.path;
    const match = (n: RuleNode, i: number): void => {
      if (n.rules.length || n.defaultRule) out.add(n);
      if (i === path.length) {
        addSubtree(n, out);
        return;
      }
      const part = path[i];
      if (part.t === 'const') {
        const next = typeof part.v === 'string' ? n.children.get(part.v) : undefined;
        if (next?.hasRules) match(next, i + 1);
        return;
      }
      for (const c of n.children.values()) if (c.hasRules) match(c, i + 1);
    };
    match(root, 0);
  };
  for (const e of r.body) {
    if (e.k === 'call' && e.call.func) out.add(e.call.func);
    forEachTerm(e, visit);
    forEachNestedCall(e, (c) => c.func && out.add(c.func));
  }
  for (const t of [...r.dyn, ...(r.key ? [r.key] : []), r.value]) forEachTerm(t, visit);
}

/** Calls made by statement expressions inside nested bodies (comprehensions, every). */
function forEachNestedCall(e: CExpr, fn: (c: CCall) => void): void {
  const bodies: CExpr[][] = [];
  if (e.k === 'every') bodies.push(e.body);
  forEachTerm(e, (t) => {
    if (t.t === 'compr' || t.t === 'ocompr') bodies.push(t.body);
  });
  for (const b of bodies) {
    for (const x of b) {
      if (x.k === 'call') fn(x.call);
      forEachNestedCall(x, fn);
    }
  }
}

function addSubtree(n: RuleNode, out: Set<RuleNode>): void {
  if (n.rules.length || n.defaultRule) out.add(n);
  for (const c of n.children.values()) if (c.hasRules) addSubtree(c, out);
}

// ---------------------------------------------------------------------------------------------
// Rule indexing: for nodes with several rules, find `input.<path> == <constant>` conditions
// that all solutions of a rule require, so evaluation can skip rules that cannot match.

const INDEX_MIN_RULES = 4;

function buildIndexes(n: RuleNode): void {
  if (n.rules.length >= INDEX_MIN_RULES && (n.kind === 'complete' || n.kind === 'multi' || n.kind === 'object')) {
    // Count which input paths are tested against constants across rules.
    const counts = new Map<string, number>();
    const conds = n.rules.map((r) => (r.else ? [] : indexConditions(r)));
    conds.forEach((cs) => {
      const seen = new Set<string>();
      for (const c of cs) {
        const k = c.path.join('\u0000');
        if (!seen.has(k)) {
          seen.add(k);
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
      }
    });
    let best: string | undefined;
    let bestCount = 1;
    for (const [k, c] of counts) if (c > bestCount) ((best = k), (bestCount = c));
    if (best !== undefined) {
      const path = best.split('\u0000');
      const byValue = new Map<unknown, CRule[]>();
      const unconditional: CRule[] = [];
      n.rules.forEach((r, i) => {
        const c = conds[i].find((x) => x.path.join('\u0000') === best);
        if (!c || typeof c.value === 'object') unconditional.push(r);
        else {
          const list = byValue.get(c.value) ?? [];
          list.push(r);
          byValue.set(c.value, list);
        }
      });
      n.index = { path, byValue, unconditional };
    }
  }
  for (const c of n.children.values()) buildIndexes(c);
}

function indexConditions(r: CRule): Array<{ path: string[]; value: Value }> {
  const out: Array<{ path: string[]; value: Value }> = [];
  for (const e of r.body) {
    if (e.negated || e.withs.length) continue;
    let a: CTerm | undefined;
    let b: CTerm | undefined;
    if (e.k === 'unify') ((a = e.a), (b = e.b));
    else if (e.k === 'call' && e.call.name === 'equal' && !e.out) ((a = e.call.args[0]), (b = e.call.args[1]));
    else continue;
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as Array<[CTerm, CTerm]>) {
      if (x.t === 'ref' && x.root === 'input' && x.staticLen === x.path.length && y.t === 'const' && (y.v === null || typeof y.v !== 'object')) {
        out.push({ path: x.path.map((p) => (p as { v: string }).v), value: y.v });
      }
    }
  }
  return out;
}

