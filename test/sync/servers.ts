// Loopback test servers for the sync tests:
//  - DataApiRecorder: an OPA-like v1 Data API (PUT/DELETE/GET /v1/data/...) that stores documents.
//  - ClairV2Replay: Clair cannot run here, so this server answers Clair v2's documented API with
//    exactly its paths, status codes and bodies (protocols.md §5.1), replaying the responses
//    recorded from a real Clair v2 in ../shared/seed/data/clair/clair.json (copied to
//    test/fixtures/sync/clair-v2-recorded.json so the tests are self-contained).
//  - ClairV4Fake: Clair v4's documented indexer/matcher API (protocols.md §5.2) with the documented
//    report shapes, IndexReport states and status codes (201 for the vulnerability report GET).
//  - Scripted: answers whatever its handler says, byte for byte (crafted, stalled, dropped answers).
//  - TokenIssuer: a registry token service (distribution's token auth spec) signing ES256 JWTs
//    with an x5c chain the real docker-registry verifies against its rootcertbundle.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { SignJWT, jwtVerify } from "jose";

export interface Served {
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

async function listen(handler: (req: http.IncomingMessage, body: Buffer, res: http.ServerResponse) => void | Promise<void>): Promise<Served> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      Promise.resolve(handler(req, Buffer.concat(chunks), res)).catch((e) => {
        res.writeHead(500);
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown, ct = "application/json"): void {
  const b = JSON.stringify(body);
  res.writeHead(status, { "content-type": ct, "content-length": Buffer.byteLength(b) });
  res.end(b);
}

// ---------------- a loopback server replaying crafted bytes ----------------
//
// Real servers cannot be made to send broken bytes or redirects: this one answers whatever its
// handler returns, byte for byte, including stalled and dropped answers (fuzz and limit tests).

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** normal; stall (never answers); half (headers and half the body, then silence); drop (half, then the socket is destroyed) */
  delivery?: "normal" | "stall" | "half" | "drop";
}

export class Scripted {
  requests: Array<{ method: string; path: string; auth?: string }> = [];
  handler: (req: { method: string; path: string; auth?: string }) => Reply = () => ({ status: 404, body: "{}" });
  private server!: http.Server;
  url = "";

