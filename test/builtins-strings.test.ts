// Unit tests for the strings, regex, glob, encoding, units and semver builtins, called
// directly through the builtin table (the conformance cases cover them through Rego).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getBuiltin, checkOperands, type BuiltinContext } from '../src/rego/builtins/registry.js';
import '../src/rego/builtins/index.js';
import { BuiltinError, HaltError } from '../src/rego/errors.js';
import { compare, fromJSON, RObject, RSet, stringifyJSON, type Value } from '../src/rego/value.js';
import { formatFloat, goSprintf, toGoArg } from '../src/rego/builtins/strings.js';

const ctx: BuiltinContext = { nowNs: 0n, queryCache: new Map(), hooks: {} };

function call(name: string, ...args: Value[]): Value | undefined {
  const def = getBuiltin(name);
  assert.ok(def, `builtin ${name} is registered`);
  assert.equal(args.length, def.args.length, `${name} arity`);
  checkOperands(def, args);
  return def.impl(args, ctx);
}

function callError(name: string, ...args: Value[]): BuiltinError {
  try {
    call(name, ...args);
  } catch (e) {
    assert.ok(e instanceof BuiltinError, `expected BuiltinError, got ${String(e)}`);
    return e;
  }
  assert.fail(`${name} did not fail`);
}

const obj = (o: Record<string, Value>): RObject => RObject.from(Object.entries(o));

test('every builtin of the six categories is registered with OPA arity', () => {
  const arity: Record<string, number> = {
    concat: 2, contains: 2, endswith: 2, format_int: 2, indexof: 2, indexof_n: 2, lower: 1, replace: 3, split: 2,
    sprintf: 2, startswith: 2, 'strings.any_prefix_match': 2, 'strings.any_suffix_match': 2, 'strings.count': 2,
    'strings.replace_n': 2, 'strings.reverse': 1, 'strings.split_n': 3, 'strings.render_template': 2, substring: 3, trim: 2, trim_left: 2,
    trim_prefix: 2, trim_right: 2, trim_space: 1, trim_suffix: 2, upper: 1, 'internal.template_string': 1,
    'regex.match': 2, re_match: 2, 'regex.is_valid': 1, 'regex.split': 2, 'regex.find_n': 3,
    'regex.find_all_string_submatch_n': 3, 'regex.replace': 3, 'regex.template_match': 4, 'regex.globs_match': 2,
    'glob.match': 3, 'glob.quote_meta': 1,
    'base64.encode': 1, 'base64.decode': 1, 'base64.is_valid': 1, 'base64url.encode': 1, 'base64url.encode_no_pad': 1,
    'base64url.decode': 1, 'hex.encode': 1, 'hex.decode': 1, 'urlquery.encode': 1, 'urlquery.decode': 1,
    'urlquery.encode_object': 1, 'urlquery.decode_object': 1, 'json.marshal': 1, 'json.marshal_with_options': 2,
    'json.unmarshal': 1, 'json.is_valid': 1, 'yaml.marshal': 1, 'yaml.unmarshal': 1, 'yaml.is_valid': 1,
    'units.parse': 1, 'units.parse_bytes': 1, 'semver.is_valid': 1, 'semver.compare': 2,
  };
  for (const [name, n] of Object.entries(arity)) {
    const def = getBuiltin(name);
    assert.ok(def, name);
    assert.equal(def.args.length, n, name);
  }
  assert.equal(getBuiltin('re_match')?.deprecated, true);
});

test('operand checks use the declared types', () => {
  assert.throws(() => call('upper', 1), /operand 1 must be string but got number/);
  assert.throws(() => call('concat', ',', 'x'), /operand 2 must be one of \{array, set\} but got string/);
  assert.throws(() => call('glob.match', 'a', 'x', 'a'), /operand 2 must be one of \{array, null\} but got string/);
  // semver.is_valid takes any value
  assert.equal(call('semver.is_valid', 42), false);
});

test('strings index by code points', () => {
  assert.equal(call('substring', 'ab😀c', 2, 1), '😀');
  assert.equal(call('substring', 'ab😀c', 3, -1), 'c');
  assert.equal(call('indexof', '😀😀x', 'x'), 2);
  assert.deepEqual(call('indexof_n', '😀a😀a', 'a'), [1, 3]);
  assert.equal(call('strings.reverse', 'x😀y'), 'y😀x');
  assert.equal(call('strings.count', '😀😀', ''), 3);
  assert.equal(call('trim', '😀a😀', '😀'), 'a');
});

