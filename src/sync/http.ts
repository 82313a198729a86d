// A small HTTP client on node:http/https for the sync: one attempt per call, bounded body size,
// timeouts, custom CA / insecure TLS, and a retry wrapper with exponential backoff that honours
// Retry-After. We use node:http rather than fetch because fetch cannot take a per-registry CA
// without the undici package, and because we want exact control over redirects and headers.

import * as http from "node:http";
import * as https from "node:https";
import { SyncError, type Component } from "./log.js";

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Per-attempt timeout (connect + full response), ms. */
  timeoutMs?: number;
  /** Largest body accepted; larger responses fail (protects against garbage / hostile servers). */
  maxBodyBytes?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  url: string;
}

export interface TlsOptions {
  /** PEM CA bundle to trust in addition to nothing else (replaces the default roots, like curl --cacert). */
  ca?: string | Buffer;
  /** Skip TLS verification (private registries with self-signed certificates, on purpose only). */
  insecure?: boolean;
  /**
   * Name to verify the server's certificate against (and to send as SNI) instead of the URL's
   * host: lets a client reach a server over 127.0.0.1 whose certificate names its Service.
   */
  serverName?: string;
  /**
   * Treat every certificate in `ca` as a trust anchor, not only self-signed roots, so a server's
   * own (CA-issued) certificate can be pinned.
   */
  partialChain?: boolean;
  /** PEM client certificate (chain) and its private key, presented to servers that ask for one. */
  cert?: string;
  key?: string;
}

/** A network-level failure (refused, reset, timeout, DNS, body too large). Always retryable except TooLargeError. */
export class NetworkError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = "NetworkError";
  }
}

/**
 * The server answered more than the request's maxBodyBytes. Not a network fault and not retried:
 * the same request gets the same answer.
 */
export class TooLargeError extends NetworkError {
  constructor(
    host: string,
    readonly limit: number,
    readonly method: string,
    /** The request URL's path (no query: it may carry tokens). */
    readonly path: string,
  ) {
    super(`response body from ${host} larger than ${limit} bytes`, "ETOOLARGE");
  }
}

/** No complete answer within the request's timeoutMs (our timer, not the OS giving up on a connect). */
export class TimeoutError extends NetworkError {
  constructor(
    host: string,
    readonly timeoutMs: number,
  ) {
    super(`no complete answer from ${host} within ${timeoutMs} ms`, "ETIMEDOUT");
  }
}

/**
 * A transport failure as the SyncError of `server` (e.g. "registry r.example:5000"), for every
 * client of the sync. An oversized answer is what the server sent, so it is reported as that (an
 * operator told "unreachable" would look at the network), is not retryable, and is not grouped
 * with the host's reachability: `faultKey` is only for "unreachable".
 */
export function transportError(e: NetworkError, component: Component, server: string, unreachableHint: string, faultKey?: string): SyncError {
  if (e instanceof TooLargeError) {
    return new SyncError(
      component,
      `${server} answered more than ${e.limit} bytes for ${e.method} ${e.path}`,
      "no proper answer to this request is that large, so it is refused and nothing from it is used: check that the URL reaches the intended server (not another service or a proxy's page)",
      false,
    );
  }
  const se = new SyncError(component, `${server} unreachable: ${e.message}`, unreachableHint);
  if (faultKey) se.faultKey = faultKey;
  return se;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_BODY = 16 * 1024 * 1024;

export interface Transport {
  request(req: HttpRequest, signal?: AbortSignal): Promise<HttpResponse>;
}

/** Agents are shared per TLS setting so keep-alive works across calls. */
export class NodeTransport implements Transport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly httpsAgent: https.Agent;

  constructor(tls: TlsOptions = {}) {
    this.httpsAgent = new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ca: tls.ca,
      rejectUnauthorized: !tls.insecure,
      // Agent options win over the per-request ones, so this name is used for SNI and for the
      // certificate's host name check on every connection of this transport.
      ...(tls.serverName ? { servername: tls.serverName } : {}),
      ...(tls.partialChain ? { allowPartialTrustChain: true } : {}),
      ...(tls.cert !== undefined && tls.key !== undefined ? { cert: tls.cert, key: tls.key } : {}),
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  request(req: HttpRequest, signal?: AbortSignal): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(req.url);
      } catch {
        reject(new NetworkError(`invalid URL ${redactUrl(req.url)}`, "EINVALIDURL"));
        return;
      }
      if (u.protocol !== "http:" && u.protocol !== "https:") {
        reject(new NetworkError(`unsupported URL scheme ${u.protocol}`, "EINVALIDURL"));
        return;
      }
      if (signal?.aborted) {
        reject(new NetworkError("aborted", "EABORTED"));
        return;
      }
      const mod = u.protocol === "https:" ? https : http;
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      if (req.body !== undefined) headers["content-length"] = String(Buffer.byteLength(req.body));
      const maxBody = req.maxBodyBytes ?? DEFAULT_MAX_BODY;
      const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
      let settled = false;
      const finish = (err: Error | null, res?: HttpResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(res!);
      };
      const r = mod.request(
        u,
        {
          method: req.method,
          headers,
          agent: u.protocol === "https:" ? this.httpsAgent : this.httpAgent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on("data", (c: Buffer) => {
            size += c.length;
            if (size > maxBody) {
              // Settle first: destroying the response emits "aborted" synchronously.
              finish(new TooLargeError(u.host, maxBody, req.method, u.pathname));
              res.destroy();
              return;
            }
            chunks.push(c);
          });
          res.on("end", () =>
            finish(null, { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url: req.url }),
          );
          res.on("error", (e) => finish(new NetworkError(`reading response from ${u.host}: ${e.message}`, codeOf(e))));
          res.on("aborted", () => finish(new NetworkError(`connection to ${u.host} closed mid-response`, "ECONNRESET")));
        },
      );
      const timer = setTimeout(() => {
        finish(new TimeoutError(u.host, timeoutMs));
        r.destroy();
      }, timeoutMs);
      const onAbort = (): void => {
        finish(new NetworkError("aborted", "EABORTED"));
        r.destroy();
      };
      signal?.addEventListener("abort", onAbort);
      r.on("error", (e) => finish(new NetworkError(`cannot reach ${u.host}: ${e.message}`, codeOf(e))));
      if (req.body !== undefined) r.write(req.body);
      r.end();
    });
  }
}

