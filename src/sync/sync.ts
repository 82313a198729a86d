// The sync loop: registry → scanner → Data API, incremental and fault tolerant.
//
// Per repository and cycle: list tags; HEAD each tag's manifest to get its digest; when the digest
// is unchanged nothing is fetched or written; otherwise resolve the manifest (per platform) and PUT
// it; then make sure every layer has a fresh scanner report, indexing only layers that have none.
// Tags that disappeared from a complete, successful listing are DELETEd. Any failure keeps the last
// good data, is logged once (FaultLog), counted, and retried on a later cycle.

import { rootSegments, DataApi } from "./dataapi.js";
import { ClairV2Scanner } from "./clair-v2.js";
import { ClairV4Scanner } from "./clair-v4.js";
import { NodeTransport, sleep, type Transport } from "./http.js";
import { FaultLog, JsonLogger, SyncError, toSyncError, type Logger } from "./log.js";
import { formatPlatform, type Descriptor, type Platform } from "./manifest.js";
import { noopMetrics, type SyncMetrics } from "./metrics.js";
import type { RegistryConfig, SyncOptions } from "./options.js";
import { noProgress, TtyProgress, type Progress } from "./progress.js";
import { RegistryClient, type FetchedManifest, type RequestCounts } from "./registry.js";
import type { LayerDoc, Scanner } from "./scanner.js";

/** data.docker.layers[org][name][tag]: exactly the original shape (seed data/docker/docker.json). */
export interface LegacyManifestDoc {
  config: { digest: string; size: number };
  layers: Array<{ digest: string; size: number }>;
}

export interface PlatformImageDoc {
  digest: string;
  config: { digest: string; size: number };
  layers: Array<{ digest: string; size: number; mediaType?: string }>;
}

/** data.docker.images["<domain>/<path>:<tag>"] (and "…@<digest>"): see docs/sync.md. */
export interface ImageDoc extends PlatformImageDoc {
  registry: string;
  repository: string;
  tag: string;
  // `digest` (inherited) is what the tag points at: the index for a multi-platform image, else the
  // manifest. Per-platform manifest digests are under `platforms`.
  /** Media type of what the tag points at. */
  mediaType: string;
  /** Platform the top-level config/layers belong to ("" for single-platform images). */
  platform: string;
  platforms: Record<string, PlatformImageDoc>;
  /** The configured platforms this was resolved for ("linux/amd64,linux/arm64"): a configuration
   * change re-resolves the tag even when its digest did not change. */
  resolvedFor: string;
  syncedAt: string;
}

export interface SyncErrorRecord {
  component: string;
  message: string;
  hint: string;
  registry?: string;
  repository?: string;
  tag?: string;
}

export interface SyncReport {
  startedAt: string;
  finishedAt: string;
  repositories: number;
  tags: number;
  imagesWritten: number;
  imagesUnchanged: number;
  tagsRemoved: number;
  layersIndexed: number;
  layerReportsWritten: number;
  errors: SyncErrorRecord[];
  requests: {
    registry: RequestCounts;
    scanner: { index: number; report: number; poll: number };
    dataApi: { put: number; delete: number; get: number };
  };
}

interface ImageState {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  resolvedFor: string;
  images: Array<{ digest: string; layers: Array<{ digest: string; mediaType?: string }> }>;
}

/** State kept between cycles of one process (rebuilt from the Data API on start). */
class SyncState {
  images = new Map<string, ImageState>();
  imagesLoaded = false;
  /** layer digest → FetchedAt (ms; 0 when unknown) of the report in the data. */
  layers = new Map<string, number>();
  /** Layers whose absence from the data was confirmed by a GET (no need to ask again). */
  layersMissing = new Set<string>();
  /** Layers whose report must be re-read (Clair lost them: a child's parent was unknown). */
  forceRefresh = new Set<string>();
  /** Layers the scanner refused permanently (Clair v2 422). */
  unsupported = new Set<string>();
  /** tag key → digest that could not be resolved for our platforms (not retried until it changes). */
  unresolvable = new Map<string, string>();
  /** Per-repository failure streak and time of the next attempt, for backoff in the loop. */
  backoff = new Map<string, { failures: number; next: number }>();
}

