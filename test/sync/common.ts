// Shared pieces of the sync integration tests.

import type { SyncOptions, RegistryConfig } from "../../src/sync/options.js";
import { MemoryLogger } from "../../src/sync/log.js";
import { noProgress } from "../../src/sync/progress.js";
import { parsePlatform, type Platform } from "../../src/sync/manifest.js";

export const FAST_RETRY = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 50 };

export function platforms(...ps: string[]): Platform[] {
  return ps.map((p) => parsePlatform(p) as Platform);
}

export function registryConfig(url: string, repositories: string[], extra: Partial<RegistryConfig> = {}): RegistryConfig {
  return {
    url,
    domain: new URL(url).host,
    repositories,
    platforms: platforms("linux/amd64"),
    insecure: false,
    legacyLayout: true,
    ...extra,
  };
}

export function syncOptions(registries: RegistryConfig[], opaUrl: string, clair: SyncOptions["clair"], extra: Partial<SyncOptions> = {}): SyncOptions & { logger: MemoryLogger } {
  const logger = new MemoryLogger();
  return {
    registries,
    clair,
    opaUrl,
    layerRoot: "/data/docker/layers",
    clairRoot: "/data/clair/layers",
    imagesRoot: "/data/docker/images",
    pollDelayMs: 60_000,
    once: true,
    concurrency: 3,
    reportMaxAgeMs: 24 * 3600_000,
    retry: FAST_RETRY,
    timeoutMs: 5000,
    clairPollMs: 5,
    progress: noProgress,
    ...extra,
    logger,
  };
}

/** The recorded Clair v2 layer with vulnerable features (debian:8 base of library/wordpress:4-apache). */
export const RECORDED_VULNERABLE = "sha256:10a267c67f423630f3afe5e04bbbc93d578861ddcc54283526222f3ad5e895b9";
