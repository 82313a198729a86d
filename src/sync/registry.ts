// Docker Registry HTTP API v2 / OCI distribution client (protocols.md §4).

import { createHash } from "node:crypto";
import { RegistryAuth, repositoryScope, type Credentials } from "./auth.js";
import {
  header,
  redactUrl,
  redirectError,
  requestWithRetry,
  transportError,
  NetworkError,
  DEFAULT_RETRY,
  type HttpResponse,
  type RetryPolicy,
  type Transport,
} from "./http.js";
import { SyncError, serverText } from "./log.js";
import { checkDigest } from "../kube/reference.js";
import {
  MANIFEST_ACCEPT,
  ManifestError,
  baseMediaType,
  parseManifest,
  selectPlatforms,
  formatPlatform,
  type Descriptor,
  type ImageManifest,
  type Manifest,
  type Platform,
} from "./manifest.js";

export interface RegistryClientOptions {
  /** API base URL, e.g. https://registry-1.docker.io or http://127.0.0.1:5000 */
  url: string;
  credentials?: Credentials;
  transport: Transport;
  retry?: RetryPolicy;
  timeoutMs?: number;
  onRetry?: (info: { attempt: number; delayMs: number; reason: string; url: string }) => void;
}

export interface ManifestHead {
  digest?: string;
  mediaType: string;
  size?: number;
}

export interface FetchedManifest {
  digest: string;
  mediaType: string;
  manifest: Manifest;
  raw: Buffer;
}

export interface ResolvedPlatformImage {
  platform: string; // "linux/amd64"; "" when the tag is a single-platform manifest without a known platform
  digest: string;
  manifest: ImageManifest;
}

export interface ResolvedImage {
  /** Digest of what the tag points at (an index or an image manifest). */
  digest: string;
  mediaType: string;
  images: ResolvedPlatformImage[];
}

/** Counts of requests by kind, to check incremental behaviour and for the benchmark. */
export interface RequestCounts {
  ping: number;
  tags: number;
  manifestHead: number;
  manifestGet: number;
  token: number;
}

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_TAG_PAGES = 10_000;
/** The tag grammar (protocols.md §4.3): a tag is used in URLs and data keys, so anything else is garbage. */
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Digest algorithms whose digests we can check against the bytes. */
const VERIFIABLE = new Set(["sha256", "sha384", "sha512"]);

/** The digest of `body` by the algorithm `digest` names, or undefined when we cannot compute it. */
function digestOf(body: Buffer, digest: string): string | undefined {
  const algo = digest.slice(0, digest.indexOf(":"));
  return VERIFIABLE.has(algo) ? `${algo}:${createHash(algo).update(body).digest("hex")}` : undefined;
}

export class RegistryClient {
  readonly base: string;
  readonly auth: RegistryAuth;
  readonly counts: RequestCounts = { ping: 0, tags: 0, manifestHead: 0, manifestGet: 0, token: 0 };
  private readonly retry: RetryPolicy;

  constructor(private readonly opts: RegistryClientOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.retry = opts.retry ?? DEFAULT_RETRY;
    this.auth = new RegistryAuth(opts.transport, opts.credentials, this.retry, Date.now, opts.timeoutMs);
  }

  get host(): string {
    try {
      return new URL(this.base).host;
    } catch {
      return this.base;
    }
  }

  blobUrl(repo: string, digest: string): string {
    return `${this.base}/v2/${repo}/blobs/${digest}`;
  }

  /** Authorization headers for a scanner that fetches this repository's blobs itself. */
  scannerHeaders(repo: string, signal?: AbortSignal): Promise<Record<string, string>> {
    return this.auth.scannerHeaders(repositoryScope(repo), signal);
  }

