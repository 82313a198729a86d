// `image-enforcer sync` options: the original clair-layer-sync flags, plus --once, --config,
// --concurrency and TLS settings. parseSyncFlags never prints or exits; it throws SyncError
// (component "config") with a message and a hint.

import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { checkDomain, checkPath, DEFAULT_DOMAIN } from "../kube/reference.js";
import { MAX_YAML_DEPTH, yamlNestedDeeperThan } from "../rego/yaml-depth.js";
import type { Credentials } from "./auth.js";
import { clientCertProblem, type DataApiTls } from "./dataapi.js";
import type { RetryPolicy } from "./http.js";
import { SyncError, type Logger } from "./log.js";
import { parsePlatform, type Platform } from "./manifest.js";
import type { SyncMetrics } from "./metrics.js";
import type { Progress } from "./progress.js";

export interface RegistryConfig {
  /** Registry HTTP API base URL, e.g. https://registry-1.docker.io */
  url: string;
  /** Domain used in image references and data keys ("docker.io", "quay.io", "127.0.0.1:5000"). */
  domain: string;
  credentials?: Credentials;
  /** Repository paths (official Docker Hub names get "library/"). */
  repositories: string[];
  platforms: Platform[];
  insecure: boolean;
  /** PEM CA bundle (contents) for the registry's TLS certificate. */
  ca?: string;
  /** Also write data.docker.layers[org][name][tag] (the original shape) for two-component paths. */
  legacyLayout: boolean;
  /** Base URL the scanner uses to fetch blobs, when it differs from `url` (e.g. in-cluster name). */
  scannerUrl?: string;
}

export interface ClairConfig {
  url: string;
  version: "v2" | "v4";
  psk?: string;
  pskIssuer?: string;
}

export interface SyncOptions {
  registries: RegistryConfig[];
  /** null: no scanning, only manifests are synced. */
  clair: ClairConfig | null;
  /** OPA base URL including /v1. */
  opaUrl: string;
  /** Roots relative to opaUrl: "/data/docker/layers", "/data/clair/layers", "/data/docker/images". */
  layerRoot: string;
  clairRoot: string;
  imagesRoot: string;
  opaHeaders?: Record<string, string>;
  /** File with the bearer token for the Data API (re-read before each request). */
  opaTokenFile?: string;
  /** TLS settings for an https --opa-url. */
  opaTls?: DataApiTls;
  pollDelayMs: number;
  once: boolean;
  concurrency: number;
  /** Reports older than this are re-fetched from the scanner (without re-indexing). 0 = never. */
  reportMaxAgeMs: number;
  retry?: RetryPolicy;
  timeoutMs?: number;
  /** Poll interval while Clair v4 indexes. */
  clairPollMs?: number;
  /**
   * How long Clair may take to index before the sync gives up for this cycle (default 10 min):
   * v4, how long the index report is polled for IndexFinished; v2, how long one POST /v1/layers
   * (which answers only when the layer is indexed) may take.
   */
  clairIndexTimeoutMs?: number;
  logger?: Logger;
  metrics?: SyncMetrics;
  /** host:port where `image-enforcer sync` serves its metrics (the command line serves them). */
  metricsAddr?: string;
  progress?: Progress;
}

export const DEFAULT_REGISTRY_URL = "https://registry-1.docker.io";
export const DEFAULT_CLAIR_V2_URL = "http://localhost:6060/v1";
export const DEFAULT_CLAIR_V4_URL = "http://localhost:6060";
export const DEFAULT_OPA_URL = "http://localhost:8181/v1";
export const DEFAULT_LAYER_ROOT = "/data/docker/layers";
export const DEFAULT_CLAIR_ROOT = "/data/clair/layers";
export const DEFAULT_IMAGES_ROOT = "/data/docker/images";

