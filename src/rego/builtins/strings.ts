// Builtins of OPA's "strings" category. Registered at import time.
//
// Rego strings are sequences of Unicode code points (Go runes): every index, length and
// offset here counts code points, never UTF-16 units.
import { BuiltinError, HaltError, RegoError } from '../errors.js';
import { isArray, isSet, RObject, RSet, toRegoString, typeName, type Value } from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';

// ---------------------------------------------------------------------------------------------
// Small shared helpers (also used by other category files).

/** The code points of a string, each as a one- or two-unit JS string. */
export function runes(s: string): string[] {
  return Array.from(s);
}

/** OPA's message for a composite operand with a wrongly typed element. */
export function elementError(pos: number, composite: Value, got: Value, expected: string): BuiltinError {
  const t = typeName(composite);
  return new BuiltinError(`operand ${pos} must be ${t} of ${expected}s but got ${t} containing ${typeName(got)}`, 'eval_type_error');
}

/** Generic operand error, as OPA's builtins.NewOperandErr. */
export function operandError(pos: number, msg: string): BuiltinError {
  return new BuiltinError(`operand ${pos} ${msg}`, 'eval_type_error');
}

/** The strings of an array or set operand (sets in sorted order). */
export function stringElements(v: Value, pos: number): string[] {
  const items = isSet(v) ? v.values() : (v as Value[]);
  const out: string[] = [];
  for (const x of items) {
    if (typeof x !== 'string') throw elementError(pos, v, x, 'string');
    out.push(x);
  }
  return out;
}

/** An integer operand (OPA's IntOperand): rejects non-integers. */
export function intOperand(v: Value, pos: number): number {
  if (typeof v === 'bigint') return v < 0n ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
  if (typeof v !== 'number') throw new BuiltinError(`operand ${pos} must be number but got ${typeName(v)}`, 'eval_type_error');
  if (!Number.isInteger(v)) throw operandError(pos, 'must be integer number but got floating-point number');
  return v;
}

// Go's unicode.IsSpace.
const SPACE = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000]);
function isGoSpace(cp: number): boolean {
  return SPACE.has(cp) || (cp >= 0x2000 && cp <= 0x200a);
}

/** Go's strings.ToLower/ToUpper use simple (one-to-one) case mappings per rune. */
function mapCase(s: string, upper: boolean): string {
  let out = '';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    if (cp < 0x80) {
      out += upper ? c.toUpperCase() : c.toLowerCase();
      continue;
    }
    if (!upper && cp === 0x130) {
      out += 'i';
      continue;
    }
    const m = upper ? c.toUpperCase() : c.toLowerCase();
    // Multi-rune (full) mappings such as ß -> SS are not simple mappings: Go keeps the rune.
    out += [...m].length === 1 ? m : c;
  }
  return out;
}

function trimSet(s: string, cutset: string, left: boolean, right: boolean): string {
  const cut = new Set(runes(cutset));
  const rs = runes(s);
  let i = 0;
  let j = rs.length;
  if (left) while (i < j && cut.has(rs[i])) i++;
  if (right) while (j > i && cut.has(rs[j - 1])) j--;
  return rs.slice(i, j).join('');
}

/** Number of code points in s[from, to) (UTF-16 unit offsets). */
function countRunes(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/**
 * Code point offsets of the occurrences of `search` in `base` (overlapping ones too when `all`).
 * Uses the native substring search, so long inputs stay fast.
 */
function runeIndexes(base: string, search: string, all: boolean): number[] {
  const out: number[] = [];
  let unit = base.indexOf(search);
  let lastUnit = 0;
  let runeAt = 0;
  while (unit >= 0) {
    runeAt += countRunes(base, lastUnit, unit);
    lastUnit = unit;
    out.push(runeAt);
    if (!all) break;
    // Next candidate starts one code point later.
    unit = base.indexOf(search, unit + (base.codePointAt(unit)! > 0xffff ? 2 : 1));
  }
  return out;
}

/**
 * Go's strings.Replacer semantics: scanning left to right, at each position the first pair (in
 * argument order) whose `old` is a prefix wins; an empty `old` matches between runes but never
 * twice at the same position.
 */
export function replacePairs(s: string, pairs: Array<[string, string]>): string {
  if (pairs.length === 1 && pairs[0][0] !== '') return s.split(pairs[0][0]).join(pairs[0][1]);
  let out = '';
  let last = 0;
  let i = 0;
  let prevEmpty = false;
  while (i <= s.length) {
    let hit: [string, string] | undefined;
    for (const p of pairs) {
      if (p[0] === '' && prevEmpty) continue;
      if (s.startsWith(p[0], i)) {
        hit = p;
        break;
      }
    }
    prevEmpty = hit !== undefined && hit[0] === '';
    if (hit) {
      out += s.slice(last, i) + hit[1];
      i += hit[0].length;
      last = i;
      continue;
    }
    if (i === s.length) break;
    i += s.codePointAt(i)! > 0xffff ? 2 : 1;
  }
  return out + s.slice(last);
}

// ---------------------------------------------------------------------------------------------
// sprintf: Go's fmt.Sprintf, with arguments converted as OPA converts them: integers become Go
// ints (or *big.Int beyond int64), other numbers float64, strings stay strings, and every other
// value becomes the string of its Rego text.

type GoArg =
  | { kind: 'int'; v: bigint; big: boolean }
  | { kind: 'float'; v: number }
  | { kind: 'string'; v: string };

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

export function toGoArg(v: Value): GoArg {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return { kind: 'int', v: BigInt(v), big: false };
    if (Number.isInteger(v) && Math.abs(v) < 1e21) return { kind: 'int', v: BigInt(v), big: BigInt(v) < INT64_MIN || BigInt(v) > INT64_MAX };
    return { kind: 'float', v };
  }
  if (typeof v === 'bigint') return { kind: 'int', v, big: v < INT64_MIN || v > INT64_MAX };
  if (typeof v === 'string') return { kind: 'string', v };
  return { kind: 'string', v: toRegoString(v) };
}

function goTypeName(a: GoArg): string {
  return a.kind === 'int' ? (a.big ? '*big.Int' : 'int') : a.kind === 'float' ? 'float64' : 'string';
}

interface Spec {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  wid?: number;
  prec?: number;
}

