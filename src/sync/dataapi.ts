// Writes to an OPA-compatible v1 Data API (protocols.md §3.3): PUT creates parents like mkdir -p,
// DELETE removes a document (404 when it is already gone, which is fine for us).
// Path segments are percent-encoded one by one; OPA splits the URL path on "/" and then
// unescapes each segment, so a key that contains "/" or ":" survives as one key.

import { requestWithRetry, NetworkError, redactUrl, DEFAULT_RETRY, type HttpResponse, type RetryPolicy, type Transport } from "./http.js";
import { SyncError } from "./log.js";

export interface DataApiOptions {
  /** OPA base URL including the API version, e.g. http://localhost:8181/v1 (the original default). */
  url: string;
  transport: Transport;
  retry?: RetryPolicy;
  timeoutMs?: number;
  /** Extra headers, e.g. Authorization for an OPA with token authentication. */
  headers?: Record<string, string>;
}

/** Split a root like "/data/docker/layers" into segments. */
export function rootSegments(root: string): string[] {
  return root.split("/").filter((s) => s !== "");
}

export function encodePath(segments: string[]): string {
  return segments.map((s) => encodeURIComponent(s)).join("/");
}

export class DataApi {
  readonly counts = { put: 0, delete: 0, get: 0 };
  private readonly base: string;
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: DataApiOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  private async call(method: string, segments: string[], body?: string, signal?: AbortSignal): Promise<HttpResponse> {
    const url = `${this.base}/${encodePath(segments)}`;
    const headers: Record<string, string> = { accept: "application/json", ...(this.opts.headers ?? {}) };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await requestWithRetry(this.opts.transport, { method, url, headers, body, timeoutMs: this.opts.timeoutMs, maxBodyBytes: 256 << 20 }, this.retry, signal);
    } catch (e) {
      if (e instanceof NetworkError) {
        const se = new SyncError("data-api", `Data API ${redactUrl(this.base)} unreachable: ${e.message}`, "check --opa-url and that the policy server is running; writes are retried on the next cycle");
        se.faultKey = "data-api-host";
        throw se;
      }
      throw e;
    }
  }

  private fail(res: HttpResponse, what: string): SyncError {
    let msg = "";
    try {
      const b = JSON.parse(res.body.toString("utf8")) as { code?: unknown; message?: unknown };
      if (typeof b.message === "string") msg = `: ${typeof b.code === "string" ? b.code + ": " : ""}${b.message}`;
    } catch {
      /* plain status */
    }
    const s = res.status;
    const hint =
      s === 404
        ? "write conflict: a policy rule or a non-object document sits on this path; check --opa-layer-root / --opa-clair-root"
        : s === 401 || s === 403
          ? "the Data API refused the write: check its authentication/authorization settings"
          : "the Data API is failing; retried on the next cycle";
    return new SyncError("data-api", `${what}: HTTP ${s}${msg}`, hint, s !== 404);
  }

  async put(segments: string[], value: unknown, signal?: AbortSignal): Promise<void> {
    this.counts.put++;
    const res = await this.call("PUT", segments, JSON.stringify(value), signal);
    if (res.status < 200 || res.status > 299) throw this.fail(res, `PUT /${segments.join("/")}`);
  }

  /** DELETE; a missing document counts as success. */
  async delete(segments: string[], signal?: AbortSignal): Promise<void> {
    this.counts.delete++;
    const res = await this.call("DELETE", segments, undefined, signal);
    if (res.status === 404) return;
    if (res.status < 200 || res.status > 299) throw this.fail(res, `DELETE /${segments.join("/")}`);
  }

  /** GET a document; undefined when it does not exist. */
  async get(segments: string[], signal?: AbortSignal): Promise<unknown> {
    this.counts.get++;
    const res = await this.call("GET", segments, undefined, signal);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.fail(res, `GET /${segments.join("/")}`);
    let b: unknown;
    try {
      b = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new SyncError("data-api", `GET /${segments.join("/")}: malformed JSON`, "the Data API answered garbage; check --opa-url");
    }
    if (b === null || typeof b !== "object") return undefined;
    return (b as Record<string, unknown>)["result"];
  }
}