  /** One authenticated request: send with what we know, and on 401 learn the challenge and retry once. */
  private async send(
    method: string,
    url: string,
    scope: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
    maxBodyBytes = MAX_MANIFEST_BYTES,
  ): Promise<HttpResponse> {
    const attempt = async (): Promise<HttpResponse> => {
      const h = { ...headers };
      const a = await this.auth.headerFor(scope, signal);
      if (a) h["authorization"] = a;
      try {
        return await requestWithRetry(
          this.opts.transport,
          { method, url, headers: h, timeoutMs: this.opts.timeoutMs, maxBodyBytes },
          this.retry,
          signal,
          (i) => this.opts.onRetry?.({ ...i, url: redactUrl(url) }),
        );
      } catch (e) {
        if (e instanceof NetworkError) {
          throw transportError(
            e,
            "registry",
            `registry ${this.host}`,
            "check that the registry URL is right and the registry is up; the sync keeps the last good data and retries",
            `registry-host:${this.host}`,
          );
        }
        throw e;
      }
    };
    const before = this.auth.tokenRequests;
    let res = await attempt();
    if (res.status === 401) {
      const learned = this.auth.learn(header(res, "www-authenticate"), scope);
      if (learned.retry) {
        scope = learned.scope;
        res = await attempt();
      }
      if (res.status === 401) {
        this.counts.token += this.auth.tokenRequests - before;
        throw new SyncError(
          "registry",
          `registry ${this.host} refused access to ${redactUrl(url)} (HTTP 401)`,
          this.opts.credentials
            ? "the credentials were refused or lack pull access: check DOCKER_USER / DOCKER_PASSWORD or the config file"
            : "the registry needs credentials: set DOCKER_USER / DOCKER_PASSWORD or add them to the config file",
          false,
        );
      }
    }
    this.counts.token += this.auth.tokenRequests - before;
    return res;
  }

  private statusError(res: HttpResponse, what: string): SyncError {
    const redirect = redirectError(res, "registry", what, "point the registry's URL (--registry-url, url: in the config file) at the address it redirects to");
    if (redirect) return redirect;
    let code = "";
    try {
      const b = JSON.parse(res.body.toString("utf8")) as { errors?: Array<{ code?: string; message?: string }> };
      const e = b.errors?.[0];
      if (typeof e?.code === "string" && e.code) code = ` ${serverText(e.code, 60)}${typeof e.message === "string" && e.message ? `: ${serverText(e.message)}` : ""}`;
    } catch {
      /* not a registry error body */
    }
    const s = res.status;
    const hint =
      s === 404
        ? "check the repository name and tag (official Docker Hub images need the library/ prefix)"
        : s === 403
          ? "the account lacks pull access to this repository"
          : s === 429
            ? "registry rate limit reached: lower the poll frequency or use credentials"
            : s >= 500
              ? "the registry is failing; the sync retries with backoff and keeps the last good data"
              : "unexpected registry answer";
    return new SyncError("registry", `${what}: HTTP ${s}${code}`, hint, s >= 500 || s === 429);
  }

  /** GET /v2/ — true when the API is there (200, or 401 with a challenge we understand). */
  async ping(signal?: AbortSignal): Promise<void> {
    this.counts.ping++;
    const res = await this.send("GET", `${this.base}/v2/`, "", {}, signal, 1 << 20);
    if (res.status !== 200) throw this.statusError(res, `registry ${this.host} base check /v2/`);
  }