class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  constructor(private readonly max: number) {}
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

function legacyDoc(img: PlatformImageDoc): LegacyManifestDoc {
  return { config: { digest: img.config.digest, size: img.config.size }, layers: img.layers.map((l) => ({ digest: l.digest, size: l.size })) };
}

function platformDoc(digest: string, config: Descriptor, layers: Descriptor[]): PlatformImageDoc {
  return {
    digest,
    config: { digest: config.digest, size: config.size },
    layers: layers.map((l) => (l.mediaType ? { digest: l.digest, size: l.size, mediaType: l.mediaType } : { digest: l.digest, size: l.size })),
  };
}

export function imageKey(domain: string, repository: string, tag: string): string {
  return `${domain}/${repository}:${tag}`;
}

export function digestKey(domain: string, repository: string, digest: string): string {
  return `${domain}/${repository}@${digest}`;
}

interface RegistryCtx {
  cfg: RegistryConfig;
  client: RegistryClient;
  transport: NodeTransport;
}

/** One sync engine; keep it for the life of the process so state carries across cycles. */
export class Syncer {
  private readonly state = new SyncState();
  private readonly regs: RegistryCtx[];
  private readonly data: DataApi;
  private readonly scanner: Scanner | null;
  private readonly sharedTransport: NodeTransport;
  private readonly logger: Logger;
  private readonly faults: FaultLog;
  private readonly metrics: SyncMetrics;
  private readonly inflight = new Map<string, Promise<void>>();
  private report!: SyncReport;
  private progress: Progress = noProgress;

  constructor(private readonly opts: SyncOptions) {
    this.logger = opts.logger ?? new JsonLogger();
    this.faults = new FaultLog(this.logger);
    this.metrics = opts.metrics ?? noopMetrics;
    this.sharedTransport = new NodeTransport();
    const transport: Transport = this.sharedTransport;
    this.data = new DataApi({ url: opts.opaUrl, transport, retry: opts.retry, timeoutMs: opts.timeoutMs, headers: opts.opaHeaders, tokenFile: opts.opaTokenFile, tls: opts.opaTls, logger: this.logger });
    this.scanner = null;
    if (opts.clair) {
      this.scanner =
        opts.clair.version === "v4"
          ? new ClairV4Scanner({ url: opts.clair.url, transport, psk: opts.clair.psk, pskIssuer: opts.clair.pskIssuer, retry: opts.retry, timeoutMs: opts.timeoutMs, pollIntervalMs: opts.clairPollMs, indexTimeoutMs: opts.clairIndexTimeoutMs })
          : new ClairV2Scanner({ url: opts.clair.url, transport, retry: opts.retry, timeoutMs: opts.timeoutMs, indexTimeoutMs: opts.clairIndexTimeoutMs });
    }
    this.regs = opts.registries.map((cfg) => {
      const t = new NodeTransport({ ca: cfg.ca, insecure: cfg.insecure });
      const client = new RegistryClient({
        url: cfg.url,
        credentials: cfg.credentials,
        transport: t,
        retry: opts.retry,
        timeoutMs: opts.timeoutMs,
        onRetry: (i) => this.logger.log("debug", "registry request retried", { registry: cfg.domain, ...i }),
      });
      return { cfg, client, transport: t };
    });
  }

  close(): void {
    this.sharedTransport.close();
    this.data.close();
    for (const r of this.regs) r.transport.close();
  }

  private fail(err: unknown, where: { registry?: string; repository?: string; tag?: string }, key: string): void {
    const e = toSyncError(err);
    this.report.errors.push({ component: e.component, message: e.message, hint: e.hint, ...where });
    this.metrics.error(e.component);
    this.faults.fail(key, e, where);
  }

  private okData(key: string): void {
    this.faults.ok(key);
    this.faults.ok("data-api-host");
  }

