// Builtins of OPA's current reference that no other category file provides:
//
// - language forms the compiler handles itself (eq, assign, print, internal.member_2/3) are
//   listed here so that the builtin table, and thus `image-enforcer capabilities`, names every
//   function OPA's capabilities name; their implementations are only used when a call reaches
//   the table (the compiler special-cases the usual syntax);
// - internal.print and internal.test_case (what OPA's compiler and test runner call);
// - array.flatten, uri.parse, uri.is_valid, rego.parse_module.
import { RegoErrors } from '../errors.js';
import { parseModule } from '../parser.js';
import { moduleToValue } from '../ast-json.js';
import { equal, isArray, isObject, isSet, RObject, toRegoString, type Value } from '../value.js';
import { BuiltinError } from '../errors.js';
import { parseGoURL, splitHostPort, URLError } from './gourl.js';
import { registerBuiltins } from './registry.js';

/** `x in xs`: x is one of the values of an array, set or object. */
function member2(x: Value, coll: Value): boolean {
  if (isArray(coll)) return coll.some((v) => equal(v, x));
  if (isSet(coll)) return coll.has(x);
  if (isObject(coll)) return coll.values().some((v) => equal(v, x));
  return false;
}

/** `k, v in xs`: xs[k] is v. */
function member3(k: Value, v: Value, coll: Value): boolean {
  if (isArray(coll)) {
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= coll.length) return false;
    return equal(coll[k], v);
  }
  if (isSet(coll)) return coll.has(k) && equal(k, v);
  if (isObject(coll)) {
    const got = coll.get(k);
    return got !== undefined && equal(got, v);
  }
  return false;
}

/** The text internal.print writes for one operand: its values, or <undefined> for none. */
function printOperand(s: Value): string {
  if (!isSet(s)) return toRegoString(s);
  const vals = s.values();
  if (vals.length === 0) return '<undefined>';
  return vals.map((v) => (typeof v === 'string' ? v : toRegoString(v))).join(' ');
}

function goErrorsMessage(e: RegoErrors): string {
  // Go's ast.Errors.Error() wording.
  if (e.errors.length === 1) return `1 error occurred: ${e.errors[0].message}`;
  return `${e.errors.length} errors occurred:\n${e.errors.map((x) => x.message).join('\n')}`;
}

registerBuiltins(
  {
    name: 'eq',
    args: ['any', 'any'],
    result: 'boolean',
    category: 'language',
    infix: '=',
    // Unification of two ground values: succeeds when they are equal.
    impl: ([a, b]) => (equal(a, b) ? true : undefined),
  },
  {
    name: 'assign',
    args: ['any', 'any'],
    result: 'boolean',
    category: 'language',
    infix: ':=',
    impl: ([a, b]) => (equal(a, b) ? true : undefined),
  },
  {
    name: 'internal.member_2',
    args: ['any', 'any'],
    result: 'boolean',
    category: 'language',
    infix: 'in',
    impl: ([x, coll]) => member2(x, coll),
  },
  {
    name: 'internal.member_3',
    args: ['any', 'any', 'any'],
    result: 'boolean',
    category: 'language',
    infix: 'in',
    impl: ([k, v, coll]) => member3(k, v, coll),
  },
  {
    // Variadic in OPA; the compiler accepts any number of operands for `print`.
    name: 'print',
    args: [],
    result: 'boolean',
    category: 'debugging',
    impl: (_args, ctx) => {
      ctx.hooks.print?.('', ctx.location);
      return true;
    },
  },
  {
    // What OPA's compiler turns `print(a, b)` into: one set of values per operand.
    name: 'internal.print',
    args: ['array[set[any]]'],
    result: 'boolean',
    category: 'debugging',
    impl: ([ops], ctx) => {
      ctx.hooks.print?.((ops as Value[]).map(printOperand).join(' '), ctx.location);
      return true;
    },
  },
  {
    // OPA's test runner traces parameterized test cases through this; outside `opa test`
    // (and here, where no tracer listens) it just succeeds.
    name: 'internal.test_case',
    args: ['array'],
    result: 'boolean',
    category: 'testing',
    impl: () => true,
  },
  {
    name: 'array.flatten',
    args: ['array'],
    result: 'array',
    category: 'array',
    // One level deep: nested arrays' elements are spliced in, everything else kept.
    impl: ([arr]) => {
      const out: Value[] = [];
      for (const x of arr as Value[]) {
        if (isArray(x)) out.push(...x);
        else out.push(x);
      }
      return out;
    },
  },
  {
    name: 'uri.parse',
    args: ['string'],
    result: 'object[string,string]',
    category: 'uri',
    impl: ([s]) => {
      let u;
      try {
        u = parseGoURL(s as string);
      } catch (e) {
        if (e instanceof URLError) throw new BuiltinError(e.message);
        throw e;
      }
      const o = new RObject();
      if (u.scheme) o.set('scheme', u.scheme);
      const { hostname, port } = splitHostPort(u.host);
      if (hostname) o.set('hostname', hostname);
      if (port) o.set('port', port);
      if (u.path) {
        o.set('path', u.path);
        // Always present with a path, so policies can normalise paths themselves.
        o.set('raw_path', u.rawPath || u.path);
      }
      if (u.rawQuery) o.set('raw_query', u.rawQuery);
      if (u.fragment) o.set('fragment', u.fragment);
      return o;
    },
  },
  {
    name: 'uri.is_valid',
    args: ['any'],
    result: 'boolean',
    category: 'uri',
    impl: ([s]) => {
      // Not an error for other types, and the empty string (a valid relative reference) is rejected.
      if (typeof s !== 'string' || s === '') return false;
      try {
        parseGoURL(s);
        return true;
      } catch (e) {
        if (e instanceof URLError) return false;
        throw e;
      }
    },
  },
  {
    name: 'rego.parse_module',
    args: ['string', 'string'],
    result: 'object[string,any]',
    category: 'rego',
    impl: ([file, text]) => {
      try {
        return moduleToValue(parseModule(text as string, file as string, { regoVersion: 1 }));
      } catch (e) {
        if (e instanceof RegoErrors) throw new BuiltinError(goErrorsMessage(e));
        throw e;
      }
    },
  },
);
