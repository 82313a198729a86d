// The Rego abstract syntax tree, as produced by the parser and consumed by the compiler.
//
// The shape follows OPA's AST closely so that OPA's documentation of semantics maps 1:1:
// infix operators are calls (`a + b` is `plus(a, b)`, `a = b` is `eq(a, b)`,
// `a := b` is `assign(a, b)`, `x in xs` is `internal.member_2(x, xs)`), and every
// expression of a rule body is a term, a `some` declaration or an `every`.

export interface Location {
  file: string;
  row: number; // 1-based
  col: number; // 1-based, counted in characters (code points)
}

export interface NullTerm { type: 'null'; loc?: Location }
export interface BooleanTerm { type: 'boolean'; value: boolean; loc?: Location }
/** `raw` keeps the literal text so numbers of any size survive until evaluation. */
export interface NumberTerm { type: 'number'; raw: string; loc?: Location }
export interface StringTerm { type: 'string'; value: string; loc?: Location }
/** Wildcards `_` are renamed by the parser to unique vars `$_0`, `$_1`, ... (`wildcard: true`). */
export interface VarTerm { type: 'var'; name: string; wildcard?: boolean; loc?: Location }
/**
 * `terms[0]` is the head (a var such as `data`/`input`/a local, or any other term, e.g. a call
 * or an array literal); the rest are path operands: `a.b` gives a string term `"b"`, `a[x]` the term `x`.
 */
export interface RefTerm { type: 'ref'; terms: Term[]; loc?: Location }
export interface ArrayTerm { type: 'array'; items: Term[]; loc?: Location }
export interface ObjectTerm { type: 'object'; items: Array<[Term, Term]>; loc?: Location }
export interface SetTerm { type: 'set'; items: Term[]; loc?: Location }
export interface ArrayComprehension { type: 'arraycompr'; term: Term; body: Body; loc?: Location }
export interface SetComprehension { type: 'setcompr'; term: Term; body: Body; loc?: Location }
export interface ObjectComprehension { type: 'objectcompr'; key: Term; value: Term; body: Body; loc?: Location }
/** A function or builtin call. `operator` is a ref such as `count` or `data.lib.f` or `startswith`. */
export interface CallTerm { type: 'call'; operator: RefTerm; args: Term[]; loc?: Location }

export type ScalarTerm = NullTerm | BooleanTerm | NumberTerm | StringTerm;
export type Term =
  | ScalarTerm
  | VarTerm
  | RefTerm
  | ArrayTerm
  | ObjectTerm
  | SetTerm
  | ArrayComprehension
  | SetComprehension
  | ObjectComprehension
  | CallTerm;

/**
 * `some x, y` declares local vars: symbols are var terms.
 * `some x in xs` / `some k, v in xs`: a single symbol, a call to `internal.member_2` / `internal.member_3`.
 */
export interface SomeDecl { type: 'some'; symbols: Term[]; loc?: Location }

/** `every k, v in domain { body }` (`key` absent for `every v in domain`). */
export interface Every { type: 'every'; key?: Term; value: Term; domain: Term; body: Body; loc?: Location }

export interface With { target: Term; value: Term; loc?: Location }

export interface Expr {
  /** A term (usually a call such as `eq(x, 1)` or a ref), a `some` declaration or an `every`. */
  terms: Term | SomeDecl | Every;
  negated: boolean;
  with: With[];
  loc?: Location;
}

export type Body = Expr[];

export interface Head {
  /**
   * The rule's reference: `p` is `[var p]`, `a.b.c` is `[var a, "b", "c"]`, and the v0 partial
   * object `p[k] = v` / ref head `a.b[k] := v` include the key as last term.
   */
  ref: Term[];
  /** Function arguments; present (possibly empty) only for functions. */
  args?: Term[];
  /** Multi-value (partial set) rules: `p contains x`, or v0 `p[x] { ... }`. */
  key?: Term;
  /** Value of single-value rules. Absent means `true` (e.g. `allow if { ... }`), unless `key` is set. */
  value?: Term;
  /** True when defined with `:=` (reassignment of the rule is an error). */
  assign: boolean;
  loc?: Location;
}

export interface Rule {
  default: boolean;
  head: Head;
  body: Body;
  /** `else = value { body }` chain. Each `else` has a head with only `value` (and `args` copied from the rule). */
  else?: Rule;
  loc?: Location;
  /** The module the rule is defined in (set by the parser). */
  module?: Module;
}

export interface Import {
  /** e.g. `data.lib.images`, `input.spec`, `future.keywords.in`, `rego.v1`. */
  path: RefTerm;
  alias?: string;
  loc?: Location;
}

export interface Package {
  /** Ref starting with `data`, e.g. `data.io.k8s.image_policy` -> [var data, "io", "k8s", "image_policy"]. */
  path: RefTerm;
  loc?: Location;
}

export interface Annotation {
  /** Scope as written (`package`, `rule`, `document`, `subpackages`) or implied. */
  scope: string;
  /** The parsed YAML of the METADATA comment block. */
  raw: unknown;
  loc?: Location;
}

export interface Module {
  package: Package;
  imports: Import[];
  rules: Rule[];
  /** 0 for Rego v0 syntax (OPA < 1.0), 1 for Rego v1 syntax. */
  regoVersion: 0 | 1;
  /** The source file name used in locations and errors. */
  file: string;
  /** METADATA annotations, when the module has any. */
  annotations?: Annotation[];
  comments?: Array<{ text: string; loc: Location }>;
  /** A module of the interactive shell, where a rule named `input` sets the input document. */
  shell?: boolean;
}

/** A parsed query: a body. */
export type Query = Body;
