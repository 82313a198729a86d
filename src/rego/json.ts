// Exact JSON -> Rego value parsing.
//
// OPA keeps JSON numbers as their literal text, so an integer such as 12345678901234567890 in a
// data file survives unchanged. JSON.parse rounds it to a double, and Node 20 does not pass the
// literal source to revivers (that needs --harmony-json-parse-with-source), so we:
//   1. try JSON.parse (fast, native) and convert to values, bailing out if any number is an
//      integer outside the safe range (the only case where the double may differ from the text);
//   2. otherwise, or when JSON.parse fails, run our own parser, which keeps every integer exact
//      and reports syntax errors with line and column.
//
// This module only depends on value.ts (which delegates its parseJSON here); it never touches
// files. value.ts and this file import each other: safe, as neither uses the other at load time.
import { RObject, normalizeBigInt, parseNumber, type Value } from './value.js';

/** A JSON syntax error with a 1-based position. */
export class JSONSyntaxError extends SyntaxError {
  readonly offset: number;
  readonly line: number;
  readonly col: number;
  /** The message without the position. */
  readonly detail: string;
  constructor(detail: string, offset: number, line: number, col: number) {
    super(`${detail} at line ${line}, column ${col}`);
    this.name = 'JSONSyntaxError';
    this.detail = detail;
    this.offset = offset;
    this.line = line;
    this.col = col;
  }
}

class Unsafe extends Error {}
const UNSAFE = new Unsafe('unsafe integer');

/** Converts JSON.parse output, throwing UNSAFE on an integer that JSON.parse may have rounded. */
function convertChecked(x: unknown): Value {
  if (x === null) return null;
  switch (typeof x) {
    case 'boolean':
    case 'string':
      return x;
    case 'number':
      // Rounded integers and overflows (1e400 -> Infinity) are re-read exactly.
      if (!Number.isFinite(x) || (Number.isInteger(x) && !Number.isSafeInteger(x))) throw UNSAFE;
      return x;
  }
  if (Array.isArray(x)) {
    const out: Value[] = new Array(x.length);
    for (let i = 0; i < x.length; i++) out[i] = convertChecked(x[i]);
    return out;
  }
  const o = new RObject();
  const rec = x as Record<string, unknown>;
  for (const k of Object.keys(rec)) o.set(k, convertChecked(rec[k]));
  return o;
}

/**
 * Parses JSON text into a value, keeping integers exact (large ones become bigint).
 * Throws JSONSyntaxError (with line/column) on invalid JSON, including empty input.
 */
export function parseJSONValue(text: string): Value {
  // A byte order mark is not JSON; Go's decoder rejects it too, but editors add it: skip it.
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // Too deep needs more opening brackets than a short text has: skip the scan for those.
  if (text.length > MAX_JSON_DEPTH) checkNesting(text);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return parseJSONExact(text); // throws a positioned error (or parses what V8 rejected, never)
  }
  try {
    return convertChecked(parsed);
  } catch (e) {
    if (e !== UNSAFE) throw e;
    return parseJSONExact(text);
  }
}

/**
 * Documents nested deeper than this are refused: the engine works on values recursively, and
 * no policy input or data file legitimately nests this deep.
 */
export const MAX_JSON_DEPTH = 1000;

