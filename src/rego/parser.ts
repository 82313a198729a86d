// The Rego parser: source text -> AST (ast.ts), for modules, queries, terms and REPL lines.
//
// The grammar and its corner cases follow OPA's recursive-descent parser (v1/ast/parser.go)
// so that a policy means the same here as there:
//   - precedence, lowest first: `=`/`:=` (statement level only), `in`, relations
//     (== != < <= > >=), `|`, `&`, `+ -`, `* / %`; all binary operators are left associative;
//   - whitespace matters: `a [0]` is not a ref and `f (x)` is not a call;
//   - `{ a | b }` is a set comprehension, not a set holding `a | b`;
//   - statements that do not parse as rules (e.g. `p := 1`, `p[x]`, `f(x) = y`) are parsed as
//     one-expression queries and turned into rules afterwards (OPA's ParseRuleFromBody);
//   - Rego v1 checks (`if` before bodies, `contains` for multi-value rules) run after parsing.
// Every error is a RegoError('rego_parse_error', ...), thrown together as RegoErrors.
import { parse as parseYaml } from 'yaml';
import type {
  Annotation,
  Body,
  CallTerm,
  Every,
  Expr,
  Head,
  Import,
  Location,
  Module,
  Package,
  RefTerm,
  Rule,
  SomeDecl,
  Term,
  VarTerm,
  With,
} from './ast.js';
import type { ParseOptions } from './api.js';
import { RegoError, RegoErrors } from './errors.js';
import { MAX_YAML_DEPTH, yamlNestedDeeperThan } from './yaml-depth.js';
// The full table, so that `count(x)` as a statement is recognised as a builtin call.
import { getBuiltin } from './builtins/index.js';
import { lex, type Comment, type Token } from './lexer.js';

export type { ParseOptions };

/** A statement of a REPL line (or of a module, before assembly). */
export type Statement =
  | { kind: 'package'; pkg: Package }
  | { kind: 'import'; imp: Import }
  | { kind: 'rule'; rule: Rule }
  /**
   * A query. `asRule` is set when OPA's REPL would define a rule instead of evaluating the
   * query: a single `:=` or `=` expression that reads as a rule (`x := 1`, `p = 1`,
   * `input = data.mock.allowed`, `f(x) = y`, `user["role"] := "admin"`), but never when the
   * left side is a ref into `data`/`input` (`data.x.y = 1` asks a question). For `=`, OPA's
   * REPL additionally evaluates it as a query when the left side is already defined in the
   * current module (rule or import name); that check needs the compiled state and is the
   * REPL's job (see `isUnification`).
   */
  | { kind: 'query'; body: Body; asRule?: Rule; isUnification?: boolean };

const ALWAYS_KEYWORDS = new Set(['not', 'package', 'import', 'as', 'default', 'else', 'with', 'some', 'null', 'true', 'false']);
const FUTURE_KEYWORDS = ['contains', 'every', 'if', 'in'];
const ROOT_DOCS = new Set(['data', 'input']);

/**
 * Nesting limit (counted in parser entries), far above real policies and below a stack overflow
 * with room to spare: about 500 nested parentheses, which overflow Node's default stack at about
 * 620 before the JIT has warmed up. A limit closer to that would make the error's position depend
 * on where the stack happened to run out.
 */
const MAX_DEPTH = 1000;
const DEPTH_MESSAGE = 'max parsing recursion depth exceeded';

const INFIX: Record<string, string> = {
  '==': 'equal',
  '!=': 'neq',
  '<': 'lt',
  '<=': 'lte',
  '>': 'gt',
  '>=': 'gte',
  '|': 'or',
  '&': 'and',
  '+': 'plus',
  '-': 'minus',
  '*': 'mul',
  '/': 'div',
  '%': 'rem',
  '=': 'eq',
  ':=': 'assign',
};
/** Names the parser itself produces; all are builtins (for "rule name conflicts with built-in function"). */
const PARSER_BUILTINS = new Set([...Object.values(INFIX), 'internal.member_2', 'internal.member_3']);

/** How OPA's tokens print in messages ("unexpected assign token"). */
const TOKEN_NAMES: Record<string, string> = {
  ident: 'identifier',
  ':=': 'assign',
  '=': 'eq',
  '==': 'equal',
  '!=': 'neq',
  '<': 'lt',
  '<=': 'lte',
  '>': 'gt',
  '>=': 'gte',
  '+': 'plus',
  '-': 'minus',
  '*': 'mul',
  '/': 'div',
  '%': 'rem',
  '&': 'and',
  '|': 'or',
};

const BINARY_LEVELS: ReadonlyArray<ReadonlySet<string>> = [
  new Set(['==', '!=', '<', '>', '<=', '>=']),
  new Set(['|']),
  new Set(['&']),
  new Set(['+', '-']),
  new Set(['*', '/', '%']),
];

/** A parse error; turned into a RegoError only at the end (speculative parses make many). */
interface PErr {
  msg: string;
  loc: Location;
}

const NO_ERRS: readonly PErr[] = [];

interface State {
  pos: number;
  wildcard: number;
  errors: readonly PErr[];
  hints: readonly string[];
}

interface RuleFlags {
  generatedBody: boolean;
  generatedValue: boolean;
  hasIf: boolean;
  hasContains: boolean;
}

interface CacheEntry {
  term: Term | null;
  /** Parser position and wildcard counter after the term. */
  pos: number;
  wildcard: number;
  /** Errors the parse of this term added (re-applied on a cache hit). */
  errs: readonly PErr[];
}

/** Internal signal: nesting too deep; unwinds the whole parse. */
class DepthExceeded extends Error {}

type Version = 0 | 1;

class Parser {
  private readonly toks: Token[];
  readonly comments: Comment[];
  private s: State = { pos: 0, wildcard: 0, errors: [], hints: [] };
  private readonly cache = new Map<number, CacheEntry>();
  private depth = 0;
  /** Enabled future keywords (shared across save/restore, like OPA's scanner keyword table). */
  private readonly kw = new Set<string>();
  /** Token index that must be read as an identifier even when it spells a keyword. */
  private forceIdent = -1;
  readonly flags = new Map<Rule, RuleFlags>();
  /** `import rego.v1` seen: v1 checks apply even to a v0 module. */
  regoV1Import = false;

  constructor(
    src: string,
    readonly file: string,
    readonly version: Version,
    allKeywords = false,
  ) {
    const lx = lex(src);
    this.toks = lx.tokens;
    this.comments = lx.comments;
    if (version === 1 || allKeywords) for (const k of FUTURE_KEYWORDS) this.kw.add(k);
  }

  // ---------------------------------------------------------------- tokens and state

  private get t(): Token {
    return this.toks[this.s.pos];
  }

  private peek(): Token {
    return this.toks[Math.min(this.s.pos + 1, this.toks.length - 1)];
  }

  /** The token's kind: punctuation, 'ident', a keyword, 'number', 'string', 'eof', 'illegal'. */
  private kindOf(t: Token, idx: number): string {
    switch (t.type) {
      case 'word':
        if (idx === this.forceIdent) return 'ident';
        if (ALWAYS_KEYWORDS.has(t.text) || this.kw.has(t.text)) return t.text;
        return 'ident';
      case 'rawstring':
        return 'string';
      default:
        return t.type;
    }
  }

  private k(): string {
    return this.kindOf(this.t, this.s.pos);
  }

  private isKeywordKind(kind: string): boolean {
    return ALWAYS_KEYWORDS.has(kind) || FUTURE_KEYWORDS.includes(kind);
  }

  private scan(): void {
    if (this.s.pos < this.toks.length - 1) this.s.pos++;
  }

  private save(): State {
    return { ...this.s };
  }

  private restore(s: State): void {
    this.s = { ...s };
  }

  private loc(t: Token = this.t): Location {
    return { file: this.file, row: t.row, col: t.col };
  }

  get errors(): RegoError[] {
    return this.s.errors.map((e) => new RegoError('rego_parse_error', e.msg, e.loc));
  }

  get hasErrors(): boolean {
    return this.s.errors.length > 0;
  }

  get atEOF(): boolean {
    return this.t.type === 'eof';
  }

  error(loc: Location, msg: string): void {
    const hints = this.s.hints;
    if (hints.length === 1) msg += ` (hint: ${hints[0]})`;
    else if (hints.length > 1) msg += ` (hints: ${hints.join(', ')})`;
    this.s.hints = [];
    // The same error twice at one place (e.g. an illegal token seen by two callers) is noise.
    const last = this.s.errors[this.s.errors.length - 1];
    if (last && last.msg === msg && last.loc.row === loc.row && last.loc.col === loc.col) return;
    this.s.errors = [...this.s.errors, { msg, loc }];
  }

  private hint(h: string): void {
    this.s.hints = [...this.s.hints, h];
  }