export const SYNC_HELP = `Usage: image-enforcer sync [flags]

Replicates image metadata from container registries into the policy data, has Clair index
each image's layers, and pushes Clair's vulnerability reports into the policy data.

Writes (PUT to an OPA-compatible Data API):
  <opa-url><opa-layer-root>/<org>/<name>/<tag>     manifest {config, layers[]} (org/name repositories)
  <opa-url><opa-images-root>/<registry>/<path>:<tag>  manifest by full reference (every repository)
  <opa-url><opa-clair-root>/<layer digest>         Clair layer report {"Layer": {...}, "FetchedAt": ...}

Flags:
  --repository a/b,c/d     repositories to sync (comma-separated; "nginx" means library/nginx on Docker Hub)
  --poll-delay 60s         wait between sync cycles (Go duration: 500ms, 60s, 5m, 1h; more than 0, at most 576h)
  --registry-url URL       registry API URL (default ${DEFAULT_REGISTRY_URL})
  --registry-domain NAME   domain used in image references for that registry (default: from the URL;
                           registry-1.docker.io is docker.io)
  --platform LIST          platforms to resolve multi-platform images to (default linux/amd64)
  --clair-url URL          Clair URL (default ${DEFAULT_CLAIR_V2_URL} for v2, ${DEFAULT_CLAIR_V4_URL} for v4);
                           an empty value disables scanning
  --clair-version v2|v4    Clair API to use (default v2, as the original)
  --clair-psk KEY          Clair v4 pre-shared key (base64); also CLAIR_PSK from the environment
  --clair-psk-issuer ISS   issuer claim for the PSK JWT (default image-enforcer)
  --clair-index-timeout 10m
                           give up waiting for Clair to index an image after this long (asked
                           again next cycle; at most 576h); v4: polling the index report, v2: one
                           layer's POST (reported as the layer not indexed in time, not retried
                           within the cycle)
  --opa-url URL            Data API base URL (default ${DEFAULT_OPA_URL})
  --opa-layer-root PATH    root for manifests by org/name/tag (default ${DEFAULT_LAYER_ROOT})
  --opa-clair-root PATH    root for layer reports (default ${DEFAULT_CLAIR_ROOT})
  --opa-images-root PATH   root for manifests by full reference (default ${DEFAULT_IMAGES_ROOT})
  --opa-token-file FILE    bearer token for the Data API (first line; re-read, so rotation needs no restart)
  --opa-ca-file FILE       PEM certificates to trust for an https --opa-url: a CA or the server's own
                           certificate (re-read, so a renewed certificate is picked up)
  --opa-tls-server-name N  verify the Data API's certificate for this name instead of the URL's host
                           (e.g. https://127.0.0.1:8181/v1 with the Service name in the certificate)
  --opa-insecure           skip TLS verification for the Data API
  --opa-cert-file FILE     client certificate (PEM) for a Data API with --authentication=tls, signed
                           by a CA of its --tls-ca-cert-file; needs --opa-key-file
  --opa-key-file FILE      the client certificate's private key (PEM, unencrypted). Both are re-read:
                           a rotated pair is used by the next request; a pair that does not load
                           (half written) is logged and the previous pair kept
  --report-max-age 24h     re-fetch layer reports older than this (0 = never)
  --once                   run one sync cycle and exit (non-zero exit when any error occurred)
  --config FILE            YAML/JSON config with many registries, credentials, repositories, platforms
  --concurrency N          tags processed in parallel (default 4)
  --metrics-addr HOST:PORT serve Prometheus metrics at http://HOST:PORT/metrics (images synced, layers
                           indexed, errors by component, time of the last cycle without errors)
  --insecure               skip TLS verification for the registry (private registries only)
  --ca-file FILE           PEM CA bundle to verify the registry's certificate
  -h, --help               show this help

Environment:
  DOCKER_USER, DOCKER_PASSWORD   registry credentials (token or basic auth); never logged
  CLAIR_PSK                      Clair v4 pre-shared key

Config file (YAML), flags given on the command line override its top-level values:
  pollDelay: 60s
  concurrency: 4
  opa: {url: http://localhost:8181/v1, layerRoot: /data/docker/layers, clairRoot: /data/clair/layers,
        tokenFile: ..., caFile: ..., serverName: ..., insecure: false, certFile: ..., keyFile: ...}
  clair: {url: http://clair:6060, version: v4, pskFile: /secrets/clair-psk, pskIssuer: image-enforcer,
          indexTimeout: 10m}
  registries:
    - url: https://registry-1.docker.io
      usernameEnv: DOCKER_USER          # or username: ...
      passwordFile: /secrets/hub-token  # or passwordEnv: ..., password: ...
      repositories: [library/nginx, openpolicyagent/opa]
      platforms: [linux/amd64, linux/arm64]
    - url: https://registry.internal:5000
      caFile: /etc/ssl/internal-ca.pem
      legacyLayout: false               # default: true for the first registry only
      repositories: [team/app/api]
`;

