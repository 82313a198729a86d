// Clair v2 client (protocols.md §5.1): POST /v1/layers with ParentName chaining, then
// GET /v1/layers/{name}?features&vulnerabilities. The layer's Name is its digest, as the
// original sync did, so data.clair.layers[<digest>] lines up with the manifest's layers.

import { requestWithRetry, redactUrl, redirectError, DEFAULT_RETRY, header, TimeoutError, type HttpResponse, type RetryPolicy, type Transport } from "./http.js";
import { SyncError, serverText } from "./log.js";
import { reachClair, CLAIR_REDIRECT_ADVICE, DEFAULT_INDEX_TIMEOUT_MS, nestedDeeperThan, MAX_REPORT_DEPTH, type ClairLayer, type ScanResult, type ScanTarget, type Scanner } from "./scanner.js";

export interface ClairV2Options {
  /** Base URL including /v1, e.g. http://localhost:6060/v1 (the original default). */
  url: string;
  transport: Transport;
  retry?: RetryPolicy;
  /** POST /v1/layers blocks while Clair downloads and indexes the layer: allow minutes. */
  indexTimeoutMs?: number;
  timeoutMs?: number;
  now?: () => Date;
}

export class ClairV2Scanner implements Scanner {
  readonly kind = "clair-v2" as const;
  readonly counts = { index: 0, report: 0, poll: 0 };
  private readonly base: string;
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: ClairV2Options) {
    this.base = opts.url.replace(/\/+$/, "");
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  /** `onTimeout`: the error for a request that timed out, which is then not sent again. */
  private call(method: string, url: string, body: unknown, timeoutMs: number | undefined, signal?: AbortSignal, onTimeout?: () => SyncError): Promise<HttpResponse> {
    return reachClair(this.base, async () => {
      try {
        return await requestWithRetry(
          this.opts.transport,
          {
            method,
            url,
            headers: body === undefined ? { accept: "application/json" } : { accept: "application/json", "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
            timeoutMs,
            maxBodyBytes: 64 << 20,
          },
          onTimeout ? { ...this.retry, retryTimeouts: false } : this.retry,
          signal,
        );
      } catch (e) {
        if (onTimeout && e instanceof TimeoutError) throw onTimeout();
        throw e;
      }
    });
  }

  /** Index one layer. 201 is success; 422 means Clair cannot handle this layer (do not retry). */
  async index(name: string, path: string, headers: Record<string, string>, parent: string | undefined, signal?: AbortSignal): Promise<void> {
    this.counts.index++;
    const Layer: Record<string, unknown> = { Name: name, Path: path, Headers: headers, Format: "Docker" };
    if (parent) Layer["ParentName"] = parent;
    const limitMs = this.opts.indexTimeoutMs ?? DEFAULT_INDEX_TIMEOUT_MS;
    // Clair answers this POST once the layer is indexed, so running out of time means a slow index
    // (a large layer, a busy Clair), not an unreachable Clair. Sending it again within the cycle
    // would only start over and multiply the wait; the next cycle asks again.
    const notIndexed = (): SyncError =>
      new SyncError(
        "scanner",
        `Clair ${redactUrl(this.base)} did not index layer ${name} within ${limitMs} ms (--clair-index-timeout)`,
        "Clair may still be indexing it (a large layer or a busy Clair); the next cycle asks again. Raise --clair-index-timeout (clair.indexTimeout) if layers need longer",
      );
    const res = await this.call("POST", `${this.base}/layers`, { Layer }, limitMs, signal, notIndexed);
    if (res.status === 201 || res.status === 200) return;
    throw clairError(res, `Clair could not index layer ${name}`);
  }

  /** Fetch a layer report; null when Clair does not know the layer (404). */
  async report(name: string, signal?: AbortSignal): Promise<ClairLayer | null> {
    this.counts.report++;
    const res = await this.call("GET", `${this.base}/layers/${encodeURIComponent(name)}?features&vulnerabilities`, undefined, this.opts.timeoutMs, signal);
    if (res.status === 404) return null;
    if (res.status !== 200) throw clairError(res, `Clair report for layer ${name} failed`);
    return parseV2Layer(res.body, name);
  }

  async scan(target: ScanTarget, want: Set<string>, known: (d: string) => boolean, signal?: AbortSignal): Promise<ScanResult> {
    const out: ScanResult = { reports: new Map(), indexCalls: 0, errors: [] };
    const lost = await this.chain(target, want, known, out, signal);
    if (lost) {
      // Clair refused a child because it does not know its parent (400): the parent's report in the
      // data outlived Clair's copy (e.g. Clair's database was reset). Walk the chain once more from
      // the base, re-reading every layer and re-indexing the ones Clair lost.
      out.errors = [];
      const all = new Set(target.layers.map((l) => l.digest));
      await this.chain(target, all, () => true, out, signal);
    }
    return out;
  }

  /** Index/read layers base first; returns true when a child failed because Clair lost its parent. */
  private async chain(target: ScanTarget, want: Set<string>, known: (d: string) => boolean, out: ScanResult, signal?: AbortSignal): Promise<boolean> {
    let parent: string | undefined;
    for (const layer of target.layers) {
      const name = layer.digest;
      if (!want.has(name)) {
        parent = name;
        continue;
      }
      try {
        let rep: ClairLayer | null = null;
        if (known(name)) rep = await this.report(name, signal); // reported before: re-read without re-indexing
        if (rep === null) {
          await this.index(name, layer.url, target.headers, parent, signal);
          out.indexCalls++;
          rep = await this.report(name, signal);
          if (rep === null) throw new SyncError("scanner", `Clair accepted layer ${name} but has no report for it`, "Clair may be misconfigured; retried on the next cycle");
        }
        out.reports.set(name, { Layer: rep, FetchedAt: (this.opts.now?.() ?? new Date()).toISOString(), Scanner: this.kind });
      } catch (e) {
        out.errors.push(e as Error);
        if (e instanceof SyncError && !e.retryable) (out.unsupported ??= []).push(name);
        if (e instanceof SyncError && /HTTP 400/.test(e.message) && parent !== undefined && !want.has(parent)) {
          (out.refresh ??= []).push(parent);
          return true;
        }
        // Children name this layer as their parent: without it Clair would refuse them or index
        // them without the parent's features, so stop this image's chain here.
        return false;
      }
      parent = name;
    }
    return false;
  }
}

function clairError(res: HttpResponse, what: string): SyncError {
  const redirect = redirectError(res, "scanner", what, CLAIR_REDIRECT_ADVICE);
  if (redirect) return redirect;
  let msg = "";
  const ct = header(res, "content-type") ?? "";
  if (ct.includes("json")) {
    try {
      const b = JSON.parse(res.body.toString("utf8")) as { Error?: { Message?: unknown; Layer?: unknown } };
      const m = b.Error?.Message ?? b.Error?.Layer;
      if (typeof m === "string") msg = `: ${serverText(m)}`;
    } catch {
      /* fall through to the plain status */
    }
  }
  const s = res.status;
  const hint =
    s === 422
      ? "Clair cannot process this layer format; it will not be retried until the sync restarts"
      : s === 400 || s === 404
        ? "a prerequisite (such as the parent layer) is missing in Clair; retried on the next cycle"
        : "Clair is failing; retried with backoff on the next cycle, earlier reports stay in place";
  return new SyncError("scanner", `${what}: HTTP ${s}${msg}`, hint, s !== 422);
}

/** Validate a GET /v1/layers/{name} body and return its Layer, keeping Clair's fields as they are. */
export function parseV2Layer(body: Buffer, name: string): ClairLayer {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw new SyncError("scanner", `Clair report for layer ${name} is not valid JSON`, "Clair answered garbage; retried on the next cycle, earlier reports stay");
  }
  const bad = (why: string): SyncError =>
    new SyncError("scanner", `Clair report for layer ${name} is malformed: ${why}`, "Clair answered garbage; retried on the next cycle, earlier reports stay");
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw bad("not an object");
  const layer = (doc as Record<string, unknown>)["Layer"];
  if (layer === null || typeof layer !== "object" || Array.isArray(layer)) throw bad("no Layer object");
  const l = layer as Record<string, unknown>;
  if (typeof l["Name"] !== "string") throw bad("Layer.Name missing");
  // Stored under `name` in the policy data: a report about another layer must not land there.
  if (l["Name"] !== name) throw bad(`Layer.Name is ${serverText(JSON.stringify(l["Name"]), 100)}`);
  if (nestedDeeperThan(l, MAX_REPORT_DEPTH)) throw bad(`nested deeper than ${MAX_REPORT_DEPTH} levels`);
  if (l["Features"] !== undefined && l["Features"] !== null) {
    if (!Array.isArray(l["Features"])) throw bad("Features is not an array");
    for (const f of l["Features"]) {
      if (f === null || typeof f !== "object" || typeof (f as Record<string, unknown>)["Name"] !== "string") throw bad("a feature has no Name");
      const vs = (f as Record<string, unknown>)["Vulnerabilities"];
      if (vs !== undefined && vs !== null) {
        if (!Array.isArray(vs)) throw bad("Vulnerabilities is not an array");
        for (const v of vs) {
          if (v === null || typeof v !== "object" || typeof (v as Record<string, unknown>)["Name"] !== "string") throw bad("a vulnerability has no Name");
        }
      }
    }
  }
  return l as ClairLayer;
}
