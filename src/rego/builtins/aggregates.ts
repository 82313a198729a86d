// Union operand types are declared in the order OPA lists them in its runtime operand errors.
// Builtins of OPA's "aggregates" category: count, sum, product, max, min, sort, and the
// deprecated all/any. Registered at import time.
import { BuiltinError } from '../errors.js';
import { RObject, RSet, compare, normalizeBigInt, typeName, type Value } from '../value.js';
import { registerBuiltins } from './registry.js';
import { bfAdd, bfMul, fromBigFloat, toBigFloat, toExactInt, type BigFloat } from './numbers.js';

/** Elements of an array or set operand (sets in sorted order, as OPA iterates them). */
function elements(v: Value, pos: number, expected: string): Value[] {
  if (Array.isArray(v)) return v;
  if (v instanceof RSet) return v.values();
  throw new BuiltinError(`operand ${pos} must be one of {${expected}} but got ${typeName(v)}`, 'eval_type_error');
}

/** The largest (sign 1) or smallest (sign -1) element in OPA's order; undefined when empty. */
function extreme(collection: Value, sign: 1 | -1): Value | undefined {
  const items = elements(collection, 1, 'set, array');
  if (items.length === 0) return undefined;
  let best = items[0];
  for (const x of items) if (sign * compare(best, x) <= 0) best = x;
  return best;
}

function elementError(collection: Value, got: Value): BuiltinError {
  const t = typeName(collection);
  return new BuiltinError(`operand 1 must be ${t} of numbers but got ${t} containing ${typeName(got)}`, 'eval_type_error');
}

/**
 * sum/product: exact on integers of any size; otherwise a big.Float accumulation as OPA does it
 * (sum keeps a 64-bit mantissa; product starts from big.NewFloat(1), i.e. 53 bits).
 */
function accumulate(collection: Value, isSum: boolean): Value {
  const items = elements(collection, 1, 'set, array');
  let exact: bigint | undefined = isSum ? 0n : 1n;
  for (const x of items) {
    const i = typeof x === 'number' || typeof x === 'bigint' ? toExactInt(x) : undefined;
    if (i === undefined) {
      exact = undefined;
      break;
    }
    exact = isSum ? exact + i : exact * i;
  }
  if (exact !== undefined) return normalizeBigInt(exact);
  const prec = isSum ? 64 : 53;
  let acc: BigFloat = isSum ? { m: 0n, e: 0 } : { m: 1n, e: 0 };
  for (const x of items) {
    if (typeof x !== 'number' && typeof x !== 'bigint') throw elementError(collection, x);
    const f = toBigFloat(x, 64);
    acc = isSum ? bfAdd(acc, f, prec) : bfMul(acc, f, prec);
  }
  return fromBigFloat(acc);
}

function countOf(v: Value): number {
  if (typeof v === 'string') {
    // Code points, not UTF-16 units.
    let n = 0;
    for (const _ of v) n++;
    return n;
  }
  if (Array.isArray(v)) return v.length;
  if (v instanceof RObject || v instanceof RSet) return v.size;
  throw new BuiltinError(`operand 1 must be one of {array, object, set, string} but got ${typeName(v)}`, 'eval_type_error');
}

registerBuiltins(
  {
    name: 'count',
    args: ['array[any]|object[any,any]|set[any]|string'],
    result: 'number',
    category: 'aggregates',
    impl: (args) => countOf(args[0]),
  },
  {
    name: 'sum',
    args: ['set[number]|array[number]'],
    result: 'number',
    category: 'aggregates',
    impl: (args) => accumulate(args[0], true),
  },
  {
    name: 'product',
    args: ['set[number]|array[number]'],
    result: 'number',
    category: 'aggregates',
    impl: (args) => accumulate(args[0], false),
  },
  {
    name: 'max',
    args: ['set[any]|array[any]'],
    result: 'any',
    category: 'aggregates',
    impl: (args) => extreme(args[0], 1),
  },
  {
    name: 'min',
    args: ['set[any]|array[any]'],
    result: 'any',
    category: 'aggregates',
    impl: (args) => extreme(args[0], -1),
  },
  {
    name: 'sort',
    args: ['set[any]|array[any]'],
    result: 'array[any]',
    category: 'aggregates',
    impl: (args) => {
      const v = args[0];
      if (v instanceof RSet) return v.values().slice();
      return elements(v, 1, 'set, array').slice().sort(compare);
    },
  },
  {
    name: 'all',
    args: ['array[any]|set[any]'],
    result: 'boolean',
    category: 'aggregates',
    deprecated: true,
    impl: (args) => elements(args[0], 1, 'array, set').every((x) => x === true),
  },
  {
    name: 'any',
    args: ['array[any]|set[any]'],
    result: 'boolean',
    category: 'aggregates',
    deprecated: true,
    impl: (args) => {
      const v = args[0];
      if (v instanceof RSet) return v.has(true);
      return elements(v, 1, 'array, set').some((x) => x === true);
    },
  },
);