/** Go-style duration: "60s", "1m30s", "500ms", "2h", "0". `setting` (a flag or config key) names it in the error. */
export function parseDuration(s: string, setting?: string): number {
  const t = s.trim();
  if (t === "0") return 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    const n = Number(m[1]);
    total += n * (m[2] === "ms" ? 1 : m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 3_600_000);
    pos = re.lastIndex;
  }
  const label = setting ? `${setting}: ` : "";
  if (pos !== t.length || t === "") throw new SyncError("config", `${label}invalid duration "${s}"`, "use a Go duration such as 500ms, 60s, 5m or 1h", false);
  // A number with hundreds of digits parses to Infinity.
  if (!Number.isFinite(total)) throw new SyncError("config", `${label}duration "${s}" is too long`, "use a Go duration such as 500ms, 60s, 5m or 1h", false);
  return Math.round(total);
}

/**
 * The longest duration a timer is given (576h, 24 days). Node fires a setTimeout of more than
 * 2^31-1 ms (about 24.8 days) after 1 ms instead: a longer --poll-delay would make the daemon
 * loop without waiting, a longer --clair-index-timeout would give up at once.
 */
export const MAX_WAIT_MS = 576 * 3_600_000;

/** A duration that ends up in a timer: more than 0 and at most MAX_WAIT_MS. */
function waitDuration(s: string, setting: string, example: string): number {
  const ms = parseDuration(s, setting);
  if (ms <= 0) {
    throw new SyncError("config", `${setting} must be longer than 0, not "${s}"`, `give a Go duration such as ${example}`, false);
  }
  if (ms > MAX_WAIT_MS) {
    throw new SyncError("config", `${setting} must be at most 576h (24 days), not "${s}"`, `timers cannot wait longer; give a Go duration such as ${example}`, false);
  }
  return ms;
}

/** Reference domain for a registry API URL. */
export function domainForUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new SyncError("config", `invalid registry URL "${url}"`, "give a URL such as https://registry.example.com", false);
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    throw new SyncError("config", `registry URL "${url}" must be http or https`, "give a URL such as https://registry.example.com", false);
  }
  const host = u.host.toLowerCase();
  if (host === "registry-1.docker.io" || host === "index.docker.io" || host === "docker.io" || host === "registry.hub.docker.com") return DEFAULT_DOMAIN;
  return host;
}

/** Normalise a repository name for a registry: validate, and add library/ on Docker Hub. */
export function normalizeRepository(repo: string, domain: string): string {
  const r = repo.trim();
  const err = checkPath(r);
  if (err) throw new SyncError("config", `repository "${repo}": ${err}`, "repository names are lowercase paths like org/name", false);
  return domain === DEFAULT_DOMAIN && !r.includes("/") ? `library/${r}` : r;
}

function platforms(list: unknown, where: string): Platform[] {
  const items = typeof list === "string" ? list.split(",") : Array.isArray(list) ? list : undefined;
  if (!items || items.length === 0) throw new SyncError("config", `${where}: platforms must be a non-empty list`, "e.g. [linux/amd64, linux/arm64]", false);
  return items.map((p) => {
    if (typeof p !== "string") throw new SyncError("config", `${where}: platform must be a string`, "e.g. linux/amd64", false);
    const r = parsePlatform(p);
    if ("error" in r) throw new SyncError("config", `${where}: ${r.error}`, "e.g. linux/amd64 or linux/arm/v7", false);
    return r;
  });
}

function readFileOr(path: string, what: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new SyncError("config", `cannot read ${what} ${path}: ${(e as Error).message}`, "check the path and permissions", false);
  }
}

const FLAGS_WITH_VALUE = new Set([
  "repository",
  "poll-delay",
  "registry-url",
  "registry-domain",
  "platform",
  "clair-url",
  "clair-version",
  "clair-psk",
  "clair-psk-issuer",
  "clair-index-timeout",
  "opa-url",
  "opa-layer-root",
  "opa-clair-root",
  "opa-images-root",
  "opa-token-file",
  "opa-ca-file",
  "opa-tls-server-name",
  "opa-cert-file",
  "opa-key-file",
  "report-max-age",
  "config",
  "concurrency",
  "ca-file",
  "metrics-addr",
]);
const BOOL_FLAGS = new Set(["once", "insecure", "opa-insecure", "help"]);