test('substring property: agrees with code point slicing', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), fc.nat(20), fc.integer({ min: -1, max: 20 }), (s, off, len) => {
      const cps = Array.from(s);
      const want = len < 0 ? cps.slice(off).join('') : cps.slice(off, off + len).join('');
      assert.equal(call('substring', s, off, len), want);
    }),
  );
});

test('substring accepts bigint lengths and rejects fractional offsets', () => {
  assert.equal(call('substring', 'abc', 1, 2n ** 70n), 'bc');
  assert.match(callError('substring', 'abc', 0.5, 1).message, /operand 2 must be integer number/);
  assert.equal(callError('substring', 'abc', -1, 1).message, 'negative offset');
});

test('format_int handles bigint and float inputs', () => {
  assert.equal(call('format_int', 2n ** 64n, 16), '10000000000000000');
  assert.equal(call('format_int', -7.9, 2), '-111');
  assert.match(callError('format_int', 1, 7).message, /must be one of \{2, 8, 10, 16\}/);
});

test('replace_n and replace follow Go strings.Replacer', () => {
  assert.equal(call('strings.replace_n', obj({ a: 'b', b: 'a' }), 'abba'), 'baab');
  assert.equal(call('strings.replace_n', obj({ '': '-', x: 'y' }), 'xa'), '-y-a-');
  assert.equal(call('strings.replace_n', obj({}), 'abc'), 'abc');
  assert.equal(call('replace', 'a😀', '', '.'), '.a.😀.');
  assert.match(callError('strings.replace_n', RObject.from([[1, 'x']]), 'a').message, /non-string key found in pattern object/);
});

test('sprintf: integers, bigints and floats', () => {
  assert.equal(call('sprintf', '%d|%v|%s', [7, 2n ** 80n, 2n ** 80n]), '7|1208925819614629174706176|1208925819614629174706176');
  assert.equal(call('sprintf', '%05.1f|%-6.2e|', [-2.25, 1234.5]), '-02.2|1.23e+03|');
  assert.equal(call('sprintf', '%g %g %g %G', [100000.5, 1e-5 + 0.5, 0.000012, 1.5e-7]), '100000.5 0.50001 1.2e-05 1.5E-07');
  assert.equal(call('sprintf', '%.3g|%.10g|%g', [3.14159, 0.1, 1e21 + 0.5]), '3.14|0.1|1e+21');
  assert.equal(call('sprintf', '%6.2f%%', [12.345]), ' 12.35%');
  assert.equal(call('sprintf', '%v', [[1, 'a', null, true]]), '[1, "a", null, true]');
  assert.equal(call('sprintf', '%v', [RSet.from([])]), 'set()');
  assert.equal(call('sprintf', '%d %s', [1.5, 1.5]), '%!d(float64=1.5) %!s(float64=1.5)');
  assert.equal(call('sprintf', '%c', [2n ** 70n]), '%!c(big.Int=1180591620717411303424)');
  assert.equal(call('sprintf', '%[3]d', [1, 2]), '%!d(BADINDEX)');
  assert.equal(call('sprintf', '%*d', ['x', 1]), '%!(BADWIDTH)1');
});

test('sprintf %d of any safe integer equals its decimal text', () => {
  fc.assert(
    fc.property(fc.maxSafeInteger(), (n) => {
      assert.equal(goSprintf('%d', [toGoArg(n)]), String(n));
      assert.equal(goSprintf('%x', [toGoArg(n)]), (n < 0 ? '-' : '') + Math.abs(n).toString(16));
    }),
  );
});

test('formatFloat %e/%f/%g agree with correctly rounded decimal output', () => {
  fc.assert(
    fc.property(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }), fc.integer({ min: 0, max: 12 }), (v, p) => {
      // %e: toExponential rounds the exact binary value, ties cannot occur for non-dyadic digits
      // beyond 17 significant figures, so compare numerically instead of textually.
      const e = formatFloat(v, 'e', p);
      assert.ok(Math.abs(Number(e) - v) <= Math.abs(v) * 10 ** -p + Number.EPSILON, `${v} %.${p}e -> ${e}`);
      const shortest = formatFloat(v, 'g', -1);
      assert.ok(Object.is(Number(shortest), v), `${v} %v -> ${shortest}`);
    }),
  );
});

