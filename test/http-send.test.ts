// http.send end to end: the builtin (src/rego/builtins/http.ts) with the worker-thread hook
// (src/runtime/http-send.ts) against real HTTP servers on 127.0.0.1.
//
// The servers run on their own worker thread: http.send blocks the calling thread while it
// waits, so a server on the test's own thread could never answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import '../src/rego/builtins/index.js';
import { checkOperands, getBuiltin, type BuiltinContext, type BuiltinHooks } from '../src/rego/builtins/registry.js';
import { BuiltinError } from '../src/rego/errors.js';
import { fromJSON, toJSON, type Value } from '../src/rego/value.js';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { HttpSendError, createHttpSendHook, parseGoDuration, type HttpSender } from '../src/runtime/http-send.js';

const SERVER = String.raw`
const http = require('node:http');
const { parentPort } = require('node:worker_threads');
const hits = {};
const server = http.createServer((req, res) => {
  const path = req.url.split('?')[0];
  hits[path] = (hits[path] || 0) + 1;
  const hit = String(hits[path]);
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    switch (path) {
      case '/json':
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'X-Hit': hit });
        return res.end('{"a": 1, "big": 12345678901234567890}');
      case '/problem-json':
        res.writeHead(200, { 'Content-Type': 'application/problem+json' });
        return res.end('{"title": "x"}');
      case '/text':
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return res.end('{"not": "decoded"}');
      case '/badjson':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end('{oops');
      case '/yaml':
        res.writeHead(200, { 'Content-Type': 'application/yaml' });
        return res.end('a: 1\nb: [x, y]\n');
      case '/yaml-deep':
        res.writeHead(200, { 'Content-Type': 'application/yaml' });
        return res.end('a: ' + '['.repeat(5000));
      case '/yaml-1.1':
        res.writeHead(200, { 'Content-Type': 'application/x-yaml' });
        return res.end('on: yes\nk: 0x1F\n');
      case '/echo':
        res.writeHead(201, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ method: req.method, headers: req.headers, body }));
      case '/multi':
        res.setHeader('X-Multi', ['one', 'two']);
        res.writeHead(200);
        return res.end('ok');
      case '/slow':
        return setTimeout(() => { res.writeHead(200); res.end('late'); }, 1500);
      case '/redirect':
        res.writeHead(302, { Location: '/json' });
        return res.end();
      case '/redirect-loop':
        res.writeHead(302, { Location: '/redirect-loop' });
        return res.end();
      case '/redirect-away':
        res.writeHead(302, { Location: 'http://localhost:' + server.address().port + '/json' });
        return res.end();
      case '/max-age':
        res.writeHead(200, { 'Cache-Control': 'max-age=60', Date: new Date().toUTCString(), 'X-Hit': hit });
        return res.end('fresh');
      case '/no-store':
        res.writeHead(200, { 'Cache-Control': 'no-store, max-age=60', Date: new Date().toUTCString(), 'X-Hit': hit });
        return res.end('never cached');
      case '/etag':
        if (req.headers['if-none-match'] === '"v1"') {
          res.writeHead(304, { ETag: '"v1"', 'Cache-Control': 'max-age=60', Date: new Date().toUTCString(), 'X-Hit': hit });
          return res.end();
        }
        res.writeHead(200, { ETag: '"v1"', 'Cache-Control': 'max-age=1', Date: new Date(Date.now() - 5000).toUTCString(), 'X-Hit': hit });
        return res.end('tagged');
      case '/plain':
        res.writeHead(200, { 'X-Hit': hit });
        return res.end('plain');
      case '/missing':
        res.writeHead(404, { 'X-Hit': hit });
        return res.end('nope');
      case '/error':
        res.writeHead(500, { 'X-Hit': hit });
        return res.end('boom');
      default:
        res.writeHead(400);
        return res.end();
    }
  });
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
parentPort.on('message', (m) => { if (m === 'close') server.close(() => process.exit(0)); });
`;