  static async start(): Promise<Scripted> {
    const s = new Scripted();
    s.server = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const r = { method: req.method ?? "GET", path: req.url ?? "/", auth: req.headers["authorization"] };
        s.requests.push(r);
        const reply = s.handler(r);
        const body = Buffer.from(reply.body ?? "");
        const headers: Record<string, string> = { "content-type": "application/json", "content-length": String(body.length), ...(reply.headers ?? {}) };
        const d = reply.delivery ?? "normal";
        if (d === "stall") return;
        res.writeHead(reply.status, headers);
        if (d === "half" || d === "drop") {
          res.write(body.subarray(0, body.length >> 1), () => {
            if (d === "drop") res.socket?.destroy();
          });
          return;
        }
        res.end(r.method === "HEAD" ? undefined : body);
      });
    });
    await new Promise<void>((r) => s.server.listen(0, "127.0.0.1", () => r()));
    s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}`;
    return s;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

// ---------------- Data API ----------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export class DataApiRecorder {
  data: { [k: string]: Json } = {};
  requests: Array<{ method: string; path: string[] }> = [];
  /** "ok", or a failure mode for fault tests. */
  mode: "ok" | "refuse-writes" | "down-500" = "ok";
  served!: Served;

  static async start(): Promise<DataApiRecorder> {
    const d = new DataApiRecorder();
    d.served = await listen((req, body, res) => d.handle(req, body, res));
    return d;
  }

  get url(): string {
    return `${this.served.url}/v1`;
  }

  count(method: string): number {
    return this.requests.filter((r) => r.method === method).length;
  }

  /** Read a document by path segments (as the policy would see it under data). */
  get(path: string[]): Json | undefined {
    let cur: Json | undefined = this.data;
    for (const p of path) {
      if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
      cur = (cur as { [k: string]: Json })[p];
    }
    return cur;
  }

  private handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const u = new URL(req.url ?? "/", "http://x");
    // Like OPA: split the raw path on "/" and unescape each segment.
    const segs = u.pathname.split("/").filter(Boolean).map((s) => decodeURIComponent(s));
    if (segs[0] !== "v1" || segs[1] !== "data") return json(res, 404, { code: "not_found", message: "not found" });
    const path = segs.slice(2);
    const method = req.method ?? "GET";
    this.requests.push({ method, path });
    if (this.mode === "down-500") return json(res, 500, { code: "internal_error", message: "storage unavailable" });
    if (method === "GET") {
      const v = this.get(path);
      return json(res, 200, v === undefined ? {} : { result: v });
    }
    if (this.mode === "refuse-writes") return json(res, 500, { code: "internal_error", message: "write refused (test)" });
    if (method === "PUT") {
      let v: Json;
      try {
        v = JSON.parse(body.toString("utf8")) as Json;
      } catch {
        return json(res, 400, { code: "invalid_parameter", message: "body must be JSON" });
      }
      if (path.length === 0) {
        this.data = v as { [k: string]: Json };
      } else {
        let cur: { [k: string]: Json } = this.data;
        for (const p of path.slice(0, -1)) {
          const next = cur[p];
          if (next === undefined) cur[p] = {};
          else if (next === null || typeof next !== "object" || Array.isArray(next)) return json(res, 404, { code: "resource_conflict", message: "write conflict" });
          cur = cur[p] as { [k: string]: Json };
        }
        cur[path[path.length - 1]!] = v;
      }
      res.writeHead(204);
      return void res.end();
    }
    if (method === "DELETE") {
      const parent = this.get(path.slice(0, -1));
      const last = path[path.length - 1]!;
      if (!parent || typeof parent !== "object" || Array.isArray(parent) || !(last in parent)) {
        return json(res, 404, { code: "resource_not_found", message: `storage_not_found_error: ${path.join("/")}: document missing` });
      }
      delete (parent as { [k: string]: Json })[last];
      res.writeHead(204);
      return void res.end();
    }
    json(res, 405, { code: "method_not_allowed", message: "method not allowed" });
  }
}

// ---------------- Clair v2 ----------------

/** The responses recorded from a real Clair v2 (copy of the seed's data/clair/clair.json). */
function recordedClairPath(): string {
  // The compiled test runs from dist/ (or a helper's build dir): walk up to the source tree.
  let dir = new URL(".", import.meta.url).pathname;
  while (dir !== "/" && !existsSync(join(dir, "test/fixtures/sync/clair-v2-recorded.json"))) dir = join(dir, "..");
  return join(dir, "test/fixtures/sync/clair-v2-recorded.json");
}

export function loadRecordedClair(path = recordedClairPath()): Record<string, { Layer: Record<string, unknown> }> {
  return (JSON.parse(readFileSync(path, "utf8")) as { layers: Record<string, { Layer: Record<string, unknown> }> }).layers;
}

export class ClairV2Replay {
  recorded = loadRecordedClair();
  /** Our test layer digest → the recorded layer whose content it stands for. */
  aliases = new Map<string, string>();
  indexed = new Map<string, { Name: string; ParentName?: string; Path: string; Headers?: Record<string, string> }>();
  posts: Array<{ Name: string; ParentName?: string; Path: string; Headers?: Record<string, string> }> = [];
  gets: string[] = [];
  mode: "ok" | "500" | "garbage" | "html-error" = "ok";
  served!: Served;

  static async start(): Promise<ClairV2Replay> {
    const c = new ClairV2Replay();
    c.served = await listen((req, body, res) => c.handle(req, body, res));
    return c;
  }
  get url(): string {
    return `${this.served.url}/v1`;
  }

  private err(res: http.ServerResponse, status: number, message: string): void {
    // Clair v2 error envelope, JSON with charset, Server: clair.
    const b = JSON.stringify({ Error: { Message: message } });
    res.writeHead(status, { "content-type": "application/json;charset=utf-8", server: "clair" });
    res.end(b);
  }

  private handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): void {
    const u = new URL(req.url ?? "/", "http://x");
    if (this.mode === "500") return this.err(res, 500, "database unavailable");
    if (this.mode === "garbage") {
      res.writeHead(200, { "content-type": "application/json;charset=utf-8" });
      return void res.end('{"Layer": {"Name": ');
    }
    if (this.mode === "html-error") {
      res.writeHead(502, { "content-type": "text/html" });
      return void res.end("<html>bad gateway</html>");
    }
    if (req.method === "POST" && u.pathname === "/v1/layers") {
      let doc: { Layer?: { Name?: unknown; Path?: unknown; ParentName?: unknown; Format?: unknown; Headers?: unknown } };
      try {
        doc = JSON.parse(body.toString("utf8"));
      } catch {
        return this.err(res, 400, "could not decode request body");
      }
      const L = doc.Layer;
      if (!L || typeof L.Name !== "string" || typeof L.Path !== "string" || typeof L.Format !== "string") return this.err(res, 400, "failed to extract layer");
      if (L.Format !== "Docker") return this.err(res, 422, "worker: imageFormat is unsupported");
      if (typeof L.ParentName === "string" && L.ParentName !== "" && !this.indexed.has(L.ParentName)) {
        return this.err(res, 400, "worker: parent layer is unknown, it must be processed first");
      }
      const rec = { Name: L.Name, Path: L.Path, ParentName: typeof L.ParentName === "string" ? L.ParentName : undefined, Headers: L.Headers as Record<string, string> | undefined };
      this.posts.push(rec);
      this.indexed.set(L.Name, rec);
      const out: Record<string, unknown> = { Name: L.Name, Path: L.Path, Format: L.Format, IndexedByVersion: 3 };
      if (rec.ParentName) out["ParentName"] = rec.ParentName;
      if (L.Headers) out["Headers"] = L.Headers;
      return json(res, 201, { Layer: out }, "application/json;charset=utf-8");
    }
    const m = /^\/v1\/layers\/(.+)$/.exec(u.pathname);
    if (req.method === "GET" && m) {
      const name = decodeURIComponent(m[1]!);
      this.gets.push(name);
      const idx = this.indexed.get(name);
      if (!idx) return this.err(res, 404, "the resource cannot be found");
      const recordedName = this.aliases.get(name) ?? name;
      const rec = this.recorded[recordedName];
      const withFeatures = u.searchParams.has("features") || u.searchParams.has("vulnerabilities");
      let layer: Record<string, unknown>;
      if (rec) {
        layer = { ...rec.Layer, Name: name };
        if (!withFeatures) delete layer["Features"];
      } else {
        layer = { Name: name, IndexedByVersion: 3 };
      }
      if (idx.ParentName) layer["ParentName"] = idx.ParentName;
      return json(res, 200, { Layer: layer }, "application/json;charset=utf-8");
    }
    this.err(res, 404, "the resource cannot be found");
  }
}

// ---------------- Clair v4 ----------------

export interface V4Vuln {
  package: string;
  version: string;
  vuln: string;
  severity: "Unknown" | "Negligible" | "Low" | "Medium" | "High" | "Critical";
  fixed?: string;
}

export class ClairV4Fake {
  /** layer digest → packages introduced there (with optional vulnerabilities). */
  packagesByLayer = new Map<string, Array<{ name: string; version: string; vulns?: V4Vuln[] }>>();
  manifests = new Map<string, { layers: Array<{ hash: string; uri: string; headers?: Record<string, string[]>; media_type?: string }>; polls: number }>();
  indexPosts: string[] = [];
  statePolls = 0;
  reportGets = 0;
  /** Polls before IndexFinished. */
  pollsNeeded = 1;
  psk: Buffer | null = null;
  authFailures = 0;
  mode: "ok" | "500" | "garbage" = "ok";
  served!: Served;

  static async start(): Promise<ClairV4Fake> {
    const c = new ClairV4Fake();
    c.served = await listen((req, body, res) => c.handle(req, body, res));
    return c;
  }
  get url(): string {
    return this.served.url;
  }

  private err(res: http.ServerResponse, status: number, code: string, message: string): void {
    json(res, status, { code, message }, "application/vnd.clair.error.v1+json");
  }

  private indexReport(hash: string, state: string): Record<string, unknown> {
    return { manifest_hash: hash, state, packages: {}, distributions: {}, repository: {}, environments: {}, success: state === "IndexFinished", err: "" };
  }

  private async handle(req: http.IncomingMessage, body: Buffer, res: http.ServerResponse): Promise<void> {
    if (this.psk) {
      const a = req.headers["authorization"] ?? "";
      try {
        if (!a.startsWith("Bearer ")) throw new Error("no token");
        await jwtVerify(a.slice(7), new Uint8Array(this.psk), { algorithms: ["HS256"], issuer: ["image-enforcer", "quay"] });
      } catch {
        this.authFailures++;
        return this.err(res, 401, "unauthorized", "invalid or missing PSK token");
      }
    }
    if (this.mode === "500") return this.err(res, 500, "internal-error", "database unavailable");
    if (this.mode === "garbage") {
      res.writeHead(201, { "content-type": "application/vnd.clair.index_report.v1+json" });
      return void res.end("{{{not json");
    }
    const u = new URL(req.url ?? "/", "http://x");
    if (req.method === "POST" && u.pathname === "/indexer/api/v1/index_report") {
      let m: { hash?: unknown; layers?: unknown };
      try {
        m = JSON.parse(body.toString("utf8"));
      } catch {
        return this.err(res, 400, "bad-request", "failed to deserialize manifest");
      }
      if (typeof m.hash !== "string" || !/^sha256:[a-f0-9]{64}$/.test(m.hash) || !Array.isArray(m.layers)) return this.err(res, 400, "bad-request", "invalid manifest");
      for (const l of m.layers as Array<Record<string, unknown>>) {
        if (typeof l["hash"] !== "string" || typeof l["uri"] !== "string") return this.err(res, 400, "bad-request", "layer needs hash and uri");
        const h = l["headers"];
        if (h !== undefined && (typeof h !== "object" || !Object.values(h as object).every(Array.isArray))) return this.err(res, 400, "bad-request", "headers values must be arrays");
        if (l["media_type"] !== undefined && !/^application\/vnd\.oci\.image\.layer\.v1\.tar(\+gzip|\+zstd)?$/.test(String(l["media_type"]))) {
          return this.err(res, 400, "bad-request", "unsupported media_type");
        }
      }
      this.indexPosts.push(m.hash);
      const prev = this.manifests.get(m.hash);
      this.manifests.set(m.hash, { layers: m.layers as never, polls: prev?.polls ?? 0 });
      const done = (prev?.polls ?? 0) >= this.pollsNeeded;
      res.setHeader("location", `/indexer/api/v1/index_report/${m.hash}`);
      return json(res, 201, this.indexReport(m.hash, done ? "IndexFinished" : "CheckManifest"), "application/vnd.clair.index_report.v1+json");
    }
    let mm = /^\/indexer\/api\/v1\/index_report\/(sha256:[a-f0-9]{64})$/.exec(u.pathname);
    if (req.method === "GET" && mm) {
      this.statePolls++;
      const m = this.manifests.get(mm[1]!);
      if (!m) return this.err(res, 404, "not-found", "index report not found");
      m.polls++;
      return json(res, 200, this.indexReport(mm[1]!, m.polls >= this.pollsNeeded ? "IndexFinished" : "ScanLayers"), "application/vnd.clair.index_report.v1+json");
    }
    mm = /^\/matcher\/api\/v1\/vulnerability_report\/(sha256:[a-f0-9]{64})$/.exec(u.pathname);
    if (req.method === "GET" && mm) {
      this.reportGets++;
      const m = this.manifests.get(mm[1]!);
      if (!m || m.polls < this.pollsNeeded) return this.err(res, 404, "not-found", "manifest not indexed");
      return json(res, 201, this.vulnReport(mm[1]!, m.layers.map((l) => l.hash)), "application/vnd.clair.vulnerability_report.v1+json");
    }
    this.err(res, 404, "not-found", "no such endpoint");
  }

  private vulnReport(hash: string, layers: string[]): Record<string, unknown> {
    const packages: Record<string, unknown> = {};
    const environments: Record<string, unknown> = {};
    const vulnerabilities: Record<string, unknown> = {};
    const package_vulnerabilities: Record<string, string[]> = {};
    let pid = 0;
    for (const layer of layers) {
      for (const p of this.packagesByLayer.get(layer) ?? []) {
        const id = String(++pid);
        packages[id] = { id, name: p.name, version: p.version, kind: "binary", source: { id: "", name: p.name, version: p.version, kind: "source" }, normalized_version: "", arch: "amd64" };
        environments[id] = [{ package_db: "var/lib/dpkg/status", introduced_in: layer, distribution_id: "1", repository_ids: [] }];
        for (const v of p.vulns ?? []) {
          const vid = `v${Object.keys(vulnerabilities).length + 1}`;
          vulnerabilities[vid] = {
            id: vid,
            updater: "debian/updater/bookworm",
            name: v.vuln,
            description: `${v.vuln} in ${p.name}`,
            issued: "2024-01-01T00:00:00Z",
            links: `https://security-tracker.debian.org/tracker/${v.vuln} https://nvd.nist.gov/vuln/detail/${v.vuln}`,
            severity: v.severity.toLowerCase(),
            normalized_severity: v.severity,
            package: { id: "", name: p.name, version: "", kind: "binary" },
            dist: { id: "1", did: "debian", name: "Debian GNU/Linux", version: "12 (bookworm)", version_id: "12" },
            repo: { id: "", name: "" },
            fixed_in_version: v.fixed ?? "",
            range: {},
            arch_op: "",
          };
          (package_vulnerabilities[id] ??= []).push(vid);
        }
      }
    }
    return {
      manifest_hash: hash,
      packages,
      distributions: { "1": { id: "1", did: "debian", name: "Debian GNU/Linux", version: "12 (bookworm)", version_code_name: "bookworm", version_id: "12", arch: "", cpe: "", pretty_name: "Debian GNU/Linux 12 (bookworm)" } },
      repository: {},
      environments,
      vulnerabilities,
      package_vulnerabilities,
      enrichments: {},
    };
  }
}

