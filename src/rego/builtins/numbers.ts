// Builtins of OPA's "numbers" category (plus, minus, mul, div, rem, round, ceil, floor, abs,
// numbers.range, numbers.range_step, rand.intn). Registered at import time.
//
// OPA keeps every number as its decimal text and computes in three tiers (topdown/arithmetic.go):
//   1. ints in the int32 window, natively;
//   2. integers of any size, exactly (plus, minus, mul, rem);
//   3. everything else in Go's big.Float with a 64-bit mantissa, printed back as the shortest
//      decimal that round-trips at that precision (integral results print as exact integers).
// We reproduce the tiers: tier 3 is emulated with bigints (`BigFloat` below) and the result is
// brought back to our value representation (a double, or an exact integer when integral). This
// makes e.g. 0.1 + 0.2 come out as 0.3, as in OPA, and 1e30 + 1 exact.
import { BuiltinError } from '../errors.js';
import { RSet, normalizeBigInt, typeName, type Value } from '../value.js';
import { checkDeadline, registerBuiltins, type BuiltinContext } from './registry.js';

export type Num = number | bigint;

// ---------------------------------------------------------------------------------------------
// Exact integers

const MIN_INT32 = -(2 ** 31);
const MAX_INT32 = 2 ** 31 - 1;

/** OPA's "small int" window: operations on these never need wider arithmetic. */
export function isSmallInt(n: Num): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= MIN_INT32 && n <= MAX_INT32;
}

interface Decimal {
  neg: boolean;
  digits: bigint;
  /** value = digits · 10^exp10 */
  exp10: number;
}

/** Parses decimal number text (as JS prints numbers: "1.5e+300", "-0.001", "123"). */
function parseDecimal(s: string): Decimal | undefined {
  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?$/.exec(s);
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) return undefined;
  const frac = m[3] ?? '';
  const exp = m[4] === undefined ? 0 : Number(m[4]);
  if (!Number.isFinite(exp)) return undefined;
  return { neg: m[1] === '-', digits: BigInt((m[2] || '0') + frac), exp10: exp - frac.length };
}

/** Parses decimal text to an exact integer, or undefined when it is not integral. */
export function decimalToBigInt(s: string): bigint | undefined {
  const d = parseDecimal(s);
  if (!d) return undefined;
  if (d.digits === 0n) return 0n;
  let v: bigint;
  if (d.exp10 >= 0) {
    // Guard against absurd exponents ("1e999999999") building gigantic integers.
    if (d.exp10 > 100_000 && d.digits !== 0n) return undefined;
    v = d.digits * 10n ** BigInt(d.exp10);
  } else {
    // Integral only if the digits end in at least -exp10 zeros; checking the length first keeps
    // "1e-999999999" from building a gigantic power of ten.
    if (-d.exp10 > d.digits.toString().length) return undefined;
    const p = 10n ** BigInt(-d.exp10);
    if (d.digits % p !== 0n) return undefined;
    v = d.digits / p;
  }
  return d.neg ? -v : v;
}

/** The exact integer a number denotes, or undefined when it has a fractional part. */
export function toExactInt(n: Num): bigint | undefined {
  if (typeof n === 'bigint') return n;
  if (!Number.isInteger(n)) return undefined;
  if (Number.isSafeInteger(n)) return BigInt(n);
  // A large double: OPA would hold the literal text, whose shortest form String() gives back.
  return decimalToBigInt(String(n));
}

/** Like toExactInt but raises OPA's operand error for fractional numbers. */
export function intOperand(n: Num, pos: number): bigint {
  const i = toExactInt(n);
  if (i === undefined) {
    throw new BuiltinError(`operand ${pos} must be integer number but got floating-point number`, 'eval_type_error');
  }
  return i;
}

// ---------------------------------------------------------------------------------------------
// Binary floating point with a chosen mantissa size (Go's big.Float, rounding to nearest even)

