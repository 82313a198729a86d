// Unit tests for the time, crypto and io.jwt builtins, calling the implementations directly
// (operands checked with checkOperands first, as the evaluator does).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import * as jose from 'jose';
import '../src/rego/builtins/index.js';
import { checkOperands, getBuiltin, type BuiltinContext } from '../src/rego/builtins/registry.js';
import { BuiltinError } from '../src/rego/errors.js';
import { RObject, fromJSON, toJSON, type Value } from '../src/rego/value.js';

const here = dirname(fileURLToPath(import.meta.url));
// Compiled tests run from <outDir>/test; the fixtures stay in the source tree.
function fixturesDir(): string {
  let dir = here;
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(join(dir, 'package.json'));
      return join(dir, 'test', 'fixtures', 'crypto');
    } catch {
      dir = dirname(dir);
    }
  }
  throw new Error('project root not found');
}
const FIX = fixturesDir();
const fixture = (name: string) => readFileSync(join(FIX, name), 'utf8');

function ctx(nowNs = 1_700_000_000_123_456_789n): BuiltinContext {
  return { nowNs, queryCache: new Map(), hooks: {} };
}

function call(name: string, args: Value[], c: BuiltinContext = ctx()): Value | undefined {
  const def = getBuiltin(name);
  assert.ok(def, `builtin ${name} is registered`);
  assert.equal(def.args.length, args.length, `${name} arity`);
  checkOperands(def, args);
  return def.impl(args, c);
}

function callErr(name: string, args: Value[], c: BuiltinContext = ctx()): BuiltinError {
  try {
    call(name, args, c);
  } catch (e) {
    if (e instanceof BuiltinError) return e;
    throw e;
  }
  assert.fail(`${name} did not fail`);
}

const J = (v: unknown) => fromJSON(v);
const plain = (v: Value | undefined) => (v === undefined ? undefined : toJSON(v));

// ---------------------------------------------------------------------------------------------
// time

test('time.now_ns returns the query time exactly, as a bigint beyond 2^53', () => {
  const v = call('time.now_ns', [], ctx(1_700_000_000_123_456_789n));
  assert.equal(v, 1_700_000_000_123_456_789n);
  assert.equal(getBuiltin('time.now_ns')!.nondeterministic, true);
});

test('time.parse_rfc3339_ns keeps nanosecond precision', () => {
  assert.equal(call('time.parse_rfc3339_ns', ['2017-06-02T19:00:00.123456789-07:00']), 1_496_455_200_123_456_789n);
  assert.equal(call('time.parse_rfc3339_ns', ['1970-01-01T00:00:00.000000001Z']), 1);
  assert.equal(call('time.parse_rfc3339_ns', ['1969-12-31T23:59:59.999999999Z']), -1);
});

test('time.parse_rfc3339_ns range edges', () => {
  assert.equal(call('time.parse_rfc3339_ns', ['2262-04-11T23:47:16.854775807Z']), 9_223_372_036_854_775_807n);
  assert.equal(callErr('time.parse_rfc3339_ns', ['2262-04-11T23:47:16.854775808Z']).message, 'time outside of valid range');
  assert.equal(call('time.parse_rfc3339_ns', ['1677-09-21T00:12:43.145224192Z']), -9_223_372_036_854_775_808n);
});

test('time.parse_ns error messages follow Go', () => {
  assert.equal(
    callErr('time.parse_ns', ['2006-01-02', '2021-1-02']).message,
    'parsing time "2021-1-02" as "2006-01-02": cannot parse "1-02" as "01"',
  );
  assert.equal(callErr('time.parse_ns', ['2006-01-02 15:04', '2021-01-02 10:60']).message, 'parsing time "2021-01-02 10:60": minute out of range');
  assert.equal(callErr('time.parse_ns', ['Jan 2006', 'Foo 2021']).message, 'parsing time "Foo 2021" as "Jan 2006": cannot parse "Foo 2021" as "Jan"');
  // Non-ASCII bytes are quoted as \x escapes, like Go's time.quote.
  assert.equal(callErr('time.parse_ns', ['2006', 'é']).message, 'parsing time "\\xc3\\xa9" as "2006": cannot parse "\\xc3\\xa9" as "2006"');
});

