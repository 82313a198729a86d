// Bitwise builtins: bits.or, bits.and, bits.negate, bits.xor, bits.lsh, bits.rsh.
//
// OPA computes these on arbitrary-precision integers (Go's big.Int, two's-complement semantics
// for negative numbers), which is exactly what JS bigint operators do. Results go back through
// normalizeBigInt so that small results stay plain numbers like every other integer value.
import { BuiltinError } from '../errors.js';
import { normalizeBigInt, type Value } from '../value.js';
import { intOperand } from './numbers.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';

/**
 * Upper bound on the bit length a shift may produce. OPA has none, but a shift such as
 * bits.lsh(1, 1e12) would exhaust memory; a clear error is better than a hung process.
 */
export const MAX_SHIFT_RESULT_BITS = 1 << 20;

function int(v: Value, pos: number): bigint {
  return intOperand(v as number | bigint, pos);
}

/** The shift count: a non-negative integer (OPA's message for negatives). */
function shiftCount(v: Value): bigint {
  const n = int(v, 2);
  if (n < 0n) throw new BuiltinError('operand 2 must be an unsigned integer number but got a negative integer', 'eval_type_error');
  return n;
}

function bitLength(a: bigint): number {
  return (a < 0n ? -a : a).toString(2).length;
}

function binary(name: string, op: (a: bigint, b: bigint) => bigint): BuiltinDef {
  return {
    name,
    args: ['number', 'number'],
    result: 'number',
    category: 'bits',
    impl: ([a, b]) => normalizeBigInt(op(int(a, 1), int(b, 2))),
  };
}

registerBuiltins(
  binary('bits.or', (a, b) => a | b),
  binary('bits.and', (a, b) => a & b),
  binary('bits.xor', (a, b) => a ^ b),
  {
    name: 'bits.negate',
    args: ['number'],
    result: 'number',
    category: 'bits',
    impl: ([a]) => normalizeBigInt(~int(a, 1)),
  },
  {
    name: 'bits.lsh',
    args: ['number', 'number'],
    result: 'number',
    category: 'bits',
    impl: ([a, b]) => {
      const x = int(a, 1);
      const n = shiftCount(b);
      if (x === 0n) return 0;
      if (BigInt(bitLength(x)) + n > BigInt(MAX_SHIFT_RESULT_BITS)) {
        throw new BuiltinError(`shift result exceeds ${MAX_SHIFT_RESULT_BITS} bits`, 'eval_builtin_error');
      }
      return normalizeBigInt(x << n);
    },
  },
  {
    name: 'bits.rsh',
    args: ['number', 'number'],
    result: 'number',
    category: 'bits',
    impl: ([a, b]) => {
      const x = int(a, 1);
      const n = shiftCount(b);
      // Shifting past the bit length gives 0 (or -1 for negatives, as Go's Rsh rounds down).
      if (n >= BigInt(bitLength(x))) return x < 0n ? -1 : 0;
      return normalizeBigInt(x >> n);
    },
  },
);