test('render_template: missing keys and bad templates are errors, not crashes', () => {
  assert.equal(call('strings.render_template', '{{range .xs}}{{.}},{{else}}none{{end}}', obj({ xs: [] })), 'none');
  assert.equal(call('strings.render_template', '{{ $x := .a }}{{$x}}{{$x}}', obj({ a: 'q' })), 'qq');
  assert.equal(call('strings.render_template', '{{with .m}}{{.k}}{{end}}', obj({ m: obj({ k: 2n ** 70n }) })), '1180591620717411303424');
  assert.match(callError('strings.render_template', '{{.a.b}}', obj({ a: 'str' })).message, /can't evaluate field b/);
  assert.equal(call('strings.render_template', '{{.a.b}}|{{if .x}}y{{else}}n{{end}}', obj({})), '<undefined>|n');
  assert.match(callError('strings.render_template', '{{if .a}}x', obj({ a: true })).message, /unexpected EOF/);
  assert.match(callError('strings.render_template', '{{nosuchfn 1}}', obj({})).message, /function "nosuchfn" not defined/);
});

test('internal.template_string joins parts like print', () => {
  assert.equal(call('internal.template_string', ['n=', 42, ' ', RSet.from([[1, 'a']]), ' ', RSet.from([])]), 'n=42 [1, "a"] <undefined>');
  assert.throws(() => call('internal.template_string', [RSet.from([1, 2])]), (e: unknown) => e instanceof HaltError && e.inner.code === 'eval_conflict_error');
});

test('regex: RE2 semantics, linear time on hostile patterns', () => {
  assert.equal(call('regex.match', '(a+)+$', 'a'.repeat(5000) + 'b'), false);
  assert.equal(call('regex.match', '(?i)^ABC$', 'abc'), true);
  assert.equal(call('regex.match', '^.$', '😀'), true);
  assert.deepEqual(call('regex.find_n', '', '😀a', -1), ['', '', '']);
  assert.deepEqual(call('regex.split', '', 'ab'), ['a', 'b']);
  assert.equal(call('regex.replace', '😀😀', '', '-'), '-😀-😀-');
  assert.equal(callError('regex.match', '(?P<n>a', 'a').message, 'error parsing regexp: missing closing ): `(?P<n>a`');
});

test('regex cache stays bounded under many distinct patterns', () => {
  for (let i = 0; i < 1000; i++) assert.equal(call('regex.match', `^x${i}$`, `x${i}`), true);
  // A previously evicted pattern still compiles and matches.
  assert.equal(call('regex.match', '^x0$', 'x0'), true);
});

test('regex.globs_match: intersection of regexp-style globs', () => {
  assert.equal(call('regex.globs_match', 'a+b*', 'aab'), true);
  assert.equal(call('regex.globs_match', 'a+', 'b+'), false);
  assert.equal(call('regex.globs_match', '[0-9]+\\.[0-9]+', '1\\..*'), true);
  assert.equal(call('regex.globs_match', '.*', ''), true);
  assert.match(callError('regex.globs_match', 'a\\', 'a').message, /input ends with a \\ \(escape\) character/);
});

test('glob: gobwas syntax, hostile patterns stay linear', () => {
  assert.equal(call('glob.match', '*a*a*a*a*a*a*a*a*b', null, 'a'.repeat(3000)), false);
  assert.equal(call('glob.match', '{a,{b,c}}x', null, 'cx'), true);
  assert.equal(call('glob.match', 'a\\', null, 'a'), true);
  assert.equal(call('glob.match', '[\\]]', null, ']'), true);
  assert.equal(call('glob.match', 'x]}', null, 'x]}'), true);
  assert.equal(call('glob.match', '*', ['😀'], 'a😀b'), false);
  assert.equal(call('glob.quote_meta', 'a{b}*'), 'a\\{b\\}\\*');
});

test('base64 and hex round trips on arbitrary text', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme' }), (s) => {
      assert.equal(call('base64.decode', call('base64.encode', s) as string), s);
      assert.equal(call('base64url.decode', call('base64url.encode_no_pad', s) as string), s);
      assert.equal(call('hex.decode', call('hex.encode', s) as string), s);
      assert.equal(call('urlquery.decode', call('urlquery.encode', s) as string), s);
      assert.equal(call('base64.encode', s), Buffer.from(s, 'utf8').toString('base64'));
    }),
  );
});

test('base64 decode error positions follow Go', () => {
  assert.equal(callError('base64.decode', 'YQ=').message, 'illegal base64 data at input byte 3');
  assert.equal(callError('base64.decode', '=').message, 'illegal base64 data at input byte 0');
  assert.equal(callError('base64.decode', 'YWJjZ').message, 'illegal base64 data at input byte 4');
  assert.equal(call('base64.decode', 'YQ==\n'), 'a');
});