function runeLen(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

function pad(s: string, f: Spec, zeroOk = true): string {
  if (f.wid === undefined) return s;
  const n = f.wid - runeLen(s);
  if (n <= 0) return s;
  if (f.minus) return s + ' '.repeat(n);
  if (f.zero && zeroOk) {
    // Zeros go after a sign.
    if (s[0] === '-' || s[0] === '+' || s[0] === ' ') return s[0] + '0'.repeat(n) + s.slice(1);
    return '0'.repeat(n) + s;
  }
  return ' '.repeat(n) + s;
}

/** Go's strconv.Quote. */
export function goQuote(s: string, asciiOnly = false): string {
  let out = '"';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    switch (c) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (cp < 0x20 || cp === 0x7f) out += '\\x' + cp.toString(16).padStart(2, '0');
    else if (cp >= 0x80 && (asciiOnly || !isPrintable(cp))) {
      out += cp > 0xffff ? '\\U' + cp.toString(16).padStart(8, '0') : '\\u' + cp.toString(16).padStart(4, '0');
    } else out += c;
  }
  return out + '"';
}

function isPrintable(cp: number): boolean {
  if (cp >= 0x80 && cp < 0xa0) return false;
  if (cp === 0xad || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0xfeff) return false;
  if (cp >= 0x2028 && cp <= 0x202e) return false;
  if (cp >= 0x200b && cp <= 0x200f) return false;
  if (cp >= 0x2060 && cp <= 0x206f) return false;
  if (cp >= 0xfff9 && cp <= 0xfffb) return false;
  if (cp >= 0xe000 && cp <= 0xf8ff) return false;
  return true;
}

function fmtInt(a: bigint, verb: string, f: Spec): string {
  const neg = a < 0n;
  const u = neg ? -a : a;
  if (verb === 'c') return pad(String.fromCodePoint(validRune(a)), f);
  if (verb === 'q') {
    const r = String.fromCodePoint(validRune(a));
    const q = goQuote(r, f.plus);
    return pad("'" + q.slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'") + "'", f);
  }
  if (verb === 'U') {
    let s = 'U+' + u.toString(16).toUpperCase().padStart(4, '0');
    if (f.sharp && u <= 0x10ffffn) s += " '" + String.fromCodePoint(Number(u)) + "'";
    return pad(s, f, false);
  }
  const base = verb === 'b' ? 2 : verb === 'o' || verb === 'O' ? 8 : verb === 'x' || verb === 'X' ? 16 : 10;
  let digits = u.toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  let prec = 0;
  if (f.prec !== undefined) {
    prec = f.prec;
    if (prec === 0 && u === 0n) return f.wid !== undefined ? ' '.repeat(f.wid) : '';
  } else if (f.zero && !f.minus && f.wid !== undefined) {
    prec = f.wid;
    if (neg || f.plus || f.space) prec--;
  }
  if (digits.length < prec) digits = '0'.repeat(prec - digits.length) + digits;
  if (f.sharp) {
    if (verb === 'b') digits = '0b' + digits;
    else if (verb === 'o' && digits[0] !== '0') digits = '0' + digits;
    else if (verb === 'x') digits = '0x' + digits;
    else if (verb === 'X') digits = '0X' + digits;
  }
  if (verb === 'O') digits = '0o' + digits;
  const sign = neg ? '-' : f.plus ? '+' : f.space ? ' ' : '';
  return pad(sign + digits, f, false);
}

function validRune(a: bigint): number {
  return a < 0n || a > 0x10ffffn || (a >= 0xd800n && a <= 0xdfffn) ? 0xfffd : Number(a);
}

/** Exact decimal expansion of a finite double: digits (no leading zeros) and decimal point position. */
function exactDigits(v: number): { d: string; dp: number } {
  if (v === 0) return { d: '', dp: 0 };
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, Math.abs(v));
  const bits = buf.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = exp - 1075;
  }
  let digits: string;
  let dp: number;
  if (e >= 0) {
    digits = (mant << BigInt(e)).toString();
    dp = digits.length;
  } else {
    // mant / 2^-e = mant * 5^-e / 10^-e
    digits = (mant * 5n ** BigInt(-e)).toString();
    dp = digits.length + e;
  }
  digits = digits.replace(/0+$/, '');
  return { d: digits, dp };
}

/** Rounds exact digits to n digits (half to even on exact ties, as Go's strconv does). */
function roundDigits(x: { d: string; dp: number }, n: number): { d: string; dp: number } {
  if (n < 0) return { d: '', dp: x.dp };
  if (x.d.length <= n) return x;
  const next = x.d.charCodeAt(n) - 48;
  let up: boolean;
  if (next > 5) up = true;
  else if (next < 5) up = false;
  else if (x.d.length > n + 1) up = true;
  else up = n > 0 && (x.d.charCodeAt(n - 1) - 48) % 2 === 1;
  let d = x.d.slice(0, n);
  let dp = x.dp;
  if (up) {
    let i = d.length - 1;
    const arr = d.split('');
    while (i >= 0 && arr[i] === '9') {
      arr[i] = '0';
      i--;
    }
    if (i < 0) {
      arr.unshift('1');
      dp++;
      arr.pop();
      if (arr.length === 0) arr.push('1');
    } else arr[i] = String.fromCharCode(arr[i].charCodeAt(0) + 1);
    d = arr.join('');
    if (d === '' && n === 0) {
      d = '1';
      dp++;
    }
  }
  return { d: d.replace(/0+$/, ''), dp };
}

function shortestDigits(v: number): { d: string; dp: number } {
  if (v === 0) return { d: '', dp: 0 };
  const [m, e] = Math.abs(v).toExponential().split('e');
  const d = m.replace('.', '').replace(/0+$/, '');
  return { d, dp: Number(e) + 1 };
}

function fmtE(x: { d: string; dp: number }, prec: number, ch: string): string {
  const d = x.d === '' ? '0' : x.d;
  let s = d[0];
  if (prec > 0) s += '.' + d.slice(1, prec + 1).padEnd(prec, '0');
  const exp = x.d === '' ? 0 : x.dp - 1;
  const ae = Math.abs(exp);
  return s + ch + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' + ae : String(ae));
}

