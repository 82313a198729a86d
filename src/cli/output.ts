// Human and JSON output shared by the commands: result sets and errors.
import type { QueryResult } from '../rego/api.js';
import { RegoError, RegoErrors } from '../rego/errors.js';
import { LoadError, LoadErrors } from '../loader/index.js';
import { prettyResults } from '../repl/present.js';
import { toJSON, type Value } from '../rego/value.js';

/** `opa eval --format json` shape. Undefined (no results) prints `{}`. */
export function resultSetJSON(results: QueryResult[]): unknown {
  if (results.length === 0) return {};
  return {
    result: results.map((r) => {
      const out: Record<string, unknown> = {
        expressions: r.expressions.map((e) => ({ value: toJSON(e.value), text: e.text, location: e.location })),
      };
      if (r.bindings.size) {
        const b: Record<string, unknown> = {};
        for (const k of [...r.bindings.keys()].sort()) b[k] = toJSON(r.bindings.get(k) as Value);
        out.bindings = b;
      }
      return out;
    }),
  };
}

/**
 * `--format pretty`: the same presentation as the shell (and as `opa eval --format pretty`): one
 * value printed as JSON, otherwise a table of bindings and expression values.
 */
export function resultSetPretty(results: QueryResult[]): string {
  return prettyResults(results, 0).replace(/\n$/, '');
}

export interface ErrorJSON {
  code?: string;
  message: string;
  location?: { file: string; row: number; col: number };
}

/** Flattens the errors a command can meet into one list. Returns undefined for unexpected ones. */
export function userErrors(e: unknown): ErrorJSON[] | undefined {
  if (e instanceof RegoErrors) return e.errors.map(regoErrorJSON);
  if (e instanceof RegoError) return [regoErrorJSON(e)];
  if (e instanceof LoadErrors) return e.errors.map((x) => (x instanceof RegoError ? regoErrorJSON(x) : loadErrorJSON(x)));
  if (e instanceof LoadError) return [loadErrorJSON(e)];
  return undefined;
}

function regoErrorJSON(e: RegoError): ErrorJSON {
  return e.location ? { code: e.code, message: e.detail, location: e.location } : { code: e.code, message: e.detail };
}

function loadErrorJSON(e: LoadError): ErrorJSON {
  return e.row !== undefined
    ? { code: 'load_error', message: e.detail, location: { file: e.file, row: e.row, col: e.col ?? 1 } }
    : { code: 'load_error', message: e.file ? `${e.file}: ${e.detail}` : e.detail };
}

/** One line per error: `file:row:col: code: message`. */
export function formatErrors(errors: ErrorJSON[]): string {
  return errors
    .map((e) => {
      const where = e.location ? `${e.location.file}:${e.location.row}:${e.location.col}: ` : '';
      return `${where}${e.code ? e.code + ': ' : ''}${e.message}`;
    })
    .join('\n');
}