test('json.unmarshal keeps numbers exact and produces Rego values', () => {
  const v = call('json.unmarshal', '{"big": 123456789012345678901234567890, "f": 1.25, "o": {"k": [1]}}');
  assert.ok(v instanceof RObject);
  assert.equal(v.get('big'), 123456789012345678901234567890n);
  assert.equal(v.get('f'), 1.25);
  assert.ok(v.get('o') instanceof RObject);
  assert.equal(stringifyJSON(v), '{"big":123456789012345678901234567890,"f":1.25,"o":{"k":[1]}}');
  assert.equal(call('json.unmarshal', '1e2'), 100);
});

test('json.unmarshal agrees with JSON.parse on valid documents', () => {
  fc.assert(
    fc.property(fc.json(), (text) => {
      // JSON.parse rounds integers beyond 2^53; ours are exact, so compare them as doubles.
      const ours = JSON.parse(stringifyJSON(call('json.unmarshal', text) as Value)) as unknown;
      assert.equal(compare(fromJSON(ours), fromJSON(JSON.parse(text))), 0, text);
      assert.equal(call('json.is_valid', text), true);
    }),
  );
});

test('json.unmarshal rejects deep nesting with an error, not a stack overflow', () => {
  const deep = '['.repeat(200000) + ']'.repeat(200000);
  assert.match(callError('json.unmarshal', deep).message, /exceeded max depth/);
  assert.equal(call('json.is_valid', deep), false);
});

test('json.marshal_with_options layouts', () => {
  const v = obj({ a: [1, RSet.from(['x'])] });
  assert.equal(call('json.marshal_with_options', v, obj({ indent: '' })), '{\n"a": [\n1,\n[\n"x"\n]\n]\n}');
  assert.equal(call('json.marshal_with_options', [], obj({ pretty: true })), '[]');
  assert.match(callError('json.marshal_with_options', v, obj({ prefix: 1 })).message, /key prefix failed cast to string/);
});

test('yaml: marshal output parses back to the same value', () => {
  const v = obj({ s: 'multi\nline', n: -3, f: 0.5, e: '', t: 'true', list: [obj({ a: null }), []], empty: obj({}) });
  const text = call('yaml.marshal', v) as string;
  assert.equal(stringifyJSON(call('yaml.unmarshal', text) as Value), stringifyJSON(v));
});

test('yaml.unmarshal guards against alias bombs', () => {
  const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 12; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill('*' + String.fromCharCode(96 + i)).join(',')}]`);
  const e = callError('yaml.unmarshal', bomb.join('\n'));
  assert.match(e.message, /yaml:/);
});

test('units: exact results and errors', () => {
  assert.equal(call('units.parse', '1.1Ki'), 1126.4);
  assert.equal(call('units.parse', '1e3Ei'), 1152921504606846976000n);
  assert.equal(call('units.parse', '1m'), 0.001);
  assert.equal(callError('units.parse', '1/3').message, 'units.parse: unit /3 not recognized');
  assert.equal(call('units.parse_bytes', '-1.5KiB'), -1536);
  assert.equal(call('units.parse_bytes', '1EiB'), 1152921504606846976n);
  assert.equal(callError('units.parse', '1e999999K').message, 'units.parse: exponent too large');
  assert.equal(callError('units.parse_bytes', '1..KB').message, 'units.parse_bytes: could not parse byte amount to a number');
});

test('semver: compare is antisymmetric and consistent with sorting', () => {
  const versions = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '2.0.0'];
  for (let i = 0; i < versions.length; i++) {
    for (let j = 0; j < versions.length; j++) {
      assert.equal(call('semver.compare', versions[i], versions[j]), Math.sign(i - j), `${versions[i]} vs ${versions[j]}`);
    }
  }
  assert.equal(call('semver.is_valid', '9223372036854775808.0.0'), false);
  assert.equal(call('semver.is_valid', '9223372036854775807.0.0'), true);
});

test('indexof and indexof_n stay fast on long inputs and count code points', () => {
  const base = '😀'.repeat(1000) + 'a'.repeat(200000) + 'b';
  assert.equal(call('indexof', base, 'a'.repeat(1000) + 'b'), 1000 + 199000);
  const hits = call('indexof_n', base, 'aa') as number[];
  assert.equal(hits.length, 199999);
  assert.equal(hits[0], 1000);
  assert.equal(hits[hits.length - 1], 1000 + 199998);
});

test('hostile template and yaml inputs give errors, not hangs or crashes', () => {
  assert.match(callError('strings.render_template', '{{range 100000000000}}x{{end}}', obj({})).message, /execution too long/);
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  assert.match(callError('yaml.unmarshal', deep).message, /yaml/);
});