function fmtF(x: { d: string; dp: number }, prec: number): string {
  let s: string;
  if (x.dp > 0) s = x.d.slice(0, x.dp).padEnd(x.dp, '0');
  else s = '0';
  if (prec > 0) {
    let frac = '';
    for (let i = 0; i < prec; i++) {
      const j = x.dp + i;
      frac += j >= 0 && j < x.d.length ? x.d[j] : '0';
    }
    s += '.' + frac;
  }
  return s;
}

/** Go's strconv.FormatFloat for the e, f and g formats. */
export function formatFloat(v: number, fmt: 'e' | 'E' | 'f' | 'g' | 'G', prec: number): string {
  const neg = v < 0 || Object.is(v, -0);
  const shortest = prec < 0;
  let x: { d: string; dp: number };
  let body: string;
  switch (fmt) {
    case 'e':
    case 'E':
      x = shortest ? shortestDigits(v) : roundDigits(exactDigits(v), prec + 1);
      body = fmtE(x, shortest ? Math.max(x.d.length - 1, 0) : prec, fmt);
      break;
    case 'f':
      if (shortest) {
        x = shortestDigits(v);
        body = fmtF(x, Math.max(x.d.length - x.dp, 0));
      } else {
        const ex = exactDigits(v);
        x = roundDigits(ex, ex.dp + prec);
        body = fmtF(x, prec);
      }
      break;
    default: {
      let p = prec;
      if (shortest) x = shortestDigits(v);
      else {
        if (p === 0) p = 1;
        x = roundDigits(exactDigits(v), p);
      }
      if (shortest) p = x.d.length;
      let eprec = p;
      if (eprec > x.d.length && x.d.length >= x.dp) eprec = x.d.length;
      if (shortest) eprec = 6;
      const exp = x.dp - 1;
      if (x.d !== '' && (exp < -4 || exp >= eprec)) {
        if (p > x.d.length) p = x.d.length;
        body = fmtE(x, Math.max(p - 1, 0), fmt === 'g' ? 'e' : 'E');
      } else {
        if (p > x.dp) p = x.d.length;
        body = fmtF(x, Math.max(p - x.dp, 0));
      }
    }
  }
  return (neg ? '-' : '') + body;
}

function fmtFloatVerb(v: number, verb: string, f: Spec): string {
  let s: string;
  switch (verb) {
    case 'v':
      s = formatFloat(v, 'g', f.prec ?? -1);
      break;
    case 'g':
    case 'G':
      s = formatFloat(v, verb, f.prec ?? -1);
      break;
    case 'e':
    case 'E':
      s = formatFloat(v, verb, f.prec ?? 6);
      break;
    default:
      s = formatFloat(v, 'f', f.prec ?? 6);
  }
  if (f.plus && s[0] !== '-') s = '+' + s;
  else if (f.space && s[0] !== '-') s = ' ' + s;
  return pad(s, f, !f.minus);
}