/** The value m · 2^e. Zero is m = 0n. */
export interface BigFloat {
  readonly m: bigint;
  readonly e: number;
}

function bitLength(a: bigint): number {
  return a === 0n ? 0 : a.toString(2).length;
}

/** Rounds m·2^e (with `sticky` meaning "some nonzero bits below m were dropped") to `prec` bits. */
function roundBits(m: bigint, e: number, prec: number, sticky = false): BigFloat {
  const neg = m < 0n;
  let a = neg ? -m : m;
  const bl = bitLength(a);
  if (bl <= prec) return { m: neg ? -a : a, e };
  let shift = bl - prec;
  const mask = (1n << BigInt(shift)) - 1n;
  const low = a & mask;
  const half = 1n << BigInt(shift - 1);
  a >>= BigInt(shift);
  if (low > half || (low === half && (sticky || (a & 1n) === 1n))) {
    a += 1n;
    if (bitLength(a) > prec) {
      a >>= 1n;
      shift += 1;
    }
  }
  return { m: neg ? -a : a, e: e + shift };
}

/** Rounds the rational num/den (den > 0) to `prec` bits. */
function roundRational(num: bigint, den: bigint, prec: number): BigFloat {
  if (num === 0n) return { m: 0n, e: 0 };
  const neg = num < 0n;
  const a = neg ? -num : num;
  // Enough quotient bits for rounding (prec + guard bits), the remainder acts as sticky bit.
  const k = Math.max(0, prec + 2 + bitLength(den) - bitLength(a));
  const scaled = a << BigInt(k);
  const q = scaled / den;
  const sticky = scaled % den !== 0n;
  const r = roundBits(q, -k, prec, sticky);
  return neg ? { m: -r.m, e: r.e } : r;
}

/** A number as big.Float would parse its text at the given precision. */
export function toBigFloat(n: Num, prec = 64): BigFloat {
  if (typeof n === 'bigint') return roundBits(n, 0, prec);
  if (Number.isSafeInteger(n)) return roundBits(BigInt(n), 0, prec);
  const d = parseDecimal(String(n));
  if (!d) throw new BuiltinError(`illegal number ${String(n)}`);
  const signed = d.neg ? -d.digits : d.digits;
  if (d.exp10 >= 0) return roundBits(signed * 10n ** BigInt(d.exp10), 0, prec);
  return roundRational(signed, 10n ** BigInt(-d.exp10), prec);
}

function align(x: BigFloat, y: BigFloat): [bigint, bigint, number] {
  if (x.m === 0n) return [0n, y.m, y.e];
  if (y.m === 0n) return [x.m, 0n, x.e];
  const e = Math.min(x.e, y.e);
  return [x.m << BigInt(x.e - e), y.m << BigInt(y.e - e), e];
}

export function bfAdd(x: BigFloat, y: BigFloat, prec = 64): BigFloat {
  const [a, b, e] = align(x, y);
  return roundBits(a + b, e, prec);
}

export function bfSub(x: BigFloat, y: BigFloat, prec = 64): BigFloat {
  const [a, b, e] = align(x, y);
  return roundBits(a - b, e, prec);
}

export function bfMul(x: BigFloat, y: BigFloat, prec = 64): BigFloat {
  return roundBits(x.m * y.m, x.e + y.e, prec);
}

function bfQuo(x: BigFloat, y: BigFloat, prec = 64): BigFloat {
  const neg = y.m < 0n;
  const r = roundRational(neg ? -x.m : x.m, neg ? -y.m : y.m, prec);
  return { m: r.m, e: r.e + x.e - y.e };
}

/** Truncates toward zero, giving an exact integer (big.Float.Int). */
function bfTrunc(x: BigFloat): bigint {
  if (x.e >= 0) return x.m << BigInt(x.e);
  const neg = x.m < 0n;
  const a = (neg ? -x.m : x.m) >> BigInt(-x.e);
  return neg ? -a : a;
}

