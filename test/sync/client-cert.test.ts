// The Data API with client certificates (--opa-cert-file / --opa-key-file): the sync against the
// real policy server with --authentication=tls, and rotation of the certificate files checked on a
// loopback HTTPS server that records the CN of each connection's client certificate.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { Runtime } from "../../src/runtime/runtime.js";
import { createServer, type ServerHandle } from "../../src/server/index.js";
import { parseSyncFlags, SYNC_HELP } from "../../src/sync/options.js";
import { syncOnce } from "../../src/sync/sync.js";
import { DataApi } from "../../src/sync/dataapi.js";
import { NodeTransport } from "../../src/sync/http.js";
import { MemoryLogger, SyncError } from "../../src/sync/log.js";
import { noProgress } from "../../src/sync/progress.js";
import { Lines, json, makeCA, makeCert, makeClientCert, request, tempDir } from "../fixtures/server/client.js";
import { Scripted } from "./servers.js";
import { FAST_RETRY } from "./common.js";

const dir = tempDir("ie-sync-mtls-");
const serverCert = makeCert(dir, "server");
const ca = makeCA(dir, "clients-ca");
const otherCA = makeCA(dir, "other-ca");
const sync1 = makeClientCert(dir, "sync-1", ca);
const sync2 = makeClientCert(dir, "sync-2", ca);
const sync3 = makeClientCert(dir, "sync-3", ca);
const stranger = makeClientCert(dir, "stranger", otherCA);
/** The files the sync reads; the rotation test rewrites them. */
const certFile = join(dir, "tls.crt");
const keyFile = join(dir, "tls.key");

function install(pair: { cert: string; key: string }): void {
  writeFileSync(certFile, pair.cert);
  writeFileSync(keyFile, pair.key);
}

const REPO = "mtls/app";
const MANIFEST = Buffer.from(
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: `sha256:${"c".repeat(64)}`, size: 10 },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: `sha256:${"1".repeat(64)}`, size: 100 }],
  }),
);
const MANIFEST_DIGEST = `sha256:${createHash("sha256").update(MANIFEST).digest("hex")}`;

let registry: Scripted;
let runtime: Runtime;
let server: ServerHandle;

before(async () => {
  registry = await Scripted.start();
  registry.handler = (q) => {
    const path = new URL(q.path, "http://x").pathname;
    if (path === `/v2/${REPO}/tags/list`) return { status: 200, body: JSON.stringify({ name: REPO, tags: ["1"] }) };
    if (path === `/v2/${REPO}/manifests/1` || path === `/v2/${REPO}/manifests/${MANIFEST_DIGEST}`) {
      return { status: 200, headers: { "content-type": "application/vnd.oci.image.manifest.v1+json", "docker-content-digest": MANIFEST_DIGEST }, body: MANIFEST };
    }
    return { status: 404, body: "{}" };
  };
  runtime = await Runtime.start({ paths: [tempDir("ie-sync-mtls-policies-")] });
  server = await createServer(runtime, {
    addr: "127.0.0.1:0",
    tlsCertFile: serverCert.certFile,
    tlsPrivateKeyFile: serverCert.keyFile,
    authentication: "tls",
    tlsCaCertFile: ca.certFile,
    maxBodyBytes: 1 << 20,
    evalTimeoutMs: 5000,
    decisionLog: "off",
    logSink: new Lines(),
    fileCheckIntervalMs: 60_000,
  });
});

