// Unit tests for the data builtins: comparison, numbers, aggregates, arrays, sets, objects,
// types, conversions (and walk). Each call goes through checkOperands first, as the evaluator does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getBuiltin, checkOperands, type BuiltinContext } from '../src/rego/builtins/registry.js';
import '../src/rego/builtins/comparison.js';
import '../src/rego/builtins/numbers.js';
import '../src/rego/builtins/aggregates.js';
import '../src/rego/builtins/arrays.js';
import '../src/rego/builtins/sets.js';
import '../src/rego/builtins/objects.js';
import '../src/rego/builtins/types.js';
import '../src/rego/builtins/conversions.js';
import { BuiltinError } from '../src/rego/errors.js';
import { RObject, RSet, compare, fromJSON, normalizeBigInt, toJSON, type Value } from '../src/rego/value.js';

function ctx(): BuiltinContext {
  return { nowNs: 0n, queryCache: new Map(), hooks: {} };
}

function call(name: string, args: Value[], c: BuiltinContext = ctx()): Value | undefined {
  const def = getBuiltin(name);
  assert.ok(def, `builtin ${name} is registered`);
  checkOperands(def, args);
  return def.impl(args, c);
}

/** Calls and converts the result to plain JSON (sets become sorted arrays). */
function j(name: string, ...args: Value[]): unknown {
  const r = call(name, args);
  return r === undefined ? undefined : toJSON(r);
}

const o = (x: unknown): Value => fromJSON(x);
const s = (...xs: unknown[]): RSet => RSet.from(xs.map(fromJSON));

function throwsBuiltin(fn: () => unknown, code: 'eval_type_error' | 'eval_builtin_error', message: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof BuiltinError, `expected BuiltinError, got ${String(e)}`);
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    return true;
  });
}

describe('registration', () => {
  it('declares OPA arity, infix and flags', () => {
    const infix: Record<string, string> = {
      equal: '==', neq: '!=', lt: '<', lte: '<=', gt: '>', gte: '>=',
      plus: '+', minus: '-', mul: '*', div: '/', rem: '%', and: '&', or: '|',
    };
    for (const [name, op] of Object.entries(infix)) {
      assert.equal(getBuiltin(name)?.infix, op, name);
      assert.equal(getBuiltin(name)?.args.length, 2, name);
    }
    assert.equal(getBuiltin('walk')?.relation, true);
    assert.equal(getBuiltin('rand.intn')?.nondeterministic, true);
    for (const d of ['all', 'any', 'cast_array', 'cast_set', 'cast_string', 'cast_boolean', 'cast_null', 'cast_object', 'set_diff']) {
      assert.equal(getBuiltin(d)?.deprecated, true, d);
    }
    assert.equal(getBuiltin('object.get')?.args.length, 3);
    assert.equal(getBuiltin('numbers.range_step')?.args.length, 3);
    assert.equal(getBuiltin('array.slice')?.args.length, 3);
  });
});

describe('comparison', () => {
  it('orders values across types', () => {
    assert.equal(call('lt', [null, false]), true);
    assert.equal(call('lt', [true, 0]), true);
    assert.equal(call('lt', [1, 'a']), true);
    assert.equal(call('lt', ['a', []]), true);
    assert.equal(call('lt', [[], o({})]), true);
    assert.equal(call('lt', [o({}), s()]), true);
    assert.equal(call('gt', [2, 1.5]), true);
    assert.equal(call('gte', [1, 1]), true);
    assert.equal(call('lte', [2, 1]), false);
    assert.equal(call('lt', [[1, 2], [1, 3]]), true);
  });
  it('equal / neq compare deeply and numbers by value', () => {
    assert.equal(call('equal', [o({ a: [1, 2] }), o({ a: [1, 2] })]), true);
    assert.equal(call('equal', [s(1, 2), s(2, 1)]), true);
    assert.equal(call('neq', [1, 1.0]), false);
    assert.equal(call('neq', [1, '1']), true);
    assert.equal(call('equal', [9007199254740993n, 9007199254740993n]), true);
  });
});