function bfIsInt(x: BigFloat): boolean {
  if (x.e >= 0 || x.m === 0n) return true;
  const neg = x.m < 0n;
  const a = neg ? -x.m : x.m;
  return (a & ((1n << BigInt(-x.e)) - 1n)) === 0n;
}

function bfCmp(x: BigFloat, y: BigFloat): number {
  const [a, b] = align(x, y);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Brings a big.Float result back: exact integer when integral (OPA prints those in full), else a double. */
export function fromBigFloat(x: BigFloat): Num {
  if (bfIsInt(x)) return normalizeBigInt(bfTrunc(x));
  const r = roundBits(x.m, x.e, 53);
  const half = Math.trunc(r.e / 2);
  // Two steps so that intermediate powers of two do not overflow or underflow on their own.
  const v = Number(r.m) * 2 ** half * 2 ** (r.e - half);
  if (!Number.isFinite(v)) throw new BuiltinError('number out of range');
  return v === 0 ? 0 : v;
}

const ZERO: BigFloat = { m: 0n, e: 0 };

// ---------------------------------------------------------------------------------------------
// The arithmetic operations

export function numberOperand(v: Value, pos: number): Num {
  if (typeof v === 'number' || typeof v === 'bigint') return v;
  throw new BuiltinError(`operand ${pos} must be number but got ${typeName(v)}`, 'eval_type_error');
}

export function plus(a: Num, b: Num): Num {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a) && Number.isSafeInteger(b)) {
    const r = a + b;
    if (Number.isSafeInteger(r)) return r;
  }
  const x = toExactInt(a);
  const y = toExactInt(b);
  if (x !== undefined && y !== undefined) return normalizeBigInt(x + y);
  return fromBigFloat(bfAdd(toBigFloat(a), toBigFloat(b)));
}

export function minusNumbers(a: Num, b: Num): Num {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a) && Number.isSafeInteger(b)) {
    const r = a - b;
    if (Number.isSafeInteger(r)) return r;
  }
  const x = toExactInt(a);
  const y = toExactInt(b);
  if (x !== undefined && y !== undefined) return normalizeBigInt(x - y);
  return fromBigFloat(bfSub(toBigFloat(a), toBigFloat(b)));
}

export function mul(a: Num, b: Num): Num {
  if (typeof a === 'number' && typeof b === 'number' && Number.isSafeInteger(a) && Number.isSafeInteger(b)) {
    // A safe product is exact; an unsafe one is recomputed exactly below.
    const r = a * b;
    if (Number.isSafeInteger(r)) return r === 0 ? 0 : r;
  }
  const x = toExactInt(a);
  const y = toExactInt(b);
  if (x !== undefined && y !== undefined) return normalizeBigInt(x * y);
  return fromBigFloat(bfMul(toBigFloat(a), toBigFloat(b)));
}

export function div(a: Num, b: Num): Num {
  // As OPA: only int32-window operands divide natively; all else (big integers included) is a
  // 64-bit float quotient, printed exactly when it is integral.
  if (isSmallInt(a) && isSmallInt(b)) {
    if (b === 0) throw new BuiltinError('divide by zero');
    if (a !== 0 && a % b === 0) return a / b;
  }
  const y = toBigFloat(b);
  if (y.m === 0n) throw new BuiltinError('divide by zero');
  return fromBigFloat(bfQuo(toBigFloat(a), y));
}

export function rem(a: Num, b: Num): Num {
  if (isSmallInt(a) && isSmallInt(b)) {
    if (b === 0) throw new BuiltinError('modulo by zero');
    const r = a % b;
    return r === 0 ? 0 : r; // no -0
  }
  const x = toExactInt(a);
  const y = toExactInt(b);
  if (x === undefined || y === undefined) throw new BuiltinError('modulo on floating-point number');
  if (y === 0n) throw new BuiltinError('modulo by zero');
  return normalizeBigInt(x % y);
}

const HALF: BigFloat = { m: 1n, e: -1 };
const ONE: BigFloat = { m: 1n, e: 0 };

