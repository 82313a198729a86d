// The compiled form the evaluator runs: rules grouped into a tree by path, variables resolved
// to frame slots, bodies reordered for safety, constants folded.
import type { Location, Module } from './ast.js';
import type { BuiltinDef } from './builtins/registry.js';
import type { RulesFn } from './codegen.js';
import type { ArgMatcher, SingleFn, Step } from './steps.js';
import type { Tier } from './tiers.js';
import type { Value } from './value.js';

export type CTerm =
  | { t: 'const'; v: Value }
  | { t: 'var'; slot: number; name: string }
  | CRef
  | { t: 'array'; items: CTerm[] }
  | { t: 'set'; items: CTerm[] }
  | { t: 'object'; items: Array<[CTerm, CTerm]> }
  | { t: 'compr'; kind: 'array' | 'set'; term: CTerm; body: CExpr[] }
  | { t: 'ocompr'; key: CTerm; value: CTerm; body: CExpr[] }
  | { t: 'call'; call: CCall };

/**
 * A reference. `root` tells where it starts: `data` (path starts below data), `input`,
 * or `term` (a local var or any other term, e.g. `[1,2][i]`, `f(x).y`).
 */
export interface CRef {
  t: 'ref';
  root: 'data' | 'input' | 'term';
  head?: CTerm; // for root 'term'
  path: CTerm[];
  /** For data refs: the longest leading run of constant string segments (static prefix). */
  staticLen: number;
}

export interface CCall {
  name: string; // for messages: "count", "data.lib.f"
  builtin?: BuiltinDef;
  /** Special forms handled by the evaluator itself (print, trace, walk, internal.member_2/3). */
  special?: 'print' | 'member2' | 'member3' | 'walk';
  /** User-defined function: the rule node that holds its definitions. */
  func?: RuleNode;
  /** A function reached by a dynamic path, e.g. data.lib[x](...) is not supported by OPA either. */
  args: CTerm[];
  loc?: Location;
}

export interface CWith {
  /** 'input' target path (below input) or 'data' target path (below data), or a function/builtin. */
  kind: 'input' | 'data' | 'func';
  path: string[];
  /** For function replacement: the builtin name or data path of the function being replaced. */
  funcName?: string;
  value: CTerm;
  /** When the replacement value is a function reference (not a value). */
  replacement?: CCall;
}

export type CExpr = (
  | { k: 'unify'; a: CTerm; b: CTerm }
  | { k: 'call'; call: CCall; out?: CTerm }
  | { k: 'term'; term: CTerm }
  | { k: 'somein'; key?: CTerm; value: CTerm; domain: CTerm }
  | { k: 'every'; key?: CTerm; value: CTerm; domain: CTerm; body: CExpr[]; slots: number[] }
  | { k: 'nop' }
) & {
  negated: boolean;
  withs: CWith[];
  loc?: Location;
  /** Index of the expression in the original (unordered) body, for query results. */
  index: number;
  /** Source text, for query results. */
  text?: string;
};

export type RuleKind = 'complete' | 'multi' | 'object' | 'func';

export interface CRule {
  kind: RuleKind;
  node: RuleNode;
  /** Dynamic head segments after the node path (object keys; also multi-value ref heads). */
  dyn: CTerm[];
  /** Element term of multi-value rules. */
  key?: CTerm;
  /** Value term (the constant true when the head has none). */
  value: CTerm;
  /** Function argument patterns. */
  args?: CTerm[];
  body: CExpr[];
  nslots: number;
  isDefault: boolean;
  else?: CRule;
  loc?: Location;
  module: Module;
  /** A constant value lets a complete rule stop at the first solution. */
  constValue?: Value;
  /** For the rule index: (input path, constant) pairs every solution must satisfy. */
  indexKeys?: Array<{ path: string[]; value: Value }>;
  /** The body and value as they run now (tiers.ts), set on first evaluation. */
  bodyTier?: Tier<Step>;
  valueTier?: Tier<SingleFn>;
  /** Function parameters matched in place; null when they need general unification. */
  argsMatch?: ArgMatcher | null;
  /** Default rules under coverage (coverage.ts): called when the default value is used. */
  onDefault?: () => void;
}

export class RuleNode {
  readonly path: string[];
  readonly children = new Map<string, RuleNode>();
  readonly rules: CRule[] = [];
  defaultRule?: CRule;
  /** True when this node or a descendant holds rules. */
  hasRules = false;
  /**
   * True when this node holds rules and a descendant does too (`p[x].a` next to `p.b.c`, as ref
   * heads allow): the document here is the rules' object merged with the documents below.
   */
  rulesBelow = false;
  /** Rule index on input equality, built when a node has many rules (see indexer in compiler). */
  index?: RuleIndex;
  /** Whether lookups by one key can evaluate rules with the key bound (decided on first use). */
  keyed?: boolean;
  /** For functions: whether results are worth memoising (decided on first use, see eval.ts). */
  memoise?: boolean;
  /** Complete rules and functions as generated code once hot (tiers.ts); null: the evaluator's code. */
  rulesTier?: Tier<RulesFn | null>;
  /**
   * The value of these rules (for functions: their memo) in one evaluation context (the
   * evaluator's per-query state; `with` starts another). Kept here rather than in a map per
   * query: a lookup is a field read, and an entry for another context is simply stale.
   */
  cachedIn?: object;
  cachedValue?: unknown;
  /** While compiling: the kind of the rules declared here, the function arity, a default seen. */
  declaredKind?: RuleKind;
  arity?: number;
  hasDefault?: boolean;
  /** While compiling: a rule here has variables in its head ref (`p[x].a`, `p[x] contains y`). */
  variableHead?: boolean;

  constructor(path: string[]) {
    this.path = path;
  }

  child(seg: string, create: boolean): RuleNode | undefined {
    let c = this.children.get(seg);
    if (!c && create) {
      c = new RuleNode([...this.path, seg]);
      this.children.set(seg, c);
    }
    return c;
  }

  get kind(): RuleKind | undefined {
    return this.rules[0]?.kind ?? this.defaultRule?.kind;
  }

  get isFunction(): boolean {
    return this.kind === 'func';
  }
}

/** Rules selected by the value at one input path: rules without a condition are always candidates. */
export interface RuleIndex {
  path: string[];
  byValue: Map<unknown, CRule[]>;
  unconditional: CRule[];
}

export interface CompiledPolicy {
  root: RuleNode;
  modules: Module[];
}
