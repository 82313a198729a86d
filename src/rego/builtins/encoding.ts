// Builtins of OPA's "encoding" category. Registered at import time.
//
// Byte-oriented decoders (base64, hex, URL escapes) work on the UTF-8 bytes of their input and
// report errors at byte offsets, with Go's messages; decoded bytes are read back as UTF-8.
import { parseAllDocuments, Scalar, stringify as yamlStringify } from 'yaml';
import { MAX_YAML_DEPTH, yamlNestedDeeperThan } from '../yaml-depth.js';
import { unsupportedMappingKey } from '../yaml-keys.js';
import { BuiltinError } from '../errors.js';
import {
  fromJSON,
  isSet,
  normalizeBigInt,
  parseNumber,
  RObject,
  RSet,
  stringifyJSON,
  toRegoString,
  typeName,
  type Value,
} from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';
import { operandError } from './strings.js';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

function bytesToString(b: Uint8Array): string {
  return utf8Decoder.decode(b);
}

// ---------------------------------------------------------------------------------------------
// base64 (Go's encoding/base64: padded decoding is strict about padding, ignores \r and \n)

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function b64encode(s: string, alphabet: string, padded: boolean): string {
  const b = Buffer.from(s, 'utf8').toString('base64');
  let out = alphabet === URL ? b.replace(/\+/g, '-').replace(/\//g, '_') : b;
  if (!padded) out = out.replace(/=+$/, '');
  return out;
}

function corrupt(at: number): BuiltinError {
  return new BuiltinError(`illegal base64 data at input byte ${at}`);
}

/** Go's Encoding.DecodeString for a padded alphabet. */
export function b64decode(s: string, alphabet: string): Uint8Array {
  const src = utf8.encode(s);
  const table = new Int16Array(256).fill(-1);
  for (let i = 0; i < 64; i++) table[alphabet.charCodeAt(i)] = i;
  const out: number[] = [];
  let si = 0;
  const isNL = (c: number) => c === 0x0a || c === 0x0d;
  while (true) {
    const quad: number[] = [];
    let j = 0;
    let dlen = 4;
    for (; j < 4; j++) {
      if (si === src.length) {
        if (j === 0) return Uint8Array.from(out);
        throw corrupt(si - j);
      }
      const c = src[si++];
      if (isNL(c)) {
        j--;
        continue;
      }
      const v = table[c];
      if (v >= 0) {
        quad.push(v);
        continue;
      }
      if (c !== 0x3d) throw corrupt(si - 1);
      // Padding.
      if (j === 0 || j === 1) throw corrupt(si - 1);
      if (j === 2) {
        while (si < src.length && isNL(src[si])) si++;
        if (si === src.length) throw corrupt(src.length);
        if (src[si] !== 0x3d) throw corrupt(si - 1);
        si++;
      }
      while (si < src.length && isNL(src[si])) si++;
      if (si < src.length) throw corrupt(si);
      dlen = j;
      break;
    }
    const v = (quad[0] << 18) | ((quad[1] ?? 0) << 12) | ((quad[2] ?? 0) << 6) | (quad[3] ?? 0);
    const bytes = [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
    out.push(...bytes.slice(0, dlen - 1));
    if (dlen < 4) return Uint8Array.from(out);
  }
}

function base64UrlDecode(s: string): string {
  let t = s;
  if (!t.endsWith('=')) {
    switch (utf8.encode(t).length % 4) {
      case 0:
        break;
      case 2:
        t += '==';
        break;
      case 3:
        t += '=';
        break;
      default:
        throw new BuiltinError(`illegal base64url string: ${s}`);
    }
  }
  return bytesToString(b64decode(t, URL));
}

// ---------------------------------------------------------------------------------------------
// hex

function hexDecode(s: string): string {
  const src = utf8.encode(s);
  const val = (c: number) => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);
  const invalid = (c: number) => {
    const ch = String.fromCodePoint(c);
    const printable = c >= 0x20 && c !== 0x7f && !(c >= 0x80 && c < 0xa0);
    return new BuiltinError(`encoding/hex: invalid byte: U+${c.toString(16).toUpperCase().padStart(4, '0')}${printable ? ` '${ch}'` : ''}`);
  };
  const out = new Uint8Array(src.length >> 1);
  let j = 1;
  for (; j < src.length; j += 2) {
    const a = val(src[j - 1]);
    const b = val(src[j]);
    if (a < 0) throw invalid(src[j - 1]);
    if (b < 0) throw invalid(src[j]);
    out[j >> 1] = (a << 4) | b;
  }
  if (src.length % 2 === 1) {
    if (val(src[j - 1]) < 0) throw invalid(src[j - 1]);
    throw new BuiltinError('encoding/hex: odd length hex string');
  }
  return bytesToString(out);
}

// ---------------------------------------------------------------------------------------------
// URL query escaping (Go's net/url QueryEscape / QueryUnescape / Values)

/** Go's url.QueryEscape: unreserved characters stay, space becomes '+', the rest %XX. */
export function queryEscape(s: string): string {
  let out = '';
  for (const b of utf8.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (b === 0x20) out += '+';
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Go's url.QueryUnescape, with its `invalid URL escape "%zz"` error. */
export function queryUnescape(s: string): string {
  const src = utf8.encode(s);
  const out: number[] = [];
  const hexv = (c: number) => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (c === 0x25) {
      if (i + 2 >= src.length || hexv(src[i + 1]) < 0 || hexv(src[i + 2]) < 0) {
        const bad = bytesToString(src.slice(i, Math.min(i + 3, src.length)));
        throw new BuiltinError(`invalid URL escape ${JSON.stringify(bad)}`);
      }
      out.push(hexv(src[i + 1]) * 16 + hexv(src[i + 2]));
      i += 2;
    } else if (c === 0x2b) out.push(0x20);
    else out.push(c);
  }
  return bytesToString(Uint8Array.from(out));
}

function encodeObject(obj: RObject): string {
  const err = operandError(1, 'values must be string, array[string], or set[string]');
  const parts: Array<[string, string[]]> = [];
  for (const [k, v] of obj.entries()) {
    const key = typeof k === 'string' ? k : toRegoString(k);
    let vals: string[];
    if (typeof v === 'string') vals = [v];
    else if (Array.isArray(v) || isSet(v)) {
      const items = isSet(v) ? v.values() : v;
      vals = items.map((x) => {
        if (typeof x !== 'string') throw err;
        return x;
      });
    } else throw err;
    parts.push([key, vals]);
  }
  parts.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: string[] = [];
  for (const [k, vs] of parts) for (const v of vs) out.push(queryEscape(k) + '=' + queryEscape(v));
  return out.join('&');
}

function decodeObject(q: string): RObject {
  const m = new Map<string, string[]>();
  let firstErr: BuiltinError | undefined;
  for (const part of q.split('&')) {
    if (part.includes(';')) {
      firstErr ??= new BuiltinError('invalid semicolon separator in query');
      continue;
    }
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawK = eq < 0 ? part : part.slice(0, eq);
    const rawV = eq < 0 ? '' : part.slice(eq + 1);
    let k: string;
    let v: string;
    try {
      k = queryUnescape(rawK);
      v = queryUnescape(rawV);
    } catch (e) {
      if (e instanceof BuiltinError) {
        firstErr ??= e;
        continue;
      }
      throw e;
    }
    const list = m.get(k) ?? [];
    list.push(v);
    m.set(k, list);
  }
  if (firstErr) throw firstErr;
  return RObject.from([...m.entries()].map(([k, v]) => [k, v]));
}

// ---------------------------------------------------------------------------------------------
// JSON text -> Rego value, with Go's encoding/json error messages and exact numbers.

function quoteChar(c: string): string {
  if (c === "'") return "'\\''";
  if (c === '"') return `'"'`;
  const q = JSON.stringify(c);
  return "'" + q.slice(1, -1) + "'";
}

class JSONSyntax extends Error {}

/** Parses one JSON text. Errors read as Go's decoder reports them. */
export function parseGoJSON(text: string): Value {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const eof = () => new JSONSyntax('unexpected EOF');
  const bad = (context: string) => new JSONSyntax(`invalid character ${quoteChar(String.fromCodePoint(text.codePointAt(i)!))} ${context}`);
  let depth = 0;
  const value = (): Value => {
    ws();
    if (i >= n) throw eof();
    const c = text[i];
    if (c === '{') {
      if (++depth > 10000) throw new JSONSyntax('exceeded max depth');
      i++;
      const obj = new RObject();
      ws();
      if (i >= n) throw eof();
      if (text[i] === '}') {
        i++;
        depth--;
        return obj;
      }
      for (;;) {
        ws();
        if (i >= n) throw eof();
        if (text[i] !== '"') throw bad('looking for beginning of object key string');
        const k = str();
        ws();
        if (i >= n) throw eof();
        if (text[i] !== ':') throw bad('after object key');
        i++;
        const v = value();
        obj.set(k, v);
        ws();
        if (i >= n) throw eof();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          depth--;
          return obj;
        }
        throw bad('after object key:value pair');
      }
    }
    if (c === '[') {
      if (++depth > 10000) throw new JSONSyntax('exceeded max depth');
      i++;
      const arr: Value[] = [];
      ws();
      if (i >= n) throw eof();
      if (text[i] === ']') {
        i++;
        depth--;
        return arr;
      }
      for (;;) {
        arr.push(value());
        ws();
        if (i >= n) throw eof();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          depth--;
          return arr;
        }
        throw bad('after array element');
      }
    }
    if (c === '"') return str();
    if (c === '-' || (c >= '0' && c <= '9')) return num();
    for (const [lit, v] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as Array<[string, Value]>) {
      if (c === lit[0]) {
        for (let k = 1; k < lit.length; k++) {
          i++;
          if (i >= n) throw eof();
          if (text[i] !== lit[k]) throw bad(`in literal ${lit} (expecting ${quoteChar(lit[k])})`);
        }
        i++;
        return v;
      }
    }
    throw bad('looking for beginning of value');
  };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) throw eof();
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) throw bad('in string literal');
      if (c === 0x5c) {
        out += text.slice(start, i);
        i++;
        if (i >= n) throw eof();
        const e = text[i];
        const simple: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
        if (e in simple) {
          out += simple[e];
          i++;
        } else if (e === 'u') {
          let code = 0;
          for (let k = 0; k < 4; k++) {
            i++;
            if (i >= n) throw eof();
            const h = parseInt(text[i], 16);
            if (Number.isNaN(h)) throw bad('in \\u hexadecimal character escape');
            code = code * 16 + h;
          }
          i++;
          out += String.fromCharCode(code);
        } else throw bad('in string escape code');
        start = i;
        continue;
      }
      i++;
    }
  };
  const num = (): Value => {
    const start = i;
    if (text[i] === '-') {
      i++;
      if (i >= n) throw eof();
      if (!(text[i] >= '0' && text[i] <= '9')) throw bad('in numeric literal');
    }
    if (text[i] === '0') i++;
    else while (i < n && text[i] >= '0' && text[i] <= '9') i++;
    if (i < n && text[i] === '.') {
      i++;
      if (i >= n) throw eof();
      if (!(text[i] >= '0' && text[i] <= '9')) throw bad('after decimal point in numeric literal');
      while (i < n && text[i] >= '0' && text[i] <= '9') i++;
    }
    if (i < n && (text[i] === 'e' || text[i] === 'E')) {
      i++;
      if (i < n && (text[i] === '+' || text[i] === '-')) i++;
      if (i >= n) throw eof();
      if (!(text[i] >= '0' && text[i] <= '9')) throw bad('in exponent of numeric literal');
      while (i < n && text[i] >= '0' && text[i] <= '9') i++;
    }
    const raw = text.slice(start, i);
    const v = parseNumber(raw);
    if (v === undefined) throw new JSONSyntax(`cannot represent number ${raw}`);
    return v;
  };
  ws();
  if (i >= n) throw new JSONSyntax('EOF');
  const result = value();
  ws();
  if (i < n) {
    // OPA reads one more token after the value and reports it.
    const c = text[i];
    let tok: string;
    if (c === '{' || c === '[' || c === '}' || c === ']' || c === ',' || c === ':') tok = c;
    else {
      const rest = i;
      try {
        const v = value();
        tok = typeof v === 'string' ? v : toRegoString(v);
      } catch (e) {
        i = rest;
        throw e;
      }
    }
    throw new JSONSyntax(`error: invalid character '${tok}' after top-level value`);
  }
  return result;
}