// ---------------- token issuer ----------------

export class TokenIssuer {
  served!: Served;
  requests: Array<{ scope: string[]; service: string | null; account: string | null; user: string | null }> = [];
  certFile = "";
  private key!: ReturnType<typeof createPrivateKey>;
  private x5c = "";
  /** When set, only these credentials get tokens (others 401); anonymous gets pull-only. */
  users = new Map<string, string>();
  anonymousPull = true;
  service = "test-registry";
  issuer = "test-issuer";
  expiresIn = 300;

  static async start(dir: string): Promise<TokenIssuer> {
    const t = new TokenIssuer();
    const keyFile = join(dir, "token.key");
    t.certFile = join(dir, "token.crt");
    const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyFile, "-out", t.certFile, "-days", "2", "-subj", "/CN=test-token-issuer"], { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
    t.key = createPrivateKey(readFileSync(keyFile));
    t.x5c = new X509Certificate(readFileSync(t.certFile)).raw.toString("base64");
    writeFileSync(join(dir, "token.x5c"), t.x5c);
    t.served = await listen((req, _body, res) => t.handle(req, res));
    return t;
  }

  get realm(): string {
    return `${this.served.url}/token`;
  }

  /** Get a token directly (for pushing test images). */
  async tokenFor(scopes: string[], user: string | null): Promise<string> {
    const access = scopes.map((s) => {
      const [type, ...rest] = s.split(":");
      const actions = rest.pop()!.split(",");
      return { type, name: rest.join(":"), actions: actions.includes("*") ? ["pull", "push", "delete", "*"] : actions };
    });
    return new SignJWT({ access })
      .setProtectedHeader({ alg: "ES256", typ: "JWT", x5c: [this.x5c] })
      .setIssuer(this.issuer)
      .setSubject(user ?? "")
      .setAudience(this.service)
      .setIssuedAt()
      .setNotBefore(Math.floor(Date.now() / 1000) - 5)
      .setExpirationTime(Math.floor(Date.now() / 1000) + this.expiresIn)
      .setJti(String(Math.random()))
      .sign(this.key);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? "/", "http://x");
    if (u.pathname !== "/token") return json(res, 404, { error: "not found" });
    let user: string | null = null;
    const a = req.headers["authorization"];
    if (a?.startsWith("Basic ")) {
      const [n, p] = Buffer.from(a.slice(6), "base64").toString("utf8").split(":");
      if (this.users.get(n!) !== p) return json(res, 401, { errors: [{ code: "UNAUTHORIZED", message: "bad credentials" }] });
      user = n!;
    }
    const scopes = u.searchParams.getAll("scope");
    this.requests.push({ scope: scopes, service: u.searchParams.get("service"), account: u.searchParams.get("account"), user });
    // Anonymous users get no access (private registry) unless anonymousPull.
    const granted = user || this.anonymousPull ? scopes.map((s) => s.replace(/:[^:]*$/, ":pull")) : [];
    const token = await this.tokenFor(user ? scopes : granted, user);
    json(res, 200, { token, access_token: token, expires_in: this.expiresIn, issued_at: new Date().toISOString() });
  }
}

