// Builtins of OPA's "units" category. Registered at import time.
//
// Amounts are parsed as exact rationals (BigInt numerator/denominator) so that "1.1Ki" is
// 1126.4 and "10Ei" keeps all its digits.
import { BuiltinError } from '../errors.js';
import { normalizeBigInt } from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';

interface Rat {
  n: bigint;
  d: bigint;
}

/** Safety bound on decimal exponents (OPA bounds the exponent's digits; this bounds its size). */
const MAX_EXPONENT = 10000;

class ExponentTooLarge extends Error {}

/**
 * Splits "10.5e3Ki" into number and unit the way OPA does: the number is the leading run of
 * digits, '.', '+', '-' and exponent markers; an 'e'/'E' is part of the number only when a
 * digit or sign follows it, so "10E" is ten exa.
 */
function extractNumAndUnit(s: string): [string, string] {
  const isDigit = (c: string | undefined) => c !== undefined && c >= '0' && c <= '9';
  let first = -1;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (!isDigit(c) && c !== '.' && c !== 'e' && c !== 'E' && c !== '+' && c !== '-') {
      first = i;
      break;
    }
    if (c === 'e' || c === 'E') {
      const nx = s[i + 1];
      if (i === s.length - 1 || (!isDigit(nx) && nx !== '+' && nx !== '-')) {
        first = i;
        break;
      }
      if (nx === '+' || nx === '-') i++;
      let end = i + 1;
      while (end < s.length && isDigit(s[end])) end++;
      if (end - (i + 1) > 6) throw new ExponentTooLarge();
    }
  }
  if (first === -1) return [s, ''];
  if (first === 0) return ['', s];
  return [s.slice(0, first), s.slice(first)];
}

/** Parses a decimal number (sign, digits with optional '.', optional exponent) exactly. */
function parseRat(s: string): Rat | undefined {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(s);
  if (!m) return undefined;
  const [, sign, int, frac = '', exp] = m;
  if (int === '' && frac === '') return undefined;
  let n = BigInt((int || '0') + frac);
  let d = 10n ** BigInt(frac.length);
  if (exp !== undefined) {
    const e = Number(exp);
    if (Math.abs(e) > MAX_EXPONENT) throw new ExponentTooLarge();
    if (e >= 0) n *= 10n ** BigInt(e);
    else d *= 10n ** BigInt(-e);
  }
  if (sign === '-') n = -n;
  return { n, d };
}

function ratToNumber(r: Rat): number | bigint {
  if (r.n % r.d === 0n) return normalizeBigInt(r.n / r.d);
  // As big.Rat.FloatString(10): ten decimals, rounded half away from zero.
  const neg = r.n < 0n;
  const a = neg ? -r.n : r.n;
  const scale = 10n ** 10n;
  let q = (a * scale) / r.d;
  const rem = (a * scale) % r.d;
  if (rem * 2n >= r.d) q++;
  const ip = q / scale;
  const fp = (q % scale).toString().padStart(10, '0');
  return Number(`${neg ? '-' : ''}${ip}.${fp}`);
}

const KI = 1024n;
const BINARY: Record<string, bigint> = { ki: KI, mi: KI ** 2n, gi: KI ** 3n, ti: KI ** 4n, pi: KI ** 5n, ei: KI ** 6n };
const DECIMAL: Record<string, bigint> = { k: 10n ** 3n, m: 10n ** 6n, g: 10n ** 9n, t: 10n ** 12n, p: 10n ** 15n, e: 10n ** 18n };

/** Splits "1.5Ki" into amount and unit, with the checks both parsers share. */
function amountAndUnit(s: string, err: (msg: string) => BuiltinError): [string, string] {
  if (s.includes(' ')) throw err('spaces not allowed in resource strings');
  try {
    return extractNumAndUnit(s);
  } catch {
    throw err('exponent too large');
  }
}

function unitsParse(raw: string): number | bigint {
  const err = (msg: string) => new BuiltinError(`units.parse: ${msg}`);
  const [num, unitRaw] = amountAndUnit(raw.replace(/"/g, ''), err);
  let unit = unitRaw;
  if (num === '') throw err('no amount provided');
  // Only the letters after the first are case-insensitive, so "m" (milli) and "M" (mega) differ.
  if (unit.length > 1) unit = unit[0] + unit.slice(1).toLowerCase();
  let mul: Rat;
  if (unit === 'm') mul = { n: 1n, d: 1000n };
  else if (unit === '') mul = { n: 1n, d: 1n };
  else if (unit === 'M') mul = { n: DECIMAL.m, d: 1n };
  else if (/^[kKgGtTpPeE]$/.test(unit)) mul = { n: DECIMAL[unit.toLowerCase()], d: 1n };
  else if (/^[kKmMgGtTpPeE]i$/.test(unit)) mul = { n: BINARY[unit.toLowerCase()], d: 1n };
  else throw err(`unit ${unit} not recognized`);
  let r: Rat | undefined;
  try {
    r = parseRat(num);
  } catch {
    throw err('exponent too large');
  }
  if (!r) throw err('could not parse amount to a number');
  return ratToNumber({ n: r.n * mul.n, d: r.d * mul.d });
}

function unitsParseBytes(raw: string): number | bigint {
  const err = (msg: string) => new BuiltinError(`units.parse_bytes: ${msg}`);
  const [num, unit] = amountAndUnit(raw.toLowerCase().replace(/"/g, ''), err);
  if (num === '') throw err('no byte amount provided');
  let mul: bigint;
  const m = /^([kmgtpe])(i?)b?$/.exec(unit);
  if (unit === '') mul = 1n;
  else if (m) mul = m[2] ? BINARY[m[1] + 'i'] : DECIMAL[m[1]];
  else throw err(`byte unit ${unit} not recognized`);
  let r: Rat | undefined;
  try {
    r = parseRat(num);
  } catch {
    throw err('exponent too large');
  }
  if (!r) throw err('could not parse byte amount to a number');
  // Whole bytes, truncated toward zero.
  return normalizeBigInt((r.n * mul) / r.d);
}

const cat = 'units';
const defs: BuiltinDef[] = [
  { name: 'units.parse', args: ['string'], result: 'number', category: cat, impl: ([s]) => unitsParse(s as string) },
  { name: 'units.parse_bytes', args: ['string'], result: 'number', category: cat, impl: ([s]) => unitsParseBytes(s as string) },
];

registerBuiltins(...defs);
