// Writes to an OPA-compatible v1 Data API (protocols.md §3.3): PUT creates parents like mkdir -p,
// DELETE removes a document (404 when it is already gone, which is fine for us).
// Path segments are percent-encoded one by one; OPA splits the URL path on "/" and then
// unescapes each segment, so a key that contains "/" or ":" survives as one key.
//
// A Data API behind TLS and token or client certificate authentication (our server in the
// Deployment): the bearer token, the CA and the client certificate and key are read from files
// before each request, so a rotated Secret is picked up without a restart, and a missing file is a
// fault of this cycle (logged, retried) rather than a crash of the sidecar that would take its pod
// out of the Service.

import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { requestWithRetry, NetworkError, NodeTransport, redactUrl, redirectError, transportError, DEFAULT_RETRY, type HttpResponse, type RetryPolicy, type Transport } from "./http.js";
import { SyncError, serverText, type Logger } from "./log.js";

export interface DataApiTls {
  /** PEM file with the certificates to trust: a CA, or the server's own certificate (pinned). */
  caFile?: string;
  /** Name to verify the certificate against instead of the URL's host (e.g. the Service name). */
  serverName?: string;
  /** Skip verification (loopback only, on purpose). */
  insecure?: boolean;
  /** PEM client certificate (chain) to present, for a server with --authentication=tls; with keyFile. */
  certFile?: string;
  /** PEM private key of certFile (unencrypted). */
  keyFile?: string;
}

/** A client certificate and its key, PEM. */
interface ClientCert {
  cert: string;
  key: string;
}

/**
 * Why `cert` and `key` (PEM texts) cannot serve as a TLS client certificate, or undefined when
 * they can. Checked here rather than left to the TLS handshake, whose error for a key of another
 * certificate ("key values mismatch") does not say which files are wrong.
 */
export function clientCertProblem(cert: string, key: string): string | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    return `the certificate file holds no PEM certificate (${(e as Error).message})`;
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return "the key is not the certificate's private key";
  } catch (e) {
    return `the key file holds no unencrypted PEM private key (${(e as Error).message})`;
  }
  return undefined;
}

export interface DataApiOptions {
  /** OPA base URL including the API version, e.g. http://localhost:8181/v1 (the original default). */
  url: string;
  transport: Transport;
  retry?: RetryPolicy;
  timeoutMs?: number;
  /** Extra headers, e.g. Authorization for an OPA with token authentication. */
  headers?: Record<string, string>;
  /** File whose first line (blank lines and # comments skipped) is the bearer token. */
  tokenFile?: string;
  /** TLS settings for an https URL; `transport` is then only used for http URLs. */
  tls?: DataApiTls;
  /** Where a client certificate that cannot be loaded after a rotation is reported. */
  logger?: Logger;
}

/** The bearer token in a token file: the first line that is not blank or a # comment. */
export function tokenFromFile(text: string): string | undefined {
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t !== "" && !t.startsWith("#")) return t;
  }
  return undefined;
}

/** Split a root like "/data/docker/layers" into segments. */
export function rootSegments(root: string): string[] {
  return root.split("/").filter((s) => s !== "");
}

export function encodePath(segments: string[]): string {
  return segments.map((s) => encodeURIComponent(s)).join("/");
}

export class DataApi {
  readonly counts = { put: 0, delete: 0, get: 0 };
  private readonly base: string;
  private readonly retry: RetryPolicy;
  /** Transport built for `tls`, with the CA text and client certificate it was built from. */
  private tlsTransport: { ca: string | undefined; client: ClientCert | undefined; transport: NodeTransport } | undefined;
  /** The certificate and key texts last found unusable (reported once, not on every request). */
  private rejectedClient: string | undefined;
  /** Transports replaced after a CA change; closed with this client. */
  private readonly retired: NodeTransport[] = [];

