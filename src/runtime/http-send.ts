// The http.send hook: performs OPA's http.send requests for the rego core.
//
// The evaluator is synchronous but Node's networking is not, so requests run on a worker
// thread while the evaluating thread blocks on Atomics.wait (a SharedArrayBuffer counter the
// worker bumps after posting each answer; the answer is read with receiveMessageOnPort).
//
// What it adds on top of the request itself:
//   - an allow-list of hosts: any other host (also after a redirect) is refused;
//   - OPA's request options (timeout, redirects, TLS options, JSON/YAML decoding, retries);
//   - the inter-query cache: `cache: true` honours the response's Cache-Control/Expires (and
//     revalidates with ETag/Last-Modified), `force_cache` keeps it for
//     `force_cache_duration_seconds`. Times come from the query's clock (ctx.nowNs).
import { readFileSync } from 'node:fs';
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import type { BuiltinContext } from '../rego/builtins/registry.js';
import { yamlToValue } from '../rego/builtins/encoding.js';
import { CACHEABLE_STATUS_CODES, HttpSendError, httpSendCacheKey } from '../rego/builtins/http.js';
import { RObject, RSet, parseJSON, stringifyJSON, toRegoString, type Value } from '../rego/value.js';

export interface HttpSendConfig {
  /** Host names (or IP addresses) requests may go to; "*" allows every host. Ports are not compared. */
  allowedHosts: string[];
  /** Timeout when the request sets none (OPA's default is 5 s). */
  defaultTimeoutMs?: number;
  /** Largest response body accepted (default 16 MiB). */
  maxBodyBytes?: number;
  /** Most responses kept in the inter-query cache (default 1000). */
  cacheMaxEntries?: number;
}

/** What the worker is asked to do. */
interface WireRequest {
  method: string;
  url: string;
  headers: Array<[string, string]>;
  body?: string;
  timeoutMs: number;
  insecure: boolean;
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  socketPath?: string;
  followRedirects: boolean;
  allowedHosts: string[] | null;
  maxBodyBytes: number;
}

type LookupResponse = { ok: true; addresses: string[] } | { ok: false; message: string };

type WireResponse =
  | { ok: true; url: string; statusCode: number; statusMessage: string; rawHeaders: string[]; body: string }
  | { ok: false; timeout: boolean; url: string; message: string };

