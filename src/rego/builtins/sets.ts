// Builtins of OPA's "sets" category: and (&), or (|), intersection, union, and the deprecated
// set_diff. Set difference with `-` is `minus`, in numbers.ts. Registered at import time.
import { BuiltinError } from '../errors.js';
import { RSet, typeName, type Value } from '../value.js';
import { registerBuiltins } from './registry.js';

function setOperand(v: Value, pos: number): RSet {
  if (v instanceof RSet) return v;
  throw new BuiltinError(`operand ${pos} must be set but got ${typeName(v)}`, 'eval_type_error');
}

export function intersect(a: RSet, b: RSet): RSet {
  const [small, big] = a.size <= b.size ? [a, b] : [b, a];
  const out = new RSet();
  small.forEachUnordered((v) => {
    if (big.has(v)) out.add(v);
  });
  return out;
}

export function unite(a: RSet, b: RSet): RSet {
  const out = a.copy();
  b.forEachUnordered((v) => out.add(v));
  return out;
}

export function difference(a: RSet, b: RSet): RSet {
  const out = new RSet();
  a.forEachUnordered((v) => {
    if (!b.has(v)) out.add(v);
  });
  return out;
}

registerBuiltins(
  {
    name: 'and',
    infix: '&',
    args: ['set[any]', 'set[any]'],
    result: 'set[any]',
    category: 'sets',
    impl: (args) => intersect(setOperand(args[0], 1), setOperand(args[1], 2)),
  },
  {
    name: 'or',
    infix: '|',
    args: ['set[any]', 'set[any]'],
    result: 'set[any]',
    category: 'sets',
    impl: (args) => unite(setOperand(args[0], 1), setOperand(args[1], 2)),
  },
  {
    name: 'intersection',
    args: ['set[set[any]]'],
    result: 'set[any]',
    category: 'sets',
    impl: (args) => {
      const xs = setOperand(args[0], 1);
      let result: RSet | undefined;
      // Every member must be a set (OPA reports a member's type as operand 1's).
      for (const x of xs.values()) {
        const s = setOperand(x, 1);
        result = result === undefined ? s : intersect(result, s);
      }
      return result ?? new RSet();
    },
  },
  {
    name: 'union',
    args: ['set[set[any]]'],
    result: 'set[any]',
    category: 'sets',
    impl: (args) => {
      const out = new RSet();
      for (const x of setOperand(args[0], 1).values()) setOperand(x, 1).forEachUnordered((v) => out.add(v));
      return out;
    },
  },
  {
    name: 'set_diff',
    args: ['set[any]', 'set[any]'],
    result: 'set[any]',
    category: 'sets',
    deprecated: true,
    impl: (args) => difference(setOperand(args[0], 1), setOperand(args[1], 2)),
  },
);