test('time.parse_ns numeric and named zones', () => {
  const utc = call('time.parse_ns', ['2006-01-02T15:04:05Z07:00', '2021-06-01T12:00:00Z']);
  assert.equal(call('time.parse_ns', ['2006-01-02T15:04:05Z07:00', '2021-06-01T14:00:00+02:00']), utc);
  assert.equal(call('time.parse_ns', ['2006-01-02T15:04:05-0700', '2021-06-01T07:30:00-0430']), utc);
  assert.equal(call('time.parse_ns', ['2006-01-02T15:04:05 MST', '2021-06-01T12:00:00 UTC']), utc);
  // "GMT+2" carries its offset; other abbreviations are placed at offset 0, as Go does.
  assert.equal(call('time.parse_ns', ['2006-01-02T15:04:05 MST', '2021-06-01T14:00:00 GMT+2']), utc);
  assert.equal(call('time.parse_ns', ['2006-01-02T15:04:05 MST', '2021-06-01T12:00:00 CEST']), utc);
  assert.equal(call('time.parse_ns', ['RFC3339', '2021-06-01T12:00:00Z']), utc);
});

test('time.parse_ns day of year and 12-hour clock', () => {
  assert.equal(call('time.parse_ns', ['2006-002', '2020-060']), call('time.parse_ns', ['2006-01-02', '2020-02-29']));
  assert.equal(call('time.parse_ns', ['2006-002', '2020-366']), call('time.parse_ns', ['2006-01-02', '2020-12-31']));
  assert.match(callErr('time.parse_ns', ['2006-002', '2021-366']).message, /day-of-year out of range/);
  const noon = call('time.parse_ns', ['2006-01-02 15:04', '2021-01-01 12:00']);
  assert.equal(call('time.parse_ns', ['2006-01-02 3:04PM', '2021-01-01 12:00PM']), noon);
  assert.equal(call('time.parse_ns', ['2006-01-02 03:04pm', '2021-01-01 12:00am']), call('time.parse_ns', ['2006-01-02', '2021-01-01']));
});

test('time.parse_duration_ns follows Go ParseDuration', () => {
  const cases: Array<[string, Value]> = [
    ['1h2m3.5s', 3_723_500_000_000],
    ['1.5h', 5_400_000_000_000],
    ['-1.5m', -90_000_000_000],
    ['.5s', 500_000_000],
    ['5.s', 5_000_000_000],
    ['1h1h', 7_200_000_000_000],
    ['9223372036854775807ns', 9_223_372_036_854_775_807n],
    ['-9223372036854775808ns', -9_223_372_036_854_775_808n],
    ['0.000000001s', 1],
  ];
  for (const [s, want] of cases) assert.equal(call('time.parse_duration_ns', [s]), want, s);
  assert.equal(callErr('time.parse_duration_ns', ['9223372036854775808ns']).message, 'time: invalid duration "9223372036854775808ns"');
  assert.equal(callErr('time.parse_duration_ns', ['1 h']).message, 'time: unknown unit " h" in duration "1 h"');
  assert.equal(callErr('time.parse_duration_ns', ['-']).message, 'time: invalid duration "-"');
});

test('time.date and time.clock agree with JavaScript Date in UTC (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: -8_000_000_000_000, max: 8_000_000_000_000 }), fc.integer({ min: 0, max: 999_999 }), (ms, sub) => {
      const ns = BigInt(ms) * 1_000_000n + BigInt(sub);
      const d = new Date(ms);
      const v = ns >= BigInt(Number.MIN_SAFE_INTEGER) && ns <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ns) : ns;
      assert.deepEqual(plain(call('time.date', [v])), [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()]);
      assert.deepEqual(plain(call('time.clock', [v])), [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]);
      const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
      assert.equal(call('time.weekday', [v]), days[d.getUTCDay()]);
    }),
    { numRuns: 300 },
  );
});