function checkNesting(text: string): void {
  let depth = 0;
  let inString = false;
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k);
    if (inString) {
      if (c === 0x5c) k++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) {
        const before = text.slice(0, k);
        const line = before.split('\n').length;
        const col = k - before.lastIndexOf('\n');
        throw new JSONSyntaxError(`exceeded max depth of ${MAX_JSON_DEPTH} nested arrays/objects`, k, line, col);
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Our own JSON parser (RFC 8259). Iterative, so deeply nested input cannot overflow the stack.
 * Duplicate object keys: the last one wins, like Go's encoding/json and JSON.parse.
 */
export function parseJSONExact(text: string): Value {
  let i = 0;
  const n = text.length;

  const fail = (detail: string, at = i): never => {
    let line = 1;
    let col = 1;
    for (let k = 0; k < at && k < n; k++) {
      if (text.charCodeAt(k) === 0x0a) {
        line++;
        col = 1;
      } else col++;
    }
    throw new JSONSyntaxError(detail, at, line, col);
  };
  const skipWS = () => {
    while (i < n && WS.has(text.charCodeAt(i))) i++;
  };
  const describe = (at: number) =>
    at >= n ? 'unexpected end of JSON input' : `invalid character ${JSON.stringify(text[at])}`;

  const parseString = (): string => {
    // i is at the opening quote
    i++;
    let out = '';
    let start = i;
    for (;;) {
      if (i >= n) fail('unexpected end of JSON input in string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        out += text.slice(start, i);
        i++;
        return out;
      }
      if (c < 0x20) fail('invalid control character in string');
      if (c === 0x5c) {
        out += text.slice(start, i);
        i++;
        const e = text[i];
        switch (e) {
          case '"':
          case '\\':
          case '/':
            out += e;
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            const hex = text.slice(i + 1, i + 5);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('invalid \\u escape in string');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            fail('invalid escape in string');
        }
        i++;
        start = i;
        continue;
      }
      i++;
    }
  };

  const parseNumberAt = (): number | bigint => {
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = i;
    const r = m.exec(text);
    if (!r || r[0] === '-' || r[0].length === 0) fail(describe(i));
    const raw = r![0];
    i += raw.length;
    const v = parseNumber(raw);
    if (v === undefined) fail(`number ${raw} out of range`, i - raw.length);
    return typeof v === 'bigint' ? normalizeBigInt(v) : (v as number);
  };

  const parseScalar = (): Value => {
    const c = text[i];
    if (c === '"') return parseString();
    if (c === '-' || (c >= '0' && c <= '9')) return parseNumberAt();
    if (text.startsWith('true', i)) {
      i += 4;
      return true;
    }
    if (text.startsWith('false', i)) {
      i += 5;
      return false;
    }
    if (text.startsWith('null', i)) {
      i += 4;
      return null;
    }
    return fail(describe(i));
  };

  // Explicit stack of open containers. For objects we remember the pending key.
  type Frame = { arr: Value[]; obj?: undefined } | { obj: RObject; key?: string; arr?: undefined };
  const stack: Frame[] = [];
  let result: Value | undefined;

  const open = (): Value | undefined => {
    // At a value position: returns a finished scalar, or pushes a container and returns undefined.
    skipWS();
    if (i >= n) fail('unexpected end of JSON input');
    const c = text[i];
    if (c === '[') {
      i++;
      stack.push({ arr: [] });
      return undefined;
    }
    if (c === '{') {
      i++;
      stack.push({ obj: new RObject() });
      return undefined;
    }
    return parseScalar();
  };

  // At an object member: reads `"key":` into the frame, then opens the value.
  const member = (top: { key?: string }): Value | undefined => {
    if (text[i] !== '"') fail(i >= n ? 'unexpected end of JSON input' : `${describe(i)} looking for beginning of object key string`);
    top.key = parseString();
    skipWS();
    if (text[i] !== ':') fail(i >= n ? 'unexpected end of JSON input' : `${describe(i)} after object key`);
    i++;
    return open();
  };

  let v = open();
  for (;;) {
    const top = stack[stack.length - 1];
    if (!top) {
      result = v;
      break;
    }
    if (top.arr) {
      if (v !== undefined) {
        top.arr.push(v);
        skipWS();
        if (text[i] === ',') {
          i++;
          v = open();
          continue;
        }
        if (text[i] !== ']') fail(i >= n ? 'unexpected end of JSON input' : `${describe(i)} after array element`);
      } else {
        // Just opened: empty array or first element.
        skipWS();
        if (text[i] !== ']') {
          v = open();
          continue;
        }
      }
      i++;
      stack.pop();
      v = top.arr;
      continue;
    }
    // object frame
    if (v !== undefined) {
      top.obj.set(top.key as string, v);
      top.key = undefined;
      skipWS();
      if (text[i] === ',') {
        i++;
        skipWS();
        v = member(top);
        continue;
      }
      if (text[i] !== '}') fail(i >= n ? 'unexpected end of JSON input' : `${describe(i)} after object key:value pair`);
    } else {
      skipWS();
      if (text[i] !== '}') {
        v = member(top);
        continue;
      }
    }
    i++;
    stack.pop();
    v = top.obj;
  }
  skipWS();
  if (i < n) fail(`${describe(i)} after top-level value`);
  return result as Value;
}
