// Clair v4 client (protocols.md §5.2): index the whole manifest with POST index_report, poll
// GET index_report/{digest} until IndexFinished, then GET vulnerability_report/{digest}; and map
// the manifest-level report onto the per-layer Clair v2 shape the policy reads.
//
// Mapping (also in docs/sync.md):
//  - Each package of the report becomes a v2 "Feature" {Name, Version, NamespaceName, AddedBy},
//    where AddedBy is the environment's `introduced_in` layer (the earliest one if several).
//  - A layer's Features are the packages introduced in that layer or any layer below it, mirroring
//    v2, where a layer's report covers "this layer and all of its parents".
//  - Each vulnerability of a package becomes {Name, NamespaceName, Description, Link (first of the
//    space-separated `links`), Severity (= normalized_severity), FixedBy (= fixed_in_version, absent
//    when empty), Metadata.ClairV4 {id, updater, severity (vendor wording), links, issued}}.
//  - Features and Vulnerabilities are absent, not [], when empty (v2's omitempty).
//  - NamespaceName is "<did>:<version_id>" of the package's distribution (e.g. "debian:12").

import { SignJWT } from "jose";
import { requestWithRetry, redirectError, DEFAULT_RETRY, sleep, type HttpResponse, type RetryPolicy, type Transport } from "./http.js";
import { SyncError, serverText } from "./log.js";
import { reachClair, CLAIR_REDIRECT_ADVICE, DEFAULT_INDEX_TIMEOUT_MS, type ClairFeature, type ClairLayer, type ClairVulnerability, type LayerDoc, type ScanResult, type ScanTarget, type Scanner } from "./scanner.js";

export interface ClairV4Options {
  /** Base URL of Clair (combo mode) or of an ingress that routes /indexer and /matcher. */
  url: string;
  transport: Transport;
  /** Base64 pre-shared key; when set every request carries an HS256 JWT. */
  psk?: string;
  /** `iss` claim for the PSK JWT (must be on Clair's allow list). */
  pskIssuer?: string;
  retry?: RetryPolicy;
  timeoutMs?: number;
  pollIntervalMs?: number;
  /** Give up waiting for IndexFinished after this long (retried next cycle). */
  indexTimeoutMs?: number;
  now?: () => Date;
}

const OCI_LAYER = /^application\/vnd\.oci\.image\.layer\.v1\.tar(\+gzip|\+zstd)?$/;
const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip";

export class ClairV4Scanner implements Scanner {
  readonly kind = "clair-v4" as const;
  readonly counts = { index: 0, report: 0, poll: 0 };
  private readonly base: string;
  private readonly retry: RetryPolicy;
  private readonly key: Uint8Array | undefined;

  constructor(private readonly opts: ClairV4Options) {
    this.base = opts.url.replace(/\/+$/, "");
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.key = opts.psk ? new Uint8Array(Buffer.from(opts.psk, "base64")) : undefined;
    if (opts.psk !== undefined && this.key!.length === 0) {
      throw new SyncError("config", "--clair-psk is empty after base64 decoding", "give the base64 key from Clair's auth.psk.key", false);
    }
  }

  private async authHeader(): Promise<Record<string, string>> {
    if (!this.key) return {};
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setIssuer(this.opts.pskIssuer ?? "image-enforcer")
      .setIssuedAt()
      .setNotBefore("0s")
      .setExpirationTime("5m")
      .sign(this.key);
    return { authorization: `Bearer ${jwt}` };
  }

  private async call(method: string, path: string, body: unknown, signal?: AbortSignal): Promise<HttpResponse> {
    const headers: Record<string, string> = { accept: "application/json", ...(await this.authHeader()) };
    if (body !== undefined) headers["content-type"] = "application/vnd.clair.manifest.v1+json";
    return reachClair(this.base, () =>
      requestWithRetry(
        this.opts.transport,
        { method, url: this.base + path, headers, body: body === undefined ? undefined : JSON.stringify(body), timeoutMs: this.opts.timeoutMs, maxBodyBytes: 128 << 20 },
        this.retry,
        signal,
      ),
    );
  }

  private json(res: HttpResponse, what: string): Record<string, unknown> {
    let b: unknown;
    try {
      b = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new SyncError("scanner", `${what}: Clair answered malformed JSON`, "Clair answered garbage; retried on the next cycle, earlier reports stay");
    }
    if (b === null || typeof b !== "object" || Array.isArray(b)) {
      throw new SyncError("scanner", `${what}: Clair answered a non-object`, "Clair answered garbage; retried on the next cycle, earlier reports stay");
    }
    return b as Record<string, unknown>;
  }