  /** OPA's "unexpected X token: note". */
  illegal(note = ''): void {
    const t = this.t;
    if (t.type === 'illegal') {
      this.error(this.loc(t), t.error ?? 'illegal token');
      return;
    }
    const kind = this.k();
    const what = TOKEN_NAMES[kind] ?? kind;
    const tokType = this.isKeywordKind(kind) ? 'keyword' : 'token';
    this.error(this.loc(t), note ? `unexpected ${what} ${tokType}: ${note}` : `unexpected ${what} ${tokType}`);
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new DepthExceeded();
  }

  private leave(): void {
    this.depth--;
  }

  /** The next token directly follows the current one (no whitespace) and is one of `kinds`. */
  private nextIsAdjacent(...kinds: string[]): boolean {
    const n = this.peek();
    return !n.wsBefore && kinds.includes(this.kindOf(n, this.s.pos + 1));
  }

  /** A keyword directly followed by `.` or `[` starts a ref (`input.in`, `if.x`): read it as an identifier. */
  private keywordAsRefHead(): void {
    if (this.t.type === 'word' && this.k() !== 'ident' && this.nextIsAdjacent('.', '[')) this.forceIdent = this.s.pos;
  }

  // ---------------------------------------------------------------- term constructors

  private varTerm(name: string, loc: Location): VarTerm {
    return { type: 'var', name, loc };
  }

  private opRef(name: string, loc: Location): RefTerm {
    const parts = name.split('.');
    return {
      type: 'ref',
      terms: [this.varTerm(parts[0], loc), ...parts.slice(1).map((p): Term => ({ type: 'string', value: p, loc }))],
      loc,
    };
  }

  private call(op: string, opLoc: Location, args: Term[], loc: Location | undefined): CallTerm {
    return { type: 'call', operator: this.opRef(op, opLoc), args, loc };
  }

  private trueExpr(loc: Location | undefined): Expr {
    return { terms: { type: 'boolean', value: true, loc }, negated: false, with: [], loc };
  }

  // ---------------------------------------------------------------- statements

  /** Parses statements until EOF or the first error (OPA's Parser.Parse). */
  parseStatements(skipRules = false): Statement[] {
    const out: Statement[] = [];
    while (!this.atEOF) {
      const s = this.save();
      const pkg = this.parsePackage();
      if (pkg) {
        out.push({ kind: 'package', pkg });
        continue;
      } else if (this.hasErrors) break;
      this.restore(s);

      const imp = this.parseImport();
      if (imp) {
        const head = imp.path.terms[0];
        if (head.type === 'var' && head.name === 'rego') this.regoV1ImportCheck(imp);
        if (head.type === 'var' && head.name === 'future') this.futureImport(imp);
        out.push({ kind: 'import', imp });
        continue;
      } else if (this.hasErrors) break;
      this.restore(s);

      if (!skipRules) {
        const rules = this.parseRules();
        if (rules) {
          for (const rule of rules) out.push({ kind: 'rule', rule });
          continue;
        } else if (this.hasErrors) break;
        this.restore(s);
      }

      const body = this.parseQuery(true, 'eof');
      if (body) {
        out.push({ kind: 'query', body });
        continue;
      }
      break;
    }
    if (!this.hasErrors && !this.atEOF) this.illegal();
    return out;
  }

  /** A query: literals separated by `;` or newlines, up to EOF. */
  parseQueryText(): Body | null {
    if (this.atEOF) {
      this.error(this.loc(), 'empty query');
      return null;
    }
    const body: Body = [];
    for (;;) {
      const e = this.parseLiteral();
      if (!e) return null;
      body.push(e);
      if (this.k() === ';') {
        this.scan();
        if (this.atEOF) return body;
        continue;
      }
      if (this.atEOF) return body;
      if (!this.t.nlBefore) {
        if (!this.hasErrors) this.illegal('expected \\n or ; or eof');
        return null;
      }
    }
  }

  private parsePackage(): Package | null {
    if (this.k() !== 'package') return null;
    const loc = this.loc();
    // `package.x` / `package[x]` is a ref (keywords are allowed as ref heads), not a declaration.
    if (this.nextIsAdjacent('.', '[')) return null;
    this.scan();
    if (this.t.type !== 'word') {
      this.illegal();
      return null;
    }
    this.forceIdent = this.s.pos;
    const term = this.parseTerm();
    if (!term) {
      if (!this.hasErrors) this.error(this.loc(), 'expected path');
      return null;
    }
    let path: Term[];
    if (term.type === 'var') {
      path = [this.varTerm('data', term.loc!), { type: 'string', value: term.name, loc: term.loc }];
    } else if (term.type === 'ref') {
      const v = term.terms;
      if (v[0].type !== 'var') {
        this.error(v[0].loc ?? loc, `unexpected ${valueName(v[0])} token: expecting var`);
        return null;
      }
      path = [this.varTerm('data', v[0].loc!), { type: 'string', value: v[0].name, loc: v[0].loc }];
      for (let i = 1; i < v.length; i++) {
        if (v[i].type !== 'string') {
          this.error(v[i].loc ?? loc, `unexpected ${valueName(v[i])} token: expecting string`);
          return null;
        }
        path.push(v[i]);
      }
    } else {
      this.illegal();
      return null;
    }
    return { path: { type: 'ref', terms: path, loc: term.loc }, loc };
  }

  private parseImport(): Import | null {
    if (this.k() !== 'import') return null;
    const loc = this.loc();
    if (this.nextIsAdjacent('.', '[')) return null;
    this.scan();
    if (this.t.type !== 'word') {
      this.illegal();
      return null;
    }
    // Import paths are read without future keywords, so `import future.keywords.in` works
    // even when `in` is already a keyword.
    const saved = [...this.kw];
    this.kw.clear();
    this.forceIdent = this.s.pos;
    let term: Term | null;
    try {
      term = this.parseTerm();
    } finally {
      for (const k of saved) this.kw.add(k);
    }
    let path: RefTerm | undefined;
    if (term) {
      if (term.type === 'var') path = { type: 'ref', terms: [term], loc: term.loc };
      else if (term.type === 'ref') {
        for (let i = 1; i < term.terms.length; i++) {
          if (term.terms[i].type !== 'string') {
            this.error(term.terms[i].loc ?? loc, `unexpected ${valueName(term.terms[i])} token: expecting string`);
            return null;
          }
        }
        path = term;
      }
    }
    if (!path) {
      if (!this.hasErrors) this.error(this.loc(), 'expected path');
      return null;
    }
    const head = path.terms[0];
    const headName = head.type === 'var' ? head.name : '';
    if (!['data', 'input', 'future', 'rego'].includes(headName)) {
      this.hint('if this is unexpected, try updating OPA');
      this.error(path.loc ?? loc, `unexpected import path, must begin with one of: {data, future, input, rego}, got: ${termString(head)}`);
      return null;
    }
    const imp: Import = { path, loc };
    if (this.k() === 'as') {
      this.scan();
      if (this.k() !== 'ident') {
        this.illegal('expected var');
        return null;
      }
      imp.alias = this.t.text;
      this.scan();
      return imp;
    }
    // Without an alias, the last path element names the import: it must not be a keyword.
    const last = path.terms[path.terms.length - 1];
    const lastName = last.type === 'var' ? last.name : last.type === 'string' ? last.value : '';
    if (headName !== 'future' && this.isRegoKeyword(lastName)) {
      this.hint('import a different path or use an alias');
      this.error(last.loc ?? loc, `unexpected import path, must not end with a keyword, got: ${lastName}`);
    }
    return imp;
  }

  private isRegoKeyword(name: string): boolean {
    return ALWAYS_KEYWORDS.has(name) || (this.version === 1 && FUTURE_KEYWORDS.includes(name));
  }

  private futureImport(imp: Import): void {
    const path = imp.path.terms;
    const second = path[1];
    if (path.length === 1 || second.type !== 'string' || second.value !== 'keywords') {
      this.error(imp.path.loc!, 'invalid import, must be `future.keywords`');
      return;
    }
    if (imp.alias) {
      this.error(imp.path.loc!, '`future` imports cannot be aliased');
      return;
    }
    let kws = FUTURE_KEYWORDS;
    if (path.length === 3) {
      const kw = path[2];
      if (kw.type !== 'string') {
        this.error(imp.path.loc!, 'invalid import, must be `future.keywords.x`, e.g. `import future.keywords.in`');
        return;
      }
      if (!FUTURE_KEYWORDS.includes(kw.value)) {
        this.error(imp.path.loc!, `unexpected keyword, must be one of [${FUTURE_KEYWORDS.join(' ')}]`);
        return;
      }
      kws = [kw.value];
    } else if (path.length > 3) {
      this.error(imp.path.loc!, 'invalid import, must be `future.keywords.x`, e.g. `import future.keywords.in`');
      return;
    }
    for (const k of kws) this.kw.add(k);
  }