// The worker: plain CommonJS run with `eval`, so it needs no file of its own.
const WORKER_SOURCE = String.raw`
const { workerData } = require('node:worker_threads');
const http = require('node:http');
const https = require('node:https');
const { port, signal } = workerData;
const counter = new Int32Array(signal);

function hostAllowed(allowed, u) {
  if (allowed === null) return true;
  const h = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return allowed.includes('*') || allowed.includes(h);
}

function detail(err, u) {
  const hostPort = u.hostname.replace(/^\[|\]$/g, '') + ':' + (u.port || (u.protocol === 'https:' ? '443' : '80'));
  switch (err.code) {
    case 'ECONNREFUSED': return 'dial tcp ' + hostPort + ': connect: connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN': return 'dial tcp: lookup ' + u.hostname + ': no such host';
    case 'ECONNRESET': return 'read tcp ' + hostPort + ': read: connection reset by peer';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'tls: failed to verify certificate: x509: certificate signed by unknown authority';
    case 'CERT_HAS_EXPIRED': return 'tls: failed to verify certificate: x509: certificate has expired or is not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID': return 'tls: failed to verify certificate: x509: ' + (err.reason || err.message);
    default: return err.message || String(err);
  }
}

function perform(req) {
  const deadline = Date.now() + req.timeoutMs;
  return new Promise((resolve) => {
    let finished = false;
    let current = null;
    const done = (res) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (current) current.destroy();
      resolve(res);
    };
    let lastUrl = req.url;
    const timer = setTimeout(() => done({ ok: false, timeout: true, url: lastUrl, message: 'timeout' }), Math.max(1, req.timeoutMs));
    const attempt = (url, method, body, redirectsLeft) => {
      lastUrl = url;
      let u;
      try { u = new URL(url); } catch (e) { return done({ ok: false, timeout: false, url, message: 'invalid URL' }); }
      if (!hostAllowed(req.allowedHosts, u)) return done({ ok: false, timeout: false, url, message: 'unallowed host: ' + u.hostname.replace(/^\[|\]$/g, '') });
      const isHttps = u.protocol === 'https:';
      const headers = {};
      for (const [k, v] of req.headers) {
        if (headers[k] === undefined) headers[k] = v; else headers[k] = [].concat(headers[k], v);
      }
      if (body !== undefined && body.length > 0) headers['Content-Length'] = Buffer.byteLength(body);
      const opts = { method, headers, agent: false };
      if (req.socketPath) opts.socketPath = req.socketPath;
      if (isHttps) {
        opts.rejectUnauthorized = !req.insecure;
        if (req.ca) opts.ca = req.ca;
        if (req.cert) opts.cert = req.cert;
        if (req.key) opts.key = req.key;
        if (req.servername) opts.servername = req.servername;
      }
      let r;
      try {
        r = (isHttps ? https : http).request(u, opts, (res) => {
          const status = res.statusCode || 0;
          const location = res.headers.location;
          if (req.followRedirects && [301, 302, 303, 307, 308].includes(status) && location) {
            res.resume();
            if (redirectsLeft <= 0) return done({ ok: false, timeout: false, url, message: 'stopped after 10 redirects' });
            const next = new URL(location, u).toString();
            const keep = status === 307 || status === 308;
            const nextMethod = keep || method === 'GET' || method === 'HEAD' ? method : 'GET';
            return attempt(next, nextMethod, keep ? body : undefined, redirectsLeft - 1);
          }
          const chunks = [];
          let size = 0;
          res.on('data', (c) => {
            size += c.length;
            if (size > req.maxBodyBytes) done({ ok: false, timeout: false, url, message: 'response body larger than ' + req.maxBodyBytes + ' bytes' });
            else chunks.push(c);
          });
          res.on('end', () => done({ ok: true, url, statusCode: status, statusMessage: res.statusMessage || '',
            rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('base64') }));
          res.on('error', (e) => done({ ok: false, timeout: false, url, message: detail(e, u) }));
        });
      } catch (e) {
        return done({ ok: false, timeout: false, url, message: detail(e, u) });
      }
      current = r;
      r.on('error', (e) => done({ ok: false, timeout: Date.now() >= deadline, url, message: detail(e, u) }));
      if (body !== undefined && body.length > 0) r.write(body);
      r.end();
    };
    attempt(req.url, req.method, req.body, 10);
  });
}

async function lookup(req) {
  try {
    const found = await require('node:dns').promises.lookup(req.name, { all: true, verbatim: true });
    return { ok: true, addresses: found.map((a) => a.address) };
  } catch (e) {
    return { ok: false, message: 'lookup ' + req.name + ': no such host' };
  }
}

port.on('message', async ({ id, req }) => {
  let res;
  try {
    res = req.op === 'lookup' ? await lookup(req) : await perform(req);
  } catch (e) {
    res = { ok: false, timeout: false, url: req.url, message: String((e && e.message) || e) };
  }
  port.postMessage({ id, res });
  Atomics.add(counter, 0, 1);
  Atomics.notify(counter, 0);
});
`;

/** Runs requests on a worker thread and waits for them synchronously. */
class SyncRequester {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly counter: Int32Array;
  private nextId = 1;

  constructor() {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    this.counter = new Int32Array(signal);
    this.port = port1;
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { port: port2, signal }, transferList: [port2] });
    // Neither the worker nor the port may keep the process alive.
    this.worker.unref();
    this.port.unref();
  }

  request(req: WireRequest): WireResponse {
    return this.call(req, req.timeoutMs, { ok: false, timeout: true, url: req.url, message: 'timeout' });
  }

  lookup(name: string, timeoutMs: number): LookupResponse {
    return this.call({ op: 'lookup', name }, timeoutMs, { ok: false, message: `lookup ${name}: i/o timeout` });
  }

  private call<T>(req: object, timeoutMs: number, onTimeout: T): T {
    const id = this.nextId++;
    let seen = Atomics.load(this.counter, 0);
    this.port.postMessage({ id, req });
    // The worker enforces request timeouts; the margin only guards against a stuck worker.
    const deadline = Date.now() + timeoutMs + 2000;
    for (;;) {
      for (let m = receiveMessageOnPort(this.port); m !== undefined; m = receiveMessageOnPort(this.port)) {
        const msg = m.message as { id: number; res: T };
        if (msg.id === id) return msg.res;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) return onTimeout;
      Atomics.wait(this.counter, 0, seen, remaining);
      seen = Atomics.load(this.counter, 0);
    }
  }

  close(): Promise<number> {
    this.port.close();
    return this.worker.terminate();
  }
}