function codeOf(e: Error): string {
  const c = (e as NodeJS.ErrnoException).code;
  return typeof c === "string" ? c : "ENETWORK";
}

/** Strip userinfo and query strings (which may carry tokens) from a URL before logging it. */
export function redactUrl(s: string): string {
  try {
    const u = new URL(s);
    u.username = "";
    u.password = "";
    u.search = "";
    return u.toString();
  } catch {
    return "<invalid url>";
  }
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  if (Array.isArray(v)) return v.join(", ");
  return v;
}

/**
 * The error for a 3xx answer (undefined for any other status), for every server the sync talks
 * to. Redirects are never followed: our requests carry credentials (registry tokens, the Clair
 * PSK, the Data API token) that must not go wherever a Location header says. The message names
 * the status and where it points (resolved and redacted), so the operator can fix the URL;
 * `advice` says which setting that is. Retryable: a redirect may be temporary (maintenance).
 */
export function redirectError(res: HttpResponse, component: Component, what: string, advice: string): SyncError | undefined {
  if (res.status < 300 || res.status > 399) return undefined;
  const loc = header(res, "location")?.trim();
  let target: string;
  if (!loc) target = "without a Location header";
  else {
    try {
      target = `to ${redactUrl(new URL(loc, res.url).toString())}`;
    } catch {
      target = "to an unusable Location";
    }
  }
  return new SyncError(component, `${what}: HTTP ${res.status}, a redirect ${target}`, `${advice}; redirects are not followed, so credentials never reach another address`);
}

export interface RetryPolicy {
  /** Total attempts, including the first. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** Upper bound on a server's Retry-After we are willing to wait inside one call. */
  maxRetryAfterMs: number;
  /** false: a request that timed out (TimeoutError) is not sent again. */
  retryTimeouts?: boolean;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 500, maxDelayMs: 15_000, maxRetryAfterMs: 60_000 };

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status <= 599 && status !== 501);
}

/** Parse Retry-After (seconds or HTTP date) into ms from `now`; undefined when absent or unparsable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - now);
}

export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  // Full jitter on the upper half, so many workers hitting one failing server spread out.
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) {
      resolve();
      return;
    }
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done);
  });
}

/**
 * Send with retries: network errors, 408/429/5xx are retried with exponential backoff, or after
 * Retry-After when the server sends one (capped). The last response (or error) is returned/thrown.
 */
export async function requestWithRetry(
  transport: Transport,
  req: HttpRequest,
  policy: RetryPolicy,
  signal?: AbortSignal,
  onRetry?: (info: { attempt: number; delayMs: number; reason: string }) => void,
): Promise<HttpResponse> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < policy.attempts; attempt++) {
    if (signal?.aborted) throw new NetworkError("aborted", "EABORTED");
    let delay: number;
    let reason: string;
    try {
      const res = await transport.request(req, signal);
      if (!isRetryableStatus(res.status) || attempt === policy.attempts - 1) return res;
      const ra = parseRetryAfter(header(res, "retry-after"));
      delay = ra !== undefined ? Math.min(ra, policy.maxRetryAfterMs) : backoffDelay(policy, attempt);
      reason = `HTTP ${res.status}`;
    } catch (e) {
      lastErr = e;
      if (!(e instanceof NetworkError) || e instanceof TooLargeError || e.code === "EABORTED" || e.code === "EINVALIDURL" || (e instanceof TimeoutError && policy.retryTimeouts === false)) {
        throw e;
      }
      if (attempt === policy.attempts - 1) throw e;
      delay = backoffDelay(policy, attempt);
      reason = e.message;
    }
    onRetry?.({ attempt: attempt + 1, delayMs: delay, reason });
    await sleep(delay, signal);
  }
  throw lastErr ?? new NetworkError("no attempts made", "ENETWORK");
}
