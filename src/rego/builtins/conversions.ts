// Builtins of OPA's "conversions" category: to_number, and the deprecated casts
// (cast_array, cast_set, cast_string, cast_boolean, cast_null, cast_object).
// Registered at import time.
import { BuiltinError } from '../errors.js';
import { RObject, RSet, normalizeBigInt, typeName, type Value } from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';
import { decimalToBigInt, fromBigFloat, type Num } from './numbers.js';

// Go's strconv.ParseFloat grammar (underscores, allowed only after a base prefix, are not
// accepted here): decimal with optional fraction/exponent, or hex with a mandatory p exponent.
const DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const HEX = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?[0-9]+)$/;

function parseError(s: string, why: string): BuiltinError {
  return new BuiltinError(`strconv.ParseFloat: parsing ${JSON.stringify(s)}: ${why}`);
}

/** Parses a number string as OPA's to_number does: the text itself becomes the number. */
export function parseNumberString(s: string): Num {
  const lower = s.replace(/^[+-]+/, '').toLowerCase();
  if (lower === 'inf' || lower === 'infinity' || lower === 'nan') {
    throw new BuiltinError('operand 1 must be valid number string but got string', 'eval_type_error');
  }
  if (DECIMAL.test(s)) {
    const f = Number(s);
    if (!Number.isFinite(f)) throw parseError(s, 'value out of range');
    const i = decimalToBigInt(s);
    if (i !== undefined) return normalizeBigInt(i);
    return f === 0 ? 0 : f;
  }
  const h = HEX.exec(s);
  if (h && (h[2] !== '' || (h[3] ?? '') !== '')) {
    const frac = h[3] ?? '';
    const mant = BigInt('0x' + ((h[2] || '0') + frac));
    const exp = Number(h[4]) - 4 * frac.length;
    if (Math.abs(exp) > 100_000) throw parseError(s, 'value out of range');
    const v = fromBigFloat({ m: h[1] === '-' ? -mant : mant, e: exp });
    if (typeof v === 'number' && !Number.isFinite(v)) throw parseError(s, 'value out of range');
    if (typeof v === 'bigint' && v.toString(2).length > 1024) throw parseError(s, 'value out of range');
    return v;
  }
  throw parseError(s, 'invalid syntax');
}

function cast(name: string, result: string, f: (v: Value) => Value | undefined, expected: string): BuiltinDef {
  return {
    name,
    args: ['any'],
    result,
    category: 'conversions',
    deprecated: true,
    impl: (args) => {
      const r = f(args[0]);
      if (r === undefined) {
        throw new BuiltinError(`operand 1 must be ${expected} but got ${typeName(args[0])}`, 'eval_type_error');
      }
      return r;
    },
  };
}

registerBuiltins(
  {
    name: 'to_number',
    args: ['null|boolean|number|string'],
    result: 'number',
    category: 'conversions',
    impl: (args) => {
      const v = args[0];
      if (v === null) return 0;
      if (typeof v === 'boolean') return v ? 1 : 0;
      if (typeof v === 'number' || typeof v === 'bigint') return v;
      if (typeof v === 'string') return parseNumberString(v);
      throw new BuiltinError(
        `operand 1 must be one of {null, boolean, number, string} but got ${typeName(v)}`,
        'eval_type_error',
      );
    },
  },
  cast('cast_array', 'array[any]', (v) => (Array.isArray(v) ? v : v instanceof RSet ? v.values().slice() : undefined), 'one of {array, set}'),
  cast('cast_set', 'set[any]', (v) => (v instanceof RSet ? v : Array.isArray(v) ? RSet.from(v) : undefined), 'one of {array, set}'),
  cast('cast_string', 'string', (v) => (typeof v === 'string' ? v : undefined), 'string'),
  cast('cast_boolean', 'boolean', (v) => (typeof v === 'boolean' ? v : undefined), 'boolean'),
  cast('cast_null', 'null', (v) => (v === null ? null : undefined), 'null'),
  cast('cast_object', 'object[any,any]', (v) => (v instanceof RObject ? v : undefined), 'object'),
);