function utf8Bytes(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function fmtString(s: string, verb: string, f: Spec): string {
  if (f.prec !== undefined && (verb === 's' || verb === 'v' || verb === 'q')) s = runes(s).slice(0, f.prec).join('');
  switch (verb) {
    case 'q':
      if (f.sharp && !s.includes('`') && !/[\x00-\x08\x0a-\x1f\x7f]/.test(s)) return pad('`' + s + '`', f);
      return pad(goQuote(s, f.plus), f);
    case 'x':
    case 'X': {
      let bytes = [...utf8Bytes(s)];
      if (f.prec !== undefined) bytes = bytes.slice(0, f.prec);
      const parts = bytes.map((b) => b.toString(16).padStart(2, '0'));
      const prefix = f.sharp ? '0x' : '';
      let out = f.space ? parts.map((p) => prefix + p).join(' ') : prefix + parts.join('');
      if (verb === 'X') out = out.toUpperCase();
      return pad(out, f);
    }
    default:
      return pad(s, f);
  }
}

function plainValue(a: GoArg): string {
  return a.kind === 'int' ? a.v.toString() : a.kind === 'float' ? formatFloat(a.v, 'g', -1) : a.v;
}

function badVerb(verb: string, a: GoArg): string {
  return `%!${verb}(${a.kind === 'int' && a.big ? 'big.Int' : goTypeName(a)}=${plainValue(a)})`;
}

function formatArg(a: GoArg, verb: string, f: Spec): string {
  if (verb === 'T') return pad(goTypeName(a), f);
  switch (a.kind) {
    case 'int':
      if (a.big) {
        if (!'bodxXsv'.includes(verb)) return badVerb(verb, a);
        return fmtInt(a.v, verb === 's' || verb === 'v' ? 'd' : verb, f);
      }
      if (!'vdboOxXcqU'.includes(verb)) return badVerb(verb, a);
      return fmtInt(a.v, verb === 'v' ? 'd' : verb, f);
    case 'float':
      if (!'veEfFgG'.includes(verb)) return badVerb(verb, a);
      return fmtFloatVerb(a.v, verb === 'F' ? 'f' : verb, f);
    case 'string':
      if (!'vsqxX'.includes(verb)) return badVerb(verb, a);
      if (verb === 'v' && f.sharp) return pad(goQuote(a.v), f);
      return fmtString(a.v, verb, f);
  }
}

/** Go's fmt.Sprintf over already converted arguments. */
export function goSprintf(format: string, args: GoArg[]): string {
  let out = '';
  let argNum = 0;
  let reordered = false;
  const n = format.length;
  let i = 0;
  while (i < n) {
    const pct = format.indexOf('%', i);
    if (pct < 0) {
      out += format.slice(i);
      break;
    }
    out += format.slice(i, pct);
    i = pct + 1;
    const f: Spec = { plus: false, minus: false, sharp: false, space: false, zero: false };
    flags: for (; i < n; i++) {
      switch (format[i]) {
        case '+':
          f.plus = true;
          break;
        case '-':
          f.minus = true;
          f.zero = false;
          break;
        case '#':
          f.sharp = true;
          break;
        case ' ':
          f.space = true;
          break;
        case '0':
          f.zero = !f.minus;
          break;
        default:
          break flags;
      }
    }
    let goodArgNum = true;
    const argIndex = (): void => {
      if (format[i] !== '[') return;
      reordered = true;
      const close = format.indexOf(']', i);
      const num = close > 0 ? format.slice(i + 1, close) : '';
      if (close < 0 || !/^[0-9]+$/.test(num) || Number(num) < 1 || Number(num) > args.length) {
        goodArgNum = false;
        i = close < 0 ? n : close + 1;
        return;
      }
      argNum = Number(num) - 1;
      i = close + 1;
    };
    argIndex();
    // A width or precision, as Go's fmt reads it: digits until one would follow a number already
    // over 1e6; such an overflow takes the rest of the format with it (then "%!(NOVERB)").
    const parseNum = (): number | undefined => {
      let num: number | undefined;
      while (i < n && format.charCodeAt(i) >= 0x30 && format.charCodeAt(i) <= 0x39) {
        if (num !== undefined && num > 1000000) {
          i = n;
          return undefined;
        }
        num = (num ?? 0) * 10 + format.charCodeAt(i) - 0x30;
        i++;
      }
      return num;
    };
    // Width
    if (format[i] === '*') {
      i++;
      const a = args[argNum];
      if (a && a.kind === 'int' && !a.big && a.v <= 1000000n && a.v >= -1000000n) {
        let w = Number(a.v);
        if (w < 0) {
          f.minus = true;
          f.zero = false;
          w = -w;
        }
        f.wid = w;
      } else out += '%!(BADWIDTH)';
      argNum++;
    } else {
      const w = parseNum();
      if (w !== undefined) f.wid = w;
    }
    if (i + 1 < n && format[i] === '.') {
      i++;
      argIndex();
      if (format[i] === '*') {
        i++;
        const a = args[argNum];
        if (a && a.kind === 'int' && !a.big && a.v >= 0n && a.v <= 1000000n) f.prec = Number(a.v);
        else out += '%!(BADPREC)';
        argNum++;
      } else {
        f.prec = parseNum() ?? 0;
      }
    }
    argIndex();
    if (i >= n) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = String.fromCodePoint(format.codePointAt(i)!);
    i += verb.length;
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (!goodArgNum) {
      out += `%!${verb}(BADINDEX)`;
      continue;
    }
    if (argNum >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    out += formatArg(args[argNum], verb, f);
    argNum++;
  }
  if (!reordered && argNum < args.length) {
    out += '%!(EXTRA ' + args.slice(argNum).map((a) => `${goTypeName(a)}=${plainValue(a)}`).join(', ') + ')';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// strings.render_template: a subset of Go's text/template (fields, variables, if/else, range,
// with, comments, trim markers and the common functions). Missing keys render as "<undefined>".

type TNode =
  | { t: 'text'; s: string }
  | { t: 'action'; pipe: TPipe; line: number }
  | { t: 'if' | 'with'; pipe: TPipe; then: TNode[]; else?: TNode[]; line: number }
  | { t: 'range'; pipe: TPipe; vars: string[]; body: TNode[]; else?: TNode[]; line: number };

interface TPipe {
  decl: string[];
  cmds: TArg[][];
  text: string;
}

type TArg =
  | { a: 'field'; base: 'dot' | string; path: string[]; text: string }
  | { a: 'lit'; v: unknown }
  | { a: 'ident'; name: string }
  | { a: 'pipe'; p: TPipe };

class TemplateError extends Error {}

function tmplErr(line: number, msg: string): TemplateError {
  return new TemplateError(`template: template:${line}: ${msg}`);
}

function lexActions(src: string): Array<{ text?: string; action?: string; line: number }> {
  const out: Array<{ text?: string; action?: string; line: number }> = [];
  let i = 0;
  let line = 1;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      out.push({ text: src.slice(i), line });
      break;
    }
    let text = src.slice(i, open);
    let j = open + 2;
    let trimLeft = false;
    if (src[j] === '-' && /\s/.test(src[j + 1] ?? '')) {
      trimLeft = true;
      j++;
    }
    if (trimLeft) text = text.replace(/\s+$/, '');
    if (text) out.push({ text, line });
    line += (src.slice(i, open).match(/\n/g) ?? []).length;
    // Find the closing braces, skipping quoted strings.
    let k = j;
    let close = -1;
    while (k < src.length) {
      const c = src[k];
      if (c === '"' || c === '`') {
        const q = c;
        k++;
        while (k < src.length && src[k] !== q) {
          if (q === '"' && src[k] === '\\') k++;
          k++;
        }
        k++;
        continue;
      }
      if (src.startsWith('}}', k)) {
        close = k;
        break;
      }
      k++;
    }
    if (close < 0) throw tmplErr(line, 'unclosed action');
    let body = src.slice(j, close);
    let trimRight = false;
    if (body.endsWith('-') && /\s/.test(body[body.length - 2] ?? '')) {
      trimRight = true;
      body = body.slice(0, -1);
    }
    out.push({ action: body.trim(), line });
    line += (body.match(/\n/g) ?? []).length;
    i = close + 2;
    if (trimRight) while (i < src.length && /\s/.test(src[i])) i++;
  }
  return out;
}

function tokenizeAction(s: string, line: number): string[] {
  const toks: string[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"' || c === '`') {
      let j = i + 1;
      while (j < s.length && s[j] !== c) {
        if (c === '"' && s[j] === '\\') j++;
        j++;
      }
      if (j >= s.length) throw tmplErr(line, 'unterminated quoted string');
      toks.push(s.slice(i, j + 1));
      i = j + 1;
      continue;
    }
    if (c === '(' || c === ')' || c === '|' || c === ',') {
      toks.push(c);
      i++;
      continue;
    }
    if (s.startsWith(':=', i) || (c === '=' && s[i + 1] !== '=')) {
      const op = s.startsWith(':=', i) ? ':=' : '=';
      toks.push(op);
      i += op.length;
      continue;
    }
    let j = i;
    while (j < s.length && !/[\s()|,]/.test(s[j]) && !s.startsWith(':=', j)) j++;
    toks.push(s.slice(i, j));
    i = j;
  }
  return toks;
}

function parsePipe(toks: string[], line: number, text: string): TPipe {
  let pos = 0;
  const decl: string[] = [];
  // Variable declarations: $x := ... or $i, $v := ...
  const declEnd = toks.indexOf(':=') >= 0 ? toks.indexOf(':=') : toks.indexOf('=');
  if (declEnd > 0 && toks.slice(0, declEnd).every((t) => t === ',' || t.startsWith('$'))) {
    for (const t of toks.slice(0, declEnd)) if (t !== ',') decl.push(t);
    pos = declEnd + 1;
  }
  const parseCmds = (stopAtParen: boolean): TArg[][] => {
    const cmds: TArg[][] = [[]];
    while (pos < toks.length) {
      const t = toks[pos];
      if (t === ')') {
        if (stopAtParen) return cmds;
        throw tmplErr(line, `unexpected ")" in operand`);
      }
      pos++;
      if (t === '|') {
        if (cmds[cmds.length - 1].length === 0) throw tmplErr(line, 'missing command');
        cmds.push([]);
        continue;
      }
      if (t === '(') {
        const inner = parseCmds(true);
        if (toks[pos] !== ')') throw tmplErr(line, 'unclosed left paren');
        pos++;
        cmds[cmds.length - 1].push({ a: 'pipe', p: { decl: [], cmds: inner, text: '' } });
        continue;
      }
      cmds[cmds.length - 1].push(parseOperand(t, line));
    }
    if (stopAtParen) throw tmplErr(line, 'unclosed left paren');
    return cmds;
  };
  const cmds = parseCmds(false);
  if (cmds[cmds.length - 1].length === 0) throw tmplErr(line, 'missing value for command');
  return { decl, cmds, text };
}

function parseOperand(t: string, line: number): TArg {
  if (t === '.') return { a: 'field', base: 'dot', path: [], text: t };
  if (t.startsWith('"')) {
    try {
      return { a: 'lit', v: JSON.parse(t) };
    } catch {
      throw tmplErr(line, `bad string syntax: ${t}`);
    }
  }
  if (t.startsWith('`')) return { a: 'lit', v: t.slice(1, -1) };
  if (t === 'true' || t === 'false') return { a: 'lit', v: t === 'true' };
  if (t === 'nil') return { a: 'lit', v: null };
  if (/^[-+]?[0-9]/.test(t)) {
    const num = Number(t);
    if (Number.isNaN(num)) throw tmplErr(line, `bad number syntax: "${t}"`);
    return { a: 'lit', v: num };
  }
  if (t.startsWith('.') || t.startsWith('$')) {
    const parts = t.split('.');
    const base = t.startsWith('.') ? 'dot' : parts[0];
    const path = parts.slice(1);
    if (path.some((p) => p === '' || !/^[A-Za-z0-9_]+$/.test(p))) throw tmplErr(line, `bad character in field: ${JSON.stringify(t)}`);
    return { a: 'field', base, path, text: t };
  }
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) {
    if (!TEMPLATE_FUNCS.has(t)) throw tmplErr(line, `function "${t}" not defined`);
    return { a: 'ident', name: t };
  }
  throw tmplErr(line, `unexpected ${JSON.stringify(t)} in command`);
}