after(async () => {
  await server.close();
  runtime.close();
  await registry.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Options as `image-enforcer sync` builds them from these flags, made fast for a test. */
function options(...flags: string[]) {
  const o = parseSyncFlags(["--repository", REPO, "--registry-url", registry.url, "--clair-url", "", "--opa-url", `${server.url.replace("localhost", "127.0.0.1")}/v1`, "--opa-ca-file", serverCert.certFile, "--once", ...flags], {});
  return { ...o, retry: FAST_RETRY, timeoutMs: 5000, logger: new MemoryLogger(), progress: noProgress };
}

/** The synced image as the policy server holds it (read with a client certificate). */
async function syncedImage(): Promise<unknown> {
  const host = new URL(registry.url).host;
  const r = await request(`${server.url}/v1/data/docker/images`, { ca: [serverCert.cert], agent: false, ...sync1 });
  assert.equal(r.status, 200, r.text);
  return (json(r).result as Record<string, unknown> | undefined)?.[`${host}/${REPO}:1`];
}

test("sync against the policy server with --authentication=tls: refused (401) without a client certificate, written with one", async () => {
  let r = await syncOnce(options());
  assert.ok(r.errors.length > 0);
  for (const e of r.errors) {
    assert.equal(e.component, "data-api");
    assert.match(e.message, /HTTP 401: unauthorized: no client certificate: this server requires one signed by a CA of its --tls-ca-cert-file/);
    assert.match(e.hint, /--opa-cert-file and --opa-key-file/);
  }
  assert.equal(await syncedImage(), undefined);

  // A certificate from another CA is refused as well.
  install(stranger);
  r = await syncOnce(options("--opa-cert-file", certFile, "--opa-key-file", keyFile));
  assert.ok(r.errors.length > 0);
  assert.match(r.errors[0]!.message, /HTTP 401: unauthorized: client certificate not accepted: it is not signed by a CA of --tls-ca-cert-file/);
  assert.equal(await syncedImage(), undefined);

  install(sync1);
  r = await syncOnce(options("--opa-cert-file", certFile, "--opa-key-file", keyFile));
  assert.deepEqual(r.errors, []);
  const image = (await syncedImage()) as { digest?: string } | undefined;
  assert.equal(image?.digest, MANIFEST_DIGEST);
});

test("rotated client certificate files are picked up by the next request; a half-written pair keeps the previous one", async () => {
  // Asks for a client certificate but accepts any: records the CN each connection presented.
  const seen: string[] = [];
  const peer = https.createServer({ cert: serverCert.cert, key: serverCert.key, requestCert: true, rejectUnauthorized: false }, (req, res) => {
    const cert = (req.socket as TLSSocket).getPeerCertificate();
    seen.push(String(cert.subject?.CN ?? "none"));
    req.resume();
    req.on("end", () => {
      res.writeHead(204);
      res.end();
    });
  });
  await new Promise<void>((r) => peer.listen(0, "127.0.0.1", r));
  const url = `https://127.0.0.1:${(peer.address() as AddressInfo).port}/v1`;
  const logger = new MemoryLogger();
  const transport = new NodeTransport();
  const api = new DataApi({ url, transport, retry: FAST_RETRY, timeoutMs: 5000, logger, tls: { caFile: serverCert.certFile, certFile, keyFile } });
  try {
    install(sync1);
    await api.put(["data", "x"], 1);
    await api.put(["data", "x"], 2);
    assert.deepEqual(seen, ["sync-1", "sync-1"]);

    // cert-manager renews: both files replaced.
    install(sync2);
    await api.put(["data", "x"], 3);
    assert.equal(seen.at(-1), "sync-2");

    // Half written: the new certificate with the old key. Still presenting sync-2; reported once.
    writeFileSync(certFile, sync3.cert);
    await api.put(["data", "x"], 4);
    await api.put(["data", "x"], 5);
    assert.deepEqual(seen.slice(-2), ["sync-2", "sync-2"]);
    const warnings = logger.records.filter((r) => r.level === "warn");
    assert.equal(warnings.length, 1, JSON.stringify(logger.records));
    assert.match(warnings[0]!.msg, /do not hold a usable client certificate: the key is not the certificate's private key; still presenting the previous client certificate/);

    // The key arrives: the new pair is used.
    writeFileSync(keyFile, sync3.key);
    await api.put(["data", "x"], 6);
    assert.equal(seen.at(-1), "sync-3");

    // A key cut short by a rotation in progress is reported the same way.
    writeFileSync(keyFile, sync3.key.slice(0, 60));
    await api.put(["data", "x"], 7);
    assert.equal(seen.at(-1), "sync-3");
    assert.match(logger.records.at(-1)!.msg, /the key file holds no unencrypted PEM private key/);
  } finally {
    api.close();
    transport.close();
    peer.closeAllConnections();
    await new Promise<void>((r) => peer.close(() => r()));
  }

  // Without a usable pair in use yet, the request fails (a fault of this cycle) and sends nothing.
  const fresh = new DataApi({ url, transport, retry: FAST_RETRY, timeoutMs: 5000, tls: { caFile: serverCert.certFile, certFile, keyFile } });
  try {
    await assert.rejects(fresh.put(["data", "x"], 8), (e: unknown) => e instanceof SyncError && e.component === "data-api" && /--opa-cert-file .* do not hold a usable client certificate/.test(e.message));
  } finally {
    fresh.close();
  }
});

test("--opa-cert-file / --opa-key-file (opa.certFile / opa.keyFile): both or neither, checked at start", () => {
  install(sync1);
  const overHttps = ["--repository", "a/b", "--opa-url", "https://127.0.0.1:8181/v1"];
  const o = parseSyncFlags([...overHttps, "--opa-cert-file", certFile, "--opa-key-file", keyFile], {});
  assert.deepEqual(o.opaTls, { insecure: false, certFile, keyFile });

  const refused = (argv: string[], message: RegExp): void => {
    assert.throws(() => parseSyncFlags(argv, {}), (e: unknown) => e instanceof SyncError && e.component === "config" && message.test(e.message), message.source);
  };
  refused([...overHttps, "--opa-cert-file", certFile], /^--opa-cert-file needs --opa-key-file as well$/);
  refused([...overHttps, "--opa-key-file", keyFile], /^--opa-key-file needs --opa-cert-file as well$/);
  refused([...overHttps, "--opa-cert-file", join(dir, "missing.crt"), "--opa-key-file", keyFile], /^cannot read --opa-cert-file .*missing\.crt/);
  refused([...overHttps, "--opa-cert-file", certFile, "--opa-key-file", join(dir, "missing.key")], /^cannot read --opa-key-file .*missing\.key/);
  refused([...overHttps, "--opa-cert-file", certFile, "--opa-key-file", join(dir, "sync-2.key")], /^--opa-cert-file .* and --opa-key-file .*: the key is not the certificate's private key$/);
  refused([...overHttps, "--opa-cert-file", keyFile, "--opa-key-file", keyFile], /the certificate file holds no PEM certificate/);
  refused([...overHttps, "--opa-cert-file", certFile, "--opa-key-file", certFile], /the key file holds no unencrypted PEM private key/);
  refused(["--repository", "a/b", "--opa-cert-file", certFile, "--opa-key-file", keyFile], /need an https --opa-url/);

  const cfg = join(dir, "sync.yaml");
  const registries = "registries: [{url: 'https://r.example', repositories: [a/b]}]\n";
  writeFileSync(cfg, `opa: {url: 'https://127.0.0.1:8181/v1', caFile: /c, certFile: ${certFile}, keyFile: ${keyFile}}\n${registries}`);
  assert.deepEqual(parseSyncFlags(["--config", cfg], {}).opaTls, { caFile: "/c", insecure: false, certFile, keyFile });
  assert.deepEqual(parseSyncFlags(["--config", cfg, "--opa-cert-file", join(dir, "sync-2.crt"), "--opa-key-file", join(dir, "sync-2.key")], {}).opaTls?.certFile, join(dir, "sync-2.crt"), "flags win over the file");
  writeFileSync(cfg, `opa: {url: 'https://127.0.0.1:8181/v1', certFile: ${certFile}}\n${registries}`);
  refused(["--config", cfg], new RegExp(`^${cfg}: opa.certFile needs ${cfg}: opa.keyFile as well$`));
  writeFileSync(cfg, `opa: {url: 'https://127.0.0.1:8181/v1', certFile: ${certFile}, keyFile: ${join(dir, "stranger.key")}}\n${registries}`);
  refused(["--config", cfg], /opa\.certFile .* and .*opa\.keyFile .*: the key is not the certificate's private key/);
  writeFileSync(cfg, `opa: {url: 'https://127.0.0.1:8181/v1', certFile: 5}\n${registries}`);
  refused(["--config", cfg], /opa\.certFile must be a string/);
  for (const f of ["--opa-cert-file FILE", "--opa-key-file FILE", "certFile: ..., keyFile: ..."]) assert.ok(SYNC_HELP.includes(f), f);
});