  /** All tags of a repository, following Link: rel="next" pagination. */
  async listTags(repo: string, signal?: AbortSignal, pageSize = 1000): Promise<string[]> {
    const scope = repositoryScope(repo);
    let url: string | undefined = `${this.base}/v2/${repo}/tags/list?n=${pageSize}`;
    const tags: string[] = [];
    const seen = new Set<string>();
    const visited = new Set<string>();
    const garbage = (why: string): SyncError =>
      new SyncError("registry", `tag list of ${repo} ${why}`, "the registry's answer is unusable; nothing is deleted, the data is kept and the listing retried later");
    for (let page = 0; url !== undefined; page++) {
      visited.add(url);
      if (page >= MAX_TAG_PAGES) throw new SyncError("registry", `tag listing of ${repo} did not end after ${MAX_TAG_PAGES} pages`, "the registry's pagination loops; report it to the registry operator");
      this.counts.tags++;
      const res = await this.send("GET", url, scope, { accept: "application/json" }, signal, 8 << 20);
      if (res.status !== 200) throw this.statusError(res, `listing tags of ${repo}`);
      let body: unknown;
      try {
        body = JSON.parse(res.body.toString("utf8"));
      } catch {
        throw new SyncError("registry", `tag list of ${repo} is not valid JSON`, "the registry answered garbage; retried later, data kept");
      }
      if (body === null || typeof body !== "object" || Array.isArray(body)) {
        throw new SyncError("registry", `tag list of ${repo} is not a JSON object`, "the registry answered garbage; retried later, data kept");
      }
      const before = tags.length;
      const t = (body as Record<string, unknown>)["tags"];
      if (t !== null && t !== undefined) {
        if (!Array.isArray(t) || !t.every((x) => typeof x === "string")) {
          throw new SyncError("registry", `tag list of ${repo} has a malformed "tags" field`, "the registry answered garbage; retried later, data kept");
        }
        for (const tag of t as string[]) {
          if (!TAG.test(tag)) throw garbage(`has an invalid tag ${serverText(JSON.stringify(tag), 140)}`);
          if (!seen.has(tag)) {
            seen.add(tag);
            tags.push(tag);
          }
        }
      }
      // A next page we cannot follow means the listing is incomplete: treating it as the whole
      // list would delete the data of every tag on the pages we never saw.
      const next = nextPage(header(res, "link"), url);
      if ("error" in next) throw garbage(`has a Link header whose next page ${next.error}`);
      url = next.url;
      if (url !== undefined && visited.has(url)) throw garbage(`pagination loops back to ${redactUrl(url)}`);
      if (url !== undefined && page > 0 && tags.length === before) {
        // Pages that bring nothing new but keep pointing further never end on their own.
        throw garbage(`pagination keeps going without new tags (page ${page + 1})`);
      }
      // Never send this registry's credentials to another origin because a Link header said so.
      if (url !== undefined && new URL(url).origin !== new URL(this.base).origin) {
        throw new SyncError("registry", `tag list of ${repo} points to another origin (${redactUrl(url)})`, "refusing to follow it; report this to the registry operator", false);
      }
    }
    return tags;
  }

  /** HEAD a manifest: digest (if the registry sends Docker-Content-Digest) and media type. */
  async headManifest(repo: string, reference: string, signal?: AbortSignal): Promise<ManifestHead | null> {
    this.counts.manifestHead++;
    const res = await this.send("HEAD", `${this.base}/v2/${repo}/manifests/${reference}`, repositoryScope(repo), { accept: MANIFEST_ACCEPT }, signal);
    if (res.status === 404) return null;
    if (res.status !== 200) throw this.statusError(res, `HEAD manifest ${repo}:${reference}`);
    const out: ManifestHead = { mediaType: baseMediaType(header(res, "content-type")) };
    const d = header(res, "docker-content-digest")?.trim();
    // A malformed header is ignored: the GET then computes the digest from the bytes.
    if (d && checkDigest(d) === null) out.digest = d;
    const len = Number(header(res, "content-length"));
    if (Number.isFinite(len)) out.size = len;
    return out;
  }

