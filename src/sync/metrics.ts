// Sync metrics behind a small interface; the server maps them onto its Prometheus registry.

import { Counter, Gauge, Registry } from "prom-client";

export interface SyncMetrics {
  imageSynced(registry: string): void;
  layerIndexed(registry: string, n?: number): void;
  error(component: string): void;
  success(at?: Date): void;
}

/** Counters for the sync. Pass the server's Registry to expose them on its /metrics. */
export function createSyncMetrics(registry: Registry = new Registry(), prefix = "image_enforcer_sync_"): SyncMetrics & { registry: Registry } {
  const images = new Counter({ name: `${prefix}images_synced_total`, help: "Image manifests written to the policy data", labelNames: ["registry"], registers: [registry] });
  const layers = new Counter({ name: `${prefix}layers_indexed_total`, help: "Layers (v2) or manifests (v4) sent to the scanner for indexing", labelNames: ["registry"], registers: [registry] });
  const errors = new Counter({ name: `${prefix}errors_total`, help: "Sync failures by component (registry, scanner, data-api)", labelNames: ["component"], registers: [registry] });
  const last = new Gauge({ name: `${prefix}last_success_timestamp_seconds`, help: "Unix time of the last sync cycle that finished without errors", registers: [registry] });
  return {
    registry,
    imageSynced: (r) => images.inc({ registry: r }),
    layerIndexed: (r, n = 1) => layers.inc({ registry: r }, n),
    error: (c) => errors.inc({ component: c }),
    success: (at = new Date()) => last.set(at.getTime() / 1000),
  };
}

export const noopMetrics: SyncMetrics = { imageSynced() {}, layerIndexed() {}, error() {}, success() {} };