  constructor(private readonly opts: DataApiOptions) {
    this.base = opts.url.replace(/\/+$/, "");
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  close(): void {
    this.tlsTransport?.transport.close();
    for (const t of this.retired.splice(0)) t.close();
  }

  private readSecretFile(file: string, flag: string, what: string): string {
    try {
      return readFileSync(file, "utf8");
    } catch (e) {
      const se = new SyncError("data-api", `cannot read ${flag} ${file}: ${(e as Error).message}`, `mount the ${what} at that path; writes are retried on the next cycle`);
      se.faultKey = "data-api-host";
      throw se;
    }
  }

  private transport(): Transport {
    const tls = this.opts.tls;
    if (!tls || !this.base.startsWith("https:")) return this.opts.transport;
    const ca = tls.caFile ? this.readSecretFile(tls.caFile, "--opa-ca-file", "certificate file") : undefined;
    const client = this.clientCert(tls);
    const cur = this.tlsTransport;
    if (cur && cur.ca === ca && cur.client === client) return cur.transport;
    // First use, or a certificate was renewed: new connections verify against the new CA file
    // and present the new client certificate.
    if (cur) this.retired.push(cur.transport);
    const transport = new NodeTransport({ ca, insecure: tls.insecure, serverName: tls.serverName, partialChain: ca !== undefined, ...client });
    this.tlsTransport = { ca, client, transport };
    return transport;
  }

  /**
   * The client certificate to present: the pair in the files, or the one in use while the files
   * do not hold a usable pair, as they may for a moment while a rotation (cert-manager) writes them
   * one after the other. Such a pair is reported once; without a pair in use it fails the request.
   */
  private clientCert(tls: DataApiTls): ClientCert | undefined {
    if (!tls.certFile || !tls.keyFile) return undefined;
    const cert = this.readSecretFile(tls.certFile, "--opa-cert-file", "client certificate");
    const key = this.readSecretFile(tls.keyFile, "--opa-key-file", "client key");
    const cur = this.tlsTransport?.client;
    if (cur && cur.cert === cert && cur.key === key) return cur;
    const problem = clientCertProblem(cert, key);
    if (problem === undefined) return { cert, key };
    const what = `--opa-cert-file ${tls.certFile} and --opa-key-file ${tls.keyFile} do not hold a usable client certificate: ${problem}`;
    if (!cur) {
      const se = new SyncError("data-api", what, "give the PEM certificate and its unencrypted key; writes are retried on the next cycle");
      se.faultKey = "data-api-host";
      throw se;
    }
    if (this.rejectedClient !== cert + key) {
      this.rejectedClient = cert + key;
      this.opts.logger?.log("warn", `${what}; still presenting the previous client certificate`, { component: "data-api", hint: "a rotation may be half written; if this stays, check the files" });
    }
    return cur;
  }

  private authHeaders(): Record<string, string> {
    const f = this.opts.tokenFile;
    if (!f) return {};
    const token = tokenFromFile(this.readSecretFile(f, "--opa-token-file", "token Secret"));
    if (!token) {
      const se = new SyncError("data-api", `--opa-token-file ${f} holds no token`, "put the bearer token on the first line of the file; writes are retried on the next cycle");
      se.faultKey = "data-api-host";
      throw se;
    }
    return { authorization: `Bearer ${token}` };
  }

  private async call(method: string, segments: string[], body?: string, signal?: AbortSignal): Promise<HttpResponse> {
    const url = `${this.base}/${encodePath(segments)}`;
    const headers: Record<string, string> = { accept: "application/json", ...(this.opts.headers ?? {}), ...this.authHeaders() };
    if (body !== undefined) headers["content-type"] = "application/json";
    const transport = this.transport();
    try {
      return await requestWithRetry(transport, { method, url, headers, body, timeoutMs: this.opts.timeoutMs, maxBodyBytes: 256 << 20 }, this.retry, signal);
    } catch (e) {
      if (e instanceof NetworkError) {
        throw transportError(e, "data-api", `Data API ${redactUrl(this.base)}`, "check --opa-url and that the policy server is running; writes are retried on the next cycle", "data-api-host");
      }
      throw e;
    }
  }

  private fail(res: HttpResponse, what: string): SyncError {
    const redirect = redirectError(res, "data-api", what, "point --opa-url (opa.url in the config file) at the address the Data API redirects to");
    if (redirect) return redirect;
    let msg = "";
    try {
      const b = JSON.parse(res.body.toString("utf8")) as { code?: unknown; message?: unknown };
      if (typeof b?.message === "string") msg = `: ${typeof b.code === "string" ? serverText(b.code, 60) + ": " : ""}${serverText(b.message)}`;
    } catch {
      /* plain status */
    }
    const s = res.status;
    const hint =
      s === 404
        ? "write conflict: a policy rule or a non-object document sits on this path; check --opa-layer-root / --opa-clair-root"
        : s === 401 || s === 403
          ? "the Data API refused the request: check --opa-token-file (the token must be in the server's --token-file) or --opa-cert-file and --opa-key-file (a client certificate signed by a CA of the server's --tls-ca-cert-file)"
          : "the Data API is failing; retried on the next cycle";
    return new SyncError("data-api", `${what}: HTTP ${s}${msg}`, hint, s !== 404);
  }

  async put(segments: string[], value: unknown, signal?: AbortSignal): Promise<void> {
    this.counts.put++;
    const res = await this.call("PUT", segments, JSON.stringify(value), signal);
    if (res.status < 200 || res.status > 299) throw this.fail(res, `PUT /${segments.join("/")}`);
  }

  /** DELETE; a missing document counts as success. */
  async delete(segments: string[], signal?: AbortSignal): Promise<void> {
    this.counts.delete++;
    const res = await this.call("DELETE", segments, undefined, signal);
    if (res.status === 404) return;
    if (res.status < 200 || res.status > 299) throw this.fail(res, `DELETE /${segments.join("/")}`);
  }

  /** GET a document; undefined when it does not exist. */
  async get(segments: string[], signal?: AbortSignal): Promise<unknown> {
    this.counts.get++;
    const res = await this.call("GET", segments, undefined, signal);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw this.fail(res, `GET /${segments.join("/")}`);
    let b: unknown;
    try {
      b = JSON.parse(res.body.toString("utf8"));
    } catch {
      throw new SyncError("data-api", `GET /${segments.join("/")}: malformed JSON`, "the Data API answered garbage; check --opa-url");
    }
    if (b === null || typeof b !== "object") return undefined;
    return (b as Record<string, unknown>)["result"];
  }
}