describe('numbers', () => {
  it('adds integers exactly beyond 2^53', () => {
    assert.equal(call('plus', [9007199254740993n, 1]), 9007199254740994n);
    assert.equal(call('plus', [Number.MAX_SAFE_INTEGER, 1]), 9007199254740992n);
    assert.equal(call('mul', [2147483647, 2147483647]), 4611686014132420609n);
    assert.equal(call('minus', [-9007199254740993n, 1]), -9007199254740994n);
    assert.equal(call('plus', [1e30, 1]), 10n ** 30n + 1n);
  });
  it('computes floats as OPA does (64-bit mantissa over the decimal text)', () => {
    assert.equal(call('plus', [0.1, 0.2]), 0.3);
    assert.equal(call('minus', [0.3, 0.1]), 0.2);
    assert.equal(call('mul', [0.1, 3]), 0.3);
    assert.equal(call('plus', [1.5, 2.5]), 4);
    assert.equal(call('plus', [1, 2.5]), 3.5);
    assert.equal(call('div', [1, 4]), 0.25);
    assert.equal(call('div', [1, 3]), 1 / 3);
  });
  it('divides', () => {
    assert.equal(call('div', [6, 3]), 2);
    assert.equal(call('div', [-6, 3]), -2);
    assert.equal(call('div', [0, 5]), 0);
    assert.ok(Object.is(call('div', [0, -5]), 0), 'no negative zero');
    throwsBuiltin(() => call('div', [1, 0]), 'eval_builtin_error', 'divide by zero');
    throwsBuiltin(() => call('div', [1.5, 0]), 'eval_builtin_error', 'divide by zero');
  });
  it('takes remainders of integers only', () => {
    assert.equal(call('rem', [-17, 5]), -2);
    assert.equal(call('rem', [17, -5]), 2);
    assert.equal(call('rem', [4.0, 3]), 1);
    assert.equal(call('rem', [10, 18446744073709551616n]), 10);
    assert.equal(call('rem', [18446744073709551617n, 18446744073709551616n]), 1);
    throwsBuiltin(() => call('rem', [1, 0]), 'eval_builtin_error', 'modulo by zero');
    throwsBuiltin(() => call('rem', [1.5, 1]), 'eval_builtin_error', 'modulo on floating-point number');
  });
  it('minus also subtracts sets, with OPA operand errors', () => {
    assert.deepEqual(j('minus', s(1, 2, 3), s(2)), [1, 3]);
    throwsBuiltin(() => call('minus', [s(1), 1]), 'eval_type_error', 'operand 2 must be set but got number');
    throwsBuiltin(() => call('minus', [1, s(1)]), 'eval_type_error', 'operand 2 must be number but got set');
    assert.throws(() => call('minus', ['a', 1]), /operand 1 must be one of \{number, set\} but got string/);
  });
  it('rounds', () => {
    assert.equal(call('round', [2.5]), 3);
    assert.equal(call('round', [-2.5]), -3);
    assert.equal(call('round', [2.4]), 2);
    assert.equal(call('round', [-5]), -5);
    assert.equal(call('ceil', [1.2]), 2);
    assert.equal(call('floor', [1.5]), 1);
    assert.equal(call('floor', [-1.001]), -2);
    assert.equal(call('floor', [99.99999]), 99);
    assert.equal(call('abs', [-2.5]), 2.5);
    assert.equal(call('abs', [-2147483648]), 2147483648);
    assert.equal(call('abs', [-9223372036854775808n]), 9223372036854775808n);
  });
  it('keeps OPA ceil/floor results for -1 < x < 0', () => {
    assert.equal(call('ceil', [-0.5]), 1);
    assert.equal(call('floor', [-0.5]), 0);
  });
  it('ranges', () => {
    assert.deepEqual(j('numbers.range', 1, 4), [1, 2, 3, 4]);
    assert.deepEqual(j('numbers.range', 2, -1), [2, 1, 0, -1]);
    assert.deepEqual(j('numbers.range', 3, 3), [3]);
    assert.deepEqual(j('numbers.range_step', 0, 10, 3), [0, 3, 6, 9]);
    assert.deepEqual(j('numbers.range_step', 10, 0, 5), [10, 5, 0]);
    throwsBuiltin(
      () => call('numbers.range_step', [0, 10, 0]),
      'eval_builtin_error',
      'numbers.range_step: step must be a positive integer',
    );
    throwsBuiltin(
      () => call('numbers.range', [1.5, 3]),
      'eval_type_error',
      'operand 1 must be integer number but got floating-point number',
    );
    assert.throws(() => call('numbers.range', [0, 1e12]), /range too large/);
  });
  it('rand.intn is stable per query and argument pair', () => {
    const c = ctx();
    const a = call('rand.intn', ['seed', 1000], c);
    assert.equal(call('rand.intn', ['seed', 1000], c), a);
    assert.equal(call('rand.intn', ['seed', -1000], c), a, 'abs(n) keys the cache');
    assert.ok(typeof a === 'number' && a >= 0 && a < 1000);
    assert.equal(call('rand.intn', ['x', 0], c), 0);
    throwsBuiltin(() => call('rand.intn', ['x', 1.5]), 'eval_type_error', 'operand 2 must be integer number but got floating-point number');
  });
  it('checks operand types before the implementation runs', () => {
    throwsBuiltin(() => call('plus', ['1', 2]), 'eval_type_error', 'operand 1 must be number but got string');
    throwsBuiltin(() => call('abs', [null]), 'eval_type_error', 'operand 1 must be number but got null');
  });
});