function jsonUnmarshal(s: string): Value {
  try {
    return parseGoJSON(s);
  } catch (e) {
    if (e instanceof JSONSyntax) throw new BuiltinError(e.message);
    // Very deep nesting can exhaust the JS stack before Go's depth limit is reached.
    if (e instanceof RangeError) throw new BuiltinError('exceeded max depth');
    throw e;
  }
}

function jsonIsValid(s: string): boolean {
  try {
    parseGoJSON(s);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// JSON output with Go's MarshalIndent layout (arbitrary prefix and indent strings).

function marshalIndent(v: Value, prefix: string, indent: string): string {
  const walk = (x: Value, depth: number): string => {
    if (x === null || typeof x !== 'object') return stringifyJSON(x);
    const nl = '\n' + prefix + indent.repeat(depth + 1);
    const end = '\n' + prefix + indent.repeat(depth);
    if (Array.isArray(x) || x instanceof RSet) {
      const items = x instanceof RSet ? x.values() : x;
      if (items.length === 0) return '[]';
      return '[' + items.map((e) => nl + walk(e, depth + 1)).join(',') + end + ']';
    }
    const entries = x.entries().map(([k, e]): [string, Value] => [typeof k === 'string' ? k : stringifyJSON(k), e]);
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    if (entries.length === 0) return '{}';
    return '{' + entries.map(([k, e]) => nl + stringifyJSON(k) + ': ' + walk(e, depth + 1)).join(',') + end + '}';
  };
  return prefix + walk(v, 0);
}

function marshalWithOptions(v: Value, opts: RObject): string {
  let indent = '\t';
  let prefix = '';
  let implicit = false;
  let explicitSet = false;
  let pretty = false;
  opts.entries().forEach(([k, val], idx) => {
    if (typeof k !== 'string') {
      throw operandError(2, `failed to stringify key ${toRegoString(k)} at index ${idx}: operand ${idx} must be string but got ${typeName(k)}`);
    }
    switch (k) {
      case 'prefix':
        if (typeof val !== 'string') throw operandError(2, `key prefix failed cast to string: operand ${idx} must be string but got ${typeName(val)}`);
        prefix = val;
        implicit = true;
        break;
      case 'indent':
        if (typeof val !== 'string') throw operandError(2, `key indent failed cast to string: operand ${idx} must be string but got ${typeName(val)}`);
        indent = val;
        implicit = true;
        break;
      case 'pretty':
        explicitSet = true;
        if (typeof val !== 'boolean') throw operandError(2, 'key pretty failed cast to bool');
        pretty = val;
        break;
      default:
        throw operandError(2, `object contained unknown key ${k}`);
    }
  });
  if (!explicitSet) pretty = implicit;
  return pretty ? marshalIndent(v, prefix, indent) : stringifyJSON(v);
}

// ---------------------------------------------------------------------------------------------
// YAML (YAML 1.1 rules, as Go's yaml.v2 that OPA uses: yes/no are booleans, 0x1F is an int)

const YAML_OPTS = {
  version: '1.1' as const,
  intAsBigInt: true,
  uniqueKeys: false,
  // Timestamps stay strings: converting them would change their text.
  customTags: (tags: Array<{ tag: string }>) => tags.filter((t) => t.tag !== 'tag:yaml.org,2002:timestamp'),
};

/** A YAML text as a value, as OPA's YAML-to-JSON conversion gives it (also for http.send bodies); throws BuiltinError. */
export function yamlToValue(s: string): Value {
  try {
    return yamlToValueUnguarded(s);
  } catch (e) {
    // Pathologically deep documents can exhaust the JS stack.
    if (e instanceof RangeError) throw new BuiltinError('error converting YAML to JSON: yaml: document nested too deeply');
    throw e;
  }
}

function yamlToValueUnguarded(s: string): Value {
  // Measured first: building a document nested a few hundred levels deep can abort the process.
  if (yamlNestedDeeperThan(s, MAX_YAML_DEPTH)) {
    throw new BuiltinError(`error converting YAML to JSON: yaml: document nested too deeply (more than ${MAX_YAML_DEPTH} levels)`);
  }
  let docs;
  try {
    docs = parseAllDocuments(s, YAML_OPTS as never);
  } catch (e) {
    throw new BuiltinError(`error converting YAML to JSON: yaml: ${e instanceof Error ? e.message : String(e)}`);
  }
  const list = Array.isArray(docs) ? docs : [];
  if (list.length === 0) return null;
  const doc = list[0];
  // Only the first document is used, but (as with Go's parser) a syntax error in a later
  // document still makes the input invalid.
  const bad = list.find((d) => d.errors.length > 0);
  if (bad) {
    const err = bad.errors[0];
    const line = err.linePos?.[0]?.line;
    const msg = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new BuiltinError(`error converting YAML to JSON: yaml: ${line !== undefined ? `line ${line}: ` : ''}${msg}`);
  }
  const badKey = unsupportedMappingKey(doc);
  if (badKey) throw new BuiltinError(`error converting YAML to JSON: yaml: unsupported map key: ${badKey.what} (keys must be strings, numbers or booleans)`);
  let js: unknown;
  try {
    js = doc.toJS({ maxAliasCount: 1000 });
  } catch (e) {
    throw new BuiltinError(`error converting YAML to JSON: yaml: ${e instanceof Error ? e.message : String(e)}`);
  }
  return yamlJSToValue(js);
}

function yamlJSToValue(x: unknown): Value {
  if (typeof x === 'number' && !Number.isFinite(x)) throw new BuiltinError(`json: unsupported value: ${x > 0 ? '+Inf' : x < 0 ? '-Inf' : 'NaN'}`);
  if (typeof x === 'bigint') return normalizeBigInt(x);
  if (x instanceof Uint8Array) return Buffer.from(x).toString('base64');
  if (Array.isArray(x)) return x.map(yamlJSToValue);
  if (x instanceof Map) {
    const o = new RObject();
    for (const [k, v] of x) o.set(yamlKey(k), yamlJSToValue(v));
    return o;
  }
  if (x instanceof Set) return [...x].map(yamlJSToValue);
  if (x !== null && typeof x === 'object') {
    const o = new RObject();
    for (const [k, v] of Object.entries(x)) o.set(k, yamlJSToValue(v));
    return o;
  }
  return fromJSON(x);
}

function yamlKey(k: unknown): string {
  if (k === null || k === undefined) return 'null';
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  return JSON.stringify(k);
}

function yamlIsValid(s: string): boolean {
  try {
    yamlToValue(s);
    return true;
  } catch {
    return false;
  }
}

// Plain scalars that YAML 1.1 (Go's yaml.v2) would read as something other than a string.
const YAML11_NON_STRING = [
  /^(~|null|Null|NULL|y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  /^[-+]?(?=\.?[0-9])[0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)?$/,
  /^[-+]?0x[0-9a-fA-F_]+$/,
  /^[-+]?0b[01_]+$/,
  /^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$/,
  /^[-+]?\.(inf|Inf|INF)$/,
  /^\.(nan|NaN|NAN)$/,
];

/**
 * yaml.v2 writes strings that would read back as another type in double quotes, and other
 * strings that cannot be plain in single quotes (the emitter's fallback).
 */
function yamlString(s: string): unknown {
  if (s === '' || YAML11_NON_STRING.some((re) => re.test(s))) {
    const sc = new Scalar(s);
    sc.type = 'QUOTE_DOUBLE';
    return sc;
  }
  return s;
}

function toYAMLData(v: Value): unknown {
  if (typeof v === 'string') return yamlString(v);
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toYAMLData);
  if (v instanceof RSet) return v.values().map(toYAMLData);
  const entries = v.entries().map(([k, x]): [string, unknown] => [typeof k === 'string' ? k : stringifyJSON(k), toYAMLData(x)]);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return new Map(entries);
}

function yamlMarshal(v: Value): string {
  return yamlStringify(toYAMLData(v), {
    version: '1.1',
    indentSeq: false,
    lineWidth: 0,
    singleQuote: true,
    // Maps are plain mappings here, not YAML 1.1 ordered maps.
    customTags: (tags: Array<{ tag: string }>) => tags.filter((t) => t.tag !== 'tag:yaml.org,2002:omap' && t.tag !== 'tag:yaml.org,2002:set'),
  } as never);
}

// ---------------------------------------------------------------------------------------------

const cat = 'encoding';
const defs: BuiltinDef[] = [
  { name: 'base64.encode', args: ['string'], result: 'string', category: cat, impl: ([s]) => b64encode(s as string, STD, true) },
  {
    name: 'base64.decode',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([s]) => bytesToString(b64decode(s as string, STD)),
  },
  {
    name: 'base64.is_valid',
    // Declared `any`: OPA answers false (not a type error) for non-string operands.
    args: ['any'],
    result: 'boolean',
    category: cat,
    impl: ([s]) => {
      if (typeof s !== 'string') return false;
      try {
        b64decode(s as string, STD);
        return true;
      } catch {
        return false;
      }
    },
  },
  { name: 'base64url.encode', args: ['string'], result: 'string', category: cat, impl: ([s]) => b64encode(s as string, URL, true) },
  {
    name: 'base64url.encode_no_pad',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([s]) => b64encode(s as string, URL, false),
  },
  { name: 'base64url.decode', args: ['string'], result: 'string', category: cat, impl: ([s]) => base64UrlDecode(s as string) },
  { name: 'hex.encode', args: ['string'], result: 'string', category: cat, impl: ([s]) => Buffer.from(s as string, 'utf8').toString('hex') },
  { name: 'hex.decode', args: ['string'], result: 'string', category: cat, impl: ([s]) => hexDecode(s as string) },
  { name: 'urlquery.encode', args: ['string'], result: 'string', category: cat, impl: ([s]) => queryEscape(s as string) },
  { name: 'urlquery.decode', args: ['string'], result: 'string', category: cat, impl: ([s]) => queryUnescape(s as string) },
  {
    name: 'urlquery.encode_object',
    args: ['object[string,string|array[string]|set[string]]'],
    result: 'string',
    category: cat,
    impl: ([o]) => encodeObject(o as RObject),
  },
  {
    name: 'urlquery.decode_object',
    args: ['string'],
    result: 'object[string,array[string]]',
    category: cat,
    impl: ([s]) => decodeObject(s as string),
  },
  { name: 'json.marshal', args: ['any'], result: 'string', category: cat, impl: ([v]) => stringifyJSON(v) },
  {
    name: 'json.marshal_with_options',
    args: ['any', 'object'],
    result: 'string',
    category: cat,
    impl: ([v, o]) => marshalWithOptions(v, o as RObject),
  },
  { name: 'json.unmarshal', args: ['string'], result: 'any', category: cat, impl: ([s]) => jsonUnmarshal(s as string) },
  // The is_valid builtins answer false for non-string operands, as OPA does.
  { name: 'json.is_valid', args: ['any'], result: 'boolean', category: cat, impl: ([s]) => typeof s === 'string' && jsonIsValid(s) },
  { name: 'yaml.marshal', args: ['any'], result: 'string', category: cat, impl: ([v]) => yamlMarshal(v) },
  { name: 'yaml.unmarshal', args: ['string'], result: 'any', category: cat, impl: ([s]) => yamlToValue(s as string) },
  { name: 'yaml.is_valid', args: ['any'], result: 'boolean', category: cat, impl: ([s]) => typeof s === 'string' && yamlIsValid(s) },
];

registerBuiltins(...defs);
