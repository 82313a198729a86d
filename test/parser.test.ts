// Unit tests of the Rego lexer and parser: AST shapes (locations stripped), error messages
// and locations, v0/v1/auto syntax selection and REPL statements.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseModule, parseQuery, parseStatements, parseTerm, ruleFromQuery, V0_HINT } from '../src/rego/parser.js';
import { lex } from '../src/rego/lexer.js';
import { RegoErrors } from '../src/rego/errors.js';
import type { Body, Module, Rule, Term } from '../src/rego/ast.js';

// ------------------------------------------------------------------ helpers

/** Deep copy without `loc` (and the rule -> module back pointer), for shape comparisons. */
function strip<T>(x: T): T {
  return JSON.parse(JSON.stringify(x, (k, v) => (k === 'loc' || k === 'module' ? undefined : v))) as T;
}

const v = (name: string): Term => ({ type: 'var', name });
const w = (i: number): Term => ({ type: 'var', name: `$_${i}`, wildcard: true });
const s = (value: string): Term => ({ type: 'string', value });
const n = (raw: string): Term => ({ type: 'number', raw });
const b = (value: boolean): Term => ({ type: 'boolean', value });
const ref = (...terms: Term[]): Term => ({ type: 'ref', terms });
const arr = (...items: Term[]): Term => ({ type: 'array', items });
const set = (...items: Term[]): Term => ({ type: 'set', items });
const obj = (...items: Array<[Term, Term]>): Term => ({ type: 'object', items });
function call(op: string, ...args: Term[]): Term {
  const [h, ...rest] = op.split('.');
  return { type: 'call', operator: { type: 'ref', terms: [v(h), ...rest.map(s)] }, args };
}
const expr = (terms: Term, extra: { negated?: boolean; with?: Array<{ target: Term; value: Term }> } = {}) => ({
  terms,
  negated: extra.negated ?? false,
  with: extra.with ?? [],
});

/** The single expression term of a one-expression query. */
function q1(text: string): Term {
  const body = parseQuery(text);
  assert.equal(body.length, 1, `one expression in ${text}`);
  return strip(body[0].terms) as Term;
}

function parseErr(f: () => unknown): RegoErrors {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof RegoErrors, `expected RegoErrors, got ${String(e)}`);
    for (const x of e.errors) assert.equal(x.code, 'rego_parse_error');
    return e;
  }
  assert.fail('expected a parse error');
}

function mod(text: string, regoVersion: 0 | 1 | 'auto' = 'auto'): Module {
  return parseModule(text, 'test.rego', { regoVersion });
}

function rules(text: string, regoVersion: 0 | 1 | 'auto' = 'auto'): Rule[] {
  return strip(mod(text, regoVersion).rules);
}

// ------------------------------------------------------------------ lexer

describe('lexer', () => {
  test('tokens, whitespace and newline flags, comments', () => {
    const { tokens, comments } = lex('a := b # c\n  x[1]');
    assert.deepEqual(
      tokens.map((t) => [t.type, t.text, t.row, t.col, t.wsBefore, t.nlBefore]),
      [
        ['word', 'a', 1, 1, false, false],
        [':=', ':=', 1, 3, true, false],
        ['word', 'b', 1, 6, true, false],
        ['word', 'x', 2, 3, true, true],
        ['[', '[', 2, 4, false, false],
        ['number', '1', 2, 5, false, false],
        [']', ']', 2, 6, false, false],
        ['eof', '', 2, 7, false, false],
      ],
    );
    assert.deepEqual(comments, [{ text: ' c', row: 1, col: 8 }]);
  });

  test('columns count code points', () => {
    const { tokens } = lex('"😀é" x');
    assert.equal(tokens[1].col, 6);
  });

  test('bad input becomes illegal tokens, never an exception', () => {
    const { tokens } = lex('"abc\n! 1.x 0a `abc');
    const illegal = tokens.filter((t) => t.type === 'illegal').map((t) => t.error);
    assert.deepEqual(illegal, ['non-terminated string', 'illegal ! character', 'expected fraction', 'illegal number format', 'non-terminated string']);
  });
});

// ------------------------------------------------------------------ terms and operators