describe('aggregates', () => {
  it('counts code points, elements and pairs', () => {
    assert.equal(call('count', ['héllo👍']), 6);
    assert.equal(call('count', [[1, 2, 3]]), 3);
    assert.equal(call('count', [o({ a: 1 })]), 1);
    assert.equal(call('count', [s(1, 2)]), 2);
    assert.throws(() => call('count', [1]), /operand 1 must be one of \{array, object, set, string\} but got number/);
  });
  it('sums and multiplies', () => {
    assert.equal(call('sum', [[1, 2, 3]]), 6);
    assert.equal(call('sum', [s(1, 2.5)]), 3.5);
    assert.equal(call('sum', [[]]), 0);
    assert.equal(call('sum', [[0.1, 0.2]]), 0.3);
    assert.equal(call('sum', [[9007199254740993n, 1]]), 9007199254740994n);
    assert.equal(call('product', [[2, 3, 4]]), 24);
    assert.equal(call('product', [[]]), 1);
    assert.equal(call('product', [[18446744073709551617n, 2]]), 36893488147419103234n);
    assert.equal(call('product', [[1.5, 2]]), 3);
    throwsBuiltin(() => call('sum', [[1, 'a']]), 'eval_type_error', 'operand 1 must be array of numbers but got array containing string');
    throwsBuiltin(() => call('product', [s('a')]), 'eval_type_error', 'operand 1 must be set of numbers but got set containing string');
  });
  it('max/min are undefined for empty collections', () => {
    assert.equal(call('max', [[1, 3, 2]]), 3);
    assert.equal(call('min', [[3, 1, 2]]), 1);
    assert.equal(call('max', [s('a', 1, null)]), 'a');
    assert.equal(call('min', [s('a', 1, null)]), null);
    assert.equal(call('max', [[]]), undefined);
    assert.equal(call('min', [s()]), undefined);
  });
  it('sorts arrays and sets', () => {
    assert.deepEqual(j('sort', [3, 'a', null, 1, [1], true]), [null, true, 1, 3, 'a', [1]]);
    assert.deepEqual(j('sort', s(3, 1, 2)), [1, 2, 3]);
    const input: Value[] = [2, 1];
    call('sort', [input]);
    assert.deepEqual(input, [2, 1], 'input is not mutated');
  });
  it('all/any', () => {
    assert.equal(call('all', [[true, true]]), true);
    assert.equal(call('all', [[]]), true);
    assert.equal(call('all', [[true, 1]]), false);
    assert.equal(call('any', [s(false, true)]), true);
    assert.equal(call('any', [[]]), false);
    assert.equal(call('any', [[false, 'true']]), false);
  });
});

describe('arrays', () => {
  it('concat, reverse', () => {
    assert.deepEqual(j('array.concat', [1, 2], [3]), [1, 2, 3]);
    assert.deepEqual(j('array.reverse', [1, 2, 3]), [3, 2, 1]);
    assert.deepEqual(j('array.reverse', []), []);
  });
  it('slice clamps like OPA', () => {
    const a = [0, 1, 2, 3, 4];
    assert.deepEqual(j('array.slice', a, 1, 3), [1, 2]);
    assert.deepEqual(j('array.slice', a, -5, 2), [0, 1]);
    assert.deepEqual(j('array.slice', a, 3, 100), [3, 4]);
    assert.deepEqual(j('array.slice', a, 4, 2), []);
    assert.deepEqual(j('array.slice', a, 2, -1), []);
    throwsBuiltin(() => call('array.slice', [a, 1.5, 2]), 'eval_type_error', 'operand 2 must be integer number but got floating-point number');
    throwsBuiltin(() => call('array.slice', [s(1), 0, 1]), 'eval_type_error', 'operand 1 must be array but got set');
  });
});