  private regoV1ImportCheck(imp: Import): void {
    const path = imp.path.terms;
    const second = path[1];
    if (path.length !== 2 || second.type !== 'string' || second.value !== 'v1') {
      this.error(imp.path.loc!, `invalid import \`${termString(imp.path)}\`, must be \`rego.v1\``);
      return;
    }
    this.regoV1Import = true;
    if (this.version === 1) return;
    if (imp.alias) {
      this.error(imp.path.loc!, '`rego` imports cannot be aliased');
      return;
    }
    for (const k of FUTURE_KEYWORDS) this.kw.add(k);
  }

  // ---------------------------------------------------------------- rules

  private parseRules(): Rule[] | null {
    const ruleLoc = this.loc();
    this.keywordAsRefHead();
    let isDefault = false;
    if (this.k() === 'default') {
      this.scan();
      isDefault = true;
      this.keywordAsRefHead();
    }
    if (this.k() !== 'ident') return null;
    const parsed = this.parseHead(isDefault);
    if (!parsed) return null;
    const { head, usesContains } = parsed;
    let generatedValue = parsed.generatedValue;
    const rule: Rule = { default: isDefault, head, body: [], loc: ruleLoc };
    const flags: RuleFlags = { generatedBody: false, generatedValue, hasIf: false, hasContains: usesContains };
    this.flags.set(rule, flags);

    if (isDefault) {
      if (!this.validateDefaultRule(rule, ruleLoc)) return null;
      rule.body = [this.trueExpr(ruleLoc)];
      return [rule];
    }

    const hasIf = this.k() === 'if';
    // `p[x] if ...` is a single-value rule p[x] (value true unless given) in Rego v1 syntax.
    if (hasIf && !usesContains && head.ref.length === 2 && head.value === undefined) {
      generatedValue = true;
      flags.generatedValue = true;
    }
    // `p[x] { ... }` (no `if`) is the v0 multi-value (partial set) rule p with key x.
    if (!hasIf && !usesContains && !head.args && head.ref.length === 2) {
      if (head.value === undefined) {
        head.key = head.ref[1];
        head.ref = head.ref.slice(0, 1);
      }
    }

    if (hasIf) {
      flags.hasIf = true;
      this.scan();
      const s = this.save();
      const expr = this.parseLiteral();
      // `p if { true }` is a body, not the set literal `{true}` (set literals are always true).
      const isSet = expr !== null && expr.terms.type === 'set';
      if (expr && !isSet) {
        rule.body = [expr];
      } else {
        this.restore(s);
        if (this.k() !== '{') {
          // Report the literal's own error.
          this.parseLiteral();
          if (!this.hasErrors) this.illegal('expected rule body');
          return null;
        }
        this.scan();
        const body = this.parseBody('}');
        if (!body) return null;
        this.scan();
        rule.body = body;
      }
    } else if (this.k() === '{') {
      this.scan();
      const body = this.parseBody('}');
      if (!body) return null;
      this.scan();
      rule.body = body;
    } else if (usesContains) {
      rule.body = [this.trueExpr(head.loc)];
      rule.loc = head.loc;
      flags.generatedBody = true;
      return [rule];
    } else {
      // No body: this is a statement such as `p := 1`, parsed as a query and converted.
      return null;
    }

    if (this.k() === 'else' && !this.nextIsAdjacent('.', '[')) {
      if (head.ref.length > 1 && !head.ref.slice(1).every(isGround)) {
        this.error(this.loc(), 'else keyword cannot be used on rules with variables in head');
        return null;
      }
      if (head.key) {
        this.error(this.loc(), 'else keyword cannot be used on multi-value rules');
        return null;
      }
      const els = this.parseElse(head, flags);
      if (!els) return null;
      rule.else = els;
    }

    const rules = [rule];
    // v0: `p { a } { b }` defines p twice, once per body.
    while (this.k() === '{') {
      if (rule.else) {
        this.error(this.loc(), 'expected else keyword');
        return null;
      }
      const loc = this.loc();
      this.scan();
      const body = this.parseBody('}');
      if (!body) return null;
      this.scan();
      const nextHead = cloneHead(head);
      nextHead.loc = loc;
      if (nextHead.args) nextHead.args = nextHead.args.map((a) => this.renewWildcard(a));
      const next: Rule = { default: false, head: nextHead, body, loc };
      this.flags.set(next, { ...flags, generatedBody: false });
      rules.push(next);
    }
    return rules;
  }

  private renewWildcard(t: Term): Term {
    if (t.type === 'var' && t.wildcard) return { type: 'var', name: this.genWildcard(), wildcard: true, loc: t.loc };
    return t;
  }

  private parseElse(head: Head, parentFlags: RuleFlags): Rule | null {
    const loc = this.loc();
    const elseHead: Head = { ref: head.ref.map(cloneTerm), assign: false, loc };
    if (head.args) elseHead.args = head.args.map((a) => this.renewWildcard(cloneTerm(a)));
    const rule: Rule = { default: false, head: elseHead, body: [], loc };
    // The else inherits the keywords of the rule it belongs to (as OPA copies the head).
    const flags: RuleFlags = { generatedBody: false, generatedValue: false, hasIf: parentFlags.hasIf, hasContains: false };
    this.flags.set(rule, flags);
    this.scan();
    switch (this.k()) {
      case '{':
      case 'if':
        flags.generatedValue = true;
        break;
      case ':=':
      case '=': {
        elseHead.assign = this.k() === ':=';
        this.scan();
        const v = this.parseTermInfixCall();
        if (!v) return null;
        elseHead.value = v;
        break;
      }
      default:
        this.illegal('expected else value term or rule body');
        return null;
    }
    const hasIf = this.k() === 'if';
    if (!hasIf && this.k() !== '{') {
      rule.body = [this.trueExpr(loc)];
      flags.generatedBody = true;
      return rule;
    }
    if (hasIf) {
      flags.hasIf = true;
      this.scan();
    }
    if (this.k() === '{') {
      this.scan();
      const body = this.parseBody('}');
      if (!body) return null;
      this.scan();
      rule.body = body;
    } else if (!this.atEOF) {
      const e = this.parseLiteral();
      if (!e) return null;
      rule.body = [e];
    } else {
      this.illegal('rule body expected');
      return null;
    }
    if (this.k() === 'else') {
      const next = this.parseElse(head, parentFlags);
      if (!next) return null;
      rule.else = next;
    }
    return rule;
  }

  private parseHead(isDefault: boolean): { head: Head; usesContains: boolean; generatedValue: boolean } | null {
    const loc = this.loc();
    const v = this.parseVar();
    this.scan();
    let ref: Term | null = v;
    // In rule heads whitespace may precede the first `(`, `.` or `[` (`f (x)`, `p [x]`).
    if (['(', '.', '['].includes(this.k())) ref = this.parseRef(v, true);
    if (!ref) {
      if (!this.hasErrors) this.illegal('expected rule head name');
      return null;
    }
    const head: Head = { ref: [], assign: false, loc };
    switch (ref.type) {
      case 'var':
        head.ref = [ref];
        break;
      case 'ref':
        if (ref.terms[0].type !== 'var') {
          this.illegal(`rule head ref ${termString(ref)} invalid`);
          return null;
        }
        head.ref = ref.terms;
        break;
      case 'call': {
        const op = ref.operator;
        if (op.terms[0].type !== 'var') {
          this.illegal(`rule head ref ${termString(op)} invalid`);
          return null;
        }
        head.ref = op.terms;
        head.args = ref.args;
        break;
      }
      default:
        return null;
    }
    const name = refString(head.ref);
    switch (this.k()) {
      case 'contains': {
        if (head.args) {
          this.illegal(
            `the contains keyword can only be used with multi-value rule definitions (e.g., ${name} contains <VALUE> { ... })`,
          );
          return null;
        }
        this.scan();
        const key = this.parseTermInfixCall();
        if (!key) {
          this.illegal(`expected rule key term (e.g., ${name} contains <VALUE> { ... })`);
          return null;
        }
        head.key = key;
        return { head, usesContains: true, generatedValue: false };
      }
      case '=':
      case ':=': {
        head.assign = this.k() === ':=';
        this.scan();
        const value = this.parseTermInfixCall();
        if (!value) {
          // Like OPA: the term's own error, then this one.
          const op = head.assign ? ':=' : '=';
          if (head.args) this.illegal(`expected function value term (e.g., ${name}(...) ${op} <VALUE> { ... })`);
          else if (isDefault) this.illegal(`expected default rule value term (e.g., default ${name} ${op} <VALUE>)`);
          else this.illegal(`expected rule value term (e.g., ${name} ${op} <VALUE> { ... })`);
          return null;
        }
        head.value = value;
        return { head, usesContains: false, generatedValue: false };
      }
    }
    // No value: `true`, except for `p[x]`, whose meaning depends on what follows.
    const generatedValue = head.ref.length !== 2 || head.args !== undefined;
    return { head, usesContains: false, generatedValue };
  }

