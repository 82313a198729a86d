// Unit tests for the net, graph, uuid, misc, http and schema builtins, called through the
// builtin table exactly as the evaluator calls them (operand check, then impl).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import '../src/rego/builtins/index.js';
import { checkOperands, getBuiltin, type BuiltinContext, type BuiltinHooks } from '../src/rego/builtins/registry.js';
import { BuiltinError } from '../src/rego/errors.js';
import { RObject, RSet, fromJSON, toJSON, type Value } from '../src/rego/value.js';
import { formatIP, parseCIDR, parseIP } from '../src/rego/builtins/net.js';
import { goLimit } from '../src/rego/builtins/schema.js';

function ctx(hooks: BuiltinHooks = {}): BuiltinContext {
  return { nowNs: 0n, queryCache: new Map(), hooks };
}

function call(name: string, args: Value[], c: BuiltinContext = ctx()): Value | undefined {
  const def = getBuiltin(name);
  assert.ok(def, `${name} is registered`);
  checkOperands(def, args);
  return def.impl(args, c);
}

function json(name: string, args: unknown[], c?: BuiltinContext): unknown {
  const v = call(name, args.map((a) => (a instanceof RSet || a instanceof RObject ? a : fromJSON(a))), c);
  return v === undefined ? undefined : toJSON(v);
}

function errorOf(fn: () => unknown): BuiltinError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof BuiltinError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

describe('net address parsing', () => {
  it('accepts what Go accepts and rejects the rest', () => {
    assert.ok(parseIP('1.2.3.4'));
    assert.ok(parseIP('::'));
    assert.ok(parseIP('::ffff:1.2.3.4'));
    assert.ok(parseIP('2001:DB8::1'));
    assert.ok(parseIP('1:2:3:4:5:6:1.2.3.4'));
    for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1.2.3.-1', ':::', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', 'fe80::1%eth0', '1:2:3:4:5:1.2.3.4', '']) {
      assert.equal(parseIP(bad), undefined, bad);
    }
  });

  it('formats IPv6 the way Go does (RFC 5952)', () => {
    const f = (s: string) => formatIP(parseIP(s)!.addr);
    assert.equal(f('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(f('1:0:0:2:0:0:0:3'), '1:0:0:2::3');
    assert.equal(f('1:0:0:2:0:0:3:4'), '1::2:0:0:3:4');
    assert.equal(f('1:0:2:3:4:5:6:7'), '1:0:2:3:4:5:6:7');
    assert.equal(f('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(f('::1.2.3.4'), '::102:304');
  });

  it('round-trips random IPv6 addresses', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), (groups) => {
        const text = groups.map((g) => g.toString(16)).join(':');
        const a = parseIP(text)!.addr;
        assert.equal(parseIP(formatIP(a))!.addr, a);
      }),
    );
  });

  it('masks CIDRs to their network', () => {
    assert.equal(parseCIDR('10.1.2.3/8')?.prefix, 104);
    assert.equal(parseCIDR('2001:db8::/200'), undefined);
    assert.equal(parseCIDR('1.2.3.4/8/9'), undefined);
  });
});