describe('sets', () => {
  it('and/or/intersection/union', () => {
    assert.deepEqual(j('and', s(1, 2, 3), s(2, 3, 4)), [2, 3]);
    assert.deepEqual(j('or', s(1), s(2)), [1, 2]);
    assert.deepEqual(j('intersection', RSet.from([s(1, 2, 3), s(2, 3), s(3, 2, 9)])), [2, 3]);
    assert.deepEqual(j('intersection', s()), []);
    assert.deepEqual(j('union', RSet.from([s(1), s(2, [3])])), [1, 2, [3]]);
    assert.deepEqual(j('union', s()), []);
    assert.deepEqual(j('set_diff', s(1, 2), s(2)), [1]);
    throwsBuiltin(() => call('union', [s(1)]), 'eval_type_error', 'operand 1 must be set but got number');
    throwsBuiltin(() => call('and', [s(1), [1]]), 'eval_type_error', 'operand 2 must be set but got array');
  });
});

describe('types', () => {
  it('is_* are true or false', () => {
    assert.equal(call('is_number', [1]), true);
    assert.equal(call('is_number', [1n << 70n]), true);
    assert.equal(call('is_number', ['1']), false);
    assert.equal(call('is_string', ['']), true);
    assert.equal(call('is_boolean', [false]), true);
    assert.equal(call('is_array', [s()]), false);
    assert.equal(call('is_set', [s()]), true);
    assert.equal(call('is_object', [o({})]), true);
    assert.equal(call('is_null', [null]), true);
    assert.equal(call('is_null', [false]), false);
  });
  it('type_name', () => {
    const cases: Array<[Value, string]> = [
      [null, 'null'], [true, 'boolean'], [1.5, 'number'], ['x', 'string'], [[], 'array'], [o({}), 'object'], [s(), 'set'],
    ];
    for (const [v, t] of cases) assert.equal(call('type_name', [v]), t);
  });
});

describe('conversions', () => {
  it('to_number', () => {
    assert.equal(call('to_number', ['10']), 10);
    assert.equal(call('to_number', ['-1.5']), -1.5);
    assert.equal(call('to_number', ['1e3']), 1000);
    assert.equal(call('to_number', ['+5']), 5);
    assert.equal(call('to_number', ['.5']), 0.5);
    assert.equal(call('to_number', ['123456789012345678901234567890']), 123456789012345678901234567890n);
    assert.equal(call('to_number', [true]), 1);
    assert.equal(call('to_number', [false]), 0);
    assert.equal(call('to_number', [null]), 0);
    assert.equal(call('to_number', [42]), 42);
    // Extreme exponents must neither hang nor build huge integers.
    assert.equal(call('to_number', ['1e-999999999']), 0);
    assert.equal(call('to_number', ['0e999999999']), 0);
    throwsBuiltin(() => call('to_number', ['1e999999999']), 'eval_builtin_error', 'strconv.ParseFloat: parsing "1e999999999": value out of range');
    throwsBuiltin(() => call('to_number', ['abc']), 'eval_builtin_error', 'strconv.ParseFloat: parsing "abc": invalid syntax');
    throwsBuiltin(() => call('to_number', [' 1']), 'eval_builtin_error', 'strconv.ParseFloat: parsing " 1": invalid syntax');
    throwsBuiltin(() => call('to_number', ['1e400']), 'eval_builtin_error', 'strconv.ParseFloat: parsing "1e400": value out of range');
    throwsBuiltin(() => call('to_number', ['-Inf']), 'eval_type_error', 'operand 1 must be valid number string but got string');
    throwsBuiltin(() => call('to_number', ['NaN']), 'eval_type_error', 'operand 1 must be valid number string but got string');
    assert.throws(() => call('to_number', [[1]]), /operand 1 must be one of \{.*\} but got array/);
  });
  it('casts', () => {
    assert.deepEqual(j('cast_array', s(2, 1)), [1, 2]);
    assert.deepEqual(j('cast_set', [1, 1, 2]), [1, 2]);
    assert.equal(call('cast_string', ['x']), 'x');
    assert.equal(call('cast_boolean', [true]), true);
    assert.equal(call('cast_null', [null]), null);
    assert.ok(call('cast_object', [o({ a: 1 })]) instanceof RObject);
    throwsBuiltin(() => call('cast_string', [1]), 'eval_type_error', 'operand 1 must be string but got number');
    throwsBuiltin(() => call('cast_array', ['x']), 'eval_type_error', 'operand 1 must be one of {array, set} but got string');
  });
});