test('time.format then time.parse_ns round-trips in any zone (property)', () => {
  const zones = ['UTC', 'America/New_York', 'Europe/Berlin', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/St_Johns'];
  fc.assert(
    fc.property(
      // From 1970 on: older local mean times have offsets with seconds, which RFC 3339 cannot
      // express (Go loses them in the same way).
      fc.bigInt({ min: 0n, max: 9_000_000_000_000_000_000n }),
      fc.constantFrom(...zones),
      (ns, zone) => {
        const v: Value = ns >= BigInt(Number.MIN_SAFE_INTEGER) && ns <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ns) : ns;
        const s = call('time.format', [[v, zone, 'RFC3339Nano']]) as string;
        assert.equal(call('time.parse_ns', ['RFC3339Nano', s]), v, s);
      },
    ),
    { numRuns: 300 },
  );
});

test('time zones: DST transitions, half-hour zones and abbreviations', () => {
  // 2021-11-07 05:30Z and 06:30Z are both 01:30 in New York (EDT, then EST).
  const a = 1_636_263_000_000_000_000n;
  const b = a + 3_600_000_000_000n;
  assert.equal(call('time.format', [[a, 'America/New_York', '15:04 MST -07:00']]), '01:30 EDT -04:00');
  assert.equal(call('time.format', [[b, 'America/New_York', '15:04 MST -07:00']]), '01:30 EST -05:00');
  assert.equal(call('time.format', [[0, 'Asia/Kathmandu', '15:04 Z07:00']]), '05:30 +05:30');
  // Zones without a letter abbreviation print Go's numeric form.
  assert.equal(call('time.format', [[1_600_000_000_000_000_000n, 'America/Sao_Paulo', 'MST']]), '-03');
  assert.equal(callErr('time.format', [[0, 'Not/AZone']]).message, 'unknown time zone Not/AZone');
  assert.equal(callErr('time.format', [[0, '+01:00']]).message, 'unknown time zone +01:00');
});

test('time "Local" is the process zone; "" is UTC', () => {
  const host = new Intl.DateTimeFormat().resolvedOptions().timeZone;
  const viaLocal = call('time.clock', [[1_600_000_000_000_000_000n, 'Local']]);
  const viaHost = host === 'UTC' || host === 'Etc/UTC' ? call('time.clock', [1_600_000_000_000_000_000n]) : call('time.clock', [[1_600_000_000_000_000_000n, host]]);
  assert.deepEqual(plain(viaLocal), plain(viaHost));
  assert.deepEqual(plain(call('time.clock', [[1_600_000_000_000_000_000n, '']])), [12, 26, 40]);
});

test('time.add_date normalises like Go and keeps precision', () => {
  const jan31 = call('time.parse_rfc3339_ns', ['2021-01-31T10:20:30.123456789Z']);
  assert.equal(call('time.add_date', [jan31!, 0, 1, 0]), call('time.parse_rfc3339_ns', ['2021-03-03T10:20:30.123456789Z']));
  assert.equal(call('time.add_date', [jan31!, -1, -13, 0]), call('time.parse_rfc3339_ns', ['2018-12-31T10:20:30.123456789Z']));
  assert.equal(call('time.add_date', [jan31!, 0, 0, 365]), call('time.parse_rfc3339_ns', ['2022-01-31T10:20:30.123456789Z']));
  assert.equal(callErr('time.add_date', [0, 1_000_000_000_000, 0, 0]).message, 'time outside of valid range');
  const e = callErr('time.add_date', [0, 0, 0.5, 0]);
  assert.equal(e.code, 'eval_type_error');
  assert.equal(e.message, 'operand 3 must be integer number but got floating-point number');
});

test('time.diff is symmetric and uses the first operand zone', () => {
  const x = call('time.parse_rfc3339_ns', ['2020-02-29T23:00:00Z'])!;
  const y = call('time.parse_rfc3339_ns', ['2021-03-01T01:30:15Z'])!;
  assert.deepEqual(plain(call('time.diff', [x, y])), plain(call('time.diff', [y, x])));
  // Feb 2020 has 29 days: the borrowed month leaves 0 days.
  assert.deepEqual(plain(call('time.diff', [x, y])), [1, 0, 0, 2, 30, 15]);
  // Across the New York DST start, wall clocks are one day apart but only 23 hours passed.
  const before = call('time.parse_rfc3339_ns', ['2021-03-13T17:00:00Z'])!;
  const after = call('time.parse_rfc3339_ns', ['2021-03-14T16:00:00Z'])!;
  assert.deepEqual(plain(call('time.diff', [before, after])), [0, 0, 0, 23, 0, 0]);
  assert.deepEqual(plain(call('time.diff', [[before, 'America/New_York'], after])), [0, 0, 1, 0, 0, 0]);
});