describe('net builtins', () => {
  it('cidr_contains handles addresses, networks and families', () => {
    assert.equal(json('net.cidr_contains', ['10.0.0.0/8', '10.255.255.255']), true);
    assert.equal(json('net.cidr_contains', ['10.0.0.0/8', '10.0.0.0/7']), false);
    assert.equal(json('net.cidr_contains', ['::ffff:0:0/96', '1.2.3.4']), true);
    assert.equal(json('net.cidr_contains', ['::/0', '::ffff:1.2.3.4']), false);
    assert.equal(json('net.cidr_contains', ['2001:db8::/32', '2001:db8:ffff:ffff::/64']), true);
  });

  it('cidr_contains reports bad operands with OPA messages', () => {
    assert.equal(errorOf(() => call('net.cidr_contains', ['x', '1.1.1.1'])).message, 'invalid CIDR address: x');
    assert.equal(
      errorOf(() => call('net.cidr_contains', ['1.0.0.0/8', '1.1.1.1/33'])).message,
      'not a valid textual representation of an IP address or CIDR: 1.1.1.1/33',
    );
    assert.equal(errorOf(() => call('net.cidr_contains', [1, '1.1.1.1'])).message, 'operand 1 must be string but got number');
  });

  it('cidr_expand refuses networks too large to list', () => {
    assert.match(errorOf(() => call('net.cidr_expand', ['10.0.0.0/8'])).message, /16777216 addresses/);
    assert.equal((call('net.cidr_expand', ['10.0.0.0/16']) as RSet).size, 65536);
    assert.deepEqual(json('net.cidr_expand', ['255.255.255.254/31']), ['255.255.255.254', '255.255.255.255']);
  });

  it('cidr_merge covers exactly the addresses of its inputs', () => {
    const block = fc.record({ third: fc.integer({ min: 0, max: 3 }), fourth: fc.integer({ min: 0, max: 255 }), bits: fc.integer({ min: 24, max: 32 }) });
    fc.assert(
      fc.property(fc.array(block, { maxLength: 8 }), (blocks) => {
        const cidrs = blocks.map((b) => `10.0.${b.third}.${b.fourth}/${b.bits}`);
        const expand = (xs: string[]) => new Set(xs.flatMap((c) => (call('net.cidr_expand', [c]) as RSet).values() as string[]));
        const merged = (call('net.cidr_merge', [cidrs]) as RSet).values() as string[];
        assert.deepEqual([...expand(merged)].sort(), [...expand(cidrs)].sort());
        // Merged blocks never overlap or touch in a way that a single bigger block could replace.
        for (const a of merged) for (const b of merged) if (a !== b) assert.equal(json('net.cidr_intersects', [a, b]), false);
      }),
      { numRuns: 60 },
    );
  });

  it('cidr_merge accepts sets and rejects non-strings', () => {
    assert.deepEqual(json('net.cidr_merge', [RSet.from(['10.0.0.0/25', '10.0.0.128/25'])]), ['10.0.0.0/24']);
    assert.equal(errorOf(() => call('net.cidr_merge', [['10.0.0.0/8', true]])).message, 'element must be string');
    assert.equal(errorOf(() => call('net.cidr_merge', ['10.0.0.0/8'])).message, 'operand 1 must be one of {array, set} but got string');
  });

  it('cidr_contains_matches keys matches by index, element or object key', () => {
    assert.deepEqual(json('net.cidr_contains_matches', [['10.0.0.0/8'], RSet.from([['10.1.1.1', 'x'], '9.9.9.9'])]), [[0, ['10.1.1.1', 'x']]]);
    assert.deepEqual(json('net.cidr_contains_matches', [{ k: ['2001:db8::/32'] }, '2001:db8::1']), [['k', '2001:db8::1']]);
    assert.equal(errorOf(() => call('net.cidr_contains_matches', ['10.0.0.0/8', [5]])).message, 'operand 2: element must be string or non-empty array');
  });

  it('lookup_ip_addr uses the hook and otherwise reports disabled network access', () => {
    assert.equal(errorOf(() => call('net.lookup_ip_addr', ['example.com'])).message, 'network access disabled');
    const c = ctx({ lookupIPAddr: (n) => (n === 'svc.local' ? ['10.0.0.2', '::1'] : []) });
    assert.deepEqual(json('net.lookup_ip_addr', ['svc.local'], c), ['10.0.0.2', '::1']);
    assert.equal(getBuiltin('net.lookup_ip_addr')?.nondeterministic, true);
  });
});

describe('graph builtins', () => {
  const g = fromJSON({ a: ['b', 'c'], b: ['d'], c: ['d'], d: [] });
  it('reachable visits each vertex once', () => {
    assert.deepEqual(json('graph.reachable', [g, ['a']]), ['a', 'b', 'c', 'd']);
    assert.deepEqual(json('graph.reachable', [g, RSet.from(['c'])]), ['c', 'd']);
  });
  it('reachable_paths lists every maximal path', () => {
    assert.deepEqual(json('graph.reachable_paths', [g, ['a']]), [
      ['a', 'b', 'd'],
      ['a', 'c', 'd'],
    ]);
  });
  it('handles self loops', () => {
    const loop = fromJSON({ a: ['a'] });
    assert.deepEqual(json('graph.reachable', [loop, ['a']]), ['a']);
    // As in OPA, the root is entered once more before the cycle is noticed.
    assert.deepEqual(json('graph.reachable_paths', [loop, ['a']]), [['a', 'a']]);
  });
  it('checks operand types', () => {
    assert.match(errorOf(() => call('graph.reachable', [g, 'a'])).message, /operand 2 must be one of \{array, set\} but got string/);
  });
});

