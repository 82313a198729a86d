// Registry authentication (protocols.md §4.6): WWW-Authenticate challenge parsing, the Bearer
// token flow (anonymous or with credentials sent to the token endpoint as Basic), HTTP Basic,
// and a per-scope token cache.

import { requestWithRetry, redactUrl, redirectError, transportError, NetworkError, type HttpResponse, type RetryPolicy, type Transport } from "./http.js";
import { SyncError } from "./log.js";

export interface Challenge {
  scheme: string; // lowercased: "bearer", "basic", ...
  params: Record<string, string>; // keys lowercased
}

/**
 * Parse a WWW-Authenticate header (RFC 7235 auth-params; quoted strings may contain commas
 * and escaped quotes). Several challenges in one header are split on a new scheme token.
 * Order of parameters is not assumed.
 */
export function parseChallenges(value: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = value;
  const skipWs = (): void => {
    while (i < s.length && (s[i] === " " || s[i] === "\t" || s[i] === ",")) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < s.length && /[!#$%&'*+.^_`|~0-9A-Za-z-]/.test(s[i]!)) i++;
    return s.slice(start, i);
  };
  let current: Challenge | null = null;
  while (i < s.length) {
    skipWs();
    if (i >= s.length) break;
    const t = token();
    if (t === "") {
      i++; // skip a junk character rather than loop forever
      continue;
    }
    let j = i;
    while (j < s.length && s[j] === " ") j++;
    if (s[j] === "=" && current) {
      // key=value
      i = j + 1;
      while (i < s.length && s[i] === " ") i++;
      let v = "";
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === "\\" && i + 1 < s.length) i++;
          v += s[i];
          i++;
        }
        i++; // closing quote
      } else {
        const vs = i;
        while (i < s.length && s[i] !== ",") i++;
        v = s.slice(vs, i).trim();
      }
      current.params[t.toLowerCase()] = v;
    } else if (s[j] === "=" && !current) {
      i = j + 1; // parameter without a scheme: ignore
      while (i < s.length && s[i] !== ",") i++;
    } else {
      current = { scheme: t.toLowerCase(), params: {} };
      out.push(current);
      // token68 form ("Negotiate abc==") is not used by registries; skip it.
      while (i < s.length && s[i] === " ") i++;
    }
  }
  return out;
}

export interface Credentials {
  username: string;
  password: string;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/** What a registry told us about how to authenticate (learned from the first 401). */
interface AuthScheme {
  kind: "bearer" | "basic";
  realm?: string;
  service?: string;
}

export function basicHeader(c: Credentials): string {
  return "Basic " + Buffer.from(`${c.username}:${c.password}`, "utf8").toString("base64");
}

export function repositoryScope(repo: string, actions = "pull"): string {
  return `repository:${repo}:${actions}`;
}

/**
 * Authorisation state for one registry. `headerFor(scope)` gives the header to send before a
 * request (from cache, or one token request); `learn` is called with a 401's challenge and says
 * whether one retry can succeed.
 */
export class RegistryAuth {
  private scheme: AuthScheme | null = null;
  private readonly tokens = new Map<string, CachedToken>();
  /** Our computed scope → the scope the registry actually asked for, when they differ. */
  private readonly aliases = new Map<string, string>();
  private readonly pending = new Map<string, Promise<string>>();
  /** Token requests made (for tests and the benchmark). */
  tokenRequests = 0;

  constructor(
    private readonly transport: Transport,
    private readonly creds: Credentials | undefined,
    private readonly retry: RetryPolicy,
    private readonly now: () => number = Date.now,
    /** Per-attempt timeout of token requests (the registry's --timeout). */
    private readonly timeoutMs?: number,
  ) {}