  private fresh(digest: string): boolean {
    if (this.state.forceRefresh.has(digest)) return false;
    const at = this.state.layers.get(digest);
    if (at === undefined) return false;
    return this.opts.reportMaxAgeMs <= 0 || Date.now() - at < this.opts.reportMaxAgeMs;
  }

  /**
   * The policy server keeps pushed data in memory: when it restarts (its container in the same
   * pod, say) the data is gone while this process still believes it is written. One GET per cycle
   * of an image we wrote tells; if it is missing, forget what we know and write everything again.
   */
  private async checkDataKept(signal?: AbortSignal): Promise<void> {
    const first = this.state.images.keys().next();
    if (!this.state.imagesLoaded || first.done) return;
    try {
      const doc = await this.data.get([...rootSegments(this.opts.imagesRoot), first.value], signal);
      if (doc !== undefined) return;
    } catch {
      return; // unreachable or failing: loadState and the writes report it
    }
    this.logger.log("warn", "the policy data lost the synced images (policy server restarted?); writing everything again", { missing: first.value });
    this.state.images.clear();
    this.state.layers.clear();
    this.state.layersMissing.clear();
    this.state.imagesLoaded = false;
  }

  /** Rebuild the image index from the Data API so a restarted sync stays incremental. */
  private async loadState(signal?: AbortSignal): Promise<void> {
    if (this.state.imagesLoaded) return;
    try {
      const doc = await this.data.get(rootSegments(this.opts.imagesRoot), signal);
      if (doc !== undefined && (doc === null || typeof doc !== "object" || Array.isArray(doc))) {
        throw new SyncError("data-api", `${this.opts.imagesRoot} is not an object`, "another writer uses this path; choose a different --opa-images-root");
      }
      for (const [key, v] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
        const st = imageStateFromDoc(v);
        if (st && key === imageKey(st.registry, st.repository, st.tag) && !this.state.images.has(key)) this.state.images.set(key, st);
      }
      this.state.imagesLoaded = true;
      this.okData("data-api:load");
    } catch (e) {
      this.fail(e, {}, "data-api:load");
    }
  }

  /** Does the data hold a report for this layer? Asks the Data API once per layer per process. */
  private async checkLayer(digest: string, signal?: AbortSignal): Promise<void> {
    if (this.state.layers.has(digest) || this.state.layersMissing.has(digest)) return;
    const doc = await this.data.get([...rootSegments(this.opts.clairRoot), digest], signal);
    const o = doc as Record<string, unknown> | undefined;
    if (o && typeof o === "object" && o["Layer"] && typeof o["Layer"] === "object") {
      const t = typeof o["FetchedAt"] === "string" ? Date.parse(o["FetchedAt"]) : NaN;
      this.state.layers.set(digest, Number.isNaN(t) ? 0 : t);
    } else {
      this.state.layersMissing.add(digest);
    }
  }