// ---------------- counting proxy ----------------

/**
 * Forwards every request to `target` unchanged and records it, so tests can count the requests
 * the sync makes to the real registry. When the upstream is down the client connection is reset
 * (as if the registry itself were gone), not answered with a made-up status.
 */
export class CountingProxy {
  requests: Array<{ method: string; path: string }> = [];
  onRequest?: (r: { method: string; path: string }) => void | Promise<void>;
  /** Answer instead of the upstream (fault tests): garbage, wrong digests, ... */
  override?: (r: { method: string; path: string }) => { status: number; headers?: Record<string, string>; body: string } | undefined;
  /** Rewrite an upstream body (keeping its headers, e.g. Docker-Content-Digest). */
  rewriteBody?: (r: { method: string; path: string }, body: Buffer) => Buffer | undefined;
  served!: Served;

  static async start(target: string): Promise<CountingProxy> {
    const p = new CountingProxy();
    const t = new URL(target);
    p.served = await listen(async (req, body, res) => {
      const rec = { method: req.method ?? "GET", path: req.url ?? "/" };
      p.requests.push(rec);
      await p.onRequest?.(rec);
      const o = p.override?.(rec);
      if (o) {
        res.writeHead(o.status, { "content-type": "application/json", ...(o.headers ?? {}) });
        return void res.end(o.body);
      }
      const headers = { ...req.headers, host: t.host };
      const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers, agent: false }, (ur) => {
        const h = { ...ur.headers };
        // Rewrite absolute Location / Link headers back to the proxy.
        for (const k of ["location", "link"]) {
          const v = h[k];
          if (typeof v === "string") h[k] = v.split(target).join(p.url);
        }
        const chunks: Buffer[] = [];
        ur.on("data", (c: Buffer) => chunks.push(c));
        ur.on("end", () => {
          let b: Buffer = Buffer.concat(chunks);
          const nb = p.rewriteBody?.(rec, b);
          if (nb) {
            b = nb;
            h["content-length"] = String(b.length);
          }
          res.writeHead(ur.statusCode ?? 502, h);
          res.end(req.method === "HEAD" ? undefined : b);
        });
      });
      up.on("error", () => res.destroy());
      up.end(body);
    });
    return p;
  }

  get url(): string {
    return this.served.url;
  }

  count(method: string, pathRe: RegExp): number {
    return this.requests.filter((r) => r.method === method && pathRe.test(r.path)).length;
  }
}
