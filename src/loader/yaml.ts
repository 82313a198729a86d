// YAML data files -> Rego values.
//
// OPA converts YAML to JSON and then loads the JSON, so the result must be JSON-shaped: keys
// become strings, and values JSON cannot hold (.inf, .nan) are errors. We use the YAML 1.2 core
// schema (`yes`/`on` stay strings, no timestamps), integers are read as bigint so large ones stay
// exact, and anchors/aliases are capped by the library's alias limit (no "billion laughs").
//
// Nesting is capped at MAX_YAML_DEPTH: each document's depth is measured on the CST before it is
// built (src/rego/yaml-depth.ts says why), and the built value is checked again (aliases can
// nest an anchored collection inside another one).
import { Composer, LineCounter, Parser, type Document } from 'yaml';
import { RObject, normalizeBigInt, type Value } from '../rego/value.js';
import { MAX_YAML_DEPTH, farTooDeepAt, tooDeepToken } from '../rego/yaml-depth.js';
import { unsupportedMappingKey } from '../rego/yaml-keys.js';

export { MAX_YAML_DEPTH, yamlNestedDeeperThan } from '../rego/yaml-depth.js';

const TOO_DEEP = `document is nested too deeply: YAML data may nest at most ${MAX_YAML_DEPTH} levels of arrays and objects`;

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

/**
 * Parses one YAML document into a value. An empty document is null, as in OPA. Throws
 * YAMLDataError for bad YAML, several documents, values JSON cannot hold, and documents nested
 * deeper than MAX_YAML_DEPTH.
 */
export function parseYAMLValue(text: string): Value {
  // What parseAllDocuments does, with the depth check between the CST and the composer.
  const far = farTooDeepAt(text, MAX_YAML_DEPTH);
  if (far >= 0) {
    const before = text.slice(0, far);
    throw new YAMLDataError(TOO_DEEP, before.split('\n').length, far - before.lastIndexOf('\n'));
  }
  const lines = new LineCounter();
  const composer = new Composer({ intAsBigInt: true, uniqueKeys: true });
  const list: Document.Parsed[] = [];
  for (const token of new Parser(lines.addNewLine).parse(text)) {
    const deep = tooDeepToken(token, MAX_YAML_DEPTH);
    if (deep) {
      const { line, col } = lines.linePos(deep.offset);
      throw new YAMLDataError(TOO_DEEP, line, col);
    }
    list.push(...composer.next(token));
  }
  list.push(...composer.end());
  if (list.length === 0) return null;
  for (const doc of list) {
    const err = doc.errors[0];
    if (err) {
      const { line, col } = lines.linePos(err.pos[0]);
      throw new YAMLDataError(firstLine(err.message), line, col);
    }
  }
  if (list.length > 1) {
    // OPA's YAML converter silently keeps only the first document; dropping data silently is a
    // trap, so we refuse instead.
    const second = list[1];
    const range = second.range?.[0];
    const { line, col } = range !== undefined ? lines.linePos(range) : { line: undefined, col: undefined };
    throw new YAMLDataError(`a data file must hold one YAML document, found ${list.length}`, line, col);
  }
  const doc = list[0];
  const badKey = unsupportedMappingKey(doc);
  if (badKey) {
    const { line, col } = badKey.offset !== undefined ? lines.linePos(badKey.offset) : { line: undefined, col: undefined };
    throw new YAMLDataError(`invalid mapping key: a key must be a string, number or boolean, not ${badKey.what}`, line, col);
  }
  let js: unknown;
  try {
    js = list[0].toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new YAMLDataError(firstLine((e as Error).message));
  }
  return toValue(js, 0);
}

function firstLine(s: string): string {
  // The library appends " at line N, column M:" and a code excerpt; we report the position ourselves.
  return s.split('\n')[0].replace(/ at line \d+, column \d+:?\s*$/, '');
}

function toValue(x: unknown, depth: number): Value {
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
  if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
  if (x instanceof Date) return x.toISOString();
  // Past the CST check only aliases can nest deeper (an anchored collection inside another).
  if (++depth > MAX_YAML_DEPTH) throw new YAMLDataError(TOO_DEEP);
  if (Array.isArray(x)) return x.map((v) => toValue(v, depth));
  if (x instanceof Map) {
    const o = new RObject();
    for (const [k, v] of x) o.set(String(k), toValue(v, depth));
    return o;
  }
  if (x instanceof Set) return [...x].map((v) => toValue(v, depth));
  const o = new RObject();
  const rec = x as Record<string, unknown>;
  for (const k of Object.keys(rec)) o.set(k, toValue(rec[k], depth));
  return o;
}