  private validateDefaultRule(rule: Rule, loc: Location): boolean {
    const v = rule.head.value;
    if (!v) {
      this.error(loc, 'illegal default rule (must have a value)');
      return false;
    }
    let valid = true;
    const walk = (t: Term): void => {
      switch (t.type) {
        case 'arraycompr':
        case 'setcompr':
        case 'objectcompr':
          return;
        case 'ref':
        case 'var':
        case 'call':
          this.error(loc, `illegal default rule (value cannot contain ${t.type})`);
          valid = false;
          return;
        case 'array':
        case 'set':
          t.items.forEach(walk);
          return;
        case 'object':
          for (const [k, x] of t.items) {
            walk(k);
            walk(x);
          }
          return;
      }
    };
    walk(v);
    if (!valid) return false;
    if (rule.head.args) {
      const seen = new Set<string>();
      for (const a of rule.head.args) {
        if (a.type !== 'var') {
          this.error(loc, `illegal default rule (arguments cannot contain ${valueName(a)})`);
          return false;
        }
        if (seen.has(a.name)) {
          this.error(loc, `illegal default rule (arguments cannot be repeated ${a.name})`);
          return false;
        }
        seen.add(a.name);
      }
    }
    return true;
  }

  // ---------------------------------------------------------------- bodies and literals

  private parseBody(end: string): Body | null {
    this.enter();
    try {
      return this.parseQuery(false, end);
    } finally {
      this.leave();
    }
  }

  private parseQuery(requireSemi: boolean, end: string): Body | null {
    const body: Body = [];
    if (this.k() === end) {
      this.error(this.loc(), 'found empty body');
      return null;
    }
    for (;;) {
      const e = this.parseLiteral();
      if (!e) return null;
      body.push(e);
      if (this.k() === ';') {
        this.scan();
        continue;
      }
      if (this.k() === end || requireSemi) return body;
      if (!this.t.nlBefore) {
        if (!this.hasErrors) this.illegal(`expected \\n or ; or ${end}`);
        return null;
      }
    }
  }

  private parseLiteral(): Expr | null {
    const loc = this.loc();
    this.keywordAsRefHead();
    let negated = false;
    if (this.k() === 'not' && !this.nextIsAdjacent('.', '[')) {
      this.scan();
      negated = true;
    }
    let expr: Expr | null;
    switch (this.k()) {
      case 'some':
        if (negated) {
          this.illegal("illegal negation of 'some'");
          return null;
        }
        expr = this.parseSome();
        break;
      case 'every':
        if (negated) {
          this.illegal("illegal negation of 'every'");
          return null;
        }
        expr = this.parseEvery();
        break;
      default:
        expr = this.parseLiteralExpr(negated);
    }
    if (expr) expr.loc = loc;
    return expr;
  }

  private parseLiteralExpr(negated: boolean): Expr | null {
    const startTok = this.t;
    const expr = this.parseExpr();
    if (!expr) return null;
    expr.negated = negated;
    if (this.k() === 'with') {
      const w = this.parseWith();
      if (!w) return null;
      expr.with = w;
    }
    // Help v0 users who write `every x in xs { ... }` without importing the keyword.
    if (!this.kw.has('every') && startTok.type === 'word' && startTok.text === 'every') {
      const t = expr.terms as Term;
      if (t.type === 'var' && t.name === 'every') this.hint('`import future.keywords.every` for `every x in xs { ... }` expressions');
    }
    return expr;
  }

  private parseWith(): With[] | null {
    const withs: With[] = [];
    for (;;) {
      const loc = this.loc();
      this.scan();
      if (this.k() !== 'ident') {
        this.illegal('expected ident');
        return null;
      }
      const target = this.parseTerm();
      if (!target) return null;
      if (target.type !== 'ref' && target.type !== 'var') this.illegal('expected with target path');
      if (this.k() !== 'as') {
        this.illegal('expected as keyword');
        return null;
      }
      this.scan();
      const value = this.parseTermInfixCall();
      if (!value) return null;
      withs.push({ target, value, loc });
      if (this.k() !== 'with') break;
    }
    return withs;
  }

  private parseSome(): Expr | null {
    const loc = this.loc();
    const decl: SomeDecl = { type: 'some', symbols: [], loc };
    const s = this.save();
    this.scan();
    const term = this.parseTermInfixCall();
    if (term && term.type === 'call') {
      const name = refString(term.operator.terms);
      if (name === 'internal.member_2' || name === 'internal.member_3') {
        decl.symbols = [term];
        const expr: Expr = { terms: decl, negated: false, with: [], loc };
        if (this.k() === 'with') {
          const w = this.parseWith();
          if (!w) return null;
          expr.with = w;
        }
        return expr;
      }
      this.illegal('expected `x in xs` or `x, y in xs` expression');
      return null;
    }
    this.restore(s);
    if (!this.kw.has('in')) {
      // `some x in xs` without the `in` keyword: point the user to the import.
      let i = this.s.pos + 1;
      while (i < this.toks.length - 1 && (this.toks[i].type === 'word' || this.toks[i].type === ',') && this.toks[i].text !== 'in') i++;
      if (this.toks[i].type === 'word' && this.toks[i].text === 'in') this.hint('`import future.keywords.in` for `some x in xs` expressions');
    }
    for (;;) {
      this.scan();
      if (this.k() !== 'ident') {
        this.illegal('expected var');
        return null;
      }
      decl.symbols.push(this.parseVar());
      this.scan();
      if (this.k() !== ',') break;
    }
    return { terms: decl, negated: false, with: [], loc };
  }

  private parseEvery(): Expr | null {
    const loc = this.loc();
    this.scan();
    const term = this.parseTermInfixCall();
    if (!term) return null;
    if (term.type !== 'call') {
      this.illegal('expected `x[, y] in xs { ... }` expression');
      return null;
    }
    const name = refString(term.operator.terms);
    let every: Every;
    if (name === 'internal.member_2') {
      every = { type: 'every', value: term.args[0], domain: term.args[1], body: [], loc };
    } else if (name === 'internal.member_3') {
      every = { type: 'every', key: term.args[0], value: term.args[1], domain: term.args[2], body: [], loc };
      if (every.key!.type !== 'var') {
        this.illegal('expected key to be a variable');
        return null;
      }
    } else {
      this.illegal('expected `x[, y] in xs { ... }` expression');
      return null;
    }
    if (every.value.type !== 'var') {
      this.illegal('expected value to be a variable');
      return null;
    }
    if (this.k() !== '{') {
      this.illegal('missing body');
      return null;
    }
    this.scan();
    const body = this.parseBody('}');
    if (!body) return null;
    this.scan();
    every.body = body;
    const expr: Expr = { terms: every, negated: false, with: [], loc };
    if (this.k() === 'with') {
      const w = this.parseWith();
      if (!w) return null;
      expr.with = w;
    }
    return expr;
  }

  private parseExpr(): Expr | null {
    const lhs = this.parseTermInfixCall();
    if (!lhs) return null;
    if (this.k() === ':=' || this.k() === '=') {
      const opTok = this.t;
      const op = INFIX[this.k()];
      this.scan();
      const rhs = this.parseTermInfixCall();
      if (!rhs) return null;
      return { terms: this.call(op, this.loc(opTok), [lhs, rhs], lhs.loc), negated: false, with: [] };
    }
    return { terms: lhs, negated: false, with: [] };
  }

  // ---------------------------------------------------------------- operators

  parseTermInfixCall(keyVal = true): Term | null {
    this.enter();
    try {
      return this.parseTermIn(null, keyVal);
    } finally {
      this.leave();
    }
  }

  private parseTermIn(first: Term | null, keyVal: boolean): Term | null {
    let lhs = first ?? this.parseBinary(0);
    if (!lhs) return null;
    for (;;) {
      // `k, v in xs`: a second left-hand side.
      if (keyVal && this.k() === ',') {
        const s = this.save();
        this.scan();
        const mhs = this.parseBinary(0);
        if (mhs && this.k() === 'in') {
          const opLoc = this.loc();
          this.scan();
          const rhs = this.parseBinary(0);
          if (rhs) {
            lhs = this.call('internal.member_3', opLoc, [lhs, mhs, rhs], lhs.loc);
            if (this.k() === 'in') continue;
            return lhs;
          }
        }
        this.restore(s);
      }
      this.keywordAsRefHead();
      if (this.k() === 'in') {
        const opLoc = this.loc();
        this.scan();
        const rhs = this.parseBinary(0);
        if (rhs) {
          lhs = this.call('internal.member_2', opLoc, [lhs, rhs], lhs.loc);
          if (this.k() === 'in') continue;
        }
      }
      return lhs;
    }
  }