  /** GET a manifest by tag or digest, verifying the digest of the bytes received. */
  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    this.counts.manifestGet++;
    const url = `${this.base}/v2/${repo}/manifests/${reference}`;
    const res = await this.send("GET", url, repositoryScope(repo), { accept: MANIFEST_ACCEPT }, signal);
    if (res.status !== 200) throw this.statusError(res, `fetching manifest ${repo}:${reference}`);
    const computed = "sha256:" + createHash("sha256").update(res.body).digest("hex");
    const byDigest = reference.includes(":");
    if (byDigest) {
      const actual = digestOf(res.body, reference);
      if (actual === undefined) {
        throw new SyncError("registry", `manifest ${repo}@${reference}: digest algorithm cannot be verified`, "only sha256, sha384 and sha512 digests are supported; this image cannot be synced", false);
      }
      if (actual !== reference) {
        throw new SyncError("registry", `manifest ${repo}@${reference} does not match its digest (got ${actual})`, "the registry or a proxy altered the manifest; it is not used", true);
      }
    }
    // Docker-Content-Digest is what the tag's data is keyed by: use it only when it is a well-formed
    // digest the bytes match; a malformed or unverifiable one is ignored for the computed sha256.
    let sent = header(res, "docker-content-digest")?.trim();
    if (sent && checkDigest(sent) !== null) sent = undefined;
    const sentActual = sent ? digestOf(res.body, sent) : undefined;
    if (sent && sentActual !== undefined && sentActual !== sent) {
      throw new SyncError("registry", `manifest ${repo}:${reference} body does not match Docker-Content-Digest ${sent}`, "the registry or a proxy altered the manifest; it is not used", true);
    }
    const digest = byDigest ? reference : sent && sentActual !== undefined ? sent : computed;
    let manifest: Manifest;
    try {
      manifest = parseManifest(res.body, header(res, "content-type"));
    } catch (e) {
      if (e instanceof ManifestError) throw new SyncError("registry", `manifest ${repo}:${reference}: ${e.message}`, "this image cannot be synced; other tags continue", false);
      throw e;
    }
    return { digest, mediaType: manifest.mediaType, manifest, raw: res.body };
  }

  /** Resolve a tag (or digest) to image manifests for the wanted platforms. */
  async resolve(repo: string, reference: string, platforms: Platform[], signal?: AbortSignal, top?: FetchedManifest): Promise<ResolvedImage> {
    const m = top ?? (await this.getManifest(repo, reference, signal));
    if (m.manifest.kind === "image") {
      return { digest: m.digest, mediaType: m.mediaType, images: [{ platform: "", digest: m.digest, manifest: m.manifest }] };
    }
    const picked = selectPlatforms(m.manifest, platforms);
    if (picked.length === 0) {
      const have = m.manifest.manifests.map((e) => (e.platform ? formatPlatform(e.platform) : "?")).join(", ");
      throw new SyncError(
        "registry",
        `${repo}:${reference} has no manifest for ${platforms.map(formatPlatform).join(", ")} (index has: ${have || "nothing"})`,
        "add the platform to the registry's `platforms` in the config file if you need it",
        false,
      );
    }
    const images: ResolvedPlatformImage[] = [];
    for (const p of picked) {
      const child = await this.getManifest(repo, p.entry.digest, signal);
      if (child.manifest.kind !== "image") {
        throw new SyncError("registry", `${repo}@${p.entry.digest}: nested index is not supported`, "this image cannot be synced", false);
      }
      images.push({ platform: formatPlatform(p.platform), digest: child.digest, manifest: child.manifest });
    }
    return { digest: m.digest, mediaType: m.mediaType, images };
  }
}

/** Next page URL from an RFC 5988 Link header, resolved against the current request URL. */
export function nextLink(link: string | undefined, current: string): string | undefined {
  const n = nextPage(link, current);
  return "url" in n && n.url !== current ? n.url : undefined;
}

/**
 * The next page a Link header names: `{url: undefined}` when there is none, `{error}` when it says
 * there is a next page but the link cannot be used (unparsable, not http(s), the page itself).
 */
export function nextPage(link: string | undefined, current: string): { url: string | undefined } | { error: string } {
  if (!link) return { url: undefined };
  let sawNext = false;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) {
      if (/\brel\s*=\s*"?next\b/i.test(part)) sawNext = true;
      continue;
    }
    if (/;\s*rel\s*=\s*"?next"?/i.test(m[2]!)) {
      let next: URL;
      try {
        next = new URL(m[1]!, current);
      } catch {
        return { error: `is not a valid URL (${serverText(JSON.stringify(m[1]!), 120)})` };
      }
      if (next.protocol !== "http:" && next.protocol !== "https:") return { error: `is not an http(s) URL (${next.protocol})` };
      if (next.toString() === current) return { error: "is the page itself" };
      return { url: next.toString() };
    }
  }
  return sawNext ? { error: `cannot be parsed (${serverText(JSON.stringify(link), 120)})` } : { url: undefined };
}

export type { Descriptor };
