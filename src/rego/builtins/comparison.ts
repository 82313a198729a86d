// Builtins of OPA's "comparison" category: ==, !=, <, <=, >, >=. Any two values compare, by
// OPA's total order over types and values (value.ts). Registered at import time.
import { compare, equal, type Value } from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';

function comparison(name: string, infix: string, test: (a: Value, b: Value) => boolean): BuiltinDef {
  return {
    name,
    infix,
    args: ['any', 'any'],
    result: 'boolean',
    category: 'comparison',
    infallible: true,
    impl: (args) => test(args[0], args[1]),
  };
}

registerBuiltins(
  comparison('equal', '==', (a, b) => equal(a, b)),
  comparison('neq', '!=', (a, b) => !equal(a, b)),
  comparison('lt', '<', (a, b) => compare(a, b) < 0),
  comparison('lte', '<=', (a, b) => compare(a, b) <= 0),
  comparison('gt', '>', (a, b) => compare(a, b) > 0),
  comparison('gte', '>=', (a, b) => compare(a, b) >= 0),
);
