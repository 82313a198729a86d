// The scanner interface: something that indexes an image's layers and reports vulnerabilities
// per layer in the Clair v2 shape the scan policy reads (data.clair.layers[<digest>]).
import { NetworkError, redactUrl, transportError } from "./http.js";

/**
 * Runs a request to Clair at `base`; a network failure becomes the scanner fault the sync loop
 * reports once per host (both Clair clients use it).
 */
export async function reachClair<T>(base: string, request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (e) {
    if (e instanceof NetworkError) {
      throw transportError(e, "scanner", `Clair ${redactUrl(base)}`, "check --clair-url and that Clair is running; unscanned layers are retried on the next cycle", "scanner-host");
    }
    throw e;
  }
}

/** What to do about a redirect from Clair (both clients). */
export const CLAIR_REDIRECT_ADVICE = "point --clair-url (clair.url in the config file) at the address Clair redirects to";

/** Default of --clair-index-timeout: indexing a large image's layers can take minutes. */
export const DEFAULT_INDEX_TIMEOUT_MS = 600_000;

/** Deepest nesting the scanner's documents may have (Clair's own are under 10 levels deep). */
export const MAX_REPORT_DEPTH = 32;

/**
 * Is `v` nested deeper than `limit` arrays/objects? Checked without recursion: a report nested
 * 100 000 deep parses fine but would overflow the stack when it is serialised for the Data API.
 */
export function nestedDeeperThan(v: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length > 0) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== "object") continue;
    if (d > limit) return true;
    for (const c of Object.values(x as object)) if (c !== null && typeof c === "object") stack.push([c, d + 1]);
  }
  return false;
}

export interface ClairVulnerability {
  Name: string;
  NamespaceName?: string;
  Description?: string;
  Link?: string;
  Severity?: string;
  FixedBy?: string;
  Metadata?: Record<string, unknown>;
}

export interface ClairFeature {
  Name: string;
  NamespaceName?: string;
  VersionFormat?: string;
  Version?: string;
  AddedBy?: string;
  /** Absent (not []) when there are none, exactly like Clair v2's omitempty. */
  Vulnerabilities?: ClairVulnerability[];
}

export interface ClairLayer {
  Name: string;
  NamespaceName?: string;
  ParentName?: string;
  IndexedByVersion?: number;
  /** Absent (not []) when there are none. */
  Features?: ClairFeature[];
  [k: string]: unknown;
}

/** The document written at data.clair.layers[<digest>]. */
export interface LayerDoc {
  Layer: ClairLayer;
  /** RFC 3339 time the report was fetched from the scanner (policies use it for report age). */
  FetchedAt: string;
  /** "clair-v2" or "clair-v4": which scanner produced the report. */
  Scanner: string;
}

export interface ScanLayer {
  digest: string;
  mediaType?: string;
  /** URL the scanner fetches the blob from. */
  url: string;
}

export interface ScanTarget {
  repository: string;
  /** Digest of the per-platform image manifest. */
  manifestDigest: string;
  /** Layers base first. */
  layers: ScanLayer[];
  /** Headers the scanner sends when fetching blobs (registry Authorization). */
  headers: Record<string, string>;
}

export interface ScanResult {
  /** New reports, keyed by layer digest. Layers that failed are absent (their old data stays). */
  reports: Map<string, LayerDoc>;
  /** Layers (v2) or manifests (v4) sent to the scanner for indexing. */
  indexCalls: number;
  /** Per-layer failures; the first error aborts the rest of a v2 parent chain. */
  errors: Error[];
  /** Layers the scanner refused for good (e.g. Clair v2 422): not retried by this process. */
  unsupported?: string[];
  /** Reported layers the scanner turned out not to know any more (e.g. Clair's database was reset):
   * re-check them (and re-index if needed) on the next attempt. */
  refresh?: string[];
}

export interface Scanner {
  readonly kind: "clair-v2" | "clair-v4";
  /**
   * Index what is needed and return reports for the layers in `want` (a subset of target.layers'
   * digests: the ones not reported yet, or whose report is stale). `known` tells which layers are
   * already reported, so they need not be indexed again.
   */
  scan(target: ScanTarget, want: Set<string>, known: (digest: string) => boolean, signal?: AbortSignal): Promise<ScanResult>;
  /** Requests made, by kind, for tests and the benchmark. */
  readonly counts: { index: number; report: number; poll: number };
}

/** Clair v2 severity order (protocols.md §5.1), lowest first; v4 has no Defcon1. */
export const SEVERITIES = ["Unknown", "Negligible", "Low", "Medium", "High", "Critical", "Defcon1"] as const;
