// Structured JSON-line logging for the sync, with secret redaction and "log each failure once".

export type Component = "registry" | "scanner" | "data-api" | "config" | "sync";

/** Longest message a SyncError keeps: it is logged as one JSON line and shown by the CLI as one line. */
export const MAX_MESSAGE = 2000;

/**
 * Text a remote server chose (an error message, a status reason, a tag name) made fit for a
 * one-line message: control characters become spaces and it is cut at `max` characters, so a
 * server answering megabytes of text cannot flood the logs or break the CLI's one-line errors.
 */
export function serverText(s: string, max = 300): string {
  const flat = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, " ");
  return flat.length > max ? `${flat.slice(0, max)}… (${flat.length - max} more characters)` : flat;
}

/** An error a user can act on: which component failed, what happened, what to do about it. */
export class SyncError extends Error {
  /** When set, failures are grouped (logged once) under this key instead of the caller's, e.g. one
   * key per unreachable host rather than one per tag. */
  faultKey?: string;
  constructor(
    readonly component: Component,
    message: string,
    readonly hint: string,
    /** false when retrying without a change cannot help (e.g. 422 from Clair, wrong credentials). */
    readonly retryable = true,
  ) {
    // Messages embed URLs, names and text from remote servers: keep every one a bounded single line.
    super(serverText(message, MAX_MESSAGE));
    this.name = "SyncError";
  }
}

export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  log(level: Level, msg: string, fields?: Record<string, unknown>): void;
}

const SECRET_KEYS = /pass(word)?|secret|token|authorization|psk|credential/i;

/** Replace values of secret-looking keys and Basic/Bearer credentials inside strings. */
export function redact(value: unknown, depth = 0): unknown {
  if (depth > 6) return "[…]";
  if (typeof value === "string") return redactString(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) return redactString(value.message);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEYS.test(k) ? "[redacted]" : redact(v, depth + 1);
    }
    return out;
  }
  return value;
}

export function redactString(s: string): string {
  return s
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, "$1 [redacted]")
    .replace(/\/\/[^/@\s:]+:[^/@\s]+@/g, "//[redacted]@");
}

export class JsonLogger implements Logger {
  /** Called before every line is written, e.g. to clear a progress bar line. */
  beforeWrite?: () => void;
  constructor(
    private readonly out: (line: string) => void = (l) => process.stderr.write(l + "\n"),
    private readonly minLevel: Level = "info",
  ) {}

  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (rank(level) < rank(this.minLevel)) return;
    const rec = { time: new Date().toISOString(), level, msg: redactString(msg), ...(redact(fields) as object) };
    this.beforeWrite?.();
    this.out(JSON.stringify(rec));
  }
}

function rank(l: Level): number {
  return l === "debug" ? 0 : l === "info" ? 1 : l === "warn" ? 2 : 3;
}

/** A logger that keeps records in memory (tests, and the server's in-process sync status). */
export class MemoryLogger implements Logger {
  readonly records: Array<{ level: Level; msg: string } & Record<string, unknown>> = [];
  log(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    this.records.push({ ...(redact(fields) as object), level, msg: redactString(msg) });
  }
}

/**
 * Logs a failure the first time it is seen for a key, stays quiet while it repeats, and logs
 * once more when it clears. This keeps a registry that is down for an hour from flooding logs.
 */
export class FaultLog {
  private readonly active = new Map<string, string>();
  constructor(private readonly logger: Logger) {}

  fail(key: string, err: unknown, fields: Record<string, unknown> = {}): void {
    const e = toSyncError(err);
    key = e.faultKey ?? key;
    // The kind of failure, not its details: a Data API refusing every write is one failure even
    // though each write names a different path.
    const sig = `${e.component}|${e.hint}|${/HTTP \d{3}/.exec(e.message)?.[0] ?? ""}`;
    if (this.active.get(key) === sig) return;
    this.active.set(key, sig);
    this.logger.log("error", e.message, { ...fields, component: e.component, key, hint: e.hint, retryable: e.retryable });
  }

  ok(key: string, fields: Record<string, unknown> = {}): void {
    if (!this.active.has(key)) return;
    this.active.delete(key);
    this.logger.log("info", `recovered: ${key}`, { ...fields, key });
  }

  get activeCount(): number {
    return this.active.size;
  }
}

export function toSyncError(err: unknown): SyncError {
  if (err instanceof SyncError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  return new SyncError("sync", msg, "unexpected failure; it is retried on the next cycle");
}
