// Integration: the real docker-registry behind HTTP basic auth (htpasswd, bcrypt) and behind token
// auth with a small token issuer written for the test (distribution's token spec, ES256 + x5c).

import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syncOnce } from "../../src/sync/sync.js";
import { registryAvailable, htpasswdAvailable, startRegistry, makeHtpasswd, makeLayer, pushImage, type RunningRegistry, type AuthFn } from "./registry-helper.js";
import { ClairV2Replay, DataApiRecorder, TokenIssuer } from "./servers.js";
import { registryConfig, syncOptions } from "./common.js";

const USER = "syncer";
const PASS = "s3cr3t-Passw0rd!";

let data: DataApiRecorder;
let clair: ClairV2Replay;

before(async () => {
  data = await DataApiRecorder.start();
  clair = await ClairV2Replay.start();
});
after(async () => {
  await data.served.close();
  await clair.served.close();
});

function assertNoSecrets(records: unknown[]): void {
  const s = JSON.stringify(records);
  assert.equal(s.includes(PASS), false, "password in logs");
  assert.equal(s.includes(Buffer.from(`${USER}:${PASS}`).toString("base64")), false, "basic credentials in logs");
  assert.equal(/Bearer [A-Za-z0-9_-]{20,}/.test(s), false, "bearer token in logs");
}

describe("basic auth (htpasswd)", { skip: !registryAvailable || !htpasswdAvailable ? "docker-registry or htpasswd (apache2-utils) missing" : false }, () => {
  let reg: RunningRegistry;
  let dir: string;
  const basic = "Basic " + Buffer.from(`${USER}:${PASS}`).toString("base64");
  const auth: AuthFn = async () => ({ authorization: basic });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ie-htpasswd-"));
    const file = makeHtpasswd(dir, USER, PASS);
    reg = await startRegistry({ kind: "htpasswd", file });
    await pushImage(reg.url, "private/app", "1", [makeLayer({ p: "1" })], { auth });
  });
  after(async () => {
    await reg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("with credentials: synced, and Clair gets the Basic header to fetch blobs", async () => {
    const o = syncOptions([registryConfig(reg.url, ["private/app"], { credentials: { username: USER, password: PASS } })], data.url, { url: clair.url, version: "v2" });
    const r = await syncOnce(o);
    assert.deepEqual(r.errors, []);
    assert.ok(data.get(["docker", "layers", "private", "app", "1"]));
    const post = clair.posts.at(-1)!;
    assert.equal(post.Headers?.["Authorization"], basic);
    assertNoSecrets(o.logger.records);
  });

  test("without or with wrong credentials: a clear error, nothing written, nothing leaked", async () => {
    for (const credentials of [undefined, { username: USER, password: "wrong-" + PASS }]) {
      const o = syncOptions([registryConfig(reg.url, ["private/app"], { credentials, domain: "other.example:1" })], data.url, null);
      const r = await syncOnce(o);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0]!.message, /401/);
      assert.match(r.errors[0]!.hint, /DOCKER_USER/);
      assert.equal(data.get(["docker", "images", "other.example:1/private/app:1"]), undefined);
      assertNoSecrets(o.logger.records);
    }
  });
});

describe("token auth", { skip: registryAvailable ? false : "docker-registry missing" }, () => {
  let reg: RunningRegistry;
  let issuer: TokenIssuer;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "ie-token-"));
    issuer = await TokenIssuer.start(dir);
    issuer.users.set(USER, PASS);
    reg = await startRegistry({ kind: "token", realm: issuer.realm, service: issuer.service, issuer: issuer.issuer, rootCertBundle: issuer.certFile });
    const auth: AuthFn = async (scope) => ({ authorization: `Bearer ${await issuer.tokenFor([scope], USER)}` });
    for (const repo of ["corp/one", "corp/two"]) {
      await pushImage(reg.url, repo, "a", [makeLayer({ r: repo })], { auth });
      await pushImage(reg.url, repo, "b", [makeLayer({ r: repo + "b" })], { auth });
    }
  });
  after(async () => {
    await reg.cleanup();
    await issuer.served.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("credentialed token flow: challenge parsed, token cached per scope, Bearer sent to Clair", async () => {
    issuer.requests = [];
    const o = syncOptions([registryConfig(reg.url, ["corp/one", "corp/two"], { credentials: { username: USER, password: PASS } })], data.url, { url: clair.url, version: "v2" });
    const r = await syncOnce(o);
    assert.deepEqual(r.errors, []);
    assert.equal(r.imagesWritten, 4);
    // One token per repository scope, reused for tags list, HEADs, GETs and the scanner headers.
    assert.deepEqual(issuer.requests.map((x) => x.scope.join(" ")).sort(), ["repository:corp/one:pull", "repository:corp/two:pull"]);
    for (const q of issuer.requests) {
      assert.equal(q.service, issuer.service);
      assert.equal(q.user, USER);
      assert.equal(q.account, USER);
    }
    const post = clair.posts.at(-1)!;
    assert.match(post.Headers?.["Authorization"] ?? "", /^Bearer ey/);
    assertNoSecrets(o.logger.records);
  });

  test("anonymous token flow works for pull-able repositories", async () => {
    issuer.requests = [];
    const o = syncOptions([registryConfig(reg.url, ["corp/one"], { domain: "anon.example" })], data.url, null);
    const r = await syncOnce(o);
    assert.deepEqual(r.errors, []);
    assert.equal(issuer.requests.length, 1);
    assert.equal(issuer.requests[0]!.user, null);
    assert.ok(data.get(["docker", "images", "anon.example/corp/one:a"]));
  });

  test("anonymous access refused: reported as an access error with a credentials hint", async () => {
    issuer.anonymousPull = false;
    try {
      const o = syncOptions([registryConfig(reg.url, ["corp/two"], { domain: "anon2.example" })], data.url, null);
      const r = await syncOnce(o);
      assert.equal(r.errors.length, 1);
      assert.match(r.errors[0]!.message, /401/);
      assert.match(r.errors[0]!.hint, /credentials/);
    } finally {
      issuer.anonymousPull = true;
    }
  });

  test("wrong password at the token endpoint", async () => {
    const o = syncOptions([registryConfig(reg.url, ["corp/two"], { domain: "bad.example", credentials: { username: USER, password: "nope" } })], data.url, null);
    const r = await syncOnce(o);
    assert.equal(r.errors.length, 1);
    assert.match(r.errors[0]!.message, /refused the credentials/);
    assertNoSecrets(o.logger.records);
  });
});