describe('uuid builtins', () => {
  it('rfc4122 is stable per query and key, fresh across queries', () => {
    const c = ctx();
    const a = call('uuid.rfc4122', ['x'], c);
    assert.equal(call('uuid.rfc4122', ['x'], c), a);
    assert.notEqual(call('uuid.rfc4122', ['y'], c), a);
    assert.notEqual(call('uuid.rfc4122', ['x'], ctx()), a);
    assert.match(String(a), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
  it('parse decodes v1 times exactly (beyond 2^53)', () => {
    const u = call('uuid.parse', ['c2fc67c2-47f2-11ee-b67a-9f3619c7493f']) as RObject;
    assert.equal(u.get('time'), 1693481847404333000n);
    assert.equal(call('uuid.parse', ['not-a-uuid']), undefined);
  });
  it('parse reports domains beyond the named ones', () => {
    const u = call('uuid.parse', ['000003e8-48b9-21ee-b207-325096b39f47']) as RObject;
    assert.equal(u.get('domain'), 'Domain7');
  });
});

describe('opa.runtime and trace', () => {
  it('opa.runtime returns the hook value or an empty env', () => {
    assert.deepEqual(json('opa.runtime', []), { env: {} });
    const info = fromJSON({ env: { HOME: '/root' }, version: '1.2.3' });
    assert.equal(call('opa.runtime', [], ctx({ runtime: () => info })), info);
  });
  it('trace is true', () => {
    assert.equal(call('trace', ['note']), true);
  });
});

describe('http.send in the core', () => {
  it('passes the request to the hook once per query', () => {
    let calls = 0;
    const hook = (req: RObject): Value => {
      calls++;
      return RObject.from([
        ['status_code', 200],
        ['body', req.get('url') ?? null],
      ]);
    };
    const c = ctx({ httpSend: hook });
    const req = fromJSON({ method: 'GET', url: 'http://h/x' });
    assert.deepEqual(toJSON(call('http.send', [req], c)!), { status_code: 200, body: 'http://h/x' });
    call('http.send', [req], c);
    assert.equal(calls, 1);
    call('http.send', [req], ctx({ httpSend: hook }));
    assert.equal(calls, 2);
  });
  it('caches errors within a query too', () => {
    let calls = 0;
    const c = ctx({
      httpSend: () => {
        calls++;
        throw new BuiltinError('boom');
      },
    });
    const req = fromJSON({ method: 'GET', url: 'http://h/x' });
    assert.equal(errorOf(() => call('http.send', [req], c)).message, 'boom');
    assert.equal(errorOf(() => call('http.send', [req], c)).message, 'boom');
    assert.equal(calls, 1);
  });
});

describe('json schema builtins', () => {
  it('prints limits like Go big.Float %v', () => {
    assert.equal(goLimit(10), '10');
    assert.equal(goLimit(1.5), '1.5');
    assert.equal(goLimit(123456), '123456');
    assert.equal(goLimit(1000000), '1e+06');
    assert.equal(goLimit(0.00001), '1e-05');
    assert.equal(goLimit(0.0001), '0.0001');
  });
  it('caches compiled schemas but keeps schemas with the same $id apart', () => {
    const s1 = fromJSON({ $id: 'http://example.com/s', type: 'string' });
    const s2 = fromJSON({ $id: 'http://example.com/s', type: 'number' });
    assert.deepEqual(json('json.match_schema', ['"x"', s1]), [true, []]);
    assert.equal((json('json.match_schema', ['"x"', s2]) as unknown[])[0], false);
    assert.deepEqual(json('json.match_schema', ['"x"', s1]), [true, []]);
  });
  it('refuses remote references without fetching', () => {
    const r = json('json.verify_schema', [fromJSON({ $ref: 'http://127.0.0.1:1/schema.json' })]) as [boolean, string];
    assert.equal(r[0], false);
    assert.match(r[1], /^jsonschema: /);
  });
  it('uses RE2 semantics for pattern', () => {
    assert.deepEqual(json('json.verify_schema', [fromJSON({ pattern: '(?=x)' })]), [false, 'jsonschema: pattern must be a valid regex']);
    assert.deepEqual(json('json.match_schema', ['"abc"', fromJSON({ pattern: 'b' })]), [true, []]);
  });
});