  /** Binary operator levels (relations, |, &, + -, * / %), left associative. */
  private parseBinary(level: number): Term | null {
    if (level >= BINARY_LEVELS.length) return this.parseTerm();
    const ops = BINARY_LEVELS[level];
    let lhs = this.parseBinary(level + 1);
    // Each operator in a chain nests the tree one call deeper (1 + 1 + ... is left associative),
    // and a nested call costs the compiler about twice the stack of a bracket: it counts as two
    // levels, so a long chain meets the parser's depth limit instead of overflowing later. (No
    // try/finally: this frame is on the stack once per level of every bracket, so it stays small;
    // a depth error unwinds to guard(), which resets the count.)
    let nested = 0;
    while (lhs && ops.has(this.k())) {
      const opTok = this.t;
      const op = INFIX[this.k()];
      this.scan();
      const rhs = this.parseBinary(level + 1);
      if (!rhs) break;
      this.enter();
      this.enter();
      nested += 2;
      lhs = this.call(op, this.loc(opTok), [lhs, rhs], lhs.loc);
    }
    this.depth -= nested;
    return lhs;
  }

  // ---------------------------------------------------------------- terms

  parseTerm(): Term | null {
    this.enter();
    try {
      const start = this.s.pos;
      const hit = this.cache.get(start);
      if (hit) {
        this.s.pos = hit.pos;
        this.s.wildcard = hit.wildcard;
        if (hit.errs.length) this.s.errors = [...this.s.errors, ...hit.errs];
        this.s.hints = [];
        return hit.term;
      }
      const errsBefore = this.s.errors.length;
      const term = this.parseTermUncached();
      const errs = this.s.errors.length > errsBefore ? this.s.errors.slice(errsBefore) : NO_ERRS;
      this.cache.set(start, { term, pos: this.s.pos, wildcard: this.s.wildcard, errs });
      return term;
    } finally {
      this.leave();
    }
  }

  private parseTermUncached(): Term | null {
    const loc = this.loc();
    let term: Term | null = null;
    switch (this.k()) {
      case 'null':
        term = { type: 'null', loc };
        this.scan();
        break;
      case 'true':
      case 'false':
        term = { type: 'boolean', value: this.k() === 'true', loc };
        this.scan();
        break;
      case '-':
      case '.':
      case 'number':
        term = this.parseNumber();
        break;
      case 'string':
        term = { type: 'string', value: this.t.value ?? '', loc };
        this.scan();
        break;
      case 'ident':
      case 'contains': // `contains` is only a keyword in rule heads; elsewhere it is the builtin
        term = this.parseVar();
        this.scan();
        break;
      case '[':
        term = this.parseArray();
        break;
      case '{':
        term = this.parseSetOrObject();
        break;
      case '(': {
        this.scan();
        const r = this.parseTermInfixCall();
        if (r) {
          if (this.k() === ')') {
            this.scan();
            term = r;
          } else {
            this.error(this.loc(), 'non-terminated expression');
          }
        }
        break;
      }
      default:
        this.illegal();
    }
    return term ? this.parseTermFinish(term) : null;
  }

  /** After a term: `(`, `.` or `[` directly attached make it a call or ref. */
  private parseTermFinish(head: Term): Term | null {
    if (!this.t.wsBefore && ['(', '.', '['].includes(this.k())) return this.parseRef(head, false);
    if (head.type === 'var' && ROOT_DOCS.has(head.name)) return { type: 'ref', terms: [head], loc: head.loc };
    return head;
  }

  private parseVar(): VarTerm {
    const loc = this.loc();
    if (this.t.text === '_') return { type: 'var', name: this.genWildcard(), wildcard: true, loc };
    return { type: 'var', name: this.t.text, loc };
  }

  private genWildcard(): string {
    return `$_${this.s.wildcard++}`;
  }