describe('objects', () => {
  const doc = o({ a: { b: [10, { c: 'deep' }] }, x: 1 });
  it('object.get with keys and paths', () => {
    assert.equal(call('object.get', [doc, 'x', 0]), 1);
    assert.equal(call('object.get', [doc, 'nope', 'dflt']), 'dflt');
    assert.equal(call('object.get', [o({ n: null }), 'n', 1]), null, 'a present null is returned');
    assert.equal(call('object.get', [o({ n: { m: null } }), ['n', 'm'], 1]), null);
    assert.equal(call('object.get', [doc, ['a', 'b', 1, 'c'], null]), 'deep');
    assert.equal(call('object.get', [doc, ['a', 'b', 5], 'd']), 'd');
    assert.equal(call('object.get', [doc, ['a', 'b', '1'], 'd']), 'd', 'array index must be a number');
    assert.equal(call('object.get', [doc, [], 'd']), doc);
    assert.equal(call('object.get', [o({ s: ['z'] }), ['s', 0], 'd']), 'z');
    const withSet = new RObject().set('s', s('m'));
    assert.equal(call('object.get', [withSet, ['s', 'm'], 'd']), 'm');
    throwsBuiltin(() => call('object.get', [[1], 0, 0]), 'eval_type_error', 'operand 1 must be object but got array');
  });
  it('object.keys, remove, filter', () => {
    assert.deepEqual(j('object.keys', o({ b: 1, a: 2 })), ['a', 'b']);
    assert.deepEqual(j('object.remove', o({ a: 1, b: 2, c: 3 }), ['a', 'z']), { b: 2, c: 3 });
    assert.deepEqual(j('object.remove', o({ a: 1, b: 2 }), s('b')), { a: 1 });
    assert.deepEqual(j('object.remove', o({ a: 1, b: 2 }), o({ a: 'ignored' })), { b: 2 });
    assert.deepEqual(j('object.filter', o({ a: 1, b: 2, c: 3 }), ['a', 'c', 'q']), { a: 1, c: 3 });
    assert.deepEqual(j('object.filter', o({ a: { x: 1 } }), s('a')), { a: { x: 1 } });
    assert.throws(() => call('object.remove', [o({}), 'a']), /operand 2 must be one of \{.*\} but got string/);
  });
  it('object.union and union_n merge recursively, right side wins', () => {
    assert.deepEqual(j('object.union', o({ a: 1, b: 2, c: { d: 3 } }), o({ a: 7, c: { d: 4, e: 5 } })), {
      a: 7, b: 2, c: { d: 4, e: 5 },
    });
    assert.deepEqual(j('object.union', o({ a: { b: 1 } }), o({ a: 2 })), { a: 2 });
    assert.deepEqual(j('object.union_n', o([{ a: 1 }, { b: 2 }, { a: 3 }])), { a: 3, b: 2 });
    assert.deepEqual(j('object.union_n', o([{ a: { b: 2 } }, { a: 4 }, { a: { c: 3 } }])), { a: { c: 3 } });
    assert.deepEqual(j('object.union_n', o([])), {});
    throwsBuiltin(
      () => call('object.union_n', [o([{ a: 1 }, 'x'])]),
      'eval_type_error',
      'operand 1 must be array of objects but got array containing string',
    );
  });
  it('object.subset', () => {
    assert.equal(call('object.subset', [o({ a: 'b', c: { x: [10, 15, 20, 25], y: 'z' } }), o({ c: { x: [15, 20] } })]), true);
    assert.equal(call('object.subset', [o({ a: 1 }), o({ a: 2 })]), false);
    assert.equal(call('object.subset', [s(1, 2, 3), s(1, 3)]), true);
    assert.equal(call('object.subset', [s(1, 2), s(4)]), false);
    assert.equal(call('object.subset', [[1, 2, 3, 4], [2, 3]]), true);
    assert.equal(call('object.subset', [[1, 2, 3, 4], [2, 4]]), false);
    assert.equal(call('object.subset', [[1, 2, 3], s(3, 1)]), true);
    assert.equal(call('object.subset', [[1, 1], s(1, 2)]), true, 'OPA counts duplicates');
    throwsBuiltin(
      () => call('object.subset', [s(1), [1]]),
      'eval_type_error',
      'both arguments object.subset must be of the same type or array and set',
    );
  });
  it('json.filter', () => {
    const d = o({ a: { b: 'x', c: 'y' }, d: [1, 2, 3], e: 'z' });
    assert.deepEqual(j('json.filter', d, ['a/b', 'e']), { a: { b: 'x' }, e: 'z' });
    assert.deepEqual(j('json.filter', d, ['/d/0', 'd/2']), { d: [1, 3] });
    assert.deepEqual(j('json.filter', d, [['a', 'c']]), { a: { c: 'y' } });
    assert.deepEqual(j('json.filter', d, ['a', 'a/b']), { a: { b: 'x', c: 'y' } });
    assert.deepEqual(j('json.filter', d, s('a/b')), { a: { b: 'x' } });
    assert.deepEqual(j('json.filter', o({ 'a/b': 1, 'm~n': 2 }), ['a~1b', 'm~0n']), { 'a/b': 1, 'm~n': 2 });
    throwsBuiltin(
      () => call('json.filter', [d, [1]]),
      'eval_type_error',
      'operand 2 must be one of {set, array} containing string paths or array of path segments but got number',
    );
  });
  it('json.remove', () => {
    const d = o({ a: { b: 'x', c: 'y' }, d: [1, 2, 3] });
    assert.deepEqual(j('json.remove', d, ['a/b']), { a: { c: 'y' }, d: [1, 2, 3] });
    assert.deepEqual(j('json.remove', d, ['d/0', 'd/2']), { a: { b: 'x', c: 'y' }, d: [2] });
    assert.deepEqual(j('json.remove', d, [['a'], 'zz']), { d: [1, 2, 3] });
    assert.deepEqual(j('json.remove', d, []), toJSON(d));
  });
  it('json.patch applies RFC 6902 operations atomically', () => {
    const d = o({ a: { foo: 1 }, l: [1, 2] });
    const p = (...ops: unknown[]) => j('json.patch', d, o(ops));
    assert.deepEqual(p({ op: 'add', path: '/a/bar', value: 2 }), { a: { foo: 1, bar: 2 }, l: [1, 2] });
    assert.deepEqual(p({ op: 'add', path: '/l/1', value: 9 }), { a: { foo: 1 }, l: [1, 9, 2] });
    assert.deepEqual(p({ op: 'add', path: '/l/-', value: 9 }), { a: { foo: 1 }, l: [1, 2, 9] });
    assert.deepEqual(p({ op: 'remove', path: '/l/0' }), { a: { foo: 1 }, l: [2] });
    assert.deepEqual(p({ op: 'replace', path: '/a/foo', value: 'r' }), { a: { foo: 'r' }, l: [1, 2] });
    assert.deepEqual(p({ op: 'move', from: '/a/foo', path: '/b' }), { a: {}, b: 1, l: [1, 2] });
    assert.deepEqual(p({ op: 'copy', from: '/l', path: '/c' }), { a: { foo: 1 }, c: [1, 2], l: [1, 2] });
    assert.deepEqual(p({ op: 'test', path: '/a/foo', value: 1 }), toJSON(d));
    assert.deepEqual(p({ op: 'add', path: '', value: 5 }), 5);
    assert.deepEqual(p({ op: 'add', path: ['a', 'x'], value: true }), { a: { foo: 1, x: true }, l: [1, 2] });
    assert.equal(p({ op: 'test', path: '/a/foo', value: 2 }), undefined);
    assert.equal(p({ op: 'remove', path: '/nope' }), undefined);
    assert.equal(p({ op: 'add', path: '/l/5', value: 1 }), undefined);
    assert.equal(p({ op: 'add', path: '/l/01', value: 1 }), undefined);
    assert.equal(p({ op: 'frob', path: '/a' }), undefined);
    assert.equal(p({ path: '/a' }), undefined);
    assert.equal(p({ op: 'add', path: '/a/x' }), undefined);
    assert.equal(p({ op: 'add', path: '/a/x', value: 1 }, { op: 'remove', path: '/zz' }), undefined, 'atomic');
    assert.equal(p('not an object'), undefined);
  });
  it('json.patch works on sets by member value', () => {
    const d = new RObject().set('s', s('a', 'b'));
    const ops = (...x: unknown[]) => o(x);
    assert.deepEqual(toJSON(call('json.patch', [d, ops({ op: 'add', path: '/s/c', value: 'c' })]) as Value), { s: ['a', 'b', 'c'] });
    assert.deepEqual(toJSON(call('json.patch', [d, ops({ op: 'remove', path: '/s/a' })]) as Value), { s: ['b'] });
    assert.equal(call('json.patch', [d, ops({ op: 'add', path: '/s/c', value: 'd' })]), undefined);
    const nested = RSet.from([[0], 'a']);
    assert.deepEqual(toJSON(call('json.patch', [nested, o([{ op: 'add', path: [[0], 1], value: 1 }])]) as Value), ['a', [0, 1]]);
  });
});

