// How the shell prints results and errors, following OPA's REPL output so that people (and
// scripts) used to `opa run` see the same text:
//
//   - undefined                         -> `undefined`
//   - one result, no variable bindings  -> the value as JSON, 2-space indented (when there is one
//     expression, or every expression is a boolean: then the first value, e.g. `true`)
//   - anything else                     -> a table: one column per variable (sorted by name), then
//     one per expression whose value is not a boolean (every expression when nothing is bound),
//     drawn with box characters; cells hold compact JSON cut at the pretty limit
//   - `json` mode                       -> {"result": [{"expressions": [...], "bindings": {...}}]}
//
// JSON text escapes <, > and & as \u003c... because Go's encoder does; object keys and sets are
// sorted (value.ts stringifyJSON).
import type { QueryResult } from '../rego/api.js';
import type { Location } from '../rego/ast.js';
import { RegoError } from '../rego/errors.js';
import { stringifyJSON, toJSON, type Value } from '../rego/value.js';

export type OutputFormat = 'pretty' | 'json';

/** Pretty output of a query's results; always ends with a newline. */
export function prettyResults(results: QueryResult[], limit: number): string {
  if (results.length === 0) return 'undefined\n';
  const first = results[0];
  if (results.length === 1 && first.bindings.size === 0) {
    const exprs = first.expressions;
    if (exprs.length === 1 || exprs.every((e) => typeof e.value === 'boolean')) {
      return stringifyJSON(exprs[0].value, 2) + '\n';
    }
  }
  const columns = resultColumns(first);
  const rows = results.map((r) =>
    columns.map((c) => {
      const v = c.kind === 'var' ? r.bindings.get(c.name) : r.expressions[c.index]?.value;
      return truncate(v === undefined ? 'null' : stringifyJSON(v), limit);
    }),
  );
  return renderTable(
    columns.map((c) => c.header),
    rows,
  );
}

type Column = { kind: 'var'; name: string; header: string } | { kind: 'expr'; index: number; header: string };

/** Variables first (by name), then expressions in query order, as OPA's presentation does. */
function resultColumns(first: QueryResult): Column[] {
  const vars = [...first.bindings.keys()].sort(byCodeUnits).map((name): Column => ({ kind: 'var', name, header: name }));
  const exprs: Column[] = [];
  first.expressions.forEach((e, index) => {
    if (typeof e.value !== 'boolean' || first.bindings.size === 0) exprs.push({ kind: 'expr', index, header: e.text });
  });
  return [...vars, ...exprs];
}

function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** OPA's pretty-limit: cells longer than the limit are cut and end in `...` (0 = no limit). */
export function truncate(s: string, limit: number): string {
  if (limit > 0 && s.length > limit) return s.slice(0, limit) + '...';
  return s;
}

/** Display width: wide (East Asian) characters take two columns, combining marks none. */
function width(s: string): number {
  let w = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp === 0 || (cp >= 0x300 && cp <= 0x36f) || cp === 0x200b) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf && cp !== 0x303f) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

function padRight(s: string, w: number): string {
  return s + ' '.repeat(Math.max(0, w - width(s)));
}

/** Centred like the table writer OPA uses: the odd space goes to the right. */
function padCenter(s: string, w: number): string {
  const gap = Math.max(0, w - width(s));
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + s + ' '.repeat(gap - left);
}

/** A box-drawn table: centred header (none when empty), left-aligned cells, one space of padding. */
export function renderTable(header: string[], rows: string[][]): string {
  const columns = header.length > 0 ? header.length : Math.max(0, ...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(width(header[i] ?? ''), ...rows.map((r) => width(r[i] ?? ''))));
  const rule = (l: string, m: string, r: string) => l + widths.map((w) => '─'.repeat(w + 2)).join(m) + r;
  const line = (cells: string[], pad: (s: string, w: number) => string) =>
    '│' + widths.map((w, i) => ' ' + pad(cells[i] ?? '', w) + ' ').join('│') + '│';
  const out = header.length > 0 ? [rule('┌', '┬', '┐'), line(header, padCenter), rule('├', '┼', '┤')] : [rule('┌', '┬', '┐')];
  for (const r of rows) out.push(line(r, padRight));
  out.push(rule('└', '┴', '┘'));
  return out.join('\n') + '\n';
}

/** `json` mode: OPA's output document, `{}` when undefined. */
export function jsonResults(results: QueryResult[]): string {
  if (results.length === 0) return '{}\n';
  const result = results.map((r) => {
    const out: Record<string, unknown> = {
      expressions: r.expressions.map((e) => ({ value: toJSON(e.value), text: e.text, location: { row: e.location.row, col: e.location.col } })),
    };
    if (r.bindings.size) {
      const b: Record<string, unknown> = {};
      for (const k of [...r.bindings.keys()].sort(byCodeUnits)) b[k] = toJSON(r.bindings.get(k) as Value);
      out.bindings = b;
    }
    return out;
  });
  return stringifyJSON({ result }, 2) + '\n';
}

/** `json` mode evaluation errors: `{"errors": [{"location", "message", "code"}]}`. */
export function jsonErrors(errors: RegoError[]): string {
  const list = errors.map((e) => {
    const o: Record<string, unknown> = {};
    if (e.location) o.location = { file: e.location.file, row: e.location.row, col: e.location.col };
    o.message = e.detail;
    o.code = e.code;
    return o;
  });
  return stringifyJSON({ errors: list }, 2) + '\n';
}

/** OPA's location prefix: `file:row` when there is a file, else `row:col`. */
function where(l: Location): string {
  return l.file ? `${l.file}:${l.row}` : `${l.row}:${l.col}`;
}

function oneError(e: RegoError): string {
  const msg = `${e.code}: ${e.detail}`;
  return e.location ? `${where(e.location)}: ${msg}` : msg;
}

/** `1 error occurred: 1:1: rego_unsafe_var_error: var x is unsafe`, or a counted list. */
export function formatRegoErrors(errors: RegoError[]): string {
  if (errors.length === 1) return `1 error occurred: ${oneError(errors[0])}`;
  return `${errors.length} errors occurred:\n${errors.map(oneError).join('\n')}`;
}
