// The typed library API of the Rego engine: what the loader, REPL, server and CLI use.
// Implementation: compiler.ts (compile) and eval.ts (prepareQuery / PreparedQuery.eval).
import type { Body, Location, Module } from './ast.js';
import type { BuiltinHooks } from './builtins/registry.js';
import type { Value } from './value.js';

export interface ParseOptions {
  /**
   * Which Rego syntax to accept. 'auto' (the default) parses a module as Rego v1 and, when that
   * fails but v0 parsing succeeds, takes it as v0 (modules importing rego.v1 are always v1).
   */
  regoVersion?: 0 | 1 | 'auto';
}

export interface EvalOptions {
  /** The input document (undefined = no input). */
  input?: Value;
  /** The base documents (the root object under `data`), a snapshot from the store. */
  data?: Value;
  /** Raise builtin errors instead of making the expression undefined. */
  strictBuiltinErrors?: boolean;
  /** Hooks for print, http.send, opa.runtime. */
  hooks?: BuiltinHooks;
  /** Fixed time for time.now_ns (ns since epoch); defaults to the clock at the start of eval. */
  nowNs?: bigint;
  /** Abort with eval_cancel_error once Date.now() passes this (ms since epoch). */
  deadline?: number;
  /** Collect `trace`/explain notes. */
  collectNotes?: boolean;
}

export interface ExpressionValue {
  value: Value;
  text: string;
  location: { row: number; col: number };
}

export interface QueryResult {
  expressions: ExpressionValue[];
  /** Bindings of the query's own (non-generated) variables. */
  bindings: Map<string, Value>;
}

export interface EvalOutcome {
  results: QueryResult[];
  /** Notes from `trace()` calls when collectNotes was set. */
  notes: Array<{ message: string; location?: Location }>;
}

export type { Body, Module };