/** Thrown (as a SyncError with this message) when --help is given; the CLI prints SYNC_HELP. */
export const HELP_REQUESTED = "help requested";

/** host:port, :port or [v6]:port with a port from 0 to 65535. */
function validAddr(addr: string): boolean {
  const m = /^(?:\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(addr);
  return m !== null && Number(m[1]) <= 65535;
}

export function parseSyncFlags(argv: string[], env: Record<string, string | undefined> = process.env): SyncOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "-h" || a === "--help") throw new SyncError("config", HELP_REQUESTED, SYNC_HELP, false);
    if (!a.startsWith("-")) throw new SyncError("config", `unexpected argument "${a}"`, "sync takes only flags; see --help", false);
    const body = a.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    if (BOOL_FLAGS.has(name)) {
      const v = eq >= 0 ? body.slice(eq + 1) : "true";
      if (v !== "true" && v !== "false") throw new SyncError("config", `--${name} takes true or false, not "${v}"`, "see --help", false);
      flags.set(name, v);
      continue;
    }
    if (!FLAGS_WITH_VALUE.has(name)) throw new SyncError("config", `unknown flag ${a}`, "see image-enforcer sync --help", false);
    let v: string;
    if (eq >= 0) v = body.slice(eq + 1);
    else {
      if (i + 1 >= argv.length) throw new SyncError("config", `flag --${name} needs a value`, "see --help", false);
      v = argv[++i]!;
    }
    flags.set(name, v);
  }

  const cfg = flags.has("config") ? loadConfigFile(flags.get("config")!, env) : undefined;
  // Where a value came from, for its error: the flag, or else the config file's key.
  const setting = (flag: string, key: string): string => (flags.has(flag) || !cfg ? `--${flag}` : `${flags.get("config")}: ${key}`);
  const once = flags.get("once") === "true";
  const clairVersionRaw = flags.get("clair-version") ?? cfg?.clair?.version ?? "v2";
  if (clairVersionRaw !== "v2" && clairVersionRaw !== "v4") {
    throw new SyncError("config", `--clair-version must be v2 or v4, not "${clairVersionRaw}"`, "v2 is the API the original sync used; v4 is current Clair", false);
  }
  const clairUrl = flags.get("clair-url") ?? cfg?.clair?.url ?? (clairVersionRaw === "v4" ? DEFAULT_CLAIR_V4_URL : DEFAULT_CLAIR_V2_URL);
  let clair: ClairConfig | null = null;
  if (clairUrl !== "") {
    checkUrl(clairUrl, "--clair-url");
    clair = { url: clairUrl, version: clairVersionRaw };
    const psk = flags.get("clair-psk") ?? cfg?.clair?.psk ?? env["CLAIR_PSK"];
    if (psk) {
      if (!/^[A-Za-z0-9+/=_-]+$/.test(psk)) throw new SyncError("config", "--clair-psk is not base64", "give the base64 key from Clair's auth.psk.key", false);
      clair.psk = psk;
    }
    const iss = flags.get("clair-psk-issuer") ?? cfg?.clair?.pskIssuer;
    if (iss) clair.pskIssuer = iss;
  }

  const opaUrl = flags.get("opa-url") ?? cfg?.opa?.url ?? DEFAULT_OPA_URL;
  checkUrl(opaUrl, "--opa-url");
  const root = (v: string | undefined, d: string, name: string): string => {
    const r = v ?? d;
    if (!r.startsWith("/")) throw new SyncError("config", `--${name} must start with "/" (it is appended to --opa-url)`, `e.g. ${d}`, false);
    return r.replace(/\/+$/, "");
  };

  let registries: RegistryConfig[] = cfg?.registries ?? [];
  const cliRepos = flags.get("repository");
  if (cliRepos !== undefined || registries.length === 0) {
    const url = flags.get("registry-url") ?? DEFAULT_REGISTRY_URL;
    const domain = flags.get("registry-domain") ?? domainForUrl(url);
    const derr = checkDomain(domain);
    if (derr) throw new SyncError("config", `--registry-domain: ${derr}`, "e.g. registry.example.com:5000", false);
    const repos = (cliRepos ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    if (repos.length === 0) throw new SyncError("config", "no repositories to sync", "give --repository org/name[,org2/name2] or a --config file with registries", false);
    const user = env["DOCKER_USER"];
    const pass = env["DOCKER_PASSWORD"];
    const r: RegistryConfig = {
      url: url.replace(/\/+$/, ""),
      domain: domain.toLowerCase(),
      repositories: repos.map((x) => normalizeRepository(x, domain.toLowerCase())),
      platforms: platforms(flags.get("platform") ?? "linux/amd64", "--platform"),
      insecure: flags.get("insecure") === "true",
      legacyLayout: true,
    };
    if (user || pass) r.credentials = { username: user ?? "", password: pass ?? "" };
    if (flags.has("ca-file")) r.ca = readFileOr(flags.get("ca-file")!, "CA file");
    // CLI registry first: it owns the legacy org/name layout.
    registries = [r, ...registries.map((x) => ({ ...x, legacyLayout: false }))];
  }

  const opaTokenFile = flags.get("opa-token-file") ?? cfg?.opa?.tokenFile;
  const opaCaFile = flags.get("opa-ca-file") ?? cfg?.opa?.caFile;
  const opaServerName = flags.get("opa-tls-server-name") ?? cfg?.opa?.serverName;
  const opaInsecure = flags.has("opa-insecure") ? flags.get("opa-insecure") === "true" : cfg?.opa?.insecure === true;
  const opaCertFile = flags.get("opa-cert-file") ?? cfg?.opa?.certFile;
  const opaKeyFile = flags.get("opa-key-file") ?? cfg?.opa?.keyFile;
  if ((opaCaFile || opaServerName || opaInsecure || opaCertFile || opaKeyFile) && !opaUrl.startsWith("https:")) {
    throw new SyncError("config", "--opa-ca-file, --opa-tls-server-name, --opa-insecure, --opa-cert-file and --opa-key-file need an https --opa-url", `e.g. --opa-url https://127.0.0.1:8181/v1`, false);
  }
  if (opaCertFile || opaKeyFile) checkClientCert(opaCertFile, opaKeyFile, setting("opa-cert-file", "opa.certFile"), setting("opa-key-file", "opa.keyFile"));

  const clairIndexTimeout = flags.get("clair-index-timeout") ?? cfg?.clair?.indexTimeout;
  const metricsAddr = flags.get("metrics-addr");
  if (metricsAddr !== undefined && !validAddr(metricsAddr)) {
    throw new SyncError("config", `invalid --metrics-addr "${metricsAddr}"`, "give host:port, e.g. :9090 or 127.0.0.1:9090", false);
  }
  const concurrency = Number(flags.get("concurrency") ?? cfg?.concurrency ?? 4);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new SyncError("config", `--concurrency must be an integer from 1 to 256`, "e.g. --concurrency 4", false);
  }
  return {
    registries,
    clair,
    opaUrl: opaUrl.replace(/\/+$/, ""),
    ...(opaTokenFile ? { opaTokenFile } : {}),
    ...(opaCaFile || opaServerName || opaInsecure || opaCertFile
      ? {
          opaTls: {
            ...(opaCaFile ? { caFile: opaCaFile } : {}),
            ...(opaServerName ? { serverName: opaServerName } : {}),
            insecure: opaInsecure,
            ...(opaCertFile && opaKeyFile ? { certFile: opaCertFile, keyFile: opaKeyFile } : {}),
          },
        }
      : {}),
    layerRoot: root(flags.get("opa-layer-root") ?? cfg?.opa?.layerRoot, DEFAULT_LAYER_ROOT, "opa-layer-root"),
    clairRoot: root(flags.get("opa-clair-root") ?? cfg?.opa?.clairRoot, DEFAULT_CLAIR_ROOT, "opa-clair-root"),
    imagesRoot: root(flags.get("opa-images-root") ?? cfg?.opa?.imagesRoot, DEFAULT_IMAGES_ROOT, "opa-images-root"),
    // Zero would sync without pause, hammering the registries and the scanner (and a failing
    // repository's backoff, a multiple of it, would be zero too).
    pollDelayMs: waitDuration(flags.get("poll-delay") ?? cfg?.pollDelay ?? "60s", setting("poll-delay", "pollDelay"), "60s"),
    once,
    concurrency,
    reportMaxAgeMs: parseDuration(flags.get("report-max-age") ?? cfg?.reportMaxAge ?? "24h", setting("report-max-age", "reportMaxAge")),
    ...(metricsAddr !== undefined ? { metricsAddr } : {}),
    ...(clairIndexTimeout !== undefined ? { clairIndexTimeoutMs: waitDuration(clairIndexTimeout, setting("clair-index-timeout", "clair.indexTimeout"), "10m") } : {}),
  };
}