  /** Make sure each layer of one image has a fresh report. */
  private async scanImage(ctx: RegistryCtx, repo: string, img: ImageState["images"][number], where: { registry: string; repository: string; tag: string }, signal?: AbortSignal): Promise<void> {
    const scanner = this.scanner;
    if (!scanner || img.layers.length === 0) return;
    const need = (): string[] => img.layers.map((l) => l.digest).filter((d) => !this.fresh(d) && !this.state.unsupported.has(d));
    let want = need();
    // Another tag may be scanning some of these layers right now: wait for it instead of indexing
    // twice, and re-check until none of ours is in flight (claiming below happens without an await).
    for (;;) {
      if (want.length === 0) return;
      const waits = want.map((d) => this.inflight.get(d)).filter((p): p is Promise<void> => p !== undefined);
      if (waits.length === 0) break;
      await Promise.allSettled(waits);
      want = need();
    }
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const claimed = [...want];
    for (const d of claimed) this.inflight.set(d, mine);
    try {
      try {
        for (const d of want) await this.checkLayer(d, signal);
        this.okData("data-api:read");
      } catch (e) {
        this.fail(e, where, "data-api:read");
        return;
      }
      want = need();
      if (want.length === 0) return;
      let headers: Record<string, string>;
      try {
        headers = await ctx.client.scannerHeaders(repo, signal);
      } catch (e) {
        this.fail(e, where, `registry:${ctx.cfg.domain}/${repo}`);
        return;
      }
      const base = ctx.cfg.scannerUrl ?? ctx.client.base;
      const target = {
        repository: repo,
        manifestDigest: img.digest,
        layers: img.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, url: `${base}/v2/${repo}/blobs/${l.digest}` })),
        headers,
      };
      const res = await scanner.scan(target, new Set(want), (d) => this.state.layers.has(d), signal);
      this.report.layersIndexed += res.indexCalls;
      if (res.indexCalls > 0) this.metrics.layerIndexed(ctx.cfg.domain, res.indexCalls);
      for (const [digest, doc] of res.reports) {
        try {
          await this.data.put([...rootSegments(this.opts.clairRoot), digest], doc satisfies LayerDoc, signal);
          this.state.layers.set(digest, Date.parse(doc.FetchedAt));
          this.state.layersMissing.delete(digest);
          this.state.forceRefresh.delete(digest);
          this.report.layerReportsWritten++;
          this.okData("data-api:write");
        } catch (e) {
          // Indexed but not stored: mark as known-but-stale so the next try only re-reads the report.
          if (!this.state.layers.has(digest)) this.state.layers.set(digest, 0);
          this.fail(e, where, "data-api:write");
        }
      }
      for (const d of res.unsupported ?? []) this.state.unsupported.add(d);
      for (const d of res.refresh ?? []) this.state.forceRefresh.add(d);
      if (res.errors.length === 0) {
        this.faults.ok("scanner");
        this.faults.ok("scanner-host");
      }
      for (const e of res.errors) this.fail(e, where, "scanner");
    } finally {
      for (const d of claimed) this.inflight.delete(d);
      release();
    }
  }

  private async writeImage(ctx: RegistryCtx, repo: string, tag: string, doc: ImageDoc, prev: ImageState | undefined, signal?: AbortSignal): Promise<void> {
    const domain = ctx.cfg.domain;
    const comps = repo.split("/");
    const images = rootSegments(this.opts.imagesRoot);
    if (ctx.cfg.legacyLayout && comps.length === 2) {
      await this.data.put([...rootSegments(this.opts.layerRoot), ...comps, tag], legacyDoc(doc), signal);
    }
    await this.data.put([...images, digestKey(domain, repo, doc.digest)], doc, signal);
    // An image pinned to one platform's manifest digest finds that platform's config and layers.
    for (const [platform, pd] of Object.entries(doc.platforms)) {
      if (pd.digest !== doc.digest) await this.data.put([...images, digestKey(domain, repo, pd.digest)], { ...doc, ...pd, platform }, signal);
    }
    // The tag's key last: a restarted sync rebuilds its state from these keys, so one written before
    // a failed "@digest" write would make it believe the image complete and never write the rest.
    await this.data.put([...images, imageKey(domain, repo, tag)], doc, signal);
    if (prev) {
      const now = new Set([doc.digest, ...Object.values(doc.platforms).map((p) => p.digest)]);
      for (const d of digestsOf(prev)) if (!now.has(d)) await this.dropDigestIfUnused(ctx, repo, d, tag, signal);
    }
  }

  /** Delete a "@digest" key unless another synced tag of the repository still names that digest. */
  private async dropDigestIfUnused(ctx: RegistryCtx, repo: string, digest: string, exceptTag: string, signal?: AbortSignal): Promise<void> {
    for (const s of this.state.images.values()) {
      if (s.registry === ctx.cfg.domain && s.repository === repo && s.tag !== exceptTag && digestsOf(s).includes(digest)) return;
    }
    await this.data.delete([...rootSegments(this.opts.imagesRoot), digestKey(ctx.cfg.domain, repo, digest)], signal);
  }

  private async syncTag(ctx: RegistryCtx, repo: string, tag: string, signal?: AbortSignal): Promise<void> {
    const domain = ctx.cfg.domain;
    const key = imageKey(domain, repo, tag);
    const where = { registry: domain, repository: repo, tag };
    const prev = this.state.images.get(key);
    let top: FetchedManifest | undefined;
    let digest: string | undefined;
    try {
      const head = await ctx.client.headManifest(repo, tag, signal);
      if (head === null) {
        this.logger.log("warn", "tag listed but its manifest is missing; keeping existing data", where);
        return;
      }
      digest = head.digest;
      if (!digest) {
        top = await ctx.client.getManifest(repo, tag, signal);
        digest = top.digest;
      }
      if (this.state.unresolvable.get(key) === digest) return;
      const wanted = ctx.cfg.platforms.map(formatPlatform).join(",");
      if (prev && prev.digest === digest && prev.resolvedFor === wanted) {
        this.report.imagesUnchanged++;
      } else {
        const resolved = await ctx.client.resolve(repo, tag, ctx.cfg.platforms, signal, top);
        const primary = resolved.images[0]!;
        const platforms: Record<string, PlatformImageDoc> = {};
        for (const im of resolved.images) platforms[im.platform || "default"] = platformDoc(im.digest, im.manifest.config, im.manifest.layers);
        const pd = platformDoc(primary.digest, primary.manifest.config, primary.manifest.layers);
        const doc: ImageDoc = {
          registry: domain,
          repository: repo,
          tag,
          ...pd,
          digest: resolved.digest,
          mediaType: resolved.mediaType,
          platform: primary.platform,
          platforms,
          resolvedFor: wanted,
          syncedAt: new Date().toISOString(),
        };
        try {
          await this.writeImage(ctx, repo, tag, doc, prev, signal);
          this.okData("data-api:write");
        } catch (e) {
          this.fail(e, where, "data-api:write");
          return;
        }
        const st = imageStateFromDoc(doc)!;
        this.state.images.set(key, st);
        this.report.imagesWritten++;
        this.metrics.imageSynced(domain);
      }
      this.faults.ok(`registry:${key}`);
    } catch (e) {
      const se = toSyncError(e);
      if (!se.retryable && se.component === "registry" && digest) this.state.unresolvable.set(key, digest);
      this.fail(se, where, `registry:${key}`);
      return;
    } finally {
      this.progress.tick(`${domain}/${repo}:${tag}`);
    }
    const st = this.state.images.get(key);
    if (st) for (const img of st.images) await this.scanImage(ctx, repo, img, where, signal);
  }

  private async syncRepository(ctx: RegistryCtx, repo: string, tagLimiter: Limiter, signal?: AbortSignal): Promise<boolean> {
    const domain = ctx.cfg.domain;
    const errorsBefore = this.report.errors.length;
    const listKey = `registry:${domain}/${repo}`;
    let tags: string[];
    try {
      tags = await ctx.client.listTags(repo, signal);
      this.faults.ok(listKey);
      this.faults.ok(`registry-host:${ctx.client.host}`);
    } catch (e) {
      this.fail(e, { registry: domain, repository: repo }, listKey);
      return false;
    }
    this.report.repositories++;
    this.report.tags += tags.length;
    this.progress.addTotal(tags.length);
    const before = { written: this.report.imagesWritten, unchanged: this.report.imagesUnchanged, removed: this.report.tagsRemoved, indexed: this.report.layersIndexed };
    await Promise.all(tags.map((t) => tagLimiter.run(() => this.syncTag(ctx, repo, t, signal))));

    // Removal only after a complete listing, and only while the data's index was loaded.
    if (this.state.imagesLoaded && !signal?.aborted) {
      const seen = new Set(tags);
      for (const [key, st] of [...this.state.images]) {
        if (st.registry !== domain || st.repository !== repo || seen.has(st.tag)) continue;
        try {
          const comps = repo.split("/");
          if (ctx.cfg.legacyLayout && comps.length === 2) await this.data.delete([...rootSegments(this.opts.layerRoot), ...comps, st.tag], signal);
          await this.data.delete([...rootSegments(this.opts.imagesRoot), key], signal);
          this.state.images.delete(key);
          for (const d of digestsOf(st)) await this.dropDigestIfUnused(ctx, repo, d, st.tag, signal);
          this.report.tagsRemoved++;
          this.logger.log("info", "tag removed from the registry; its data was deleted", { registry: domain, repository: repo, tag: st.tag });
        } catch (e) {
          this.fail(e, { registry: domain, repository: repo, tag: st.tag }, "data-api:write");
        }
      }
    }
    const errs = this.report.errors.length - errorsBefore;
    this.logger.log(errs > 0 ? "warn" : "info", "repository synced", {
      registry: domain,
      repository: repo,
      tags: tags.length,
      written: this.report.imagesWritten - before.written,
      unchanged: this.report.imagesUnchanged - before.unchanged,
      removed: this.report.tagsRemoved - before.removed,
      layersIndexed: this.report.layersIndexed - before.indexed,
      errors: errs,
    });
    return errs === 0;
  }

  /** One cycle over every configured repository. Never throws for registry/scanner/Data API faults. */
  async cycle(signal?: AbortSignal, progress: Progress = noProgress, honourBackoff = false): Promise<SyncReport> {
    const started = new Date();
    this.progress = progress;
    this.report = {
      startedAt: started.toISOString(),
      finishedAt: "",
      repositories: 0,
      tags: 0,
      imagesWritten: 0,
      imagesUnchanged: 0,
      tagsRemoved: 0,
      layersIndexed: 0,
      layerReportsWritten: 0,
      errors: [],
      requests: { registry: { ping: 0, tags: 0, manifestHead: 0, manifestGet: 0, token: 0 }, scanner: { index: 0, report: 0, poll: 0 }, dataApi: { put: 0, delete: 0, get: 0 } },
    };
    const snap = this.snapshotCounts();
    progress.start(0);
    await this.checkDataKept(signal);
    await this.loadState(signal);
    const repoLimiter = new Limiter(this.opts.concurrency);
    const tagLimiter = new Limiter(this.opts.concurrency);
    const jobs: Promise<void>[] = [];
    for (const ctx of this.regs) {
      for (const repo of ctx.cfg.repositories) {
        const bkey = `${ctx.cfg.domain}/${repo}`;
        const b = this.state.backoff.get(bkey);
        if (honourBackoff && b && Date.now() < b.next) continue;
        jobs.push(
          repoLimiter.run(async () => {
            const ok = await this.syncRepository(ctx, repo, tagLimiter, signal);
            if (ok) this.state.backoff.delete(bkey);
            else {
              const failures = (b?.failures ?? 0) + 1;
              const delay = Math.min(this.opts.pollDelayMs * 2 ** (failures - 1), Math.max(this.opts.pollDelayMs, 15 * 60_000));
              this.state.backoff.set(bkey, { failures, next: Date.now() + delay - this.opts.pollDelayMs });
            }
          }),
        );
      }
    }
    await Promise.all(jobs);
    progress.done();
    const r = this.report;
    r.finishedAt = new Date().toISOString();
    r.requests = this.diffCounts(snap);
    if (r.errors.length === 0) this.metrics.success(new Date());
    return r;
  }

  private snapshotCounts(): SyncReport["requests"] {
    const reg: RequestCounts = { ping: 0, tags: 0, manifestHead: 0, manifestGet: 0, token: 0 };
    for (const c of this.regs) for (const k of Object.keys(reg) as Array<keyof RequestCounts>) reg[k] += c.client.counts[k];
    return { registry: reg, scanner: { ...(this.scanner?.counts ?? { index: 0, report: 0, poll: 0 }) }, dataApi: { ...this.data.counts } };
  }

  private diffCounts(a: SyncReport["requests"]): SyncReport["requests"] {
    const b = this.snapshotCounts();
    const sub = <T extends object>(x: T, y: T): T => {
      const xr = x as Record<string, number>;
      const yr = y as Record<string, number>;
      return Object.fromEntries(Object.keys(xr).map((k) => [k, xr[k]! - yr[k]!])) as T;
    };
    return { registry: sub(b.registry, a.registry), scanner: sub(b.scanner, a.scanner), dataApi: sub(b.dataApi, a.dataApi) };
  }
}

