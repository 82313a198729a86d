// Test helper: runs the real Debian `docker-registry` (CNCF distribution 2.8) on a free loopback
// port with a temp storage dir and a generated config, optionally behind htpasswd (basic) auth or
// token auth, and pushes small real images to it through the Registry HTTP API (blob upload
// POST + PUT, manifest PUT) — layers are real gzipped tar files and configs real image configs.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync, rmSync, existsSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

export const REGISTRY_BIN = "/usr/bin/docker-registry";
export const registryAvailable = existsSync(REGISTRY_BIN);

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export function rawRequest(method: string, url: string, headers: Record<string, string> = {}, body?: Buffer | string, insecureTls = false): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { ...headers };
    if (body !== undefined) h["content-length"] = String(Buffer.byteLength(body));
    const mod = url.startsWith("https:") ? https : http;
    const r = mod.request(url, { method, headers: h, agent: false, rejectUnauthorized: !insecureTls }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    r.on("error", reject);
    if (body !== undefined) r.write(body);
    r.end();
  });
}

export type RegistryAuthConfig =
  | { kind: "none" }
  | { kind: "htpasswd"; file: string }
  | { kind: "token"; realm: string; service: string; issuer: string; rootCertBundle: string };

export interface RunningRegistry {
  url: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function startRegistry(auth: RegistryAuthConfig = { kind: "none" }, tls?: { cert: string; key: string }): Promise<RunningRegistry> {
  const dir = mkdtempSync(join(tmpdir(), "ie-registry-"));
  const port = await freePort();
  let authYaml = "";
  if (auth.kind === "htpasswd") authYaml = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${auth.file}\n`;
  if (auth.kind === "token") {
    authYaml = `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.rootCertBundle}\n`;
  }
  const config = `version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${join(dir, "data")}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:${port}
  secret: test-secret-not-used-for-anything
${tls ? `  tls:\n    certificate: ${tls.cert}\n    key: ${tls.key}\n` : ""}${authYaml}`;
  const cfgPath = join(dir, "config.yml");
  writeFileSync(cfgPath, config);
  let child: ChildProcess | null = null;
  let stderr = "";
  const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;

  const start = async (): Promise<void> => {
    child = spawn(REGISTRY_BIN, ["serve", cfgPath], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (c: Buffer) => (stderr += c.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const r = await rawRequest("GET", `${url}/v2/`, {}, undefined, tls ? true : false);
        if (r.status === 200 || r.status === 401) return;
      } catch {
        /* not up yet */
      }
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`docker-registry did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill("SIGTERM");
    });
  };
  await start();
  return {
    url,
    port,
    dir,
    stop,
    start,
    cleanup: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** htpasswd file with a bcrypt entry, made by Apache's htpasswd (apache2-utils). */
export function makeHtpasswd(dir: string, user: string, pass: string): string {
  const r = spawnSync("htpasswd", ["-Bbn", user, pass], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
  const file = join(dir, "htpasswd");
  writeFileSync(file, r.stdout);
  return file;
}

export const htpasswdAvailable = spawnSync("htpasswd", ["-h"]).error === undefined;

// ---- building images ----

export function sha256(b: Buffer | string): string {
  return "sha256:" + createHash("sha256").update(b).digest("hex");
}

/** A minimal ustar archive with the given files (regular files only). */
export function tar(files: Record<string, string>): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const data = Buffer.from(content);
    const h = Buffer.alloc(512);
    h.write(name, 0, 100);
    h.write("0000644\0", 100);
    h.write("0000000\0", 108);
    h.write("0000000\0", 116);
    h.write(data.length.toString(8).padStart(11, "0") + "\0", 124);
    h.write("00000000000\0", 136);
    h.write("        ", 148); // checksum placeholder
    h.write("0", 156);
    h.write("ustar\0", 257);
    h.write("00", 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148);
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

export interface Layer {
  blob: Buffer; // gzipped tar
  digest: string;
  diffId: string;
  size: number;
}

export function makeLayer(files: Record<string, string>): Layer {
  const t = tar(files);
  // mtime 0 in gzip header keeps digests stable between runs.
  const blob = gzipSync(t, { level: 9 });
  blob.writeUInt32LE(0, 4);
  return { blob, digest: sha256(blob), diffId: sha256(t), size: blob.length };
}

export type AuthFn = (scope: string) => Promise<Record<string, string>>;
const noAuth: AuthFn = async () => ({});

async function uploadBlob(base: string, repo: string, blob: Buffer, auth: AuthFn): Promise<string> {
  const digest = sha256(blob);
  const h = await auth(`repository:${repo}:pull,push`);
  const head = await rawRequest("HEAD", `${base}/v2/${repo}/blobs/${digest}`, h);
  if (head.status === 200) return digest;
  const start = await rawRequest("POST", `${base}/v2/${repo}/blobs/uploads/`, h);
  if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${start.body.toString()}`);
  const loc = new URL(String(start.headers["location"]), base);
  loc.searchParams.set("digest", digest);
  const put = await rawRequest("PUT", loc.toString(), { ...h, "content-type": "application/octet-stream" }, blob);
  if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${put.body.toString()}`);
  return digest;
}

export async function putManifest(base: string, repo: string, ref: string, mediaType: string, body: string, auth: AuthFn = noAuth): Promise<string> {
  const h = await auth(`repository:${repo}:pull,push`);
  const r = await rawRequest("PUT", `${base}/v2/${repo}/manifests/${ref}`, { ...h, "content-type": mediaType }, body);
  if (r.status !== 201) throw new Error(`manifest PUT ${repo}:${ref}: ${r.status} ${r.body.toString()}`);
  return sha256(body);
}

export interface PushedImage {
  digest: string;
  configDigest: string;
  layers: Layer[];
  manifest: string;
}

export const MT = {
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
};

/** Push one single-platform image (Docker schema 2 or OCI) and tag it (tag may be null: by digest only). */
export async function pushImage(
  base: string,
  repo: string,
  tag: string | null,
  layers: Layer[],
  opts: { oci?: boolean; arch?: string; auth?: AuthFn; label?: string } = {},
): Promise<PushedImage> {
  const auth = opts.auth ?? noAuth;
  for (const l of layers) await uploadBlob(base, repo, l.blob, auth);
  const config = JSON.stringify({
    architecture: opts.arch ?? "amd64",
    os: "linux",
    config: { Labels: { test: opts.label ?? tag ?? "" } },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map(() => ({ created_by: "test" })),
  });
  const configDigest = await uploadBlob(base, repo, Buffer.from(config), auth);
  const oci = opts.oci ?? false;
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: oci ? MT.ociManifest : MT.dockerManifest,
    config: { mediaType: oci ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json", size: Buffer.byteLength(config), digest: configDigest },
    layers: layers.map((l) => ({ mediaType: oci ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.docker.image.rootfs.diff.tar.gzip", size: l.size, digest: l.digest })),
  });
  const digest = sha256(manifest);
  await putManifest(base, repo, tag ?? digest, oci ? MT.ociManifest : MT.dockerManifest, manifest, auth);
  return { digest, configDigest, layers, manifest };
}

/** Push a multi-platform image: one manifest per arch, then an OCI index (or Docker list) under the tag. */
export async function pushIndex(
  base: string,
  repo: string,
  tag: string,
  perArch: Record<string, Layer[]>,
  opts: { docker?: boolean; auth?: AuthFn } = {},
): Promise<{ digest: string; children: Record<string, PushedImage> }> {
  const children: Record<string, PushedImage> = {};
  for (const [arch, layers] of Object.entries(perArch)) {
    children[arch] = await pushImage(base, repo, null, layers, { oci: !opts.docker, arch, auth: opts.auth, label: `${tag}-${arch}` });
  }
  const mt = opts.docker ? MT.dockerList : MT.ociIndex;
  const index = JSON.stringify({
    schemaVersion: 2,
    mediaType: mt,
    manifests: Object.entries(children).map(([arch, c]) => {
      const [a, v] = arch.split("/");
      return {
        mediaType: opts.docker ? MT.dockerManifest : MT.ociManifest,
        size: Buffer.byteLength(c.manifest),
        digest: c.digest,
        platform: v ? { architecture: a, os: "linux", variant: v } : { architecture: a, os: "linux" },
      };
    }),
  });
  const digest = await putManifest(base, repo, tag, mt, index, opts.auth);
  return { digest, children };
}

export async function deleteManifest(base: string, repo: string, digest: string, auth: AuthFn = noAuth): Promise<void> {
  const h = await auth(`repository:${repo}:*`);
  const r = await rawRequest("DELETE", `${base}/v2/${repo}/manifests/${digest}`, h);
  if (r.status !== 202) throw new Error(`manifest DELETE: ${r.status} ${r.body.toString()}`);
}

/** A self-signed certificate for 127.0.0.1 (openssl), used as its own CA. */
export function makeTlsCert(dir: string): { cert: string; key: string } {
  const cert = join(dir, "tls.crt");
  const key = join(dir, "tls.key");
  const r = spawnSync(
    "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert, key };
}