/**
 * --opa-cert-file and --opa-key-file: both or neither, and a pair that loads, checked at start
 * so a wrong path or a key of another certificate stops the sync before its first cycle.
 */
function checkClientCert(certFile: string | undefined, keyFile: string | undefined, certSetting: string, keySetting: string): void {
  if (!certFile || !keyFile) {
    throw new SyncError("config", `${certFile ? certSetting : keySetting} needs ${certFile ? keySetting : certSetting} as well`, "a client certificate is given as two PEM files, the certificate and its private key", false);
  }
  const problem = clientCertProblem(readFileOr(certFile, certSetting), readFileOr(keyFile, keySetting));
  if (problem) throw new SyncError("config", `${certSetting} ${certFile} and ${keySetting} ${keyFile}: ${problem}`, "give the client certificate (PEM) and its unencrypted private key (PEM), e.g. tls.crt and tls.key of a cert-manager Secret", false);
}

function checkUrl(u: string, what: string): void {
  try {
    const x = new URL(u);
    if (x.protocol !== "http:" && x.protocol !== "https:") throw new Error();
  } catch {
    throw new SyncError("config", `${what} "${u}" is not an http(s) URL`, "e.g. http://localhost:8181/v1", false);
  }
}

interface ParsedConfig {
  pollDelay?: string;
  reportMaxAge?: string;
  concurrency?: number;
  opa?: { url?: string; layerRoot?: string; clairRoot?: string; imagesRoot?: string; tokenFile?: string; caFile?: string; serverName?: string; insecure?: boolean; certFile?: string; keyFile?: string };
  clair?: { url?: string; version?: string; psk?: string; pskIssuer?: string; indexTimeout?: string };
  registries: RegistryConfig[];
}

