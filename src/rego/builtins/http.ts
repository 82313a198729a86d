// http.send (OPA's "http" category). Registered at import time.
//
// The rego core does no network I/O: this file validates the request object, applies OPA's
// `raise_error` semantics and the per-query cache (the same request within one query gets the
// same answer, errors included), and hands the request to `ctx.hooks.httpSend`. Without that
// hook http.send is disabled. The embedding program's hook (src/runtime/http-send.ts) performs
// the request, applies the host allow-list, timeouts and the inter-query cache, and reports
// failures by throwing HttpSendError.
import { BuiltinError } from '../errors.js';
import { RObject, RSet, canonicalKey, toRegoString, type Value } from '../value.js';
import { registerBuiltins, type BuiltinContext } from './registry.js';

/** Error codes http.send puts in `error.code` when raise_error is false. */
export const HTTP_SEND_NETWORK_ERR = 'eval_http_send_network_error';
export const HTTP_SEND_INTERNAL_ERR = 'eval_http_send_internal_error';

/**
 * A failed http.send. `kind` decides the error code reported with raise_error=false: 'network'
 * for failures talking to the server (Go's *url.Error), 'internal' for everything else.
 * `raisedMessage`, when set, replaces the message when the error is raised (OPA words request
 * timeouts differently in the two cases).
 */
export class HttpSendError extends BuiltinError {
  readonly kind: 'network' | 'internal';
  readonly raisedMessage?: string;
  constructor(message: string, kind: 'network' | 'internal', raisedMessage?: string) {
    super(message, 'eval_builtin_error');
    this.name = 'HttpSendError';
    this.kind = kind;
    this.raisedMessage = raisedMessage;
  }
}

export const HTTP_SEND_ALLOWED_KEYS: readonly string[] = [
  'method',
  'url',
  'body',
  'enable_redirect',
  'force_json_decode',
  'force_yaml_decode',
  'headers',
  'raw_body',
  'tls_use_system_certs',
  'tls_ca_cert',
  'tls_ca_cert_file',
  'tls_ca_cert_env_variable',
  'tls_client_cert',
  'tls_client_cert_file',
  'tls_client_cert_env_variable',
  'tls_client_key',
  'tls_client_key_file',
  'tls_client_key_env_variable',
  'tls_insecure_skip_verify',
  'tls_server_name',
  'timeout',
  'cache',
  'force_cache',
  'force_cache_duration_seconds',
  'raise_error',
  'caching_mode',
  'max_retry_attempts',
  'cache_ignored_headers',
];
const ALLOWED = new Set<Value>(HTTP_SEND_ALLOWED_KEYS);
const REQUIRED = ['method', 'url'];

/** Status codes whose responses may be cached (RFC 7231 §6.1). */
export const CACHEABLE_STATUS_CODES: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501]);

function setText(items: Value[]): string {
  return toRegoString(RSet.from(items));
}

function validateRequest(req: RObject): void {
  const invalid = req.keys().filter((k) => !ALLOWED.has(k));
  if (invalid.length > 0) {
    throw new BuiltinError(`operand 1 invalid request parameters(s): ${setText(invalid)}`, 'eval_type_error');
  }
  const missing = REQUIRED.filter((k) => !req.has(k));
  if (missing.length > 0) {
    throw new BuiltinError(`operand 1 missing required request parameters(s): ${setText(missing)}`, 'eval_type_error');
  }
}

/**
 * The key identifying a request for caching: the request itself, minus the headers listed in
 * `cache_ignored_headers` (and with that field nulled, so lists that differ do not matter).
 */
export function httpSendCacheKey(req: RObject): string {
  const key = req.copy();
  const ignored = req.get('cache_ignored_headers');
  const headers = req.get('headers');
  if (ignored !== undefined && headers instanceof RObject && (Array.isArray(ignored) || ignored instanceof RSet)) {
    const h = headers.copy();
    for (const name of Array.isArray(ignored) ? ignored : ignored.values()) h.delete(name);
    key.set('headers', h);
  }
  key.set('cache_ignored_headers', null);
  return canonicalKey(key);
}

type Entry = { response: Value } | { error: BuiltinError };
const perQuery = new WeakMap<Map<string, Value>, Map<string, Entry>>();

function queryEntries(ctx: BuiltinContext): Map<string, Entry> {
  let m = perQuery.get(ctx.queryCache);
  if (!m) {
    m = new Map();
    perQuery.set(ctx.queryCache, m);
  }
  return m;
}

function errorResult(kind: 'network' | 'internal', message: string): RObject {
  return RObject.from([
    ['status_code', 0],
    [
      'error',
      RObject.from([
        ['code', kind === 'network' ? HTTP_SEND_NETWORK_ERR : HTTP_SEND_INTERNAL_ERR],
        ['message', message],
      ]),
    ],
  ]);
}

function fail(err: BuiltinError, raise: boolean): Value {
  if (raise) {
    if (err instanceof HttpSendError && err.raisedMessage !== undefined) {
      throw new HttpSendError(err.raisedMessage, err.kind);
    }
    throw err;
  }
  return errorResult(err instanceof HttpSendError ? err.kind : 'internal', err.message);
}

function httpSend(req: RObject, ctx: BuiltinContext): Value {
  const raiseValue = req.get('raise_error');
  if (raiseValue !== undefined && typeof raiseValue !== 'boolean') {
    throw new BuiltinError('invalid value for raise_error field');
  }
  const raise = raiseValue !== false;
  try {
    validateRequest(req);
  } catch (e) {
    if (raise) throw e;
    return errorResult('internal', `http.send: ${(e as Error).message}`);
  }

  const key = httpSendCacheKey(req);
  const entries = queryEntries(ctx);
  const hit = entries.get(key);
  if (hit) return 'response' in hit ? hit.response : fail(hit.error, raise);

  try {
    const hook = ctx.hooks.httpSend;
    if (!hook) throw new HttpSendError('http.send is disabled by the server configuration (network access is not enabled)', 'internal');
    const response = hook(req, ctx);
    const status = response instanceof RObject ? response.get('status_code') : undefined;
    if (typeof status === 'number' && CACHEABLE_STATUS_CODES.has(status)) entries.set(key, { response });
    return response;
  } catch (e) {
    const err = e instanceof BuiltinError ? e : new HttpSendError(e instanceof Error ? e.message : String(e), 'internal');
    entries.set(key, { error: err });
    return fail(err, raise);
  }
}

registerBuiltins({
  name: 'http.send',
  args: ['object[string,any]'],
  result: 'object[any,any]',
  category: 'http',
  nondeterministic: true,
  impl: ([req], ctx) => httpSend(req as RObject, ctx),
});