let serverWorker: Worker;
let base = '';
let closedPort = 0;
let sender: HttpSender;

function startServer(): Promise<number> {
  serverWorker = new Worker(SERVER, { eval: true });
  return new Promise((resolve, reject) => {
    serverWorker.once('message', (p: number) => resolve(p));
    serverWorker.once('error', reject);
  });
}

function ctxFor(hooks: BuiltinHooks, nowMs = Date.now()): BuiltinContext {
  return { nowNs: BigInt(nowMs) * 1_000_000n, queryCache: new Map(), hooks };
}

function send(req: Record<string, unknown>, ctx: BuiltinContext = ctxFor({ httpSend: sender.hook })): Record<string, unknown> {
  const def = getBuiltin('http.send')!;
  const args: Value[] = [fromJSON(req)];
  checkOperands(def, args);
  return toJSON(def.impl(args, ctx) as Value) as Record<string, unknown>;
}

function sendError(req: Record<string, unknown>, ctx?: BuiltinContext): BuiltinError {
  try {
    send(req, ctx);
  } catch (e) {
    assert.ok(e instanceof BuiltinError, `expected BuiltinError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected http.send to fail');
}

before(async () => {
  const port = await startServer();
  base = `http://127.0.0.1:${port}`;
  // A port nothing listens on: bind and release one.
  const probe = new Worker(
    `const s = require('node:net').createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => require('node:worker_threads').parentPort.postMessage(p)); });`,
    { eval: true },
  );
  closedPort = await new Promise<number>((resolve) => probe.once('message', resolve));
  await probe.terminate();
  sender = createHttpSendHook({ allowedHosts: ['127.0.0.1'], defaultTimeoutMs: 3000 });
});

after(async () => {
  await sender.close();
  serverWorker.postMessage('close');
  await new Promise((r) => serverWorker.once('exit', r));
});

describe('http.send responses', () => {
  it('decodes JSON bodies and reports status, raw body and lower-cased headers', () => {
    const r = send({ method: 'get', url: `${base}/json` });
    assert.equal(r.status_code, 200);
    assert.equal(r.status, '200 OK');
    assert.deepEqual((r.body as Record<string, unknown>).a, 1);
    assert.equal((r.body as Record<string, unknown>).big, 12345678901234567890n, 'large integers keep precision');
    assert.equal(r.raw_body, '{"a": 1, "big": 12345678901234567890}');
    assert.deepEqual((r.headers as Record<string, unknown>)['content-type'], ['application/json; charset=utf-8']);
  });

  it('decodes +json media types, leaves other types undecoded and bad JSON as null', () => {
    assert.deepEqual(send({ method: 'GET', url: `${base}/problem-json` }).body, { title: 'x' });
    assert.equal(send({ method: 'GET', url: `${base}/text` }).body, null);
    assert.deepEqual(send({ method: 'GET', url: `${base}/text`, force_json_decode: true }).body, { not: 'decoded' });
    assert.equal(send({ method: 'GET', url: `${base}/badjson` }).body, null);
  });

  it('decodes YAML by content type or force_yaml_decode', () => {
    // YAML 1.1, as OPA (Go's yaml.v2) and yaml.unmarshal read it: a bare y is a boolean.
    assert.deepEqual(send({ method: 'GET', url: `${base}/yaml` }).body, { a: 1, b: ['x', true] });
    assert.deepEqual(send({ method: 'GET', url: `${base}/text`, force_yaml_decode: true }).body, { not: 'decoded' });
    // As OPA (Go's yaml.v2): YAML 1.1 booleans and hex integers.
    assert.deepEqual(send({ method: 'GET', url: `${base}/yaml-1.1` }).body, { true: true, k: 31 });
    // A body nested absurdly deep is no body (it could abort the process inside the YAML library).
    const deep = send({ method: 'GET', url: `${base}/yaml-deep` });
    assert.equal(deep.status_code, 200);
    assert.equal(deep.body, null);
  });

  it('sends method, JSON body, raw_body and headers', () => {
    const r = send({ method: 'post', url: `${base}/echo`, body: { z: 1, a: [true] }, headers: { 'x-custom': 'v' } });
    assert.equal(r.status_code, 201);
    const echoed = r.body as { method: string; headers: Record<string, string>; body: string };
    assert.equal(echoed.method, 'POST');
    assert.equal(echoed.body, '{"a":[true],"z":1}');
    assert.equal(echoed.headers['x-custom'], 'v');
    assert.ok(echoed.headers['user-agent']);
    const raw = send({ method: 'PUT', url: `${base}/echo`, raw_body: 'plain text', body: { ignored: true } });
    assert.equal((raw.body as { body: string }).body, 'plain text');
  });

  it('keeps repeated response headers as arrays', () => {
    assert.deepEqual((send({ method: 'GET', url: `${base}/multi` }).headers as Record<string, unknown>)['x-multi'], ['one', 'two']);
  });

  it('returns redirects unless enable_redirect is set, and follows them when it is', () => {
    assert.equal(send({ method: 'GET', url: `${base}/redirect` }).status_code, 302);
    const r = send({ method: 'GET', url: `${base}/redirect`, enable_redirect: true });
    assert.equal(r.status_code, 200);
    assert.equal((r.body as Record<string, unknown>).a, 1);
    assert.match(sendError({ method: 'GET', url: `${base}/redirect-loop`, enable_redirect: true }).message, /stopped after 10 redirects/);
  });

  it('refuses a redirect to a host outside the allow-list', () => {
    const e = sendError({ method: 'GET', url: `${base}/redirect-away`, enable_redirect: true });
    assert.match(e.message, /unallowed host: localhost/);
  });
});

describe('http.send errors', () => {
  it('refuses hosts that are not allowed', () => {
    const e = sendError({ method: 'GET', url: `http://localhost:1/x` });
    assert.equal(e.message, 'unallowed host: localhost');
    const r = send({ method: 'GET', url: `http://localhost:1/x`, raise_error: false });
    assert.deepEqual(r, { status_code: 0, error: { code: 'eval_http_send_internal_error', message: 'unallowed host: localhost' } });
  });

  it('reports connection failures, as an error object when raise_error is false', () => {
    const url = `http://127.0.0.1:${closedPort}/`;
    const e = sendError({ method: 'GET', url });
    assert.ok(e instanceof HttpSendError);
    assert.equal(e.message, `Get "${url}": dial tcp 127.0.0.1:${closedPort}: connect: connection refused`);
    const r = send({ method: 'GET', url, raise_error: false }) as { status_code: number; error: { code: string; message: string } };
    assert.equal(r.status_code, 0);
    assert.equal(r.error.code, 'eval_http_send_network_error');
    assert.match(r.error.message, /connection refused/);
  });

  it('times out slow servers using the request timeout', () => {
    const e = sendError({ method: 'GET', url: `${base}/slow`, timeout: '200ms' });
    assert.equal(e.message, `Get ${base}/slow: request timed out`);
    const r = send({ method: 'GET', url: `${base}/slow`, timeout: 200_000_000, raise_error: false }) as {
      error: { code: string; message: string };
    };
    assert.equal(r.error.code, 'eval_http_send_network_error');
    assert.match(r.error.message, /Client\.Timeout exceeded/);
  });

  it('validates request parameters', () => {
    const bad = sendError({ method: 'GET', url: `${base}/json`, bogus: 1 });
    assert.equal(bad.message, 'operand 1 invalid request parameters(s): {"bogus"}');
    assert.equal(bad.code, 'eval_type_error');
    assert.equal(sendError({ url: `${base}/json` }).message, 'operand 1 missing required request parameters(s): {"method"}');
    assert.match(sendError({ method: 'GET', url: `${base}/json`, timeout: 'soon' }).message, /invalid timeout value "soon": time: invalid duration "soon"/);
    assert.equal(sendError({ method: 'GET', url: `${base}/json`, raise_error: 'no' }).message, 'invalid value for raise_error field');
    assert.equal(sendError({ method: 'GET', url: `${base}/json`, headers: { a: 1 } }).message, 'invalid type for headers value "1"');
    assert.match(sendError({ method: 'GET', url: `${base}/json`, force_cache: true }).message, /force_cache_duration_seconds' parameter is missing/);
    assert.match(sendError({ method: 'GET', url: 'ftp://127.0.0.1/x' }).message, /unsupported protocol scheme "ftp"/);
  });

  it('is disabled without a hook', () => {
    const e = sendError({ method: 'GET', url: `${base}/json` }, ctxFor({}));
    assert.match(e.message, /disabled/);
    const r = send({ method: 'GET', url: `${base}/json`, raise_error: false }, ctxFor({})) as { error: { code: string } };
    assert.equal(r.error.code, 'eval_http_send_internal_error');
  });
});

describe('http.send caching', () => {
  const hitOf = (r: Record<string, unknown>) => ((r.headers as Record<string, string[]>)['x-hit'] ?? [])[0];

  it('answers the same request the same way within one query (intra-query cache)', () => {
    const ctx = ctxFor({ httpSend: sender.hook });
    const a = send({ method: 'GET', url: `${base}/plain` }, ctx);
    const b = send({ method: 'GET', url: `${base}/plain` }, ctx);
    assert.equal(hitOf(a), hitOf(b));
    const c = send({ method: 'GET', url: `${base}/plain` });
    assert.notEqual(hitOf(c), hitOf(a), 'a new query asks again');
  });

  it('does not keep non-cacheable statuses within a query', () => {
    const ctx = ctxFor({ httpSend: sender.hook });
    const a = send({ method: 'GET', url: `${base}/error` }, ctx);
    const b = send({ method: 'GET', url: `${base}/error` }, ctx);
    assert.equal(a.status_code, 500);
    assert.notEqual(hitOf(a), hitOf(b));
    const m1 = send({ method: 'GET', url: `${base}/missing` }, ctx);
    const m2 = send({ method: 'GET', url: `${base}/missing` }, ctx);
    assert.equal(hitOf(m1), hitOf(m2), '404 is cacheable');
  });

  it('honours Cache-Control max-age across queries with cache: true', () => {
    const a = send({ method: 'GET', url: `${base}/max-age`, cache: true });
    const b = send({ method: 'GET', url: `${base}/max-age`, cache: true });
    assert.equal(hitOf(a), hitOf(b));
    const later = send({ method: 'GET', url: `${base}/max-age`, cache: true }, ctxFor({ httpSend: sender.hook }, Date.now() + 120_000));
    assert.notEqual(hitOf(later), hitOf(a), 'expired entries are fetched again');
    const uncached = send({ method: 'GET', url: `${base}/max-age` });
    assert.notEqual(hitOf(uncached), hitOf(later), 'without cache: true every query asks');
  });

  it('never stores no-store responses', () => {
    const a = send({ method: 'GET', url: `${base}/no-store`, cache: true });
    const b = send({ method: 'GET', url: `${base}/no-store`, cache: true });
    assert.notEqual(hitOf(a), hitOf(b));
  });

  it('force_cache keeps a response for force_cache_duration_seconds', () => {
    const req = { method: 'GET', url: `${base}/plain`, force_cache: true, force_cache_duration_seconds: 30 };
    const now = Date.now();
    const a = send(req, ctxFor({ httpSend: sender.hook }, now));
    const b = send(req, ctxFor({ httpSend: sender.hook }, now + 29_000));
    const c = send(req, ctxFor({ httpSend: sender.hook }, now + 31_000));
    assert.equal(hitOf(a), hitOf(b));
    assert.notEqual(hitOf(c), hitOf(a));
  });

  it('revalidates expired entries with ETag and reuses the body on 304', () => {
    const a = send({ method: 'GET', url: `${base}/etag`, cache: true });
    assert.equal(a.raw_body, 'tagged');
    const b = send({ method: 'GET', url: `${base}/etag`, cache: true });
    assert.equal(b.raw_body, 'tagged');
    assert.equal(b.status_code, 200);
    assert.notEqual(hitOf(b), hitOf(a), 'the 304 answer refreshed the headers');
    const c = send({ method: 'GET', url: `${base}/etag`, cache: true });
    assert.equal(hitOf(c), hitOf(b), 'fresh again after the 304 (max-age=60)');
  });

  it('ignores cache_ignored_headers when matching', () => {
    const ctx = ctxFor({ httpSend: sender.hook });
    const a = send({ method: 'GET', url: `${base}/plain`, headers: { 'x-req': '1' }, cache_ignored_headers: ['x-req'] }, ctx);
    const b = send({ method: 'GET', url: `${base}/plain`, headers: { 'x-req': '2' }, cache_ignored_headers: ['x-req'] }, ctx);
    assert.equal(hitOf(a), hitOf(b));
  });
});

describe('http.send from a policy', () => {
  it('evaluates through the engine with the hook installed', () => {
    const policy = compilePolicies([
      {
        file: 'p.rego',
        text: [
          'package p',
          'resp := http.send({"method": "GET", "url": sprintf("%s/json", [input.base])})',
          'a := resp.body.a',
          'same if http.send({"method": "GET", "url": sprintf("%s/plain", [input.base])}) == http.send({"method": "GET", "url": sprintf("%s/plain", [input.base])})',
        ].join('\n'),
      },
    ]);
    const q = prepareQuery(policy, 'x := [data.p.a, data.p.same]');
    const out = q.eval({ input: fromJSON({ base }), hooks: { httpSend: sender.hook }, strictBuiltinErrors: true });
    assert.deepEqual(toJSON(out.results[0].bindings.get('x') as Value), [1, true]);
  });
});

describe('net.lookup_ip_addr through the same worker', () => {
  it('resolves allowed names and refuses others', () => {
    const s = createHttpSendHook({ allowedHosts: ['localhost'] });
    try {
      const def = getBuiltin('net.lookup_ip_addr')!;
      const got = toJSON(def.impl(['localhost'], ctxFor({ lookupIPAddr: s.lookupIPAddr })) as Value) as string[];
      assert.ok(got.length > 0);
      assert.ok(got.every((a) => a === '127.0.0.1' || a === '::1' || a.startsWith('127.')), got.join(','));
      assert.throws(() => def.impl(['example.com'], ctxFor({ lookupIPAddr: s.lookupIPAddr })), /unallowed host: example.com/);
    } finally {
      void s.close();
    }
  });

  it('reports names that do not resolve', () => {
    const s = createHttpSendHook({ allowedHosts: ['nonexistent.invalid'], defaultTimeoutMs: 3000 });
    try {
      assert.throws(() => s.lookupIPAddr('nonexistent.invalid'), /lookup nonexistent.invalid: (no such host|i\/o timeout)/);
    } finally {
      void s.close();
    }
  });
});

describe('parseGoDuration', () => {
  it('parses Go durations', () => {
    assert.equal(parseGoDuration('1.5s'), 1.5e9);
    assert.equal(parseGoDuration('1h2m'), 3720e9);
    assert.equal(parseGoDuration('-10ms'), -10e6);
    assert.equal(parseGoDuration('0'), 0);
    assert.throws(() => parseGoDuration('10'), /missing unit/);
    assert.throws(() => parseGoDuration('3 weeks'), /time: /);
  });
});