  private parseNumber(): Term | null {
    const loc = this.loc();
    let prefix = '';
    if (this.k() === '-') {
      prefix = '-';
      this.scan();
      if (this.k() !== 'number' && this.k() !== '.') {
        this.illegal('expected number');
        return null;
      }
    }
    if (this.k() === '.') {
      prefix += '.';
      this.scan();
      if (this.k() !== 'number' || this.t.wsBefore) {
        this.illegal('expected number');
        return null;
      }
    }
    const lit = this.t.text;
    if (!prefix.endsWith('.') && lit.length > 1 && lit[0] === '0') {
      const isDecimal = lit[1] === '.';
      const isScientific = lit.length > 2 && (lit[1] === 'e' || lit[1] === 'E');
      if (!isDecimal && !isScientific) {
        this.illegal('expected number without leading zero');
        return null;
      }
    }
    const raw = prefix + lit;
    if (!/^-?(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?$/.test(raw)) {
      this.illegal('invalid float');
      return null;
    }
    if (decimalMagnitudeTooBig(raw)) {
      this.error(this.loc(), 'number too big');
      return null;
    }
    this.scan();
    // `.5` is written `0.5` so that consumers only see JSON number syntax; the value is the same.
    const norm = raw.startsWith('.') ? `0${raw}` : raw.startsWith('-.') ? `-0${raw.slice(1)}` : raw;
    return { type: 'number', raw: norm, loc };
  }

  /** `head` followed by `.x`, `[t]` or `(args)`. */
  private parseRef(head: Term, allowWsFirst: boolean): Term | null {
    this.enter();
    try {
      const loc = head.loc;
      switch (head.type) {
        case 'var':
        case 'array':
        case 'object':
        case 'set':
        case 'arraycompr':
        case 'objectcompr':
        case 'setcompr':
        case 'call':
          break;
        default:
          this.error(loc ?? this.loc(), `illegal ref (head cannot be ${valueName(head)})`);
      }
      const terms: Term[] = [head];
      let first = true;
      for (;;) {
        if (this.t.wsBefore && !(first && allowWsFirst)) return { type: 'ref', terms, loc };
        first = false;
        switch (this.k()) {
          case '.': {
            this.scan();
            if (this.t.type !== 'word' || this.t.wsBefore) {
              if (this.t.wsBefore) this.error(this.loc(), 'unexpected whitespace token: expected identifier');
              else this.illegal('expected identifier');
              return null;
            }
            terms.push({ type: 'string', value: this.t.text, loc: this.loc() });
            this.scan();
            break;
          }
          case '(': {
            const operator: RefTerm = { type: 'ref', terms, loc };
            const call = this.parseCall(operator);
            if (!call) return null;
            if (!this.t.wsBefore && (this.k() === '.' || this.k() === '[')) return this.parseRef(call, false);
            return call;
          }
          case '[': {
            this.scan();
            const t = this.parseTermInfixCall();
            if (!t) return null;
            if (this.k() !== ']') {
              this.illegal('expected ]');
              return null;
            }
            terms.push(t);
            this.scan();
            break;
          }
          default:
            return { type: 'ref', terms, loc };
        }
      }
    } finally {
      this.leave();
    }
  }

  private parseCall(operator: RefTerm): Term | null {
    this.enter();
    try {
      const loc = operator.loc;
      this.scan(); // (
      if (this.k() === ')') {
        this.scan();
        const h = operator.terms[0];
        if (operator.terms.length === 1 && h.type === 'var' && h.name === 'set') return { type: 'set', items: [], loc };
        return { type: 'call', operator, args: [], loc };
      }
      const args = this.parseTermList(')', []);
      if (!args) return null;
      this.scan();
      return { type: 'call', operator, args, loc };
    } finally {
      this.leave();
    }
  }

  private parseArray(): Term | null {
    const loc = this.loc();
    this.scan(); // [
    if (this.k() === ']') {
      this.scan();
      return { type: 'array', items: [], loc };
    }
    let potentialComprehension = true;
    // A leading comma (`[, x]`) is accepted for backwards compatibility, as OPA does.
    if (this.k() === ',') {
      potentialComprehension = false;
      this.scan();
    }
    const s = this.save();
    // A single term first, so that `[x | body]` is a comprehension rather than `[or(x, body)]`.
    const head = this.parseTerm();
    if (!head) return null;
    switch (this.k()) {
      case ']':
        this.scan();
        return { type: 'array', items: [head], loc };
      case ',': {
        this.scan();
        const items = this.parseTermList(']', [head]);
        if (!items) return null;
        this.scan();
        return { type: 'array', items, loc };
      }
      case '|':
        if (potentialComprehension) {
          this.scan();
          const body = this.parseBody(']');
          if (body) {
            this.scan();
            return { type: 'arraycompr', term: head, body, loc };
          }
          if (this.k() !== ',') return null;
        }
    }
    this.restore(s);
    const items = this.parseTermList(']', []);
    if (!items) return null;
    this.scan();
    return { type: 'array', items, loc };
  }

  private parseSetOrObject(): Term | null {
    const loc = this.loc();
    const t = this.parseSetOrObjectInner();
    if (t) t.loc = loc;
    return t;
  }

  private parseSetOrObjectInner(): Term | null {
    this.scan(); // {
    if (this.k() === '}') {
      this.scan();
      return { type: 'object', items: [] };
    }
    let potentialComprehension = true;
    if (this.k() === ',') {
      potentialComprehension = false;
      this.scan();
    }
    const s = this.save();
    let head = this.parseTerm();
    if (!head) return null;
    switch (this.k()) {
      case '|':
        if (potentialComprehension) return this.parseSet(s, head, true);
        break;
      case '}':
      case ',':
        return this.parseSet(s, head, potentialComprehension);
      case ':':
        return this.parseObject(head, potentialComprehension);
    }
    this.restore(s);
    head = this.parseTermInfixCall(false);
    if (!head) return null;
    switch (this.k()) {
      case '}':
      case ',':
        return this.parseSet(s, head, false);
      case ':':
        return this.parseObject(head, potentialComprehension);
    }
    this.illegal('non-terminated set');
    return null;
  }

  private parseSet(s: State, head: Term, potentialComprehension: boolean): Term | null {
    switch (this.k()) {
      case '}':
        this.scan();
        return { type: 'set', items: [head] };
      case ',': {
        this.scan();
        const items = this.parseTermList('}', [head]);
        if (!items) return null;
        this.scan();
        return { type: 'set', items };
      }
      case '|': {
        if (potentialComprehension) {
          this.scan();
          const body = this.parseBody('}');
          if (body) {
            this.scan();
            return { type: 'setcompr', term: head, body };
          }
          if (this.k() !== ',') return null;
        }
        this.restore(s);
        const items = this.parseTermList('}', []);
        if (!items) return null;
        this.scan();
        return { type: 'set', items };
      }
    }
    return null;
  }

  private parseObject(key: Term, potentialComprehension: boolean): Term | null {
    this.scan(); // :
    const s = this.save();
    const v = this.parseTerm();
    if (!v) return null;
    let potentialRelation = true;
    if (potentialComprehension) {
      const k = this.k();
      if (k === '}' || k === ',' || k === '|') {
        if (k !== '|') potentialRelation = false;
        const term = this.parseObjectFinish(key, v, true);
        if (term) return term;
      }
    }
    this.restore(s);
    if (potentialRelation) {
      const v2 = this.parseTermInfixCall(false);
      if (!v2) return null;
      if (this.k() === '}' || this.k() === ',') return this.parseObjectFinish(key, v2, false);
    }
    this.illegal('non-terminated object');
    return null;
  }

  private parseObjectFinish(key: Term, val: Term, potentialComprehension: boolean): Term | null {
    switch (this.k()) {
      case '}':
        this.scan();
        return { type: 'object', items: [[key, val]] };
      case '|':
        if (potentialComprehension) {
          this.scan();
          const body = this.parseBody('}');
          if (body) {
            this.scan();
            return { type: 'objectcompr', key, value: val, body };
          }
        } else {
          this.illegal('non-terminated object');
        }
        return null;
      case ',': {
        this.scan();
        const pairs = this.parseTermPairList('}', [[key, val]]);
        if (!pairs) return null;
        this.scan();
        return { type: 'object', items: pairs };
      }
    }
    return null;
  }

  /** Comma-separated terms up to `end` (trailing comma allowed); leaves `end` current. */
  private parseTermList(end: string, r: Term[]): Term[] | null {
    if (this.k() === end) return r;
    for (;;) {
      const term = this.parseTermInfixCall(false);
      if (!term) return null;
      r.push(term);
      if (this.k() === end) return r;
      if (this.k() === ',') {
        this.scan();
        if (this.k() === end) return r;
        continue;
      }
      this.illegal(`expected "," or "${end}"`);
      return null;
    }
  }

  private parseTermPairList(end: string, r: Array<[Term, Term]>): Array<[Term, Term]> | null {
    if (this.k() === end) return r;
    for (;;) {
      const key = this.parseTermInfixCall(false);
      if (!key) return null;
      if (this.k() !== ':') {
        this.illegal('expected ":"');
        return null;
      }
      this.scan();
      const val = this.parseTermInfixCall(false);
      if (!val) return null;
      r.push([key, val]);
      if (this.k() === end) return r;
      if (this.k() === ',') {
        this.scan();
        if (this.k() === end) return r;
        continue;
      }
      this.illegal(`expected "," or "${end}"`);
      return null;
    }
  }

  /** Runs `f`, turning a too-deep nesting into a parse error. */
  guard<T>(f: () => T): T | null {
    try {
      return f();
    } catch (e) {
      if (e instanceof DepthExceeded || e instanceof RangeError) {
        this.depth = 0;
        this.s.errors = [...this.s.errors, { msg: DEPTH_MESSAGE, loc: this.loc() }];
        return null;
      }
      throw e;
    }
  }
}

// ---------------------------------------------------------------- helpers

/** Numbers whose decimal exponent is beyond ~±30000 are rejected like OPA ("number too big"). */
function decimalMagnitudeTooBig(raw: string): boolean {
  const m = /^-?(\d*)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(raw);
  if (!m) return false;
  const intPart = m[1].replace(/^0+/, '');
  const frac = m[2] ?? '';
  const digits = (intPart + frac).replace(/^0+/, '');
  if (digits === '') return false; // zero
  const expStr = m[3] ?? '0';
  if (expStr.replace(/^[+-]?0*/, '').length > 7) return true;
  const exp = Number(expStr);
  // Position of the most significant digit relative to the decimal point.
  const lead = intPart.length > 0 ? intPart.length : -(frac.length - frac.replace(/^0+/, '').length);
  const mag = lead + exp;
  return mag > 30000 || mag < -30000;
}

export function isGround(t: Term): boolean {
  switch (t.type) {
    case 'var':
      return false;
    case 'ref':
      return t.terms.slice(1).every(isGround) && (t.terms[0].type === 'var' || isGround(t.terms[0]));
    case 'array':
    case 'set':
      return t.items.every(isGround);
    case 'object':
      return t.items.every(([k, v]) => isGround(k) && isGround(v));
    case 'arraycompr':
    case 'setcompr':
    case 'objectcompr':
    case 'call':
      return false;
    default:
      return true;
  }
}

/** OPA's ValueName, for messages. */
function valueName(t: Term): string {
  switch (t.type) {
    case 'arraycompr':
      return 'arraycomprehension';
    case 'setcompr':
      return 'setcomprehension';
    case 'objectcompr':
      return 'objectcomprehension';
    default:
      return t.type;
  }
}

function cloneTerm<T extends Term>(t: T): T {
  return structuredClone(t);
}

function cloneHead(h: Head): Head {
  const { loc, ...rest } = h;
  return { ...structuredClone(rest), loc };
}

/** `a.b["c-d"][x]` style rendering of a ref's terms, for messages. */
function refString(terms: Term[]): string {
  let out = '';
  terms.forEach((t, i) => {
    if (i === 0) out += termString(t);
    else if (t.type === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(t.value)) out += `.${t.value}`;
    else out += `[${termString(t)}]`;
  });
  return out;
}

/** A compact rendering of a term, for messages (format.ts has the full printer). */
function termString(t: Term): string {
  switch (t.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return String(t.value);
    case 'number':
      return t.raw;
    case 'string':
      return JSON.stringify(t.value);
    case 'var':
      return t.wildcard ? '_' : t.name;
    case 'ref':
      return refString(t.terms);
    case 'array':
      return `[${t.items.map(termString).join(', ')}]`;
    case 'set':
      return t.items.length ? `{${t.items.map(termString).join(', ')}}` : 'set()';
    case 'object':
      return `{${t.items.map(([k, v]) => `${termString(k)}: ${termString(v)}`).join(', ')}}`;
    case 'call':
      return `${refString(t.operator.terms)}(${t.args.map(termString).join(', ')})`;
    case 'arraycompr':
      return `[${termString(t.term)} | ...]`;
    case 'setcompr':
      return `{${termString(t.term)} | ...}`;
    case 'objectcompr':
      return `{${termString(t.key)}: ${termString(t.value)} | ...}`;
  }
}

function isBuiltinName(name: string): boolean {
  return PARSER_BUILTINS.has(name) || getBuiltin(name) !== undefined;
}

class RuleFromBodyError extends Error {}

interface ConvertedRule {
  rule: Rule;
  flags: RuleFlags;
}

/**
 * OPA's ParseRuleFromBody/ParseRuleFromExpr: reads a one-expression statement as a rule
 * (`p := 1`, `p = 1`, `p.q.r`, `p[x]`, `f(x) = y`, `f(x)`). Throws RuleFromBodyError with
 * OPA's message when it cannot.
 */
function ruleFromBody(body: Body): ConvertedRule {
  if (body.length !== 1) throw new RuleFromBodyError('multiple expressions cannot be used for rule head');
  const expr = body[0];
  if (expr.with.length) throw new RuleFromBodyError('expressions using with keyword cannot be used for rule head');
  if (expr.negated) throw new RuleFromBodyError('negated expressions cannot be used for rule head');
  const terms = expr.terms;
  if (terms.type === 'some') throw new RuleFromBodyError("'some' declarations cannot be used for rule head");
  if (terms.type === 'every') throw new RuleFromBodyError('expression cannot be used for rule head');
  const loc = expr.loc;
  const flags: RuleFlags = { generatedBody: true, generatedValue: false, hasIf: false, hasContains: false };
  const mk = (head: Head, l: Location | undefined): ConvertedRule => ({
    rule: { default: false, head, body: [bodyTrue(l)], loc: l },
    flags,
  });
  if (terms.type !== 'call') {
    if (terms.type !== 'ref') throw new RuleFromBodyError(`${valueName(terms)} cannot be used for rule name`);
    const ref = terms.terms;
    if (ref[0].type !== 'var') throw new RuleFromBodyError(`invalid rule head: ${termString(terms)}`);
    if (ref.length > 2) {
      // `a.b.c`: a complete rule with value true (and no body: v1 rejects it).
      flags.generatedValue = true;
      return mk({ ref, assign: false, loc: terms.loc }, terms.loc);
    }
    if (ref.length === 1) throw new RuleFromBodyError('refs cannot be used for rule head');
    // `p[x]` / `p.q`: a partial set element.
    return mk({ ref: [ref[0]], key: ref[1], assign: false, loc: terms.loc }, terms.loc);
  }
  const opName = refString(terms.operator.terms);
  if (opName === 'eq' || opName === 'assign') {
    const [lhs, rhs] = terms.args;
    const assign = opName === 'assign';
    let head: Head;
    if (lhs.type === 'call') {
      const ref = lhs.operator.terms;
      if (ref[0].type !== 'var') throw new RuleFromBodyError(`invalid rule head: ${termString(lhs.operator)}`);
      head = { ref, args: lhs.args, value: rhs, assign, loc };
    } else if (lhs.type === 'ref') {
      if (lhs.terms[0].type !== 'var') throw new RuleFromBodyError(`invalid rule head: ${termString(lhs)}`);
      head = { ref: lhs.terms, value: rhs, assign, loc };
    } else if (lhs.type === 'var') {
      head = { ref: [lhs], value: rhs, assign, loc };
    } else {
      throw new RuleFromBodyError(`${valueName(lhs)} cannot be used for rule name`);
    }
    return mk(head, loc);
  }
  if (isBuiltinName(opName)) throw new RuleFromBodyError('rule name conflicts with built-in function');
  if (terms.args.length === 0) throw new RuleFromBodyError('rule argument list must take at least one argument');
  const ref = terms.operator.terms;
  if (ref[0].type !== 'var') throw new RuleFromBodyError(`invalid rule head: ${termString(terms.operator)}`);
  const l = terms.loc;
  return mk({ ref, args: terms.args, value: { type: 'boolean', value: true, loc: l }, assign: false, loc: l }, l);
}

function bodyTrue(loc: Location | undefined): Expr {
  return { terms: { type: 'boolean', value: true, loc }, negated: false, with: [], loc };
}

/** OPA's CheckRegoV1 for one rule (and its else chain). */
function checkRegoV1(rule: Rule, flags: Map<Rule, RuleFlags>, errs: RegoError[]): void {
  for (let r: Rule | undefined = rule; r; r = r.else) {
    const f = flags.get(r) ?? { generatedBody: false, generatedValue: false, hasIf: false, hasContains: false };
    const what = r.head.args ? 'function' : 'rule';
    const loc = r.loc;
    const h0 = r.head.ref[0];
    if (r === rule && h0?.type === 'var' && r.head.ref.length === 1 && (ALWAYS_KEYWORDS.has(h0.name) || FUTURE_KEYWORDS.includes(h0.name))) {
      errs.push(new RegoError('rego_parse_error', `${h0.name} keyword cannot be used for rule name`, loc));
    }
    if (f.generatedBody && f.generatedValue) {
      errs.push(new RegoError('rego_parse_error', `${what} must have value assignment and/or body declaration`, loc));
    }
    if (!f.generatedBody && !f.hasIf && !r.default) {
      errs.push(new RegoError('rego_parse_error', `\`if\` keyword is required before ${what} body`, loc));
    }
    if (r.head.key !== undefined && !f.hasContains) {
      errs.push(new RegoError('rego_parse_error', '`contains` keyword is required for partial set rules', loc));
    }
  }
}

const SCOPES = ['rule', 'document', 'package', 'subpackages'];

/** METADATA comment blocks -> annotations (OPA's parseAnnotations + scope attachment). */
function parseAnnotations(comments: Comment[], file: string, stmts: Statement[], errs: RegoError[]): Annotation[] {
  const blocks: Array<{ loc: Location; lines: string[]; lastRow: number }> = [];
  let cur: (typeof blocks)[number] | undefined;
  for (let i = 0; i < comments.length; i++) {
    const c = comments[i];
    if (cur) {
      if (c.row === comments[i - 1].row + 1 && c.col === 1) {
        cur.lines.push(c.text.startsWith(' ') ? c.text.slice(1) : c.text);
        cur.lastRow = c.row;
        continue;
      }
      cur = undefined;
    }
    if (c.text.trim().startsWith('METADATA')) {
      cur = { loc: { file, row: c.row, col: c.col }, lines: [], lastRow: c.row };
      blocks.push(cur);
    }
  }
  const out: Annotation[] = [];
  for (const b of blocks) {
    const text = b.lines.join('\n');
    if (text.trim() === '') {
      errs.push(new RegoError('rego_parse_error', 'expected METADATA block, found whitespace', b.loc));
      continue;
    }
    // Building documents nested a few hundred levels deep can abort the process: measured first.
    if (yamlNestedDeeperThan(text, MAX_YAML_DEPTH)) {
      errs.push(new RegoError('rego_parse_error', `yaml: METADATA nested more than ${MAX_YAML_DEPTH} levels deep`, b.loc));
      continue;
    }
    let raw: unknown;
    try {
      raw = parseYaml(text);
    } catch (e) {
      const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
      errs.push(new RegoError('rego_parse_error', `yaml: ${msg}`, b.loc));
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      errs.push(new RegoError('rego_parse_error', 'yaml: METADATA block must be a mapping', b.loc));
      continue;
    }
    // The statement the block annotates: the first package or rule after it.
    let node: 'package' | 'rule' | undefined;
    for (const st of stmts) {
      const loc = st.kind === 'package' ? st.pkg.loc : st.kind === 'rule' ? st.rule.loc : st.kind === 'import' ? st.imp.loc : st.body[0]?.loc;
      if (loc && loc.row > b.lastRow) {
        if (st.kind === 'package') node = 'package';
        else if (st.kind === 'rule' || st.kind === 'query') node = 'rule';
        break;
      }
    }
    const given = (raw as Record<string, unknown>).scope;
    let scope: string;
    if (given === undefined || given === null || given === '') scope = node ?? 'rule';
    else if (typeof given !== 'string' || !SCOPES.includes(given)) {
      errs.push(
        new RegoError('rego_parse_error', `invalid annotation scope '${String(given)}'. Use one of 'rule', 'document', 'package', or 'subpackages'`, b.loc),
      );
      continue;
    } else scope = given;
    if (node) {
      const want = scope === 'rule' || scope === 'document' ? 'rule' : 'package';
      if (want !== node) {
        errs.push(new RegoError('rego_parse_error', `annotation scope '${scope}' must be applied to ${want} (have ${node})`, b.loc));
        continue;
      }
    }
    out.push({ scope, raw, loc: b.loc });
  }
  return out;
}

function setRuleModule(rule: Rule, module: Module): void {
  for (let r: Rule | undefined = rule; r; r = r.else) r.module = module;
}

interface ModuleResult {
  module?: Module;
  errors: RegoError[];
  regoV1Import: boolean;
  /** A syntax error came after rules that only v0 accepts. */
  looksV0?: boolean;
}

/**
 * Errors for the user: where one message at a location only extends another at the same place
 * ("unexpected assign token" and "unexpected assign token: expected rule value term"), only the
 * more informative one is kept, so each problem is reported once.
 */
function toErrors(errs: readonly RegoError[]): RegoErrors {
  const at = (e: RegoError) => `${e.location?.file}:${e.location?.row}:${e.location?.col}`;
  const kept = errs.filter(
    (e) => !errs.some((o) => o !== e && at(o) === at(e) && o.detail.length > e.detail.length && o.detail.startsWith(e.detail)),
  );
  return new RegoErrors(kept);
}

/** Converts an unexpected exception into a parse error: parsing never throws anything else. */
function internalError(e: unknown, file: string): RegoErrors {
  if (e instanceof RegoErrors) return e;
  const msg = e instanceof Error ? e.message : String(e);
  return new RegoErrors([new RegoError('rego_parse_error', `internal parser error: ${msg}`, { file, row: 1, col: 1 })]);
}

function parseModuleVersion(text: string, file: string, version: Version): ModuleResult {
  const p = new Parser(text, file, version);
  const stmts = p.guard(() => p.parseStatements()) ?? [];
  if (p.hasErrors) {
    // Do the rules before the syntax error look like v0 code? (for the --v0-compatible hint)
    const v1Errs: RegoError[] = [];
    if (version === 1) for (const st of stmts) if (st.kind === 'rule') checkRegoV1(st.rule, p.flags, v1Errs);
    return { errors: [...p.errors], regoV1Import: p.regoV1Import, looksV0: v1Errs.length > 0 };
  }
  const errs: RegoError[] = [];
  if (stmts.length === 0) {
    return { errors: [new RegoError('rego_parse_error', 'empty module', { file, row: 1, col: 1 })], regoV1Import: false };
  }
  const first = stmts[0];
  if (first.kind !== 'package') {
    const loc =
      first.kind === 'import' ? first.imp.loc : first.kind === 'rule' ? first.rule.loc : (first.body[0]?.loc ?? { file, row: 1, col: 1 });
    errs.push(new RegoError('rego_parse_error', 'package expected', loc));
  }
  const module: Module = {
    package: first.kind === 'package' ? first.pkg : { path: { type: 'ref', terms: [{ type: 'var', name: 'data' }] } },
    imports: [],
    rules: [],
    regoVersion: version === 1 || p.regoV1Import ? 1 : 0,
    file,
    comments: p.comments.map((c) => ({ text: c.text, loc: { file, row: c.row, col: c.col } })),
  };
  for (let i = 1; i < stmts.length; i++) {
    const st = stmts[i];
    switch (st.kind) {
      case 'import':
        module.imports.push(st.imp);
        break;
      case 'rule':
        setRuleModule(st.rule, module);
        module.rules.push(st.rule);
        break;
      case 'query':
        try {
          const { rule, flags } = ruleFromBody(st.body);
          p.flags.set(rule, flags);
          rule.module = module;
          module.rules.push(rule);
          stmts[i] = { kind: 'rule', rule };
        } catch (e) {
          if (!(e instanceof RuleFromBodyError)) throw e;
          errs.push(new RegoError('rego_parse_error', e.message, st.body[0]?.loc ?? { file, row: 1, col: 1 }));
        }
        break;
      case 'package':
        errs.push(new RegoError('rego_parse_error', 'unexpected package', st.pkg.loc));
        break;
    }
  }
  if (version === 1 || p.regoV1Import) for (const r of module.rules) checkRegoV1(r, p.flags, errs);
  if (errs.length) return { errors: errs, regoV1Import: p.regoV1Import };
  const annotations = parseAnnotations(p.comments, file, stmts, errs);
  if (errs.length) return { errors: errs, regoV1Import: p.regoV1Import };
  if (annotations.length) module.annotations = annotations;
  return { module, errors: [], regoV1Import: p.regoV1Import };
}

/** Messages that only Rego v1 produces for valid v0 code. */
const V1_SPECIFIC = /`if` keyword is required|`contains` keyword is required|must have value assignment|keyword cannot be used for rule name/;
export const V0_HINT = '(if this policy is written for OPA before 1.0, run with --v0-compatible)';

function withHint(errs: RegoError[]): RegoError[] {
  const [first, ...rest] = errs;
  return [new RegoError(first.code, `${first.detail} ${V0_HINT}`, first.location), ...rest];
}

function later(a: Location | undefined, b: Location | undefined): boolean {
  if (!a || !b) return false;
  return a.row > b.row || (a.row === b.row && a.col > b.col);
}

/**
 * Parses a Rego module. With regoVersion 'auto' (the default) the module is parsed as Rego v1
 * and, when that fails but Rego v0 parsing succeeds (without `import rego.v1`), returned as v0.
 * When both fail the v1 errors are thrown; if the text looks like v0 code, the first message
 * carries a hint to use --v0-compatible.
 */
export function parseModule(text: string, file: string, opts: ParseOptions = {}): Module {
  try {
    const mode = opts.regoVersion ?? 'auto';
    if (mode === 0 || mode === 1) {
      const r = parseModuleVersion(text, file, mode);
      if (r.module) return r.module;
      throw toErrors(r.errors);
    }
    const v1 = parseModuleVersion(text, file, 1);
    if (v1.module) return v1.module;
    const v0 = parseModuleVersion(text, file, 0);
    // A v0 reading that defines rules named `if`/`contains`/... is v1 code gone wrong
    // (`p[x] := 1 if { ... } else := 2` is `p[x] := 1` plus a rule `if` in v0): keep the v1 errors.
    const v0Plausible = v0.module?.rules.every((r) => {
      const h = r.head.ref[0];
      return !(h.type === 'var' && FUTURE_KEYWORDS.includes(h.name));
    });
    if (v0.module && v0Plausible && !v0.regoV1Import) return v0.module;
    // A hint only when v0 got further or the v1 error is about v1-only rules.
    const hint =
      !v1.regoV1Import &&
      (V1_SPECIFIC.test(v1.errors[0].detail) ||
        v1.looksV0 === true ||
        v0.module !== undefined ||
        later(v0.errors[0]?.location, v1.errors[0].location));
    throw toErrors(hint ? withHint(v1.errors) : v1.errors);
  } catch (e) {
    throw internalError(e, file);
  }
}

function queryVersion(opts: ParseOptions): Version {
  return opts.regoVersion === 0 ? 0 : 1;
}

/** Parses a query (`x := data.a[i]; x > 1`, or several lines). */
export function parseQuery(text: string, file = '', opts: ParseOptions = {}): Body {
  try {
    const p = new Parser(text, file, queryVersion(opts));
    const body = p.guard(() => p.parseQueryText());
    if (!body || p.hasErrors) throw toErrors(p.hasErrors ? p.errors : [new RegoError('rego_parse_error', 'empty query', { file, row: 1, col: 1 })]);
    return body;
  } catch (e) {
    throw internalError(e, file);
  }
}

/** Parses exactly one term (a ref, call, literal, comprehension...). */
export function parseTerm(text: string): Term {
  const body = parseQuery(text, '', { regoVersion: 1 });
  const e = body[0];
  const loc = e?.loc ?? { file: '', row: 1, col: 1 };
  if (body.length !== 1 || e.negated || e.with.length || e.terms.type === 'some' || e.terms.type === 'every') {
    throw new RegoErrors([new RegoError('rego_parse_error', 'expected exactly one term', loc)]);
  }
  const t = e.terms as Term;
  if (t.type === 'call') {
    const op = refString(t.operator.terms);
    if (op === 'eq' || op === 'assign') throw new RegoErrors([new RegoError('rego_parse_error', 'expected term but got expression', loc)]);
  }
  return t;
}

function replStatements(text: string, file: string, version: Version): { stmts?: Statement[]; errors: RegoError[] } {
  const p = new Parser(text, file, version);
  const stmts = p.guard(() => p.parseStatements()) ?? [];
  if (p.hasErrors) return { errors: [...p.errors] };
  const errs: RegoError[] = [];
  for (const st of stmts) {
    if (st.kind === 'rule' && (version === 1 || p.regoV1Import)) checkRegoV1(st.rule, p.flags, errs);
    if (st.kind !== 'query' || st.body.length !== 1) continue;
    const e = st.body[0];
    if (e.terms.type !== 'call' || e.negated || e.with.length) continue;
    const op = refString(e.terms.operator.terms);
    if (op !== 'eq' && op !== 'assign') continue;
    st.isUnification = op === 'eq';
    try {
      const { rule } = ruleFromBody(st.body);
      const ref = rule.head.ref;
      const h = ref[0];
      if (ref.length > 1 && h.type === 'var' && ROOT_DOCS.has(h.name)) continue;
      st.asRule = rule;
    } catch (err) {
      if (!(err instanceof RuleFromBodyError)) throw err;
    }
  }
  if (errs.length) return { errors: errs };
  return { stmts, errors: [] };
}

/**
 * Parses REPL input: package and import statements, rule definitions and queries, in order.
 * Rules with bodies (`allow if {...}`, `f(x) := y if {...}`) are rules; one-expression
 * statements are queries, with `asRule` set when OPA's REPL would define a rule instead (see
 * Statement). In 'auto' mode v1 syntax is tried first, then v0.
 */
export function parseStatements(text: string, file = '', opts: ParseOptions = {}): Statement[] {
  try {
    const mode = opts.regoVersion ?? 'auto';
    const first = replStatements(text, file, mode === 0 ? 0 : 1);
    if (first.stmts) return first.stmts;
    if (mode === 'auto') {
      const v0 = replStatements(text, file, 0);
      if (v0.stmts) return v0.stmts;
    }
    throw toErrors(first.errors);
  } catch (e) {
    throw internalError(e, file);
  }
}

/**
 * Reads a one-expression query as a rule definition (OPA's ParseRuleFromBody): `p := 1`,
 * `p[x]`, `f(x) = y`... Throws RegoErrors (rego_parse_error) when it cannot.
 */
export function ruleFromQuery(body: Body): Rule {
  try {
    return ruleFromBody(body).rule;
  } catch (e) {
    if (e instanceof RuleFromBodyError) {
      throw new RegoErrors([new RegoError('rego_parse_error', e.message, body[0]?.loc)]);
    }
    throw e;
  }
}

export { termString as termToString, refString as refToString };