describe('terms', () => {
  test('scalars', () => {
    assert.deepEqual(q1('null'), { type: 'null' });
    assert.deepEqual(q1('true'), b(true));
    assert.deepEqual(q1('"a\\"b\\\\c\\/\\b\\f\\n\\r\\t"'), s('a"b\\c/\b\f\n\r\t'));
    assert.deepEqual(q1('`raw \\n "q"`'), s('raw \\n "q"'));
    assert.deepEqual(q1('"\\u00e9\\ud83d\\ude00"'), s('é😀'));
    // A lone surrogate is replaced, as Go's JSON decoder does.
    assert.deepEqual(q1('"\\ud83d!"'), s('\ufffd!'));
  });

  test('numbers keep their text', () => {
    assert.deepEqual(q1('123456789012345678901234567890'), n('123456789012345678901234567890'));
    assert.deepEqual(q1('1.5e300'), n('1.5e300'));
    assert.deepEqual(q1('-1.25'), n('-1.25'));
    assert.deepEqual(q1('- 3'), n('-3'));
    assert.deepEqual(q1('.5'), n('0.5'));
    assert.deepEqual(q1('-.5'), n('-0.5'));
    assert.deepEqual(q1('0.5'), n('0.5'));
    assert.deepEqual(q1('0e5'), n('0e5'));
    assert.deepEqual(q1('0'), n('0'));
  });

  test('invalid numbers', () => {
    assert.match(parseErr(() => parseQuery('01')).message, /expected number without leading zero/);
    assert.match(parseErr(() => parseQuery('1.')).message, /expected fraction/);
    assert.match(parseErr(() => parseQuery('1e')).message, /expected exponent/);
    assert.match(parseErr(() => parseQuery('1e99999999')).message, /number too big/);
    // Unary minus applies to number literals only, as in OPA.
    assert.match(parseErr(() => parseQuery('x := -y')).message, /unexpected identifier token: expected number/);
  });

  test('invalid strings', () => {
    assert.match(parseErr(() => parseQuery('"a\\qb"')).message, /illegal escape sequence/);
    assert.match(parseErr(() => parseQuery('"abc')).message, /non-terminated string/);
    assert.match(parseErr(() => parseQuery('"\\u12g4"')).message, /illegal/);
    assert.match(parseErr(() => parseQuery('`abc')).message, /non-terminated string/);
    assert.match(parseErr(() => parseQuery('x := 1 @ 2')).message, /illegal token/);
  });

  test('refs', () => {
    assert.deepEqual(q1('data.a.b[c].d["e-f"]'), ref(v('data'), s('a'), s('b'), v('c'), s('d'), s('e-f')));
    assert.deepEqual(q1('input'), ref(v('input')));
    assert.deepEqual(q1('data'), ref(v('data')));
    assert.deepEqual(q1('x'), v('x'));
    assert.deepEqual(q1('x[y[0]]'), ref(v('x'), ref(v('y'), n('0'))));
    assert.deepEqual(q1('[1, 2][0]'), ref(arr(n('1'), n('2')), n('0')));
    assert.deepEqual(q1('input.in.if.contains'), ref(v('input'), s('in'), s('if'), s('contains')));
    assert.deepEqual(q1('x[a + 1]'), ref(v('x'), call('plus', v('a'), n('1'))));
  });

  test('whitespace separates a term from a following [ ( or .', () => {
    assert.match(parseErr(() => parseQuery('x [0]')).message, /unexpected \[ token: expected \\n or ; or eof/);
    assert.match(parseErr(() => parseQuery('count (x)')).message, /unexpected \( token/);
  });

  test('illegal ref heads', () => {
    assert.match(parseErr(() => parseQuery('"abc".x')).message, /illegal ref \(head cannot be string\)/);
  });

  test('calls', () => {
    assert.deepEqual(q1('count(x)'), call('count', v('x')));
    assert.deepEqual(q1('strings.replace_n(a, b)'), call('strings.replace_n', v('a'), v('b')));
    assert.deepEqual(q1('f()'), call('f'));
    assert.deepEqual(q1('set()'), set());
    assert.deepEqual(q1('data.lib.f(x).y[0]'), ref(call('data.lib.f', v('x')), s('y'), n('0')));
    assert.deepEqual(q1('contains("abc", "b")'), call('contains', s('abc'), s('b')));
    assert.deepEqual(q1('f(1,)'), call('f', n('1')));
  });

  test('collections', () => {
    assert.deepEqual(q1('[]'), arr());
    assert.deepEqual(q1('{}'), obj());
    assert.deepEqual(q1('[1, "a", [true]]'), arr(n('1'), s('a'), arr(b(true))));
    assert.deepEqual(q1('{1, 2,}'), set(n('1'), n('2')));
    assert.deepEqual(q1('{"a": 1, x: [2]}'), obj([s('a'), n('1')], [v('x'), arr(n('2'))]));
    assert.deepEqual(q1('{a + 1: b}'), obj([call('plus', v('a'), n('1')), v('b')]));
    assert.deepEqual(q1('{x * 2}'), set(call('mul', v('x'), n('2'))));
  });

  test('comprehensions win over `|` in ambiguous positions', () => {
    const body = [expr(ref(v('xs'), v('x')))];
    assert.deepEqual(q1('[x | xs[x]]'), { type: 'arraycompr', term: v('x'), body });
    assert.deepEqual(q1('{x | xs[x]}'), { type: 'setcompr', term: v('x'), body });
    assert.deepEqual(q1('{x: 1 | xs[x]}'), { type: 'objectcompr', key: v('x'), value: n('1'), body });
    // When the comprehension body fails at a comma, the brackets hold an `or` call.
    assert.deepEqual(q1('[a | b, c]'), arr(call('or', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('{a | b, c}'), set(call('or', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('(a | b)'), call('or', v('a'), v('b')));
  });

  test('comprehension bodies over several lines and with ;', () => {
    const t = q1('[x |\n  some x in xs\n  x > 1; x < 5\n]');
    assert.equal(t.type, 'arraycompr');
    assert.equal((t as { body: Body }).body.length, 3);
  });

  test('wildcards are renamed uniquely', () => {
    const body = strip(parseQuery('x[_] = y[_]; _ = 1'));
    assert.deepEqual(body[0].terms, call('eq', ref(v('x'), w(0)), ref(v('y'), w(1))));
    assert.deepEqual(body[1].terms, call('eq', w(2), n('1')));
  });
});

describe('operators', () => {
  test('arithmetic precedence and left associativity', () => {
    assert.deepEqual(q1('a + b * c'), call('plus', v('a'), call('mul', v('b'), v('c'))));
    assert.deepEqual(q1('a * b + c'), call('plus', call('mul', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('a - b - c'), call('minus', call('minus', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('a / b % c'), call('rem', call('div', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('(a + b) * c'), call('mul', call('plus', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('a-1'), call('minus', v('a'), n('1')));
    assert.deepEqual(q1('a - -1'), call('minus', v('a'), n('-1')));
  });

  test('set operators and relations', () => {
    assert.deepEqual(q1('a | b & c'), call('or', v('a'), call('and', v('b'), v('c'))));
    assert.deepEqual(q1('a & b | c'), call('or', call('and', v('a'), v('b')), v('c')));
    assert.deepEqual(q1('a + 1 == b | c'), call('equal', call('plus', v('a'), n('1')), call('or', v('b'), v('c'))));
    for (const [op, name] of [['!=', 'neq'], ['<', 'lt'], ['<=', 'lte'], ['>', 'gt'], ['>=', 'gte']]) {
      assert.deepEqual(q1(`a ${op} b`), call(name, v('a'), v('b')));
    }
    assert.deepEqual(q1('a == b == c'), call('equal', call('equal', v('a'), v('b')), v('c')));
  });

  test('assignment and unification only at the top of an expression', () => {
    assert.deepEqual(q1('x := y + 1'), call('assign', v('x'), call('plus', v('y'), n('1'))));
    assert.deepEqual(q1('[x, y] = [1, 2]'), call('eq', arr(v('x'), v('y')), arr(n('1'), n('2'))));
    assert.match(parseErr(() => parseQuery('x = y = z')).message, /unexpected eq token/);
    assert.match(parseErr(() => parseQuery('f(x := 1)')).message, /unexpected assign token/);
  });

  test('membership', () => {
    assert.deepEqual(q1('x in xs'), call('internal.member_2', v('x'), v('xs')));
    assert.deepEqual(q1('k, v in xs'), call('internal.member_3', v('k'), v('v'), v('xs')));
    // `in` binds looser than relations.
    assert.deepEqual(q1('x in xs == true'), call('internal.member_2', v('x'), call('equal', v('xs'), b(true))));
    assert.deepEqual(q1('x == 1 in xs'), call('internal.member_2', call('equal', v('x'), n('1')), v('xs')));
    assert.deepEqual(q1('x in xs in ys'), call('internal.member_2', call('internal.member_2', v('x'), v('xs')), v('ys')));
    // In argument lists a comma separates arguments.
    assert.deepEqual(q1('f(k, v in xs)'), call('f', v('k'), call('internal.member_2', v('v'), v('xs'))));
    assert.deepEqual(q1('y := x in xs'), call('assign', v('y'), call('internal.member_2', v('x'), v('xs'))));
  });
});

// ------------------------------------------------------------------ literals and queries

describe('literals', () => {
  test('not, with', () => {
    const body = strip(parseQuery('not f(x) with input.a as 1 with data.b as {"c": 2}'));
    assert.deepEqual(body, [
      expr(call('f', v('x')), {
        negated: true,
        with: [
          { target: ref(v('input'), s('a')), value: n('1') },
          { target: ref(v('data'), s('b')), value: obj([s('c'), n('2')]) },
        ],
      }),
    ]);
    assert.match(parseErr(() => parseQuery('x with 1 as 2')).message, /unexpected number token: expected ident/);
    assert.match(parseErr(() => parseQuery('x with input 2')).message, /expected as keyword/);
  });

  test('some declarations', () => {
    assert.deepEqual(strip(parseQuery('some x, y')), [expr({ type: 'some', symbols: [v('x'), v('y')] } as never)]);
    assert.deepEqual(strip(parseQuery('some x in xs')), [
      expr({ type: 'some', symbols: [call('internal.member_2', v('x'), v('xs'))] } as never),
    ]);
    assert.deepEqual(strip(parseQuery('some k, v in xs')), [
      expr({ type: 'some', symbols: [call('internal.member_3', v('k'), v('v'), v('xs'))] } as never),
    ]);
    assert.match(parseErr(() => parseQuery('some 1')).message, /unexpected number token: expected var/);
    assert.match(parseErr(() => parseQuery('not some x')).message, /illegal negation of 'some'/);
    assert.match(parseErr(() => parseQuery('some x == y')).message, /expected `x in xs` or `x, y in xs` expression/);
  });

  test('every', () => {
    assert.deepEqual(strip(parseQuery('every k, v in xs { v > k }')), [
      expr({
        type: 'every',
        key: v('k'),
        value: v('v'),
        domain: v('xs'),
        body: [expr(call('gt', v('v'), v('k')))],
      } as never),
    ]);
    const e = strip(parseQuery('every x in [1, 2] {\n  x > 0\n  x < 3\n}'))[0].terms as { type: string; key?: Term; body: Body };
    assert.equal(e.type, 'every');
    assert.equal(e.key, undefined);
    assert.equal(e.body.length, 2);
    assert.match(parseErr(() => parseQuery('every x in xs')).message, /missing body/);
    assert.match(parseErr(() => parseQuery('every 1 in xs { true }')).message, /expected value to be a variable/);
    assert.match(parseErr(() => parseQuery('every x { true }')).message, /expected `x\[, y\] in xs \{ \.\.\. \}` expression/);
    assert.match(parseErr(() => parseQuery('not every x in xs { x }')).message, /illegal negation of 'every'/);
  });

  test('queries over lines and with ;', () => {
    assert.equal(parseQuery('x := 1; y := 2\nz := 3\n\n').length, 3);
    assert.match(parseErr(() => parseQuery('x := 1 y := 2')).message, /unexpected identifier token: expected \\n or ; or eof/);
    assert.match(parseErr(() => parseQuery('')).message, /empty query/);
    assert.match(parseErr(() => parseQuery('x;;')).message, /unexpected ; token/);
  });

  test('keywords are off in v0 queries', () => {
    assert.deepEqual(strip(parseQuery('if := 1', '', { regoVersion: 0 }))[0].terms, call('assign', v('if'), n('1')));
    assert.match(parseErr(() => parseQuery('if := 1')).message, /unexpected if keyword/);
  });
});

// ------------------------------------------------------------------ modules: v1

describe('modules (v1)', () => {
  test('package and imports', () => {
    const m = strip(mod('package a.b["c-d"]\nimport data.lib.x as y\nimport input.spec\nimport rego.v1\nimport future.keywords.in\n'));
    assert.deepEqual(m.package.path, ref(v('data'), s('a'), s('b'), s('c-d')));
    assert.deepEqual(m.imports, [
      { path: ref(v('data'), s('lib'), s('x')), alias: 'y' },
      { path: ref(v('input'), s('spec')) },
      { path: ref(v('rego'), s('v1')) },
      { path: ref(v('future'), s('keywords'), s('in')) },
    ]);
    assert.deepEqual(m.rules, []);
    assert.equal(m.regoVersion, 1);
    assert.equal(m.file, 'test.rego');
  });

  test('package and import errors', () => {
    assert.match(parseErr(() => mod('package a[x]')).message, /unexpected var token: expecting string/);
    assert.match(parseErr(() => mod('package a\nimport foo.bar')).message, /unexpected import path, must begin with one of: \{data, future, input, rego\}, got: foo/);
    assert.match(parseErr(() => mod('package a\nimport rego.v2')).message, /invalid import `rego.v2`, must be `rego.v1`/);
    assert.match(parseErr(() => mod('package a\nimport future.keywords.foo')).message, /unexpected keyword, must be one of \[contains every if in\]/);
    assert.match(parseErr(() => mod('p := 1')).message, /package expected/);
    assert.match(parseErr(() => mod('')).message, /empty module/);
    assert.match(parseErr(() => mod('# only a comment\n')).message, /empty module/);
    assert.match(parseErr(() => mod('package a\npackage b')).message, /unexpected package/);
  });

  test('complete rules', () => {
    assert.deepEqual(rules('package a\np := 1\nq = "x"\n'), [
      { default: false, head: { ref: [v('p')], value: n('1'), assign: true }, body: [expr(b(true))] },
      { default: false, head: { ref: [v('q')], value: s('x'), assign: false }, body: [expr(b(true))] },
    ]);
    assert.deepEqual(rules('package a\nallow if input.x == 1\n'), [
      { default: false, head: { ref: [v('allow')], assign: false }, body: [expr(call('equal', ref(v('input'), s('x')), n('1')))] },
    ]);
    assert.deepEqual(rules('package a\nr := x if {\n  x := 2\n}\n')[0].head, { ref: [v('r')], assign: true, value: v('x') });
    assert.deepEqual(rules('package a\nt if { true }\n')[0].body, [expr(b(true))]);
  });

  test('default rules', () => {
    assert.deepEqual(rules('package a\ndefault allow := false\ndefault f(_) := 1\n'), [
      { default: true, head: { ref: [v('allow')], assign: true, value: b(false) }, body: [expr(b(true))] },
      { default: true, head: { ref: [v('f')], assign: true, args: [w(0)], value: n('1') }, body: [expr(b(true))] },
    ]);
    assert.match(parseErr(() => mod('package a\ndefault p := x')).message, /illegal default rule \(value cannot contain var\)/);
    assert.match(parseErr(() => mod('package a\ndefault p')).message, /illegal default rule \(must have a value\)/);
  });

  test('multi-value rules and ref heads', () => {
    assert.deepEqual(rules('package a\np contains x if { some x in [1] }\n')[0].head, { ref: [v('p')], assign: false, key: v('x') });
    assert.deepEqual(rules('package a\np contains "a"\n'), [
      { default: false, head: { ref: [v('p')], assign: false, key: s('a') }, body: [expr(b(true))] },
    ]);
    assert.deepEqual(rules('package a\na.b contains x if { x := 1 }\n')[0].head, { ref: [v('a'), s('b')], assign: false, key: v('x') });
    assert.deepEqual(rules('package a\na.b[c].d := 1 if { c := "k" }\n')[0].head, {
      ref: [v('a'), s('b'), v('c'), s('d')],
      assign: true,
      value: n('1'),
    });
    assert.deepEqual(rules('package a\nq[x] := 1 if { x := "k" }\n')[0].head, { ref: [v('q'), v('x')], assign: true, value: n('1') });
  });

  test('p[x] if ... is a single-value rule with value true (no key)', () => {
    const [r] = rules('package a\np[x] if { x := "a" }\n');
    assert.deepEqual(r.head, { ref: [v('p'), v('x')], assign: false });
    assert.equal(r.head.key, undefined);
    assert.equal(r.head.value, undefined);
  });

  test('functions, several definitions and else chains', () => {
    const rs = rules('package a\nf(x, y) := z if { z := x + y }\nf(1, _) := 0\ng(x) := "a" if { x > 1 } else := "b" if { x > 0 } else := "c"\n');
    assert.equal(rs.length, 3);
    assert.deepEqual(rs[0].head, { ref: [v('f')], assign: true, args: [v('x'), v('y')], value: v('z') });
    assert.deepEqual(rs[1].head, { ref: [v('f')], args: [n('1'), w(0)], value: n('0'), assign: true });
    const g = rs[2];
    assert.deepEqual(g.head.value, s('a'));
    assert.deepEqual(g.else?.head, { ref: [v('g')], assign: true, args: [v('x')], value: s('b') });
    assert.deepEqual(g.else?.body, [expr(call('gt', v('x'), n('0')))]);
    assert.deepEqual(g.else?.else?.head.value, s('c'));
    assert.deepEqual(g.else?.else?.body, [expr(b(true))]);
    assert.equal(g.else?.else?.else, undefined);
  });

  test('else without value has value true', () => {
    const [r] = rules('package a\np := 1 if { false } else if { true }\n');
    assert.equal(r.else?.head.value, undefined);
    assert.deepEqual(r.else?.body, [expr(b(true))]);
  });

  test('else errors', () => {
    assert.match(parseErr(() => mod('package a\np contains x if { x := 1 } else := 2')).message, /else keyword cannot be used on multi-value rules/);
    assert.match(parseErr(() => mod('package a\np[x] := 1 if { x := 1 } else := 2')).message, /else keyword cannot be used on rules with variables in head/);
    assert.match(parseErr(() => mod('package a\np := 1 if { true } else 2')).message, /expected else value term or rule body/);
  });

  test('v1 checks', () => {
    const e1 = parseErr(() => mod('package a\np { true }', 1));
    assert.equal(e1.errors[0].detail, '`if` keyword is required before rule body');
    assert.deepEqual(e1.errors[0].location, { file: 'test.rego', row: 2, col: 1 });
    const e2 = parseErr(() => mod('package a\np[x] { x := 1 }', 1));
    assert.deepEqual(
      e2.errors.map((e) => e.detail),
      ['`if` keyword is required before rule body', '`contains` keyword is required for partial set rules'],
    );
    assert.match(parseErr(() => mod('package a\nf(x) { x }', 1)).message, /`if` keyword is required before function body/);
    assert.match(parseErr(() => mod('package a\na.b.c', 1)).message, /rule must have value assignment and\/or body declaration/);
    assert.match(parseErr(() => mod('package a\np.q', 1)).message, /`contains` keyword is required for partial set rules/);
  });

  test('statements that are no rules', () => {
    const e = parseErr(() => mod('package a\nx\n"s"\ncount(y)\nnot p\np := 1; q := 2\n'));
    assert.deepEqual(
      e.errors.map((x) => [x.detail, x.location?.row]),
      [
        ['var cannot be used for rule name', 2],
        ['string cannot be used for rule name', 3],
        ['rule name conflicts with built-in function', 4],
        ['negated expressions cannot be used for rule head', 5],
        ['multiple expressions cannot be used for rule head', 6],
      ],
    );
    assert.match(parseErr(() => mod('package a\nx > 1')).message, /rule name conflicts with built-in function/);
    assert.match(parseErr(() => mod('package a\n1 = x')).message, /number cannot be used for rule name/);
  });

  test('syntax errors with OPA wording and locations', () => {
    const e = parseErr(() => mod('package a\n\np if {\n  x := [1, 2\n}\n'));
    assert.equal(e.errors[0].detail, 'unexpected } token: expected "," or "]"');
    assert.deepEqual(e.errors[0].location, { file: 'test.rego', row: 5, col: 1 });
    assert.equal(e.message, 'test.rego:5:1: rego_parse_error: unexpected } token: expected "," or "]"');
    assert.match(parseErr(() => mod('package a\np if {')).message, /unexpected eof token/);
    assert.match(parseErr(() => mod('package a\np { }', 0)).message, /found empty body/);
    // `p if {}` is OPA's "p if <empty object>", which is valid.
    assert.deepEqual(rules('package a\np if { }')[0].body, [expr(obj())]);
    assert.match(parseErr(() => mod('package a\np if { x y }')).message, /unexpected identifier token: expected \\n or ; or \}/);
    assert.match(parseErr(() => mod('package a\np := ')).message, /unexpected eof token/);
    assert.match(parseErr(() => mod('package a\np if { x := (1 + 2 }')).message, /non-terminated expression/);
    assert.match(parseErr(() => mod('package a\np := {"a" 1}')).message, /non-terminated set/);
    assert.match(parseErr(() => mod('package a\np := 1 } ')).message, /unexpected \} token/);
    assert.match(parseErr(() => mod('package a\np := $')).message, /illegal \$ character/);
  });

  test('comments and locations', () => {
    const m = mod('# head\npackage a # pkg\n\nallow if {\n  input.x == "é" # c\n  f(1)\n}\n', 1);
    assert.deepEqual(
      m.comments?.map((c) => [c.text, c.loc.row, c.loc.col]),
      [
        [' head', 1, 1],
        [' pkg', 2, 11],
        [' c', 5, 18],
      ],
    );
    assert.deepEqual(m.package.loc, { file: 'test.rego', row: 2, col: 1 });
    const r = m.rules[0];
    assert.deepEqual(r.loc, { file: 'test.rego', row: 4, col: 1 });
    assert.deepEqual(r.head.loc, { file: 'test.rego', row: 4, col: 1 });
    assert.equal(r.module, m);
    const e0 = r.body[0];
    assert.deepEqual(e0.loc, { file: 'test.rego', row: 5, col: 3 });
    const c = e0.terms as Extract<Term, { type: 'call' }>;
    assert.deepEqual(c.loc, { file: 'test.rego', row: 5, col: 3 });
    assert.deepEqual(c.operator.loc, { file: 'test.rego', row: 5, col: 11 });
    assert.deepEqual(c.args[1].loc, { file: 'test.rego', row: 5, col: 14 });
    const ref0 = c.args[0] as Extract<Term, { type: 'ref' }>;
    assert.deepEqual(ref0.terms[1].loc, { file: 'test.rego', row: 5, col: 9 });
    assert.deepEqual(r.body[1].loc, { file: 'test.rego', row: 6, col: 3 });
  });

  test('every location carries the file', () => {
    const m = mod('package a\nimport rego.v1\nf(x) := y if { y := [z | some z in x; not z == 1 with input as {1}] }\n');
    const missing: string[] = [];
    const walk = (x: unknown, path: string): void => {
      if (Array.isArray(x)) x.forEach((y, i) => walk(y, `${path}[${i}]`));
      else if (x && typeof x === 'object') {
        const o = x as Record<string, unknown>;
        if ('type' in o || 'terms' in o || 'head' in o || 'target' in o) {
          const loc = o.loc as { file?: string; row?: number } | undefined;
          if (!loc || loc.file !== 'test.rego' || !(loc.row! >= 1)) missing.push(path);
        }
        for (const [k, y] of Object.entries(o)) if (k !== 'module' && k !== 'loc') walk(y, `${path}.${k}`);
      }
    };
    walk(m.rules, 'rules');
    walk(m.imports, 'imports');
    assert.deepEqual(missing, []);
  });

  test('wildcards are unique per module', () => {
    const m = strip(mod('package a\np if { x[_] }\nq if { y[_] }\n'));
    assert.deepEqual(m.rules[0].body[0].terms, ref(v('x'), w(0)));
    assert.deepEqual(m.rules[1].body[0].terms, ref(v('y'), w(1)));
  });

  test('METADATA annotations', () => {
    const m = mod(
      '# METADATA\n# title: My package\n# scope: subpackages\npackage a\n\n# METADATA\n# description: allow it\n# custom:\n#   severity: high\nallow if true\n',
    );
    assert.deepEqual(strip(m.annotations), [
      { scope: 'subpackages', raw: { title: 'My package', scope: 'subpackages' } },
      { scope: 'rule', raw: { description: 'allow it', custom: { severity: 'high' } } },
    ]);
    assert.deepEqual(m.annotations?.[1].loc, { file: 'test.rego', row: 6, col: 1 });
    assert.match(parseErr(() => mod('package a\n# METADATA\n# scope: package\np := 1\n')).message, /annotation scope 'package' must be applied to package/);
    assert.match(parseErr(() => mod('package a\n# METADATA\n# scope: nope\np := 1\n')).message, /invalid annotation scope 'nope'/);
    assert.match(parseErr(() => mod('package a\n# METADATA\n# title: [\np := 1\n')).message, /yaml/);
    // Nested absurdly deep: a clear error at the block (building it could abort the process).
    assert.equal(parseErr(() => mod(`package a\n# METADATA\n# custom:\n#   x: ${'['.repeat(3000)}\np := 1\n`)).message, 'test.rego:2:1: rego_parse_error: yaml: METADATA nested more than 200 levels deep');
    assert.equal(mod('package a\np := 1\n').annotations, undefined);
  });
});

// ------------------------------------------------------------------ modules: v0 and auto

describe('modules (v0 and auto)', () => {
  const v0src = 'package a\np[x] { x := input.xs[_] }\nobj[k] = v { v := input.o[k] }\nq { true }\nr = 1 { false } else = 2 { true }\ns { false } { true }\n';

  test('v0 forms', () => {
    const rs = rules(v0src, 0);
    assert.deepEqual(rs[0].head, { ref: [v('p')], assign: false, key: v('x') });
    assert.deepEqual(rs[1].head, { ref: [v('obj'), v('k')], assign: false, value: v('v') });
    assert.deepEqual(rs[2].head, { ref: [v('q')], assign: false });
    assert.deepEqual(rs[3].else?.head.value, n('2'));
    assert.equal(rs.length, 6);
    assert.deepEqual(rs[4].head.ref, [v('s')]);
    assert.deepEqual(rs[5].head.ref, [v('s')]);
    assert.deepEqual(rs[5].body, [expr(b(true))]);
    assert.equal(mod(v0src, 0).regoVersion, 0);
  });

  test('v0 statements: partial set element and complete rules without body', () => {
    assert.deepEqual(rules('package a\np["x"]\np.y\nq = 1\n', 0).map((r) => r.head), [
      { ref: [v('p')], assign: false, key: s('x') },
      { ref: [v('p')], assign: false, key: s('y') },
      { ref: [v('q')], value: n('1'), assign: false },
    ]);
  });

  test('v0 keywords need imports', () => {
    assert.match(parseErr(() => mod('package a\np if { true }', 0)).message, /rego_parse_error/);
    const m = mod('package a\nimport future.keywords.if\nimport future.keywords.in\np if { 1 in [1] }\n', 0);
    assert.deepEqual(strip(m.rules[0].body[0].terms), call('internal.member_2', n('1'), arr(n('1'))));
    const m2 = mod('package a\nimport future.keywords\np contains x if { some x in [1] }\nq if { every x in [1] { x > 0 } }\n', 0);
    assert.equal(m2.rules.length, 2);
    // Without the import `contains` and `in` are plain names.
    assert.equal(rules('package a\nin := 1\ncontains(x) = true { x }', 0).length, 2);
  });

  test('import rego.v1 makes a v0-mode module follow v1 rules', () => {
    const m = mod('package a\nimport rego.v1\np contains 1 if true\n', 0);
    assert.equal(m.regoVersion, 1);
    assert.match(parseErr(() => mod('package a\nimport rego.v1\np { true }\n', 0)).message, /`if` keyword is required/);
  });

  test('auto: v1 first, v0 fallback', () => {
    const m = mod(v0src);
    assert.equal(m.regoVersion, 0);
    assert.equal(m.rules.length, 6);
    assert.equal(mod('package a\np if { true }\n').regoVersion, 1);
    // Valid in both: v1.
    assert.equal(mod('package a\np := 1\n').regoVersion, 1);
  });

  test('auto: v1-only module with import rego.v1 never falls back', () => {
    const e = parseErr(() => mod('package a\nimport rego.v1\np { true }\n'));
    assert.match(e.message, /`if` keyword is required before rule body/);
    assert.ok(!e.message.includes('--v0-compatible'));
  });

  test('auto: when both fail, v1 errors with a hint for v0 code', () => {
    // v0 code with an error later in the file: the hint tells the user about --v0-compatible.
    const e = parseErr(() => mod('package a\np { true }\nq := [\n'));
    assert.ok(e.errors[0].detail.endsWith(V0_HINT), e.errors[0].detail);
    // A plain syntax error in v1 code: no hint.
    const e2 = parseErr(() => mod('package a\np := [\n'));
    assert.ok(!e2.message.includes('--v0-compatible'));
  });

  test('explicit v1 rejects v0 syntax', () => {
    assert.match(parseErr(() => mod(v0src, 1)).message, /`if` keyword is required/);
  });

  test('keywords as rule names in v0 and in refs', () => {
    const m = strip(mod('package a\np := input.if.else\n', 1));
    assert.deepEqual(m.rules[0].head.value, ref(v('input'), s('if'), s('else')));
  });
});

// ------------------------------------------------------------------ REPL, terms, helpers

describe('REPL statements', () => {
  test('rules, packages, imports and queries', () => {
    const st = parseStatements('package repl\nimport input.x\nallow if { x }\nf(x) := y if { y := x }\ncount(input) > 1\n');
    assert.deepEqual(
      st.map((x) => x.kind),
      ['package', 'import', 'rule', 'rule', 'query'],
    );
  });

  test('one-expression assignments are rule candidates', () => {
    const [a] = parseStatements('input = data.mock.allowed');
    assert.equal(a.kind, 'query');
    assert.ok(a.kind === 'query' && a.asRule && a.isUnification);
    assert.deepEqual(strip(a.kind === 'query' ? a.asRule?.head : undefined), {
      ref: [v('input')],
      value: ref(v('data'), s('mock'), s('allowed')),
      assign: false,
    });
    const [b2] = parseStatements('x := 1');
    assert.ok(b2.kind === 'query' && b2.asRule?.head.assign === true && !b2.isUnification);
    const [c] = parseStatements('user["role"] := "admin"');
    assert.ok(c.kind === 'query' && c.asRule);
    // A ref into data or input is a question, never a definition.
    const [d] = parseStatements('data.foo.bar = 1');
    assert.ok(d.kind === 'query' && !d.asRule);
    const [e] = parseStatements('x == 1');
    assert.ok(e.kind === 'query' && !e.asRule);
  });

  test('v0 rules in auto mode', () => {
    const st = parseStatements('p[x] { x := 1 }');
    assert.equal(st[0].kind, 'rule');
  });

  test('errors', () => {
    assert.match(parseErr(() => parseStatements('x := [')).message, /unexpected eof token/);
  });
});

describe('parseTerm and ruleFromQuery', () => {
  test('parseTerm', () => {
    assert.deepEqual(strip(parseTerm('data.a.b')), ref(v('data'), s('a'), s('b')));
    assert.deepEqual(strip(parseTerm('{"a": [1]}')), obj([s('a'), arr(n('1'))]));
    assert.deepEqual(strip(parseTerm('count(x)')), call('count', v('x')));
    assert.throws(() => parseTerm('x = 1'), RegoErrors);
    assert.throws(() => parseTerm('x; y'), RegoErrors);
    assert.throws(() => parseTerm('not x'), RegoErrors);
  });

  test('ruleFromQuery', () => {
    assert.deepEqual(strip(ruleFromQuery(parseQuery('f(x) = 1')).head), { ref: [v('f')], args: [v('x')], value: n('1'), assign: false });
    assert.throws(() => ruleFromQuery(parseQuery('x')), /var cannot be used for rule name/);
  });
});

describe('robustness', () => {
  test('deep nesting is a parse error, not a stack overflow', () => {
    for (const src of ['['.repeat(100000), 'x := ' + '{"a": '.repeat(20000), 'x := ' + 'f('.repeat(20000), '('.repeat(50000)]) {
      const e = parseErr(() => parseQuery(src));
      assert.match(e.message, /max parsing recursion depth exceeded/);
      parseErr(() => mod('package a\np if { ' + src + ' }'));
    }
  });

  test('moderately deep nesting is fine', () => {
    const t = q1('['.repeat(200) + ']'.repeat(200));
    assert.equal(t.type, 'array');
  });

  test('long flat input', () => {
    assert.equal(parseQuery('x := 0' + ' + 1'.repeat(400)).length, 1);
    // Each operator nests the tree a level deeper, and the compiler walks it recursively: past
    // the depth limit a chain is a parse error, never a stack overflow.
    assert.throws(() => parseQuery('x := 0' + ' + 1'.repeat(20000)), /rego_parse_error: max parsing recursion depth exceeded/);
  });
});

describe('format', () => {
  test('terms print with minimal parentheses and re-parse', async () => {
    const { formatTerm, formatModule, formatBody } = await import('../src/rego/format.js');
    const cases: Array<[string, string]> = [
      ['(a - b) - c', 'a - b - c'],
      ['a - (b - c)', 'a - (b - c)'],
      ['[(x + 1) | x := 1]', '[(x + 1) | x := 1]'],
      ['[(a | b)]', '[(a | b)]'],
      ['f((k, v in xs))', 'f((k, v in xs))'],
      ['x in (a == b)', 'x in a == b'],
      ['set()', 'set()'],
      ['{"a-b": [1, null], "c": {true}}', '{"a-b": [1, null], "c": {true}}'],
      ['data.x["y-z"][_].w', 'data.x["y-z"][_].w'],
      ['`raw\\n`', '"raw\\\\n"'],
    ];
    for (const [src, want] of cases) assert.equal(formatTerm(parseTerm(src)), want, src);
    assert.equal(formatBody(parseQuery('x := 1; not y with input as 2')), 'x := 1\nnot y with input as 2');
    const m = mod('package a["b-c"]\nimport data.x as y\np[x] { x := 1 }\nq = 2 { true }\n', 0);
    assert.equal(formatModule(m), 'package a["b-c"]\n\nimport data.x as y\n\np contains x if {\n  x := 1\n}\n\nq = 2\n');
  });
});
