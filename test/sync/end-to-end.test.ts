// End to end, the whole system the original description deploys: the real docker-registry, a
// Clair v2 test server (Clair cannot run here; it replays responses recorded from a real Clair
// v2 with exactly the documented paths, codes and bodies), our policy server with the bundled
// policies and NO vulnerability data, and `sync --once` pushing into the server's Data API.
// The mock denied ImageReview is allowed before the sync (nothing known) and denied after it; with
// digest pinning on, the mutating webhook pins the synced tag to the digest the registry serves.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { syncOnce } from '../../src/sync/sync.js';
import { Runtime } from '../../src/runtime/runtime.js';
import { createServer, type ServerHandle } from '../../src/server/index.js';
import { projectRoot } from '../helpers/paths.js';
import { registryAvailable, startRegistry, makeLayer, pushImage, type RunningRegistry } from './registry-helper.js';
import { ClairV2Replay, CountingProxy } from './servers.js';
import { registryConfig, syncOptions, RECORDED_VULNERABLE } from './common.js';

const skip = registryAvailable ? false : 'docker-registry is not installed (apt-get install docker-registry)';
const root = projectRoot();

let reg: RunningRegistry;
let proxy: CountingProxy;
let clair: ClairV2Replay;
let runtime: Runtime;
let server: ServerHandle;
let wordpressDigest: string;

const deniedReview = {
  apiVersion: 'imagepolicy.k8s.io/v1alpha1',
  kind: 'ImageReview',
  spec: { containers: [{ image: 'wordpress:4-apache' }, { image: 'openpolicyagent/opa:0.4.10' }], namespace: 'production' },
};

async function review(): Promise<{ allowed: boolean; reason?: string }> {
  const r = await fetch(`${server.url}/v0/data/io/k8s/image_policy/verify`, { method: 'POST', body: JSON.stringify(deniedReview) });
  assert.equal(r.status, 200);
  return ((await r.json()) as { status: { allowed: boolean; reason?: string } }).status;
}

before(async () => {
  if (skip) return;
  reg = await startRegistry();
  proxy = await CountingProxy.start(reg.url);
  clair = await ClairV2Replay.start();
  // WordPress's base layer is the debian:8 layer Clair recorded with known vulnerabilities.
  const debian = makeLayer({ 'etc/os-release': 'ID=debian\nVERSION_ID=8\n' });
  clair.aliases.set(debian.digest, RECORDED_VULNERABLE);
  wordpressDigest = (await pushImage(reg.url, 'library/wordpress', '4-apache', [debian, makeLayer({ 'var/www/index.php': '<?php' })])).digest;
  await pushImage(reg.url, 'openpolicyagent/opa', '0.4.10', [makeLayer({ 'opa': 'static binary' })]);
  runtime = await Runtime.start({ paths: [join(root, 'policies')] });
  server = await createServer(runtime, {
    addr: '127.0.0.1:0',
    authentication: 'off',
    maxBodyBytes: 1 << 20,
    evalTimeoutMs: 5000,
    decisionLog: 'off',
  });
});

after(async () => {
  if (skip) return;
  await server.close();
  runtime.close();
  await proxy.served.close();
  await clair.served.close();
  await reg.cleanup();
});

test('sync --once turns the mock denied review from allowed (no data) to denied', { skip }, async () => {
  assert.deepEqual(await review(), { allowed: true });

  const options = syncOptions(
    [registryConfig(proxy.url, ['library/wordpress', 'openpolicyagent/opa'])],
    `${server.url}/v1`,
    { url: clair.url, version: 'v2' },
  );
  const first = await syncOnce(options);
  assert.deepEqual(first.errors, []);

  const status = await review();
  assert.equal(status.allowed, false);
  assert.match(status.reason ?? '', /^image wordpress:4-apache has \d+ known vulnerabilities \(CVE-/);

  // A second sync with nothing changed: no manifest GETs, no Clair index calls; still denied.
  const manifestGets = () => proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/manifests/')).length;
  const getsBefore = manifestGets();
  const postsBefore = clair.posts.length;
  const second = await syncOnce(options);
  assert.deepEqual(second.errors, []);
  assert.equal(manifestGets(), getsBefore);
  assert.equal(clair.posts.length, postsBefore);
  assert.equal((await review()).allowed, false);
});

test('digest pinning on synced data: /v1/mutate pins the tag to the manifest digest the registry serves, and /v1/admit still finds its vulnerabilities', { skip }, async () => {
  const options = syncOptions([registryConfig(proxy.url, ['library/wordpress', 'openpolicyagent/opa'])], `${server.url}/v1`, { url: clair.url, version: 'v2' });
  assert.deepEqual((await syncOnce(options)).errors, []);
  const put = await fetch(`${server.url}/v1/data/image_policy`, {
    method: 'PUT',
    body: JSON.stringify({ pinning: { pin_digests: { production: true } }, vulnerabilities: { minimum_severity: 'Unknown' } }),
  });
  assert.equal(put.status, 204);
  try {
    const image = `${new URL(proxy.url).host}/library/wordpress:4-apache`;
    const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'wp', namespace: 'production' }, spec: { containers: [{ name: 'wp', image }] } };
    const admission = (object: unknown, uid: string) => ({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'production', operation: 'CREATE', object },
    });
    const m = await fetch(`${server.url}/v1/mutate`, { method: 'POST', body: JSON.stringify(admission(pod, 'm1')) });
    const mutated = ((await m.json()) as { response: { patch: string } }).response;
    const pinned = `${image}@${wordpressDigest}`;
    assert.deepEqual(JSON.parse(Buffer.from(mutated.patch, 'base64').toString()), [{ op: 'replace', path: '/spec/containers/0/image', value: pinned }]);
    const pinnedPod = { ...pod, spec: { containers: [{ name: 'wp', image: pinned }] } };
    const v = await fetch(`${server.url}/v1/admit`, { method: 'POST', body: JSON.stringify(admission(pinnedPod, 'v1')) });
    const verdict = ((await v.json()) as { response: { allowed: boolean; status?: { message: string } } }).response;
    assert.equal(verdict.allowed, false);
    const message = verdict.status?.message ?? '';
    assert.ok(message.startsWith(`image ${pinned} has `), message);
    assert.match(message, / known vulnerabilities /);
  } finally {
    await fetch(`${server.url}/v1/data/image_policy`, { method: 'DELETE' });
  }
});
