// Builtins of OPA's "types" category: is_number, is_string, is_boolean, is_array, is_set,
// is_object, is_null (true or false, never undefined) and type_name. Registered at import time.
import { typeName, type TypeName } from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';

function isType(name: string, t: TypeName): BuiltinDef {
  return {
    name,
    args: ['any'],
    result: 'boolean',
    category: 'types',
    impl: (args) => typeName(args[0]) === t,
  };
}

registerBuiltins(
  isType('is_number', 'number'),
  isType('is_string', 'string'),
  isType('is_boolean', 'boolean'),
  isType('is_array', 'array'),
  isType('is_set', 'set'),
  isType('is_object', 'object'),
  isType('is_null', 'null'),
  {
    name: 'type_name',
    args: ['any'],
    result: 'string',
    category: 'types',
    impl: (args) => typeName(args[0]),
  },
);