function digestsOf(s: ImageState): string[] {
  return [...new Set([s.digest, ...s.images.map((i) => i.digest)])];
}

function imageStateFromDoc(v: unknown): ImageState | null {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return null;
  const d = v as Record<string, unknown>;
  if (typeof d["registry"] !== "string" || typeof d["repository"] !== "string" || typeof d["tag"] !== "string" || typeof d["digest"] !== "string") return null;
  const images: ImageState["images"] = [];
  const plats = d["platforms"];
  if (plats && typeof plats === "object" && !Array.isArray(plats)) {
    for (const p of Object.values(plats as Record<string, unknown>)) {
      const pd = p as Record<string, unknown> | null;
      if (!pd || typeof pd["digest"] !== "string" || !Array.isArray(pd["layers"])) return null;
      const layers: Array<{ digest: string; mediaType?: string }> = [];
      for (const l of pd["layers"] as unknown[]) {
        const lo = l as Record<string, unknown> | null;
        if (!lo || typeof lo["digest"] !== "string") return null;
        layers.push(typeof lo["mediaType"] === "string" ? { digest: lo["digest"], mediaType: lo["mediaType"] } : { digest: lo["digest"] });
      }
      images.push({ digest: pd["digest"], layers });
    }
  }
  const resolvedFor = typeof d["resolvedFor"] === "string" ? d["resolvedFor"] : "";
  return { registry: d["registry"], repository: d["repository"], tag: d["tag"], digest: d["digest"], resolvedFor, images };
}