  private fail(res: HttpResponse, what: string): SyncError {
    const redirect = redirectError(res, "scanner", what, CLAIR_REDIRECT_ADVICE);
    if (redirect) return redirect;
    let msg = "";
    try {
      const b = JSON.parse(res.body.toString("utf8")) as { message?: unknown; code?: unknown };
      if (typeof b?.message === "string") msg = `: ${serverText(b.message)}`;
    } catch {
      /* plain status */
    }
    const s = res.status;
    const hint =
      s === 401 || s === 403
        ? "Clair refused the request: check --clair-psk and that the issuer is on Clair's auth.psk.iss list"
        : s === 400 || s === 415
          ? "Clair refused the manifest; check the registry URLs Clair is given"
          : "Clair is failing; retried on the next cycle, earlier reports stay";
    return new SyncError("scanner", `${what}: HTTP ${s}${msg}`, hint, s !== 400 && s !== 415);
  }

  async index(target: ScanTarget, signal?: AbortSignal): Promise<void> {
    this.counts.index++;
    const headers: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(target.headers)) headers[k] = [v];
    const manifest = {
      hash: target.manifestDigest,
      layers: target.layers.map((l) => {
        const o: Record<string, unknown> = { hash: l.digest, uri: l.url, headers };
        const mt = l.mediaType === DOCKER_LAYER ? "application/vnd.oci.image.layer.v1.tar+gzip" : l.mediaType;
        if (mt && OCI_LAYER.test(mt)) o["media_type"] = mt;
        return o;
      }),
    };
    const what = `Clair index of ${target.repository}@${target.manifestDigest}`;
    const res = await this.call("POST", "/indexer/api/v1/index_report", manifest, signal);
    if (res.status !== 201 && res.status !== 200) throw this.fail(res, what);
    let report = this.json(res, what);
    const limitMs = this.opts.indexTimeoutMs ?? DEFAULT_INDEX_TIMEOUT_MS;
    const deadline = Date.now() + limitMs;
    for (;;) {
      const state = report["state"];
      if (state === "IndexFinished") {
        if (report["success"] === false) throw new SyncError("scanner", `${what} failed: ${serverText(String(report["err"] ?? "no reason given"))}`, "retried on the next cycle");
        return;
      }
      if (state === "IndexError") throw new SyncError("scanner", `${what} failed: ${serverText(String(report["err"] ?? "IndexError"))}`, "check that Clair can fetch layers from the registry URL; retried on the next cycle");
      if (typeof state !== "string") throw new SyncError("scanner", `${what}: index report has no state`, "Clair answered garbage; retried on the next cycle");
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new SyncError("scanner", `${what} still in state ${serverText(state, 60)} after ${limitMs} ms (--clair-index-timeout)`, "Clair is slow; the next cycle continues waiting, or raise --clair-index-timeout");
      }
      // The last wait ends at the deadline, for one more look, rather than a whole interval past it.
      await sleep(Math.min(this.opts.pollIntervalMs ?? 1000, left), signal);
      if (signal?.aborted) throw new SyncError("sync", "aborted", "");
      this.counts.poll++;
      const r = await this.call("GET", `/indexer/api/v1/index_report/${target.manifestDigest}`, undefined, signal);
      if (r.status !== 200) throw this.fail(r, what);
      report = this.json(r, what);
    }
  }

  /** The vulnerability report, or null when the manifest is not indexed (404). */
  async vulnerabilityReport(digest: string, signal?: AbortSignal): Promise<Record<string, unknown> | null> {
    this.counts.report++;
    const res = await this.call("GET", `/matcher/api/v1/vulnerability_report/${digest}`, undefined, signal);
    if (res.status === 404) return null;
    // The API documents 201 for this GET; accept 200 too.
    if (res.status !== 201 && res.status !== 200) throw this.fail(res, `Clair vulnerability report for ${digest}`);
    return this.json(res, `Clair vulnerability report for ${digest}`);
  }

  async scan(target: ScanTarget, want: Set<string>, known: (d: string) => boolean, signal?: AbortSignal): Promise<ScanResult> {
    const out: ScanResult = { reports: new Map(), indexCalls: 0, errors: [] };
    try {
      let report: Record<string, unknown> | null = null;
      // Only refreshing stale reports: ask the matcher first, the manifest may still be indexed.
      if ([...want].every(known)) report = await this.vulnerabilityReport(target.manifestDigest, signal);
      if (report === null) {
        await this.index(target, signal);
        out.indexCalls++;
        report = await this.vulnerabilityReport(target.manifestDigest, signal);
        if (report === null) throw new SyncError("scanner", `Clair indexed ${target.manifestDigest} but has no vulnerability report`, "retried on the next cycle");
      }
      const docs = mapV4Report(report, target.layers.map((l) => l.digest), (this.opts.now?.() ?? new Date()).toISOString());
      for (const [d, doc] of docs) if (want.has(d)) out.reports.set(d, doc);
    } catch (e) {
      out.errors.push(e as Error);
    }
    return out;
  }
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}
/** An id used to look something up: only strings and numbers (String() of a deeply nested array
 * overflows the stack), and only own properties ("constructor" is no package). */