function parseTemplate(src: string): TNode[] {
  const items = lexActions(src);
  let pos = 0;
  const parseList = (endOn: string[]): { nodes: TNode[]; end: string; endPipe?: string; line: number } => {
    const nodes: TNode[] = [];
    while (pos < items.length) {
      const it = items[pos++];
      if (it.text !== undefined) {
        nodes.push({ t: 'text', s: it.text });
        continue;
      }
      const act = it.action!;
      if (act.startsWith('/*')) {
        if (!act.endsWith('*/')) throw tmplErr(it.line, 'unclosed comment');
        continue;
      }
      const word = act.split(/\s+/)[0];
      if (word === 'end' || word === 'else') {
        if (!endOn.includes(word)) throw tmplErr(it.line, `unexpected {{${word}}}`);
        return { nodes, end: word, endPipe: act.slice(word.length).trim(), line: it.line };
      }
      if (word === 'if' || word === 'with' || word === 'range') {
        nodes.push(parseControl(word, act.slice(word.length).trim(), it.line));
        continue;
      }
      if (word === 'define' || word === 'template' || word === 'block' || word === 'break' || word === 'continue') {
        throw tmplErr(it.line, `unsupported action: ${word}`);
      }
      if (act === '') throw tmplErr(it.line, 'missing value for command');
      nodes.push({ t: 'action', pipe: parsePipe(tokenizeAction(act, it.line), it.line, act), line: it.line });
    }
    if (endOn.length > 0) throw tmplErr(items.length ? items[items.length - 1].line : 1, 'unexpected EOF');
    return { nodes, end: '', line: 0 };
  };
  const parseControl = (word: 'if' | 'with' | 'range', rest: string, line: number): TNode => {
    if (rest === '') throw tmplErr(line, `missing value for ${word}`);
    const toks = tokenizeAction(rest, line);
    const pipe = parsePipe(toks, line, rest);
    const body = parseList(['end', 'else']);
    let elseNodes: TNode[] | undefined;
    if (body.end === 'else') {
      if (body.endPipe && word !== 'range') {
        // {{else if ...}} / {{else with ...}}: a nested control inside the else branch.
        const w = body.endPipe.split(/\s+/)[0];
        if (w !== 'if' && w !== 'with') throw tmplErr(body.line, `unexpected ${JSON.stringify(body.endPipe)} after else`);
        // The chained control shares the final {{end}} with its parent.
        elseNodes = [parseControl(w, body.endPipe.slice(w.length).trim(), body.line)];
      } else {
        const e = parseList(['end']);
        elseNodes = e.nodes;
      }
    }
    if (word === 'range') return { t: 'range', pipe: { ...pipe, decl: [] }, vars: pipe.decl, body: body.nodes, else: elseNodes, line };
    return { t: word, pipe, then: body.nodes, else: elseNodes, line };
  };
  return parseList([]).nodes;
}

// Template data: plain JSON-like JS values (numbers kept as Rego numbers).
type TVal = unknown;

function toTVal(v: Value): TVal {
  if (v === null || typeof v !== 'object') return v;
  if (isArray(v)) return v.map(toTVal);
  if (v instanceof RSet) return v.values().map(toTVal);
  const m = new Map<string, TVal>();
  for (const [k, x] of v.entries()) m.set(typeof k === 'string' ? k : toRegoString(k), toTVal(x));
  return m;
}