test('time operands: type errors are eval_type_error', () => {
  assert.equal(callErr('time.date', [J({ a: 1 })]).code, 'eval_type_error');
  assert.equal(callErr('time.date', [[]]).message, 'operand 1 must be either number (ns) or [number (ns), string (tz)] but got array');
  assert.equal(callErr('time.clock', [[0, 5]]).message, 'operand 1 must be string but got number');
  assert.equal(callErr('time.weekday', [2n ** 63n]).message, 'timestamp too big');
});

// ---------------------------------------------------------------------------------------------
// crypto

test('hashes and HMACs', () => {
  assert.equal(call('crypto.sha256', ['abc']), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(call('crypto.sha1', ['abc']), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(call('crypto.md5', ['abc']), '900150983cd24fb0d6963f7d28e17f72');
  // RFC 4231 test case 2.
  assert.equal(
    call('crypto.hmac.sha256', ['what do ya want for nothing?', 'Jefe']),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
  );
  assert.equal(call('crypto.hmac.equal', ['abc', 'abc']), true);
  assert.equal(call('crypto.hmac.equal', ['abc', 'abC']), false);
  assert.equal(call('crypto.hmac.equal', ['abc', 'ab']), false);
  assert.equal(callErr('crypto.hmac.md5', ['x', 1]).message, 'operand 2 must be string but got number');
});

test('x509: leaf certificate fields', () => {
  const certs = call('crypto.x509.parse_certificates', [fixture('leaf.pem')]) as Value[];
  assert.equal(certs.length, 1);
  const c = certs[0] as RObject;
  const subject = c.get('Subject') as RObject;
  assert.equal(subject.get('CommonName'), 'registry.example.com');
  assert.deepEqual(plain(c.get('DNSNames')), ['registry.example.com', '*.example.org']);
  assert.deepEqual(plain(c.get('IPAddresses')), ['10.0.0.1', '2001:db8::1']);
  assert.equal(c.get('SerialNumber'), 0x0123456789abcdef0123n);
  assert.equal(c.get('Version'), 3);
  // Every field of Go's x509.Certificate JSON is present.
  for (const k of ['Raw', 'Signature', 'PublicKey', 'Extensions', 'PolicyIdentifiers', 'URIs', 'URIStrings', 'MaxPathLenZero']) {
    assert.ok(c.has(k), k);
  }
});

test('x509: chain verification', () => {
  const chain = fixture('root.pem') + fixture('int.pem') + fixture('leaf.pem');
  const valid = 1_830_297_600_000_000_000n; // 2028-01-01
  const r = call('crypto.x509.parse_and_verify_certificates', [chain], ctx(valid)) as Value[];
  assert.equal(r[0], true);
  assert.deepEqual(
    (r[1] as RObject[]).map((c) => (c.get('Subject') as RObject).get('CommonName')),
    ['registry.example.com', 'Test Intermediate CA', 'Test Root CA'],
  );
  // The query time decides validity.
  assert.deepEqual(plain(call('crypto.x509.parse_and_verify_certificates', [chain], ctx(4_115_404_800_000_000_000n))), [false, []]);
  // Root and leaf swapped.
  const swapped = fixture('leaf.pem') + fixture('int.pem') + fixture('root.pem');
  assert.deepEqual(plain(call('crypto.x509.parse_and_verify_certificates', [swapped], ctx(valid))), [false, []]);
});

test('x509: a parent that is not a CA cannot sign (runtime openssl)', (t) => {
  let dir: string;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    dir = mkdtempSync(join(tmpdir(), 'ie-x509-'));
  } catch {
    t.skip('openssl not available');
    return;
  }
  try {
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
    writeFileSync(join(dir, 'ext.cnf'), '[leaf]\nbasicConstraints=CA:FALSE\n');
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'p.key', '-subj', '/CN=notca', '-days', '30', '-addext', 'basicConstraints=critical,CA:FALSE', '-out', 'p.pem');
    run('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'l.key', '-subj', '/CN=leaf', '-out', 'l.csr');
    run('x509', '-req', '-in', 'l.csr', '-CA', 'p.pem', '-CAkey', 'p.key', '-set_serial', '7', '-days', '10', '-extfile', 'ext.cnf', '-extensions', 'leaf', '-out', 'l.pem');
    const chain = readFileSync(join(dir, 'p.pem'), 'utf8') + readFileSync(join(dir, 'l.pem'), 'utf8');
    const now = BigInt(Date.now()) * 1_000_000n;
    const parsed = call('crypto.x509.parse_certificates', [chain]) as RObject[];
    assert.equal(parsed.length, 2);
    assert.deepEqual(plain(call('crypto.x509.parse_and_verify_certificates', [chain], ctx(now))), [false, []]);
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') t.skip('openssl not available');
    else throw e;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('private keys: JWK and Go struct shapes', () => {
  const jwk = call('crypto.x509.parse_rsa_private_key', [fixture('leaf.key')]) as RObject;
  const nodeJwk = createPrivateKey(fixture('leaf.key')).export({ format: 'jwk' });
  assert.deepEqual(plain(jwk), nodeJwk);
  const keys = call('crypto.parse_private_keys', [fixture('leaf.key') + fixture('int-sec1.key')]) as RObject[];
  assert.equal(keys.length, 2);
  assert.equal(keys[0].get('E'), 65537);
  assert.equal(typeof keys[0].get('N'), 'bigint');
  assert.equal(callErr('crypto.x509.parse_rsa_private_key', ['']).message, 'input PEM data was empty');
});

// ---------------------------------------------------------------------------------------------
// io.jwt

test('io.jwt.encode_sign output verifies with jose, for every asymmetric algorithm', async () => {
  const rsa = createPrivateKey(fixture('jwt-rsa.key'));
  const pairs: Array<[string, string, string]> = [
    ['RS256', 'jwt-rsa.key', 'jwt-rsa.pub'],
    ['RS512', 'jwt-rsa.key', 'jwt-rsa.pub'],
    ['PS384', 'jwt-rsa.key', 'jwt-rsa.pub'],
    ['ES256', 'jwt-ec.key', 'jwt-ec.pub'],
    ['ES384', 'jwt-ec384.key', 'jwt-ec384.pub'],
    ['ES512', 'jwt-ec521.key', 'jwt-ec521.pub'],
    ['EdDSA', 'ed.key', 'ed.pub'],
  ];
  void rsa;
  for (const [alg, priv, pub] of pairs) {
    const jwk = createPrivateKey(fixture(priv)).export({ format: 'jwk' });
    const token = call('io.jwt.encode_sign', [J({ alg, typ: 'JWT' }), J({ sub: 'x', n: 1 }), J(jwk)]) as string;
    const { payload, protectedHeader } = await jose.jwtVerify(token, createPublicKey(fixture(pub)));
    assert.equal(protectedHeader.alg, alg);
    assert.deepEqual(payload, { sub: 'x', n: 1 });
    // And our own verifier agrees, while another algorithm's verifier does not.
    const verifier = `io.jwt.verify_${alg.toLowerCase()}`;
    assert.equal(call(verifier, [token, fixture(pub)]), true, alg);
    assert.equal(call(alg === 'RS256' ? 'io.jwt.verify_ps256' : 'io.jwt.verify_rs256', [token, fixture(pub)]), false, alg);
  }
});

test('io.jwt verify_* accept tokens signed by jose', async () => {
  const ec = createPrivateKey(fixture('jwt-ec.key'));
  const token = await new jose.SignJWT({ a: 1 }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).sign(ec);
  const jwks = JSON.stringify({ keys: [{ ...createPublicKey(ec).export({ format: 'jwk' }), kid: 'k1', alg: 'ES256' }] });
  assert.equal(call('io.jwt.verify_es256', [token, jwks]), true);
  assert.equal(call('io.jwt.verify_es256', [token, fixture('jwt-ec384.pub')]), false);
  const hs = await new jose.SignJWT({ a: 1 }).setProtectedHeader({ alg: 'HS384' }).sign(new TextEncoder().encode('k'));
  assert.equal(call('io.jwt.verify_hs384', [hs, 'k']), true);
  assert.equal(call('io.jwt.verify_hs384', [hs, 'K']), false);
});

test('io.jwt.decode_verify checks exp/nbf against the query time', async () => {
  const secret = new TextEncoder().encode('s3cret');
  const token = await new jose.SignJWT({ nbf: 1_700_000_000, exp: 1_700_000_100 }).setProtectedHeader({ alg: 'HS256' }).sign(secret);
  const c = RObject.from([['secret', 's3cret']]);
  const at = (sec: bigint) => (call('io.jwt.decode_verify', [token, c], ctx(sec * 1_000_000_000n)) as Value[])[0];
  assert.equal(at(1_699_999_999n), false);
  assert.equal(at(1_700_000_000n), true);
  assert.equal(at(1_700_000_099n), true);
  assert.equal(at(1_700_000_100n), false);
  // An explicit time constraint wins over the query time.
  const withTime = RObject.from([['secret', 's3cret'], ['time', 1_700_000_050_000_000_000n]]);
  assert.equal((call('io.jwt.decode_verify', [token, withTime], ctx(0n)) as Value[])[0], true);
});

test('io.jwt.decode keeps large numeric claims exact', () => {
  const payload = Buffer.from('{"big":12345678901234567890}').toString('base64url');
  const token = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`;
  const [, p, sig] = call('io.jwt.decode', [token]) as Value[];
  assert.equal((p as RObject).get('big'), 12345678901234567890n);
  assert.equal(sig, '');
});

test('io.jwt errors', () => {
  assert.equal(callErr('io.jwt.decode', ['x.y']).message, 'encoded JWT must have 3 sections, found 2');
  assert.equal(callErr('io.jwt.decode', ['e30.e30.%%']).message.startsWith('JWT signature had invalid encoding'), true);
  assert.equal(callErr('io.jwt.encode_sign_raw', ['{"alg":"HS256"}', '{}', '{"keys":[]}']).message, 'no keys found in JWK set');
  assert.match(callErr('io.jwt.encode_sign_raw', ['{"alg":"HS256"}', '{}', 'nope']).message, /failed to parse JWK/);
});

test('hostile inputs give errors or values, never crashes or quadratic scans', () => {
  const manyBegins = '-----BEGIN CERTIFICATE-----\nAAAA\n'.repeat(20_000);
  // No complete block: like Go's x509.ParseCertificates of nothing, an empty list.
  assert.deepEqual(call('crypto.x509.parse_certificates', [manyBegins]), []);
  assert.deepEqual(call('crypto.x509.parse_certificates', ['']), []);
  // No complete PEM block, so the key is read as a JWK (and is not one), as in OPA.
  assert.match(callErr('io.jwt.verify_rs256', ['e30.e30.e30', '-----BEGIN PUBLIC KEY-----\n'.repeat(20_000)]).message, /failed to parse a JWK key/);
  assert.equal(typeof call('time.format', [[0, 'UTC', 'x'.repeat(200_000) + '2006']]), 'string');
  assert.equal(callErr('time.parse_duration_ns', ['1'.repeat(100_000) + 's']).message.startsWith('time: invalid duration'), true);
  assert.equal(callErr('time.parse_ns', ['2006', '9'.repeat(100_000)]).message.includes('extra text'), true);
  for (const junk of ['-', 'MA==', 'MIIB', Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).toString('base64')]) {
    const e = callErr('crypto.x509.parse_certificates', [junk]);
    assert.equal(e.code, 'eval_builtin_error', junk);
  }
  assert.equal(callErr('crypto.x509.parse_certificate_request', ['MAA=']).code, 'eval_builtin_error');
});