  /** The Authorization header to send for a request needing `scope`, if we already know how. */
  async headerFor(scope: string, signal?: AbortSignal): Promise<string | undefined> {
    if (!this.scheme) return undefined;
    if (this.scheme.kind === "basic") return this.creds ? basicHeader(this.creds) : undefined;
    scope = this.aliases.get(scope) ?? scope;
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.value}`;
    // Concurrent requests for one scope share a single token request.
    let p = this.pending.get(scope);
    if (!p) {
      p = this.fetchToken(scope, signal).finally(() => this.pending.delete(scope));
      this.pending.set(scope, p);
    }
    return `Bearer ${await p}`;
  }

  /** Learn from a 401's WWW-Authenticate header; returns false when retrying cannot help. */
  learn(wwwAuthenticate: string | undefined, fallbackScope: string): { retry: boolean; scope: string } {
    const challenges = wwwAuthenticate ? parseChallenges(wwwAuthenticate) : [];
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    if (bearer && bearer.params["realm"]) {
      this.scheme = { kind: "bearer", realm: bearer.params["realm"], service: bearer.params["service"] };
      const scope = bearer.params["scope"] || fallbackScope;
      if (scope !== fallbackScope) this.aliases.set(fallbackScope, scope);
      // A cached token that was just refused is useless: drop it so a fresh one is fetched.
      this.tokens.delete(scope);
      return { retry: true, scope };
    }
    if (basic) {
      this.scheme = { kind: "basic" };
      return { retry: this.creds !== undefined, scope: fallbackScope };
    }
    return { retry: false, scope: fallbackScope };
  }

  private async fetchToken(scope: string, signal?: AbortSignal): Promise<string> {
    const s = this.scheme!;
    let url: URL;
    try {
      url = new URL(s.realm!);
    } catch {
      throw new SyncError("registry", `token realm "${s.realm}" is not a valid URL`, "check the registry's auth configuration");
    }
    if (s.service) url.searchParams.set("service", s.service);
    for (const sc of scope.split(" ").filter(Boolean)) url.searchParams.append("scope", sc);
    if (this.creds) url.searchParams.set("account", this.creds.username);
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.creds) headers["authorization"] = basicHeader(this.creds);
    this.tokenRequests++;
    const where = `token endpoint ${redactUrl(url.toString())}`;
    let res: HttpResponse;
    try {
      res = await requestWithRetry(this.transport, { method: "GET", url: url.toString(), headers, maxBodyBytes: 1 << 20, timeoutMs: this.timeoutMs }, this.retry, signal);
    } catch (e) {
      // The realm comes from the registry's challenge: an unreachable host, a scheme we cannot
      // speak (file:, ftp:) or a stalled answer is the registry's auth failing, not ours.
      if (e instanceof NetworkError) throw transportError(e, "registry", where, "check the registry's token service (the realm in its WWW-Authenticate challenge); retried later");
      throw e;
    }
    if (res.status === 401 || res.status === 403) {
      throw new SyncError(
        "registry",
        `token endpoint ${redactUrl(url.toString())} refused the credentials (HTTP ${res.status})`,
        this.creds ? "check DOCKER_USER / DOCKER_PASSWORD (or the registry's credentials in the config file)" : "this repository needs credentials: set DOCKER_USER / DOCKER_PASSWORD",
        false,
      );
    }
    const redirect = redirectError(res, "registry", where, "the registry's token service (the realm of its challenge) redirects; report it to the registry operator");
    if (redirect) throw redirect;
    if (res.status !== 200) {
      throw new SyncError("registry", `${where} answered HTTP ${res.status}`, "the registry's auth service is failing; retried later");
    }
    let body: unknown;
    try {
      body = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new SyncError("registry", `token endpoint ${redactUrl(url.toString())} returned malformed JSON`, "check the token realm URL; retried later");
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      throw new SyncError("registry", `${where} returned JSON that is not an object`, "check the token realm URL; retried later");
    }
    const b = body as Record<string, unknown>;
    const tok = typeof b["token"] === "string" && b["token"] ? b["token"] : typeof b["access_token"] === "string" ? b["access_token"] : "";
    if (!tok) throw new SyncError("registry", `${where} returned no token`, "check the token realm URL; retried later");
    // The token goes into an Authorization header: a space, CR/LF or other control character
    // would make the request invalid (node throws) or split the header.
    if (!/^[\x21-\x7e]+$/.test(tok)) {
      throw new SyncError("registry", `${where} returned a token with characters not allowed in an HTTP header (spaces or control characters)`, "the registry's token service answered garbage; retried later");
    }
    const expiresIn = typeof b["expires_in"] === "number" && b["expires_in"] > 0 ? b["expires_in"] : 60;
    let issued = this.now();
    if (typeof b["issued_at"] === "string") {
      const t = Date.parse(b["issued_at"]);
      // Only trust issued_at when the clocks roughly agree; otherwise count from receipt.
      if (!Number.isNaN(t) && Math.abs(t - issued) < 5 * 60_000) issued = t;
    }
    // Refresh a little early so a token never expires in flight.
    this.tokens.set(scope, { value: tok, expiresAt: issued + expiresIn * 1000 - Math.min(10_000, expiresIn * 100) });
    return tok;
  }

  /** Header value to hand to a scanner so it can fetch blobs (Clair fetches layers itself). */
  async scannerHeaders(scope: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const h = await this.headerFor(scope, signal);
    return h ? { Authorization: h } : {};
  }
}

