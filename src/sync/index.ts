// Public API of the layer sync (used by the CLI's `sync` command and by `run --server --sync-config`).
export { runSync, syncOnce, Syncer, imageKey, digestKey } from "./sync.js";
export type { SyncReport, SyncErrorRecord, ImageDoc, LegacyManifestDoc, PlatformImageDoc } from "./sync.js";
export { parseSyncFlags, parseConfig, loadConfigFile, parseDuration, SYNC_HELP, HELP_REQUESTED } from "./options.js";
export type { SyncOptions, RegistryConfig, ClairConfig } from "./options.js";
export { createSyncMetrics, noopMetrics } from "./metrics.js";
export type { SyncMetrics } from "./metrics.js";
export { SyncError, JsonLogger, MemoryLogger } from "./log.js";
export type { Logger, Level } from "./log.js";
export type { LayerDoc, Scanner } from "./scanner.js";