/** The value of a missing template variable. */
const MISSING = Symbol('undefined');

/** Go's fmt %v of decoded JSON data. */
function goPrint(v: TVal, top = true): string {
  if (v === MISSING) return '<undefined>';
  if (v === null || v === undefined) return top ? '<no value>' : '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Array.isArray(v)) return '[' + v.map((x) => goPrint(x, false)).join(' ') + ']';
  if (v instanceof Map) {
    const keys = [...v.keys()].sort();
    return 'map[' + keys.map((k) => `${k}:${goPrint(v.get(k), false)}`).join(' ') + ']';
  }
  return String(v);
}

function truthy(v: TVal): boolean {
  if (v === MISSING) return false;
  if (v === null || v === undefined || v === false || v === 0 || v === 0n || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return true;
}

function tEqual(a: TVal, b: TVal): boolean {
  if (typeof a === 'bigint' || typeof b === 'bigint') return String(a) === String(b);
  return a === b;
}

function tCompare(a: TVal, b: TVal, line: number): number {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw tmplErr(line, 'incompatible types for comparison');
}

const TEMPLATE_FUNCS = new Set(['len', 'index', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'and', 'or', 'not', 'print', 'println', 'printf', 'html', 'js', 'urlquery', 'slice']);

class Scope {
  constructor(
    readonly vars: Map<string, TVal>,
    readonly parent?: Scope,
  ) {}
  get(name: string): TVal | undefined {
    return this.vars.has(name) ? this.vars.get(name) : this.parent?.get(name);
  }
  has(name: string): boolean {
    return this.vars.has(name) || (this.parent?.has(name) ?? false);
  }
  set(name: string, v: TVal): void {
    // `=` assigns to the nearest existing variable.
    if (this.vars.has(name) || !this.parent?.has(name)) this.vars.set(name, v);
    else this.parent.set(name, v);
  }
}

function execTemplate(nodes: TNode[], dot: TVal, scope: Scope, out: string[], budget: { n: number }): void {
  for (const node of nodes) {
    if (--budget.n < 0) throw new TemplateError('template: template: execution too long');
    switch (node.t) {
      case 'text':
        out.push(node.s);
        break;
      case 'action': {
        const v = evalPipe(node.pipe, dot, scope, node.line);
        if (node.pipe.decl.length === 0) out.push(goPrint(v));
        break;
      }
      case 'if':
      case 'with': {
        const inner = new Scope(new Map(), scope);
        const v = evalPipe(node.pipe, dot, inner, node.line);
        if (truthy(v)) execTemplate(node.then, node.t === 'with' ? v : dot, inner, out, budget);
        else if (node.else) execTemplate(node.else, dot, inner, out, budget);
        break;
      }
      case 'range': {
        const v = evalPipe(node.pipe, dot, scope, node.line);
        const entries: Array<[TVal, TVal]> = [];
        if (Array.isArray(v)) v.forEach((x, i) => entries.push([i, x]));
        else if (v instanceof Map) for (const k of [...v.keys()].sort()) entries.push([k, v.get(k)]);
        else if (typeof v === 'number' && Number.isInteger(v)) {
          if (v > budget.n) throw new TemplateError('template: template: execution too long');
          for (let i = 0; i < v; i++) entries.push([i, i]);
        }
        else if (v !== null && v !== undefined) throw tmplErr(node.line, `range can't iterate over ${goPrint(v)}`);
        if (entries.length === 0) {
          if (node.else) execTemplate(node.else, dot, scope, out, budget);
          break;
        }
        for (const [k, x] of entries) {
          const inner = new Scope(new Map(), scope);
          if (node.vars.length === 1) inner.vars.set(node.vars[0], x);
          else if (node.vars.length >= 2) {
            inner.vars.set(node.vars[0], k);
            inner.vars.set(node.vars[1], x);
          }
          execTemplate(node.body, x, inner, out, budget);
        }
        break;
      }
    }
  }
}

function evalPipe(p: TPipe, dot: TVal, scope: Scope, line: number): TVal {
  let v: TVal = undefined;
  let first = true;
  for (const cmd of p.cmds) {
    v = evalCmd(cmd, dot, scope, line, first ? undefined : { v });
    first = false;
  }
  if (p.decl.length > 0) for (const d of p.decl) scope.set(d, v);
  return v;
}

function evalArg(a: TArg, dot: TVal, scope: Scope, line: number): TVal {
  switch (a.a) {
    case 'lit':
      return a.v;
    case 'pipe':
      return evalPipe(a.p, dot, scope, line);
    case 'ident':
      return callFunc(a.name, [], line);
    case 'field': {
      let cur: TVal;
      if (a.base === 'dot') cur = dot;
      else {
        if (a.base === '$') cur = scope.get('$');
        else if (!scope.has(a.base)) throw tmplErr(line, `undefined variable: ${a.base}`);
        else cur = scope.get(a.base);
      }
      for (const key of a.path) {
        if (cur === MISSING) return MISSING;
        if (cur instanceof Map) {
          // OPA renders a missing variable as "<undefined>".
          if (!cur.has(key)) return MISSING;
          cur = cur.get(key);
        } else if (cur === null || cur === undefined) {
          throw new TemplateError(`template: template:${line}: executing "template" at <${a.text}>: nil pointer evaluating interface {}.${key}`);
        } else {
          throw new TemplateError(`template: template:${line}: executing "template" at <${a.text}>: can't evaluate field ${key} in type ${goKind(cur)}`);
        }
      }
      return cur;
    }
  }
}

function goKind(v: TVal): string {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number' || typeof v === 'bigint') return 'json.Number';
  if (Array.isArray(v)) return '[]interface {}';
  return 'interface {}';
}

function evalCmd(cmd: TArg[], dot: TVal, scope: Scope, line: number, piped?: { v: TVal }): TVal {
  const head = cmd[0];
  if (head.a === 'ident') {
    const args = cmd.slice(1).map((x) => evalArg(x, dot, scope, line));
    if (piped) args.push(piped.v);
    return callFunc(head.name, args, line);
  }
  if (cmd.length > 1 || piped) throw tmplErr(line, `can't give argument to non-function ${head.a === 'field' ? head.text : 'value'}`);
  return evalArg(head, dot, scope, line);
}

function callFunc(name: string, args: TVal[], line: number): TVal {
  const need = (n: number) => {
    if (args.length < n) throw tmplErr(line, `wrong number of args for ${name}: want at least ${n} got ${args.length}`);
  };
  switch (name) {
    case 'len': {
      need(1);
      const v = args[0];
      if (typeof v === 'string') return new TextEncoder().encode(v).length;
      if (Array.isArray(v)) return v.length;
      if (v instanceof Map) return v.size;
      throw tmplErr(line, `error calling len: len of type ${goKind(v)}`);
    }
    case 'index': {
      need(1);
      let cur = args[0];
      for (const k of args.slice(1)) {
        if (Array.isArray(cur) && typeof k === 'number') {
          if (k < 0 || k >= cur.length) throw tmplErr(line, `error calling index: index out of range: ${k}`);
          cur = cur[k];
        } else if (cur instanceof Map && typeof k === 'string') cur = cur.get(k) ?? null;
        else throw tmplErr(line, `error calling index: cannot index ${goPrint(cur)} with ${goPrint(k)}`);
      }
      return cur;
    }
    case 'eq':
      need(2);
      return args.slice(1).some((b) => tEqual(args[0], b));
    case 'ne':
      need(2);
      return !tEqual(args[0], args[1]);
    case 'lt':
      need(2);
      return tCompare(args[0], args[1], line) < 0;
    case 'le':
      need(2);
      return tCompare(args[0], args[1], line) <= 0;
    case 'gt':
      need(2);
      return tCompare(args[0], args[1], line) > 0;
    case 'ge':
      need(2);
      return tCompare(args[0], args[1], line) >= 0;
    case 'and': {
      need(1);
      for (const a of args) if (!truthy(a)) return a;
      return args[args.length - 1];
    }
    case 'or': {
      need(1);
      for (const a of args) if (truthy(a)) return a;
      return args[args.length - 1];
    }
    case 'not':
      need(1);
      return !truthy(args[0]);
    case 'print':
      return args.map((a, i) => (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string' ? ' ' : '') + goPrint(a, false)).join('');
    case 'println':
      return args.map((a) => goPrint(a, false)).join(' ') + '\n';
    case 'printf': {
      need(1);
      return goSprintf(String(args[0]), args.slice(1).map((a) => toGoArg(fromTVal(a))));
    }
    case 'html':
      return args.map((a) => goPrint(a, false)).join('').replace(/[<>&'"\0]/g, (c) => HTML_ESC[c]);
    case 'js':
      return args.map((a) => goPrint(a, false)).join('').replace(/[\\'"<>&=\n\r\t]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0'));
    case 'urlquery':
      return encodeURIComponent(args.map((a) => goPrint(a, false)).join('')).replace(/%20/g, '+');
    case 'slice': {
      need(1);
      const v = args[0];
      const idx = args.slice(1).map((x) => Number(x));
      if (typeof v === 'string' || Array.isArray(v)) return v.slice(idx[0] ?? 0, idx[1]);
      throw tmplErr(line, `error calling slice: can't slice item of type ${goKind(v)}`);
    }
  }
  throw tmplErr(line, `function "${name}" not defined`);
}

const HTML_ESC: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&#39;', '"': '&#34;', '\0': '\uFFFD' };

function fromTVal(v: TVal): Value {
  if (v === undefined) return null;
  if (v instanceof Map) return RObject.from([...v.entries()].map(([k, x]) => [k, fromTVal(x)]));
  if (Array.isArray(v)) return v.map(fromTVal);
  return v as Value;
}

export function renderTemplate(src: string, vars: RObject): string {
  let nodes: TNode[];
  try {
    nodes = parseTemplate(src);
  } catch (e) {
    if (e instanceof TemplateError) throw new BuiltinError(e.message);
    throw e;
  }
  const data = toTVal(vars);
  const out: string[] = [];
  try {
    execTemplate(nodes, data, new Scope(new Map([['$', data]])), out, { n: 1_000_000 });
  } catch (e) {
    if (e instanceof TemplateError) throw new BuiltinError(e.message);
    throw e;
  }
  return out.join('');
}

// ---------------------------------------------------------------------------------------------
// The builtins.

function formatInt(n: number | bigint, base: Value): string {
  if (base !== 2 && base !== 8 && base !== 10 && base !== 16) throw operandError(2, 'must be one of {2, 8, 10, 16}');
  // Rounds toward zero, like big.Float.Int.
  const i = typeof n === 'bigint' ? n : BigInt(Math.trunc(n));
  return i.toString(base);
}

function anyMatch(a: Value, b: Value, suffix: boolean): boolean {
  const xs = typeof a === 'string' ? [a] : stringElements(a, 1);
  const ps = typeof b === 'string' ? [b] : stringElements(b, 2);
  for (const x of xs) for (const p of ps) if (suffix ? x.endsWith(p) : x.startsWith(p)) return true;
  return false;
}

function substring(s: string, start: number, len: number): string {
  if (start < 0) throw new BuiltinError('negative offset');
  if (s === '') return '';
  const rs = runes(s);
  if (start >= rs.length) return '';
  if (len < 0) return rs.slice(start).join('');
  return rs.slice(start, Math.min(rs.length, start + len)).join('');
}

function split(s: string, d: string): string[] {
  if (d === '') return runes(s);
  // The same as s.split(d), several times faster on the short strings policies split (image
  // references, paths): String.prototype.split takes a generic path for every call.
  const out: string[] = [];
  let start = 0;
  for (let i = s.indexOf(d); i >= 0; i = s.indexOf(d, start)) {
    out.push(s.slice(start, i));
    start = i + d.length;
  }
  out.push(s.slice(start));
  return out;
}

function replaceAll(s: string, old: string, nw: string): string {
  if (old === '') return replacePairs(s, [['', nw]]);
  return s.split(old).join(nw);
}

function countSubstr(s: string, sub: string): number {
  if (sub === '') return runeLen(s) + 1;
  let n = 0;
  let i = s.indexOf(sub);
  while (i >= 0) {
    n++;
    i = s.indexOf(sub, i + sub.length);
  }
  return n;
}

function templateString(parts: Value[]): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if (p === null || typeof p === 'number' || typeof p === 'bigint' || typeof p === 'boolean') out += toRegoString(p);
    else if (isSet(p)) {
      if (p.size === 0) out += '<undefined>';
      else if (p.size > 1) {
        throw new HaltError(new RegoError('eval_conflict_error', 'template-strings must not produce multiple outputs'));
      } else {
        const v = p.values()[0];
        out += typeof v === 'string' ? v : toRegoString(v);
      }
    } else throw new HaltError(new RegoError('eval_internal_error', `illegal argument type: ${typeName(p)}`));
  }
  return out;
}

const cat = 'strings';
const defs: BuiltinDef[] = [
  {
    name: 'concat',
    args: ['string', 'array[string]|set[string]'],
    result: 'string',
    category: cat,
    impl: ([d, xs]) => stringElements(xs, 2).join(d as string),
  },
  {
    name: 'contains',
    args: ['string', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([s, x]) => (s as string).includes(x as string),
  },
  {
    name: 'endswith',
    args: ['string', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([s, x]) => (s as string).endsWith(x as string),
  },
  {
    name: 'startswith',
    args: ['string', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([s, x]) => (s as string).startsWith(x as string),
  },
  {
    name: 'format_int',
    args: ['number', 'number'],
    result: 'string',
    category: cat,
    impl: ([n, b]) => formatInt(n as number | bigint, b),
  },
  {
    name: 'indexof',
    args: ['string', 'string'],
    result: 'number',
    category: cat,
    impl: ([s, x]) => {
      if (x === '') throw new BuiltinError('empty search character');
      return runeIndexes(s as string, x as string, false)[0] ?? -1;
    },
  },
  {
    name: 'indexof_n',
    args: ['string', 'string'],
    result: 'array[number]',
    category: cat,
    impl: ([s, x]) => {
      if (x === '') throw new BuiltinError('empty search character');
      return runeIndexes(s as string, x as string, true);
    },
  },
  {
    name: 'lower',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([s]) => mapCase(s as string, false),
  },
  {
    name: 'upper',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([s]) => mapCase(s as string, true),
  },
  {
    name: 'replace',
    args: ['string', 'string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, o, n]) => replaceAll(s as string, o as string, n as string),
  },
  {
    name: 'strings.replace_n',
    args: ['object[string,string]', 'string'],
    result: 'string',
    category: cat,
    impl: ([patterns, s]) => {
      const pairs: Array<[string, string]> = [];
      for (const [k, v] of (patterns as RObject).entries()) {
        if (typeof k !== 'string') throw operandError(1, 'non-string key found in pattern object');
        if (typeof v !== 'string') throw operandError(1, 'non-string value found in pattern object');
        pairs.push([k, v]);
      }
      if (pairs.length === 0) return s;
      return replacePairs(s as string, pairs);
    },
  },
  {
    name: 'split',
    args: ['string', 'string'],
    result: 'array[string]',
    category: cat,
    impl: ([s, d]) => split(s as string, d as string),
  },
  {
    // The first n parts (n > 0), the last -n parts (n < 0), or none (n = 0).
    name: 'strings.split_n',
    args: ['string', 'string', 'number'],
    result: 'array[string]',
    category: cat,
    impl: ([s, d, n]) => {
      const count = intOperand(n, 3);
      const parts = split(s as string, d as string);
      if (count >= 0) return parts.slice(0, count);
      return parts.slice(Math.max(parts.length + count, 0));
    },
  },
  {
    name: 'sprintf',
    args: ['string', 'array[any]'],
    result: 'string',
    category: cat,
    impl: ([f, xs]) => goSprintf(f as string, (xs as Value[]).map(toGoArg)),
  },
  {
    name: 'strings.any_prefix_match',
    args: ['string|array[string]|set[string]', 'string|array[string]|set[string]'],
    result: 'boolean',
    category: cat,
    impl: ([a, b]) => anyMatch(a, b, false),
  },
  {
    name: 'strings.any_suffix_match',
    args: ['string|array[string]|set[string]', 'string|array[string]|set[string]'],
    result: 'boolean',
    category: cat,
    impl: ([a, b]) => anyMatch(a, b, true),
  },
  {
    name: 'strings.count',
    args: ['string', 'string'],
    result: 'number',
    category: cat,
    impl: ([s, x]) => countSubstr(s as string, x as string),
  },
  {
    name: 'strings.reverse',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([s]) => runes(s as string).reverse().join(''),
  },
  {
    name: 'strings.render_template',
    args: ['string', 'object[string,any]'],
    result: 'string',
    category: cat,
    impl: ([t, vars]) => renderTemplate(t as string, vars as RObject),
  },
  {
    name: 'substring',
    args: ['string', 'number', 'number'],
    result: 'string',
    category: cat,
    impl: ([s, o, l]) => substring(s as string, intOperand(o, 2), intOperand(l, 3)),
  },
  {
    name: 'trim',
    args: ['string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, c]) => trimSet(s as string, c as string, true, true),
  },
  {
    name: 'trim_left',
    args: ['string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, c]) => trimSet(s as string, c as string, true, false),
  },
  {
    name: 'trim_right',
    args: ['string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, c]) => trimSet(s as string, c as string, false, true),
  },
  {
    name: 'trim_prefix',
    args: ['string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, p]) => ((s as string).startsWith(p as string) ? (s as string).slice((p as string).length) : s),
  },
  {
    name: 'trim_suffix',
    args: ['string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, p]) => {
      const str = s as string;
      const suf = p as string;
      return suf !== '' && str.endsWith(suf) ? str.slice(0, str.length - suf.length) : str;
    },
  },
  {
    name: 'trim_space',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([s]) => {
      const rs = runes(s as string);
      let i = 0;
      let j = rs.length;
      while (i < j && isGoSpace(rs[i].codePointAt(0)!)) i++;
      while (j > i && isGoSpace(rs[j - 1].codePointAt(0)!)) j--;
      return rs.slice(i, j).join('');
    },
  },
  {
    // Template strings ($"...{x}...") are compiled into calls of this builtin: each part is a
    // literal string, a scalar, or a set holding the (at most one) value of an expression.
    name: 'internal.template_string',
    args: ['array[any]'],
    result: 'string',
    category: cat,
    impl: ([parts]) => templateString(parts as Value[]),
  },
];

registerBuiltins(...defs);