/** Half away from zero. */
function roundBF(a: BigFloat): BigFloat {
  const shifted = a.m < 0n ? bfSub(a, HALF) : bfAdd(a, HALF);
  return { m: bfTrunc(shifted), e: 0 };
}

// OPA's ceil/floor (arithCeil/arithFloor) decide from the sign of the *truncated* value, so for
// -1 < x < 0 they give ceil(x) = 1 and floor(x) = 0. We reproduce that on purpose: policies
// must compute what OPA computes.
function ceilBF(a: BigFloat): BigFloat {
  const f: BigFloat = { m: bfTrunc(a), e: 0 };
  if (f.m < 0n || bfCmp(a, f) === 0) return f;
  return bfAdd(f, ONE);
}

function floorBF(a: BigFloat): BigFloat {
  const f: BigFloat = { m: bfTrunc(a), e: 0 };
  // big.Float.Signbit of a truncated zero is false, so it counts as non-negative.
  if (f.m >= 0n || bfCmp(a, f) === 0) return f;
  return bfSub(f, ONE);
}

function unary(small: (x: number) => number, float: (x: BigFloat) => BigFloat) {
  return (args: Value[]): Value => {
    const n = numberOperand(args[0], 1);
    if (isSmallInt(n)) return small(n);
    return fromBigFloat(float(toBigFloat(n)));
  };
}

// ---------------------------------------------------------------------------------------------
// Sets as operands of minus

function setDiff(a: RSet, b: RSet): RSet {
  const out = new RSet();
  a.forEachUnordered((v) => {
    if (!b.has(v)) out.add(v);
  });
  return out;
}

function minusImpl(args: Value[]): Value {
  const [a, b] = args;
  const an = typeof a === 'number' || typeof a === 'bigint';
  const bn = typeof b === 'number' || typeof b === 'bigint';
  if (an && bn) return minusNumbers(a, b);
  const as = a instanceof RSet;
  if (as && b instanceof RSet) return setDiff(a, b);
  if (!an && !as) {
    throw new BuiltinError(`operand 1 must be one of {number, set} but got ${typeName(a)}`, 'eval_type_error');
  }
  if (bn) throw new BuiltinError(`operand 2 must be set but got ${typeName(b)}`, 'eval_type_error');
  throw new BuiltinError(`operand 2 must be number but got ${typeName(b)}`, 'eval_type_error');
}

// ---------------------------------------------------------------------------------------------
// Ranges

/** Ranges beyond this many elements are refused instead of exhausting memory. */
export const MAX_RANGE_LENGTH = 10_000_000;