/** Blocks the thread for `ms` (retry back-off). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

// ---------------------------------------------------------------------------------------------
// Reading the request object

function internal(message: string): HttpSendError {
  return new HttpSendError(message, 'internal');
}

function goQuote(s: string): string {
  return JSON.stringify(s);
}

function boolField(req: RObject, name: string): boolean {
  const v = req.get(name);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw internal(`invalid value for ${goQuote(name)} field`);
  return v;
}

/** Go's strconv.ParseBool over the term's text: only booleans pass. */
function parseBoolOption(req: RObject, name: string): boolean {
  const v = req.get(name);
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw internal(`strconv.ParseBool: parsing ${goQuote(toRegoString(v))}: invalid syntax`);
  return v;
}

function stringField(req: RObject, name: string): string | undefined {
  const v = req.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw internal(`${goQuote(name)} must be a string`);
  return v;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go's time.ParseDuration, in nanoseconds. */
export function parseGoDuration(s: string): number {
  const bad = () => new Error(`time: invalid duration ${goQuote(s)}`);
  let rest = s;
  let sign = 1;
  if (rest[0] === '-' || rest[0] === '+') {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw bad();
  let total = 0;
  while (rest.length > 0) {
    const m = /^([0-9]*(?:\.[0-9]*)?)([^0-9.]+)/.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') {
      if (/^[0-9.]+$/.test(rest)) throw new Error(`time: missing unit in duration ${goQuote(s)}`);
      throw bad();
    }
    const unit = DURATION_UNITS[m[2]];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(m[2])} in duration ${goQuote(s)}`);
    total += Number(m[1]) * unit;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** OPA's timeout: nanoseconds as a number or a string, or a Go duration string. */
function timeoutMs(req: RObject, fallbackMs: number): number {
  const v = req.get('timeout');
  if (v === undefined) return fallbackMs;
  let ns: number;
  if (typeof v === 'number' || typeof v === 'bigint') {
    if (typeof v === 'number' && !Number.isInteger(v)) throw internal(`invalid timeout number value ${toRegoString(v)}, must be int64`);
    ns = Number(v);
  } else if (typeof v === 'string') {
    if (/^[+-]?[0-9]+$/.test(v)) ns = Number(v);
    else {
      try {
        ns = parseGoDuration(v);
      } catch (e) {
        throw internal(`invalid timeout value ${toRegoString(v)}: ${(e as Error).message}`);
      }
    }
  } else {
    throw internal(`operand 1 'timeout' must be one of {string, number} but got ${typeof v === 'object' && v !== null ? (Array.isArray(v) ? 'array' : v instanceof RSet ? 'set' : 'object') : v === null ? 'null' : typeof v}`);
  }
  // Go treats a zero timeout as "no timeout"; we still bound it by the default.
  return ns > 0 ? Math.max(1, Math.ceil(ns / 1e6)) : fallbackMs;
}

/** Go's http.CanonicalHeaderKey. */
function canonicalHeader(k: string): string {
  if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(k)) return k;
  return k
    .toLowerCase()
    .split('-')
    .map((p) => (p ? p[0].toUpperCase() + p.slice(1) : p))
    .join('-');
}

function readTLSSource(req: RObject, inline: string, file: string, env: string): string | undefined {
  const v = stringField(req, inline);
  if (v !== undefined && v !== '') return v;
  const f = stringField(req, file);
  if (f) {
    try {
      return readFileSync(f, 'utf8');
    } catch (e) {
      throw internal((e as Error).message);
    }
  }
  const e = stringField(req, env);
  if (e) return process.env[e] ?? '';
  return undefined;
}

interface ParsedRequest {
  wire: WireRequest;
  retries: number;
  cache: boolean;
  forceCacheSeconds?: number;
  forceJSON: boolean;
  forceYAML: boolean;
}

function parseRequest(req: RObject, cfg: Required<HttpSendConfig>): ParsedRequest {
  let method = (stringField(req, 'method') ?? '').toUpperCase();
  if (method === '') method = 'GET';
  let url = stringField(req, 'url') ?? '';
  const allowed = cfg.allowedHosts.map((h) => h.toLowerCase().replace(/^\[|\]$/g, ''));

  let socketPath: string | undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new HttpSendError(`parse ${goQuote(url)}: invalid URI for request`, 'network');
  }
  if (parsed.protocol === 'unix:' && parsed.search !== '') {
    // unix://localhost/path?socket=%2Fpath%2Fto.sock, as OPA accepts.
    socketPath = parsed.searchParams.get('socket') ?? undefined;
    parsed.searchParams.delete('socket');
    parsed.protocol = 'http:';
    url = parsed.toString();
  }
  const hostname = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (!allowed.includes('*') && !allowed.includes(hostname)) throw internal(`unallowed host: ${hostname}`);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    const op = method[0] + method.slice(1).toLowerCase();
    throw new HttpSendError(`${op} ${goQuote(url)}: unsupported protocol scheme ${goQuote(parsed.protocol.slice(0, -1))}`, 'network');
  }

  const headers: Array<[string, string]> = [];
  const hv = req.get('headers');
  let servername = stringField(req, 'tls_server_name') || undefined;
  if (hv !== undefined) {
    if (!(hv instanceof RObject)) throw internal('invalid type for headers key');
    for (const [k, v] of hv.entries()) {
      if (typeof k !== 'string') throw internal('invalid type for headers key');
      if (typeof v !== 'string') throw internal(`invalid type for headers value ${goQuote(toRegoString(v))}`);
      const name = canonicalHeader(k);
      headers.push([name, v]);
      if (name === 'Host' && !servername) servername = v;
    }
  }
  if (!headers.some(([k]) => k === 'User-Agent')) headers.push(['User-Agent', 'image-enforcer (http.send)']);

  let body: string | undefined;
  const raw = stringField(req, 'raw_body');
  if (raw !== undefined) body = raw;
  else if (req.has('body')) body = stringifyJSON(req.get('body') as Value);

  let ca = readTLSSource(req, 'tls_ca_cert', 'tls_ca_cert_file', 'tls_ca_cert_env_variable');
  if (ca !== undefined) ca = ca.replace(/\\n/g, '\n');
  const cert = readTLSSource(req, 'tls_client_cert', 'tls_client_cert_file', 'tls_client_cert_env_variable');
  const key = readTLSSource(req, 'tls_client_key', 'tls_client_key_file', 'tls_client_key_env_variable');

  const retriesV = req.get('max_retry_attempts');
  let retries = 0;
  if (retriesV !== undefined) {
    if (typeof retriesV !== 'number' || !Number.isInteger(retriesV) || retriesV < 0) {
      throw internal(`invalid value ${toRegoString(retriesV)} for field "max_retry_attempts"`);
    }
    retries = Math.min(retriesV, 10);
  }

  const mode = req.get('caching_mode');
  if (mode !== undefined) {
    if (typeof mode !== 'string') throw internal('invalid value for "caching_mode" field');
    if (mode !== 'serialized' && mode !== 'deserialized') throw internal(`invalid value specified for "caching_mode" field: ${mode}`);
  }

  const cache = boolField(req, 'cache');
  let forceCacheSeconds: number | undefined;
  if (boolField(req, 'force_cache')) {
    const d = req.get('force_cache_duration_seconds');
    if (d === undefined) throw internal("'force_cache' set but 'force_cache_duration_seconds' parameter is missing");
    if (typeof d !== 'number' || !Number.isInteger(d)) {
      throw internal(`strconv.ParseInt: parsing ${goQuote(toRegoString(d))}: invalid syntax`);
    }
    forceCacheSeconds = d;
  }

  return {
    wire: {
      method,
      url,
      headers,
      body,
      timeoutMs: timeoutMs(req, cfg.defaultTimeoutMs),
      insecure: parseBoolOption(req, 'tls_insecure_skip_verify'),
      ca,
      cert: cert && key ? cert : undefined,
      key: cert && key ? key : undefined,
      servername,
      socketPath,
      followRedirects: parseBoolOption(req, 'enable_redirect'),
      allowedHosts: allowed.includes('*') ? null : allowed,
      maxBodyBytes: cfg.maxBodyBytes,
    },
    retries,
    cache,
    forceCacheSeconds,
    forceJSON: boolField(req, 'force_json_decode'),
    forceYAML: boolField(req, 'force_yaml_decode'),
  };
}

// ---------------------------------------------------------------------------------------------
// Responses

interface StoredResponse {
  statusCode: number;
  statusMessage: string;
  /** Header names lower-cased, values in arrival order. */
  headers: Map<string, string[]>;
  body: Buffer;
}

function headerMap(raw: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    m.set(k, [...(m.get(k) ?? []), raw[i + 1]]);
  }
  return m;
}

function first(h: Map<string, string[]>, name: string): string {
  return h.get(name)?.[0] ?? '';
}

/** mime.ParseMediaType's type, lower-cased; '' when absent. */
function mediaType(h: Map<string, string[]>): string {
  return first(h, 'content-type').split(';')[0].trim().toLowerCase();
}

function isJSONType(h: Map<string, string[]>): boolean {
  const [type, sub, extra] = mediaType(h).split('/');
  return extra === undefined && type === 'application' && sub !== undefined && (sub === 'json' || sub.endsWith('+json'));
}

function toResponseValue(r: StoredResponse, forceJSON: boolean, forceYAML: boolean): RObject {
  const text = r.body.toString('utf8');
  let body: Value = null;
  // As in OPA, a body that does not decode is reported as null, not as an error.
  if (forceJSON || isJSONType(r.headers)) {
    try {
      body = parseJSON(text);
    } catch {
      body = null;
    }
  } else if (forceYAML || /application\/(x-)?yaml/.test(first(r.headers, 'content-type'))) {
    try {
      body = yamlToValue(text);
    } catch {
      body = null;
    }
  }
  const headers = new RObject();
  for (const [k, vs] of r.headers) headers.set(k, vs);
  return RObject.from([
    ['status', `${r.statusCode} ${r.statusMessage}`],
    ['status_code', r.statusCode],
    ['body', body],
    ['raw_body', text],
    ['headers', headers],
  ]);
}

// ---------------------------------------------------------------------------------------------
// The inter-query cache

interface CacheEntry {
  expiresAtMs: number;
  response: StoredResponse;
}

function cacheControl(h: Map<string, string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of first(h, 'cache-control').split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.split('=');
    if (eq.length === 1) out.set(p, '');
    else if (eq.length === 2) out.set(eq[0].trim(), eq[1]);
  }
  return out;
}

/** When a response stops being fresh, from Cache-Control max-age (+ Date) or Expires; undefined = unknown. */
function expiryFromHeaders(h: Map<string, string[]>): number | undefined {
  const maxAge = cacheControl(h).get('max-age');
  if (maxAge !== undefined) {
    if (!/^[0-9]+$/.test(maxAge)) return undefined;
    const date = Date.parse(first(h, 'date'));
    if (Number.isNaN(date)) return undefined; // OPA: "no date header" -> not cached
    return date + Math.min(Number(maxAge), 2 ** 31 - 1) * 1000;
  }
  const expires = Date.parse(first(h, 'expires'));
  return Number.isNaN(expires) ? 0 : expires;
}

// ---------------------------------------------------------------------------------------------
// The hook

export class HttpSender {
  private readonly cfg: Required<HttpSendConfig>;
  private requester?: SyncRequester;
  private readonly cache = new Map<string, CacheEntry>();
  /** Requests that reached the network (for tests and metrics). */
  networkRequests = 0;

  constructor(config: HttpSendConfig) {
    this.cfg = {
      allowedHosts: [...config.allowedHosts],
      defaultTimeoutMs: config.defaultTimeoutMs ?? 5000,
      maxBodyBytes: config.maxBodyBytes ?? 16 * 1024 * 1024,
      cacheMaxEntries: config.cacheMaxEntries ?? 1000,
    };
  }

  /** The function to put in BuiltinHooks.httpSend. */
  readonly hook = (request: RObject, ctx: BuiltinContext): Value => this.send(request, ctx);

  send(request: RObject, ctx: BuiltinContext): Value {
    const p = parseRequest(request, this.cfg);
    const nowMs = Number(ctx.nowNs / 1_000_000n);
    const useCache = p.cache || p.forceCacheSeconds !== undefined;
    const key = httpSendCacheKey(request);

    if (useCache) {
      const hit = this.cache.get(key);
      if (hit) {
        if (nowMs < hit.expiresAtMs) return toResponseValue(hit.response, p.forceJSON, p.forceYAML);
        const etag = first(hit.response.headers, 'etag');
        const lastModified = first(hit.response.headers, 'last-modified');
        this.cache.delete(key);
        if (etag || lastModified) {
          const cond = { ...p.wire, headers: [...p.wire.headers] };
          if (etag) cond.headers.push(['If-None-Match', etag]);
          if (lastModified) cond.headers.push(['If-Modified-Since', lastModified]);
          const r = this.execute(cond, p.retries);
          if (r.statusCode === 304) {
            for (const [k, vs] of r.headers) hit.response.headers.set(k, vs);
            this.store(key, hit.response, p, nowMs);
            return toResponseValue(hit.response, p.forceJSON, p.forceYAML);
          }
          if (r.statusCode === 200) {
            this.store(key, r, p, nowMs);
            return toResponseValue(r, p.forceJSON, p.forceYAML);
          }
        }
      }
    }

    const r = this.execute(p.wire, p.retries);
    if (useCache) this.store(key, r, p, nowMs);
    return toResponseValue(r, p.forceJSON, p.forceYAML);
  }

  private store(key: string, r: StoredResponse, p: ParsedRequest, nowMs: number): void {
    if (!CACHEABLE_STATUS_CODES.has(r.statusCode)) return;
    let expires: number | undefined;
    if (p.forceCacheSeconds !== undefined && p.forceCacheSeconds > 0) expires = nowMs + p.forceCacheSeconds * 1000;
    else {
      if (cacheControl(r.headers).has('no-store')) return;
      expires = expiryFromHeaders(r.headers);
    }
    if (expires === undefined) return;
    if (this.cache.size >= this.cfg.cacheMaxEntries) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    this.cache.set(key, { expiresAtMs: expires, response: r });
  }

  private execute(wire: WireRequest, retries: number): StoredResponse {
    const op = wire.method[0] + wire.method.slice(1).toLowerCase();
    for (let attempt = 0; ; attempt++) {
      this.requester ??= new SyncRequester();
      this.networkRequests++;
      const res = this.requester.request(wire);
      if (res.ok) {
        return {
          statusCode: res.statusCode,
          statusMessage: res.statusMessage,
          headers: headerMap(res.rawHeaders),
          body: Buffer.from(res.body, 'base64'),
        };
      }
      if (attempt >= retries) {
        if (res.timeout) {
          throw new HttpSendError(
            `${op} ${goQuote(res.url)}: context deadline exceeded (Client.Timeout exceeded while awaiting headers)`,
            'network',
            `${op} ${res.url}: request timed out`,
          );
        }
        throw new HttpSendError(`${op} ${goQuote(res.url)}: ${res.message}`, 'network');
      }
      sleepSync(Math.min(100 * 2 ** attempt, 60_000));
    }
  }

  /**
   * net.lookup_ip_addr: resolves `name` with the system resolver, subject to the same host
   * allow-list (as OPA checks allow_net). Put it in BuiltinHooks.lookupIPAddr.
   */
  readonly lookupIPAddr = (name: string): string[] => {
    const allowed = this.cfg.allowedHosts.map((h) => h.toLowerCase());
    if (!allowed.includes('*') && !allowed.includes(name.toLowerCase())) throw internal(`unallowed host: ${name}`);
    this.requester ??= new SyncRequester();
    const res = this.requester.lookup(name, this.cfg.defaultTimeoutMs);
    if (!res.ok) throw new HttpSendError(res.message, 'network');
    return res.addresses;
  };

  /** Forgets every cached response. */
  clearCache(): void {
    this.cache.clear();
  }

  /** Stops the worker thread. */
  async close(): Promise<void> {
    const r = this.requester;
    this.requester = undefined;
    if (r) await r.close();
  }
}

/** Builds the http.send hook for BuiltinHooks; `close()` stops its worker thread. */
export function createHttpSendHook(config: HttpSendConfig): HttpSender {
  return new HttpSender(config);
}

// Re-exported so callers wiring hooks need only this module.
export { HttpSendError };
