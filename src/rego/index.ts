// The Rego engine's library API: parse, compile, prepare a query once, evaluate it many times.
//
//   const policy = compilePolicies([{ file: 'p.rego', text }]);
//   const q = prepareQuery(policy, 'data.io.k8s.image_policy.verify');
//   const { results } = q.eval({ input, data });
import type * as A from './ast.js';
import type { EvalOptions, EvalOutcome, ParseOptions, QueryResult } from './api.js';
import type { CExpr, CompiledPolicy } from './compiled.js';
import { forEachTerm } from './walk.js';
import { compile, compileQuery, type CompileOptions, type CompiledQuery, type QueryContext } from './compiler.js';
import { RegoError, RegoErrors } from './errors.js';
import { Evaluator } from './eval.js';
import { parseModule, parseQuery } from './parser.js';
import type { Value } from './value.js';

export * from './api.js';
export { compile, compileQuery } from './compiler.js';
export type { CompileOptions, QueryContext } from './compiler.js';
export type { CompiledPolicy } from './compiled.js';
export { parseModule, parseQuery } from './parser.js';
export { RegoError, RegoErrors } from './errors.js';

export interface SourceFile {
  file: string;
  text: string;
}

/** Parses and compiles policy sources; throws RegoErrors listing every problem found. */
export function compilePolicies(sources: SourceFile[], options: ParseOptions & CompileOptions = {}): CompiledPolicy {
  const modules: A.Module[] = [];
  const errors: RegoError[] = [];
  for (const s of sources) {
    try {
      modules.push(parseModule(s.text, s.file, { regoVersion: options.regoVersion }));
    } catch (e) {
      if (e instanceof RegoErrors) errors.push(...e.errors);
      else if (e instanceof RegoError) errors.push(e);
      else throw e;
    }
  }
  if (errors.length) throw new RegoErrors(errors);
  return compile(modules, options);
}

export interface PrepareOptions extends QueryContext, CompileOptions {
  /** File name used in query errors. */
  file?: string;
}

/** A query compiled against a policy: evaluate it as often as needed with different inputs. */
export class PreparedQuery {
  constructor(
    readonly policy: CompiledPolicy,
    readonly compiled: CompiledQuery,
    readonly text: string,
    private readonly exprTexts: string[],
    private readonly exprLocs: Array<{ row: number; col: number }>,
  ) {
    // OPA reports the value of a lone expression even when it is false (`1 > 2` is false, not
    // undefined) — but not when the query has several expressions or iterates.
    this.captureValues = compiled.body.length === 1 && !iterates(compiled.body[0]);
  }

  private readonly captureValues: boolean;

  eval(opts: EvalOptions = {}): EvalOutcome {
    return guardDepth(() => this.evalUnguarded(opts));
  }

  private evalUnguarded(opts: EvalOptions): EvalOutcome {
    const ev = new Evaluator(this.policy, opts);
    const q = this.compiled;
    const frame: Array<Value | undefined> = new Array(q.nslots);
    const results: QueryResult[] = [];
    const values: Value[] = new Array(q.body.length);
    const run = (i: number): boolean => {
      if (i === q.body.length) {
        const bindings = new Map<string, Value>();
        for (const v of q.vars) {
          const x = frame[v.slot];
          if (x !== undefined) bindings.set(v.name, x);
        }
        const order = q.body.map((e, j) => ({ index: e.index, value: values[j] })).sort((a, b) => a.index - b.index);
        results.push({
          expressions: order.map((o) => ({
            value: o.value,
            text: this.exprTexts[o.index] ?? '',
            location: this.exprLocs[o.index] ?? { row: 1, col: 1 },
          })),
          bindings,
        });
        return false;
      }
      return ev.evalExpr(
        q.body[i],
        frame,
        (v) => {
          values[i] = v;
          return run(i + 1);
        },
        this.captureValues,
      );
    };
    try {
      run(0);
    } finally {
      ev.release();
    }
    return { results, notes: ev.notes };
  }

  /** Convenience: the value of the first expression of the first result, or undefined. */
  evalValue(opts: EvalOptions = {}): Value | undefined {
    if (this.captureValues) {
      // One expression with at most one value (e.g. a decision such as data.x.allow): take it
      // directly instead of building a result set.
      return guardDepth(() => {
        let out: Value | undefined;
        const ev = new Evaluator(this.policy, opts);
        try {
          ev.evalExpr(this.compiled.body[0], new Array(this.compiled.nslots), (v) => ((out = v), true), true);
        } finally {
          ev.release();
        }
        return out;
      });
    }
    const r = this.eval(opts).results[0];
    return r?.expressions[0]?.value;
  }
}

/** Runs an evaluation; values nested deeper than the JS stack allows give a clear error, never a crash. */
function guardDepth<T>(run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof RangeError) throw new RegoError('eval_internal_error', `evaluation exceeded the maximum nesting depth (${e.message})`);
    throw e;
  }
}

/** Parses (if needed) and compiles a query against a compiled policy. Throws RegoErrors. */
export function prepareQuery(policy: CompiledPolicy, query: string | A.Body, opts: PrepareOptions = {}): PreparedQuery {
  const text = typeof query === 'string' ? query : '';
  const body = typeof query === 'string' ? parseQuery(query, opts.file ?? 'query', { regoVersion: 1 }) : query;
  if (body.length === 0) throw new RegoErrors([new RegoError('rego_parse_error', 'empty query')]);
  const compiled = compileQuery(policy, body, opts, opts);
  const texts = exprTexts(text, body);
  const locs = body.map((e) => ({ row: e.loc?.row ?? 1, col: e.loc?.col ?? 1 }));
  return new PreparedQuery(policy, compiled, text, texts, locs);
}

/** True when an expression iterates: a ref with a variable key, or a relation such as walk. */
function iterates(e: CExpr): boolean {
  if (e.k !== 'term' && e.k !== 'call') return true;
  let found = e.k === 'call' && (e.call.special === 'walk' || e.call.builtin?.relation === true);
  forEachTerm(
    e,
    (t) => {
      if (t.t === 'ref' && t.path.some((p) => p.t === 'var' || p.t === 'array' || p.t === 'object')) found = true;
      if (t.t === 'call' && (t.call.special === 'walk' || t.call.builtin?.relation)) found = true;
    },
    false,
  );
  return found;
}

/** The source text of each query expression, cut from the query string by location. */
function exprTexts(text: string, body: A.Body): string[] {
  if (!text) return body.map(() => '');
  const lines = text.split('\n');
  const offsetOf = (l?: A.Location): number => {
    if (!l) return 0;
    let off = 0;
    for (let r = 1; r < l.row && r <= lines.length; r++) off += lines[r - 1].length + 1;
    // Columns count code points; convert to UTF-16 offset within the line.
    const line = lines[l.row - 1] ?? '';
    const cps = Array.from(line).slice(0, l.col - 1).join('');
    return off + cps.length;
  };
  const starts = body.map((e) => offsetOf(e.loc));
  return body.map((_, i) => {
    const end = i + 1 < body.length ? starts[i + 1] : text.length;
    return text
      .slice(starts[i], end)
      .trim()
      .replace(/;$/, '')
      .trim();
  });
}