/** One sync cycle with fresh state (rebuilt from the Data API). Shows a progress bar on a TTY. */
export async function syncOnce(options: SyncOptions, signal?: AbortSignal): Promise<SyncReport> {
  let progress = options.progress;
  let logger = options.logger;
  if (!progress) progress = process.stdout.isTTY ? new TtyProgress(process.stdout) : noProgress;
  if (!logger) {
    const l = new JsonLogger();
    // Logs go to stderr; clear the bar first when both share the terminal.
    const bar = progress;
    l.beforeWrite = () => bar.clear();
    logger = l;
  }
  const s = new Syncer({ ...options, logger });
  try {
    return await s.cycle(signal, progress);
  } finally {
    s.close();
  }
}

/**
 * The daemon: run cycles until the signal aborts, waiting --poll-delay between them. Repositories that
 * failed back off exponentially (up to 15 minutes or the poll delay, whichever is larger).
 * With options.once it runs a single cycle and rejects when that cycle had errors.
 */
export async function runSync(options: SyncOptions, signal?: AbortSignal): Promise<void> {
  if (options.once) {
    const r = await syncOnce(options, signal);
    if (r.errors.length > 0) {
      throw new SyncError("sync", `sync finished with ${r.errors.length} error(s)`, "see the log lines above for what failed and what to do", true);
    }
    return;
  }
  const s = new Syncer(options);
  const logger = options.logger ?? new JsonLogger();
  try {
    while (!signal?.aborted) {
      const r = await s.cycle(signal, noProgress, true);
      logger.log("info", "sync cycle finished", {
        tags: r.tags,
        written: r.imagesWritten,
        unchanged: r.imagesUnchanged,
        removed: r.tagsRemoved,
        layersIndexed: r.layersIndexed,
        errors: r.errors.length,
        nextInMs: options.pollDelayMs,
      });
      await sleep(options.pollDelayMs, signal);
    }
  } finally {
    s.close();
  }
}

export type { Platform };