describe('walk', () => {
  it('yields [path, value] pairs in pre-order with sorted keys', () => {
    const r = call('walk', [o({ b: [true], a: 1 })]);
    assert.deepEqual(toJSON(r as Value), [
      [[], { a: 1, b: [true] }],
      [['a'], 1],
      [['b'], [true]],
      [['b', 0], true],
    ]);
    assert.deepEqual(toJSON(call('walk', [5]) as Value), [[[], 5]]);
    assert.deepEqual(toJSON(call('walk', [s('x')]) as Value), [[[], ['x']], [['x'], 'x']]);
  });
});

describe('properties', () => {
  const wide = fc.bigInt({ min: -(1n << 80n), max: 1n << 80n });
  it('integer plus/minus/mul are exact and normalised', () => {
    fc.assert(
      fc.property(wide, wide, (a, b) => {
        const x = normalizeBigInt(a);
        const y = normalizeBigInt(b);
        assert.equal(call('plus', [x, y]), normalizeBigInt(a + b));
        assert.equal(call('minus', [x, y]), normalizeBigInt(a - b));
        assert.equal(call('mul', [x, y]), normalizeBigInt(a * b));
        if (b !== 0n) assert.equal(call('rem', [x, y]), normalizeBigInt(a % b));
      }),
    );
  });
  it('float arithmetic stays within a few ulps of IEEE doubles', () => {
    const num = fc.double({ min: -1e12, max: 1e12, noNaN: true, noDefaultInfinity: true });
    fc.assert(
      fc.property(num, num, (a, b) => {
        for (const [name, want] of [['plus', a + b], ['minus', a - b], ['mul', a * b]] as const) {
          const got = Number(call(name, [a, b]) as number | bigint);
          const tol = 1e-15 * Math.max(Math.abs(a), Math.abs(b), Math.abs(want), Math.abs(a * b), 1e-300);
          assert.ok(Math.abs(got - want) <= tol, `${name}(${a}, ${b}) = ${got}, double gives ${want}`);
        }
      }),
    );
  });
  it('comparison builtins agree with the total order', () => {
    const val = fc.oneof(fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.string(), fc.array(fc.integer(), { maxLength: 3 }));
    fc.assert(
      fc.property(val, val, (a, b) => {
        const x = fromJSON(a);
        const y = fromJSON(b);
        const c = compare(x, y);
        assert.equal(call('lt', [x, y]), c < 0);
        assert.equal(call('gte', [x, y]), c >= 0);
        assert.equal(call('equal', [x, y]), c === 0);
        assert.equal(call('neq', [x, y]), c !== 0);
      }),
    );
  });
  it('array.slice is a clamped JS slice', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { maxLength: 8 }), fc.integer({ min: -10, max: 10 }), fc.integer({ min: -10, max: 10 }), (arr, i, k) => {
        const stop = Math.min(Math.max(k, 0), arr.length);
        const start = Math.min(Math.max(i, 0), stop);
        assert.deepEqual(call('array.slice', [arr, i, k]), arr.slice(start, stop));
      }),
    );
  });
  it('walk visits every node once', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (doc) => {
        const count = (v: unknown): number =>
          v !== null && typeof v === 'object' ? 1 + Object.values(v as object).reduce((n: number, c) => n + count(c), 0) : 1;
        assert.equal((call('walk', [fromJSON(doc)]) as Value[]).length, count(doc));
      }),
    );
  });
});