function range(name: string, x: bigint, y: bigint, step: bigint, ctx: BuiltinContext): Value[] {
  const span = x <= y ? y - x : x - y;
  if (span / step + 1n > BigInt(MAX_RANGE_LENGTH)) {
    throw new BuiltinError(`${name}: range too large (more than ${MAX_RANGE_LENGTH} numbers)`);
  }
  const out: Value[] = new Array(Number(span / step) + 1);
  const by = x <= y ? step : -step;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  if (x >= -safe && x <= safe && y >= -safe && y <= safe) {
    // Every element is a safe integer: count in numbers, not bigints (about 20x faster).
    for (let i = 0, n = Number(x), d = Number(by); i < out.length; i++, n += d) {
      // A range of millions takes long enough to outlast the evaluation's time limit.
      if ((i & 0xffff) === 0xffff) checkDeadline(ctx);
      out[i] = n;
    }
  } else {
    for (let i = 0, n = x; i < out.length; i++, n += by) {
      if ((i & 0xffff) === 0xffff) checkDeadline(ctx);
      out[i] = normalizeBigInt(n);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// rand.intn: a uniformly random integer in [0, |n|), the same for equal arguments within a query.

function randomBelow(n: bigint): bigint {
  if (n <= BigInt(Number.MAX_SAFE_INTEGER)) return BigInt(Math.floor(Math.random() * Number(n)));
  // Wide bounds: draw enough random bits and reject out-of-range draws (no modulo bias).
  const bits = bitLength(n);
  for (;;) {
    let r = 0n;
    for (let i = 0; i < bits; i += 30) r = (r << 30n) | BigInt(Math.floor(Math.random() * 2 ** 30));
    r &= (1n << BigInt(bits)) - 1n;
    if (r < n) return r;
  }
}

// ---------------------------------------------------------------------------------------------

const NUM2 = ['number', 'number'];

registerBuiltins(
  {
    name: 'plus',
    infix: '+',
    args: NUM2,
    result: 'number',
    category: 'numbers',
    impl: (args) => plus(numberOperand(args[0], 1), numberOperand(args[1], 2)),
  },
  {
    name: 'minus',
    infix: '-',
    args: ['number|set[any]', 'number|set[any]'],
    result: 'number|set[any]',
    category: 'numbers',
    impl: minusImpl,
  },
  {
    name: 'mul',
    infix: '*',
    args: NUM2,
    result: 'number',
    category: 'numbers',
    impl: (args) => mul(numberOperand(args[0], 1), numberOperand(args[1], 2)),
  },
  {
    name: 'div',
    infix: '/',
    args: NUM2,
    result: 'number',
    category: 'numbers',
    impl: (args) => div(numberOperand(args[0], 1), numberOperand(args[1], 2)),
  },
  {
    name: 'rem',
    infix: '%',
    args: NUM2,
    result: 'number',
    category: 'numbers',
    impl: (args) => rem(numberOperand(args[0], 1), numberOperand(args[1], 2)),
  },
  {
    name: 'round',
    args: ['number'],
    result: 'number',
    category: 'numbers',
    impl: unary((x) => x, roundBF),
  },
  {
    name: 'ceil',
    args: ['number'],
    result: 'number',
    category: 'numbers',
    impl: unary((x) => x, ceilBF),
  },
  {
    name: 'floor',
    args: ['number'],
    result: 'number',
    category: 'numbers',
    impl: unary((x) => x, floorBF),
  },
  {
    name: 'abs',
    args: ['number'],
    result: 'number',
    category: 'numbers',
    impl: unary(
      (x) => (x < 0 ? -x : x),
      (x) => (x.m < 0n ? { m: -x.m, e: x.e } : x),
    ),
  },
  {
    name: 'numbers.range',
    args: NUM2,
    result: 'array[number]',
    category: 'numbers',
    impl: (args, ctx) => range('numbers.range', intOperand(numberOperand(args[0], 1), 1), intOperand(numberOperand(args[1], 2), 2), 1n, ctx),
  },
  {
    name: 'numbers.range_step',
    args: ['number', 'number', 'number'],
    result: 'array[number]',
    category: 'numbers',
    impl: (args, ctx) => {
      const x = intOperand(numberOperand(args[0], 1), 1);
      const y = intOperand(numberOperand(args[1], 2), 2);
      const step = intOperand(numberOperand(args[2], 3), 3);
      // OPA's message names the builtin itself (and the evaluator prefixes it once more).
      if (step <= 0n) throw new BuiltinError('numbers.range_step: step must be a positive integer');
      return range('numbers.range_step', x, y, step, ctx);
    },
  },
  {
    name: 'rand.intn',
    args: ['string', 'number'],
    result: 'number',
    category: 'numbers',
    nondeterministic: true,
    impl: (args, ctx) => {
      const seed = args[0] as string;
      let n = intOperand(numberOperand(args[1], 2), 2);
      if (n === 0n) return 0;
      if (n < 0n) n = -n;
      const key = `rand.intn\u0000${seed}-${n.toString()}`;
      const cached = ctx.queryCache.get(key);
      if (cached !== undefined) return cached;
      const r = normalizeBigInt(randomBelow(n));
      ctx.queryCache.set(key, r);
      return r;
    },
  },
);

export { ZERO as BIGFLOAT_ZERO };
