// YAML data files -> Rego values.
//
// OPA converts YAML to JSON and then loads the JSON, so the result must be JSON-shaped: keys
// become strings, and values JSON cannot hold (.inf, .nan) are errors. We use the YAML 1.2 core
// schema (`yes`/`on` stay strings, no timestamps), integers are read as bigint so large ones stay
// exact, and anchors/aliases are capped by the library's alias limit (no "billion laughs").
import { parseAllDocuments } from 'yaml';
import { RObject, normalizeBigInt, type Value } from '../rego/value.js';

export class YAMLDataError extends Error {
  readonly detail: string;
  readonly line?: number;
  readonly col?: number;
  constructor(detail: string, line?: number, col?: number) {
    super(line !== undefined ? `${detail} (line ${line}, column ${col})` : detail);
    this.name = 'YAMLDataError';
    this.detail = detail;
    this.line = line;
    this.col = col;
  }
}

/** Parses one YAML document into a value. An empty document is null, as in OPA. */
export function parseYAMLValue(text: string): Value {
  const docs = parseAllDocuments(text, { intAsBigInt: true, uniqueKeys: true, prettyErrors: true });
  // parseAllDocuments returns an EmptyStream (an array with `empty`) for input without documents.
  const list = Array.isArray(docs) ? docs : [docs];
  if (list.length === 0) return null;
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) {
      const pos = err.linePos?.[0];
      throw new YAMLDataError(firstLine(err.message), pos?.line, pos?.col);
    }
  }
  if (list.length > 1) {
    // OPA's YAML converter silently keeps only the first document; dropping data silently is a
    // trap, so we refuse instead.
    const second = list[1];
    const range = second.range?.[0];
    const { line, col } = range !== undefined ? lineCol(text, range) : { line: undefined, col: undefined };
    throw new YAMLDataError(`a data file must hold one YAML document, found ${list.length}`, line, col);
  }
  let js: unknown;
  try {
    js = list[0].toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new YAMLDataError(firstLine((e as Error).message));
  }
  return toValue(js);
}

function firstLine(s: string): string {
  // The library appends " at line N, column M:" and a code excerpt; we report the position ourselves.
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?\s*$/, '');
}

function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let col = 1;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text.charCodeAt(k) === 0x0a) {
      line++;
      col = 1;
    } else col++;
  }
  return { line, col };
}

function toValue(x: unknown): Value {
  if (x === null || x === undefined) return null;
  switch (typeof x) {
    case 'boolean':
    case 'string':
      return x;
    case 'bigint':
      return normalizeBigInt(x);
    case 'number':
      if (!Number.isFinite(x)) throw new YAMLDataError(`unsupported value ${x}: JSON has no infinity or NaN`);
      return x;
  }
  if (Array.isArray(x)) return x.map(toValue);
  if (x instanceof Map) {
    const o = new RObject();
    for (const [k, v] of x) o.set(String(k), toValue(v));
    return o;
  }
  if (x instanceof Set) return [...x].map(toValue);
  if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
  if (x instanceof Date) return x.toISOString();
  const o = new RObject();
  const rec = x as Record<string, unknown>;
  for (const k of Object.keys(rec)) o.set(k, toValue(rec[k]));
  return o;
}