/** Load a YAML/JSON config file; secrets may come from files or environment variables. */
export function loadConfigFile(path: string, env: Record<string, string | undefined>): ParsedConfig {
  const text = readFileOr(path, "config file");
  // Building documents nested a few hundred levels deep can abort the process: measured first.
  if (yamlNestedDeeperThan(text, MAX_YAML_DEPTH)) {
    throw new SyncError("config", `config file ${path} is nested more than ${MAX_YAML_DEPTH} levels deep`, "fix the file", false);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new SyncError("config", `config file ${path} is not valid YAML: ${(e as Error).message}`, "fix the file", false);
  }
  return parseConfig(doc, path, env);
}

export function parseConfig(doc: unknown, where: string, env: Record<string, string | undefined>): ParsedConfig {
  const bad = (msg: string): SyncError => new SyncError("config", `${where}: ${msg}`, "see image-enforcer sync --help for the config format", false);
  const o = asObj(doc, () => bad("the top level must be a mapping"));
  const known = new Set(["pollDelay", "reportMaxAge", "concurrency", "opa", "clair", "registries"]);
  for (const k of Object.keys(o)) if (!known.has(k)) throw bad(`unknown key "${k}"`);
  const out: ParsedConfig = { registries: [] };
  if (o["pollDelay"] !== undefined) out.pollDelay = String(o["pollDelay"]);
  if (o["reportMaxAge"] !== undefined) out.reportMaxAge = String(o["reportMaxAge"]);
  if (o["concurrency"] !== undefined) {
    if (typeof o["concurrency"] !== "number") throw bad("concurrency must be a number");
    out.concurrency = o["concurrency"];
  }
  if (o["opa"] !== undefined) {
    const p = asObj(o["opa"], () => bad("opa must be a mapping"));
    out.opa = {};
    const knownOpa = new Set(["url", "layerRoot", "clairRoot", "imagesRoot", "tokenFile", "caFile", "serverName", "insecure", "certFile", "keyFile"]);
    for (const k of Object.keys(p)) if (!knownOpa.has(k)) throw bad(`unknown key "opa.${k}"`);
    for (const k of ["url", "layerRoot", "clairRoot", "imagesRoot", "tokenFile", "caFile", "serverName", "certFile", "keyFile"] as const) {
      if (p[k] !== undefined) {
        if (typeof p[k] !== "string") throw bad(`opa.${k} must be a string`);
        out.opa[k] = p[k] as string;
      }
    }
    if (p["insecure"] !== undefined) {
      if (typeof p["insecure"] !== "boolean") throw bad("opa.insecure must be true or false");
      out.opa.insecure = p["insecure"];
    }
  }
  if (o["clair"] !== undefined) {
    const c = asObj(o["clair"], () => bad("clair must be a mapping"));
    out.clair = {};
    // A misspelt key would otherwise be ignored silently (an index timeout that never applies).
    const knownClair = new Set(["url", "version", "psk", "pskEnv", "pskFile", "pskIssuer", "indexTimeout"]);
    for (const k of Object.keys(c)) if (!knownClair.has(k)) throw bad(`unknown key "clair.${k}"`);
    if (c["url"] !== undefined) out.clair.url = String(c["url"]);
    if (c["version"] !== undefined) out.clair.version = String(c["version"]);
    const psk = secret(c, "psk", env, bad);
    if (psk !== undefined) out.clair.psk = psk.trim();
    if (c["pskIssuer"] !== undefined) out.clair.pskIssuer = String(c["pskIssuer"]);
    if (c["indexTimeout"] !== undefined) out.clair.indexTimeout = String(c["indexTimeout"]);
  }
  if (o["registries"] !== undefined) {
    if (!Array.isArray(o["registries"])) throw bad("registries must be a list");
    o["registries"].forEach((rv, i) => {
      const r = asObj(rv, () => bad(`registries[${i}] must be a mapping`));
      const w = `registries[${i}]`;
      if (typeof r["url"] !== "string") throw bad(`${w}.url is required`);
      const url = r["url"].replace(/\/+$/, "");
      const domain = (typeof r["domain"] === "string" ? r["domain"] : domainForUrl(url)).toLowerCase();
      const derr = checkDomain(domain);
      if (derr) throw bad(`${w}.domain: ${derr}`);
      if (!Array.isArray(r["repositories"]) || r["repositories"].length === 0) throw bad(`${w}.repositories must be a non-empty list`);
      const reg: RegistryConfig = {
        url,
        domain,
        repositories: r["repositories"].map((x) => normalizeRepository(String(x), domain)),
        platforms: platforms(r["platforms"] ?? ["linux/amd64"], `${where} ${w}`),
        insecure: r["insecure"] === true,
        legacyLayout: typeof r["legacyLayout"] === "boolean" ? r["legacyLayout"] : i === 0,
      };
      const user = secret(r, "username", env, bad);
      const pass = secret(r, "password", env, bad);
      // Both empty (e.g. a registry Secret created with empty values) means anonymous access.
      const username = (user ?? "").trim();
      const password = (pass ?? "").replace(/\r?\n$/, "");
      if (username !== "" || password !== "") reg.credentials = { username, password };
      if (typeof r["caFile"] === "string") reg.ca = readFileOr(r["caFile"], `${w}.caFile`);
      if (typeof r["scannerUrl"] === "string") reg.scannerUrl = r["scannerUrl"].replace(/\/+$/, "");
      out.registries.push(reg);
    });
  }
  return out;
}

function asObj(v: unknown, err: () => Error): Record<string, unknown> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw err();
  return v as Record<string, unknown>;
}

/** `key`, `keyEnv` (name of an environment variable) or `keyFile` (path). */
function secret(o: Record<string, unknown>, key: string, env: Record<string, string | undefined>, bad: (m: string) => Error): string | undefined {
  if (typeof o[key] === "string") return o[key] as string;
  const e = o[`${key}Env`];
  if (typeof e === "string") {
    const v = env[e];
    if (v === undefined) throw bad(`environment variable ${e} (for ${key}) is not set`);
    return v;
  }
  const f = o[`${key}File`];
  if (typeof f === "string") return readFileOr(f, `${key}File`);
  return undefined;
}