function own(o: Record<string, unknown>, id: unknown): unknown {
  const k = typeof id === "string" ? id : typeof id === "number" ? String(id) : undefined;
  return k !== undefined && Object.hasOwn(o, k) ? o[k] : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** Convert a v4 VulnerabilityReport into v2-shaped per-layer documents (see the header comment). */
export function mapV4Report(report: Record<string, unknown>, layers: string[], fetchedAt: string): Map<string, LayerDoc> {
  const packages = obj(report["packages"]);
  const dists = obj(report["distributions"]);
  const envs = obj(report["environments"]);
  const vulns = obj(report["vulnerabilities"]);
  const pkgVulns = obj(report["package_vulnerabilities"]);
  const layerIndex = new Map(layers.map((d, i) => [d, i]));

  const nsOf = (distId: unknown): string | undefined => {
    const d = obj(own(dists, distId));
    const did = str(d["did"]) ?? str(d["name"]);
    if (!did) return undefined;
    const ver = str(d["version_id"]) ?? str(d["version"]);
    return ver ? `${did}:${ver}` : did;
  };

  // Each package placed at the earliest layer it was introduced in.
  const placed: Array<{ at: number; feature: ClairFeature; ns?: string }> = [];
  for (const [pid, pv] of Object.entries(packages)) {
    const p = obj(pv);
    const name = str(p["name"]);
    if (!name) continue;
    const envRaw = own(envs, pid);
    const envList = Array.isArray(envRaw) ? (envRaw as unknown[]).map(obj) : [];
    let at = Infinity;
    let env: Record<string, unknown> = {};
    for (const e of envList) {
      const i = typeof e["introduced_in"] === "string" ? layerIndex.get(e["introduced_in"]) : undefined;
      if (i !== undefined && i < at) {
        at = i;
        env = e;
      }
    }
    if (at === Infinity) continue; // not attributable to a layer of this image
    const ns = nsOf(env["distribution_id"]);
    const feature: ClairFeature = { Name: name, AddedBy: layers[at] };
    if (str(p["version"])) feature.Version = str(p["version"]);
    if (ns) feature.NamespaceName = ns;
    const vidsRaw = own(pkgVulns, pid);
    const vids = Array.isArray(vidsRaw) ? (vidsRaw as unknown[]).filter((x) => typeof x === "string" || typeof x === "number") : [];
    const vs: ClairVulnerability[] = [];
    for (const vid of vids) {
      const v = obj(own(vulns, vid));
      const vname = str(v["name"]) ?? str(v["id"]) ?? String(vid);
      const links = str(v["links"]);
      const out: ClairVulnerability = { Name: vname, Severity: str(v["normalized_severity"]) ?? "Unknown" };
      if (ns) out.NamespaceName = ns;
      if (str(v["description"])) out.Description = str(v["description"]);
      if (links) out.Link = links.split(/\s+/)[0];
      if (str(v["fixed_in_version"])) out.FixedBy = str(v["fixed_in_version"]);
      // Only the documented string fields: anything else a report carries there (objects nested
      // arbitrarily deep, say) is not copied into the policy data.
      const s = (x: unknown): string | undefined => (typeof x === "string" ? x : undefined);
      out.Metadata = { ClairV4: { id: str(v["id"]) ?? String(vid), updater: s(v["updater"]), severity: s(v["severity"]), links: s(v["links"]), issued: s(v["issued"]) } };
      vs.push(out);
    }
    if (vs.length > 0) feature.Vulnerabilities = vs;
    placed.push({ at, feature, ns });
  }
  placed.sort((a, b) => a.at - b.at || a.feature.Name.localeCompare(b.feature.Name));

  const out = new Map<string, LayerDoc>();
  for (let i = 0; i < layers.length; i++) {
    const feats = placed.filter((p) => p.at <= i);
    const layer: ClairLayer = { Name: layers[i]! };
    const ns = feats.find((f) => f.ns)?.ns;
    if (ns) layer.NamespaceName = ns;
    if (i > 0) layer.ParentName = layers[i - 1]!;
    if (feats.length > 0) layer.Features = feats.map((f) => f.feature);
    out.set(layers[i]!, { Layer: layer, FetchedAt: fetchedAt, Scanner: "clair-v4" });
  }
  return out;
}
