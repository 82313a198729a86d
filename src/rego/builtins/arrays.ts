// Builtins of OPA's "array" category: array.concat, array.slice, array.reverse.
// Registered at import time.
import { BuiltinError } from '../errors.js';
import type { Value } from '../value.js';
import { registerBuiltins } from './registry.js';
import { intOperand, numberOperand } from './numbers.js';

/** OPA reads slice bounds as Go ints: integers beyond int64 are refused like fractions. */
function indexOperand(v: Value, pos: number): number {
  const i = intOperand(numberOperand(v, pos), pos);
  if (i > 9223372036854775807n || i < -9223372036854775808n) {
    throw new BuiltinError(`operand ${pos} must be integer number but got floating-point number`, 'eval_type_error');
  }
  // Clamping below only needs the order of magnitude: keep it a JS number.
  return Number(i);
}

registerBuiltins(
  {
    name: 'array.concat',
    args: ['array[any]', 'array[any]'],
    result: 'array[any]',
    category: 'array',
    impl: (args) => [...(args[0] as Value[]), ...(args[1] as Value[])],
  },
  {
    name: 'array.slice',
    args: ['array[any]', 'number', 'number'],
    result: 'array[any]',
    category: 'array',
    impl: (args) => {
      const arr = args[0] as Value[];
      let start = indexOperand(args[1], 2);
      let stop = indexOperand(args[2], 3);
      // As OPA: clamp stop into [0, len], then start into [0, stop].
      if (stop < 0) stop = 0;
      else if (stop > arr.length) stop = arr.length;
      if (start < 0) start = 0;
      else if (start > stop) start = stop;
      return arr.slice(start, stop);
    },
  },
  {
    name: 'array.reverse',
    args: ['array[any]'],
    result: 'array[any]',
    category: 'array',
    impl: (args) => (args[0] as Value[]).slice().reverse(),
  },
);
