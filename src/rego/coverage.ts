// Test coverage as `opa test --coverage` reports it: which lines of the policies an evaluation
// reached. Lines count, not expressions: a line is covered when evaluation reached any
// expression on it, or when a rule whose head is on it produced a value (a default rule: when
// its value was used). Every other line holding an expression or a rule head is not covered;
// comments, imports, package clauses and `some x` declarations are neither.
//
// Coverage is opt-in per compiled policy, so ordinary evaluation pays nothing for it:
// `instrument` puts a marker before each expression of every body (a call to a builtin that
// records its line and is true) and one at the end of each rule body (the rule produced a
// value). Both evaluation tiers run markers like any other builtin call.
import type { BuiltinDef } from './builtins/registry.js';
import type { CExpr, CRule, CTerm, CompiledPolicy, RuleNode } from './compiled.js';
import type { Location } from './ast.js';
import { forEachTerm } from './walk.js';

/** A run of lines, as OPA writes it: `{"start": {"row": 3}, "end": {"row": 5}}`. */
export interface LineRange {
  start: { row: number };
  end: { row: number };
}

/** One file's part of the report; empty fields are left out, as OPA leaves them out. */
export interface FileCoverage {
  covered?: LineRange[];
  not_covered?: LineRange[];
  covered_lines?: number;
  not_covered_lines?: number;
  coverage?: number;
}

/** OPA's coverage report: per file, then totals; coverage in percent of the lines counted. */
export interface CoverageReport {
  files: Record<string, FileCoverage>;
  covered_lines: number;
  not_covered_lines: number;
  coverage: number;
}

export class Coverage {
  /** Lines holding an expression or a rule head, per file. */
  private readonly lines = new Map<string, Set<number>>();
  /** Lines evaluation reached, per file. */
  private readonly hits = new Map<string, Set<number>>();
  private readonly instrumented = new WeakSet<object>();

  /**
   * Adds the markers to a policy that has not been evaluated yet: run forms (closures, generated
   * code) are built on first evaluation from the bodies as they are then, and those of nested
   * comprehensions would not be rebuilt. Rules instrumented already are left as they are.
   */
  instrument(policy: CompiledPolicy): void {
    const visit = (node: RuleNode): void => {
      for (const rule of node.rules) this.rule(rule);
      if (node.defaultRule) this.defaultRule(node.defaultRule);
      for (const child of node.children.values()) visit(child);
    };
    visit(policy.root);
  }

  /** The report over every policy instrumented, files in name order. */
  report(): CoverageReport {
    const files: Record<string, FileCoverage> = {};
    let covered = 0;
    let notCovered = 0;
    for (const file of [...this.lines.keys()].sort()) {
      const hit = this.hits.get(file) ?? new Set<number>();
      const rows = [...this.lines.get(file)!];
      const yes = rows.filter((r) => hit.has(r));
      const no = rows.filter((r) => !hit.has(r));
      const fc: FileCoverage = {};
      if (yes.length) fc.covered = ranges(yes);
      if (no.length) fc.not_covered = ranges(no);
      if (yes.length) fc.covered_lines = yes.length;
      if (no.length) fc.not_covered_lines = no.length;
      if (yes.length) fc.coverage = percent(yes.length, no.length);
      files[file] = fc;
      covered += yes.length;
      notCovered += no.length;
    }
    return { files, covered_lines: covered, not_covered_lines: notCovered, coverage: covered + notCovered ? percent(covered, notCovered) : 0 };
  }

  private rule(rule: CRule): void {
    if (this.instrumented.has(rule)) return;
    this.instrumented.add(rule);
    // Defensive: run forms built before would not see the markers.
    rule.bodyTier = undefined;
    rule.valueTier = undefined;
    rule.node.rulesTier = undefined;
    const head = this.marker(rule.loc);
    rule.body = this.body(rule.body);
    if (head) rule.body.push(head);
    for (const t of [...rule.dyn, ...(rule.key ? [rule.key] : []), rule.value, ...(rule.args ?? [])]) this.nestedBodies(t);
    if (rule.else) this.rule(rule.else);
  }

  private defaultRule(rule: CRule): void {
    if (this.instrumented.has(rule) || !rule.loc?.file) return;
    this.instrumented.add(rule);
    rule.node.rulesTier = undefined;
    const { file, row } = rule.loc;
    this.line(file, row);
    rule.onDefault = () => this.hit(file, row);
  }

  /** A body with a marker before each expression, and the bodies nested in them instrumented. */
  private body(body: CExpr[]): CExpr[] {
    const out: CExpr[] = [];
    for (const e of body) {
      this.nestedBodies(e);
      // `some x` declarations do nothing at run time; OPA leaves them out as well.
      const m = e.k === 'nop' ? undefined : this.marker(e.loc);
      if (m) out.push(m);
      out.push(e);
    }
    return out;
  }

  /** Instruments the comprehension and `every` bodies directly inside a term or expression. */
  private nestedBodies(x: CTerm | CExpr): void {
    if ('k' in x && x.k === 'every') x.body = this.body(x.body);
    forEachTerm(
      x,
      (t) => {
        if (t.t === 'compr' || t.t === 'ocompr') {
          if (t.t === 'compr') this.nestedBodies(t.term);
          else {
            this.nestedBodies(t.key);
            this.nestedBodies(t.value);
          }
          t.body = this.body(t.body);
          return false;
        }
        return true;
      },
      false,
    );
  }

  /** An expression that records its line and is true; none for code without a file. */
  private marker(loc: Location | undefined): CExpr | undefined {
    if (!loc?.file) return undefined;
    const { file, row } = loc;
    this.line(file, row);
    const builtin: BuiltinDef = {
      name: 'coverage',
      args: [],
      result: 'boolean',
      category: 'internal',
      infallible: true,
      impl: () => {
        this.hit(file, row);
        return true;
      },
    };
    return { k: 'call', call: { name: 'coverage', builtin, args: [], loc }, negated: false, withs: [], index: -1 };
  }

  private line(file: string, row: number): void {
    let rows = this.lines.get(file);
    if (!rows) this.lines.set(file, (rows = new Set()));
    rows.add(row);
  }

  private hit(file: string, row: number): void {
    let rows = this.hits.get(file);
    if (!rows) this.hits.set(file, (rows = new Set()));
    rows.add(row);
  }
}

/** Sorted runs of consecutive rows. */
function ranges(rows: number[]): LineRange[] {
  rows.sort((a, b) => a - b);
  const out: LineRange[] = [];
  for (const row of rows) {
    const last = out[out.length - 1];
    if (last && last.end.row + 1 === row) last.end = { row };
    else out.push({ start: { row }, end: { row } });
  }
  return out;
}

function percent(covered: number, notCovered: number): number {
  return (100 * covered) / (covered + notCovered);
}
