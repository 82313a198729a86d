// The validating admission webhook route of the policy server: POST /v1/admit over HTTPS, with
// exactly the AdmissionReview JSON the API server sends (protocols.md §2), for every workload kind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runtime } from '../src/runtime/runtime.js';
import { fromJSON } from '../src/rego/value.js';
import { createServer, type ServerHandle } from '../src/server/index.js';
import { KINDS, objectOf, reviewOf } from './fixtures/admission/objects.js';
import { Lines, json, makeCert, request, tempDir } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
let runtime: Runtime;
let server: ServerHandle;
let ca: string;
const decisions = new Lines();

before(async () => {
  const dir = tempDir();
  const cert = makeCert(dir, 'image-enforcer.enforcer.svc');
  ca = cert.cert;
  const tokens = join(dir, 'tokens');
  writeFileSync(tokens, 'secret-token\n');
  runtime = await Runtime.start({ paths: [join(root, 'policies'), join(root, 'data')] });
  server = await createServer(runtime, {
    addr: '127.0.0.1:0',
    tlsCertFile: cert.certFile,
    tlsPrivateKeyFile: cert.keyFile,
    // Token auth guards the OPA API, but not the webhook: managed API servers send no token.
    authentication: 'token',
    tokenFile: tokens,
    maxBodyBytes: 1 << 20,
    evalTimeoutMs: 5000,
    decisionLog: 'stdout',
    decisionLogSink: decisions,
    logSink: new Lines(),
  });
});

after(async () => {
  await server.close();
  runtime.close();
});

async function admitOver(body: unknown): Promise<{ status: number; review: Record<string, unknown> }> {
  const r = await request(`${server.url}/v1/admit`, { method: 'POST', body: JSON.stringify(body), ca: [ca], headers: { 'content-type': 'application/json' } });
  return { status: r.status, review: json(r) };
}

for (const kind of KINDS) {
  test(`${kind.kind}: a vulnerable image in production is denied with a 403 naming it; a clean one is allowed`, async () => {
    const denied = reviewOf(kind, objectOf(kind, { containers: [{ name: 'app', image: 'wordpress:4-apache' }] }), { uid: `uid-${kind.kind}`, namespace: 'production' });
    const d = await admitOver(denied);
    assert.equal(d.status, 200);
    assert.equal(d.review.apiVersion, 'admission.k8s.io/v1');
    assert.equal(d.review.kind, 'AdmissionReview');
    const resp = d.review.response as { uid: string; allowed: boolean; status: { code: number; message: string } };
    assert.equal(resp.uid, `uid-${kind.kind}`);
    assert.equal(resp.allowed, false);
    assert.equal(resp.status.code, 403);
    assert.match(resp.status.message, /wordpress:4-apache has \d+ known vulnerabilities/);

    const allowed = reviewOf(kind, objectOf(kind, { containers: [{ name: 'app', image: 'alpine:3.5' }] }), { uid: 'ok', namespace: 'production' });
    const a = await admitOver(allowed);
    assert.deepEqual((a.review.response as { uid: string; allowed: boolean }).uid, 'ok');
    assert.equal((a.review.response as { allowed: boolean }).allowed, true);
  });
}

test('the webhook answers without a token while the OPA API requires one', async () => {
  const r = await request(`${server.url}/v1/data/mock`, { ca: [ca] });
  assert.equal(r.status, 401);
});

test('dry-run requests leave no decision log line; real ones do', async () => {
  const kind = KINDS[0];
  const before = decisions.lines.length;
  await admitOver(reviewOf(kind, objectOf(kind, { containers: [{ name: 'a', image: 'alpine:3.5' }] }), { uid: 'dry', namespace: 'production', dryRun: true }));
  assert.equal(decisions.lines.length, before);
  await admitOver(reviewOf(kind, objectOf(kind, { containers: [{ name: 'a', image: 'alpine:3.5' }] }), { uid: 'wet', namespace: 'production' }));
  assert.equal(decisions.lines.length, before + 1);
  assert.match(decisions.lines.at(-1)!, /"path":"v1\/admit"/);
});

test('malformed bodies get a clear 400 and the server keeps serving', async () => {
  for (const body of ['{', '[]', '{"kind":"AdmissionReview"}', '"x"']) {
    const r = await request(`${server.url}/v1/admit`, { method: 'POST', body, ca: [ca] });
    assert.ok(r.status === 400 || (r.status === 200 && /allowed/.test(r.text)), `${body}: ${r.status} ${r.text}`);
  }
  const h = await request(`${server.url}/health`, { ca: [ca] });
  assert.equal(h.status, 200);
});

test('POST /v1/mutate: digest pinning as a JSON patch, a decision log line and a metric; no token needed', async () => {
  const digest = 'sha256:' + '1'.repeat(64);
  const config = runtime.store.read(['image_policy']);
  runtime.store.put(['image_policy'], fromJSON({ pinning: { pin_digests: { production: true } } }));
  runtime.store.put(['docker', 'images'], fromJSON({ 'docker.io/library/nginx:1.25': { digest } }));
  try {
    const kind = KINDS[0];
    const object = objectOf(kind, { containers: [{ name: 'web', image: 'nginx:1.25' }] });
    const r = await request(`${server.url}/v1/mutate`, { method: 'POST', body: JSON.stringify(reviewOf(kind, object, { namespace: 'production', uid: 'm1' })), ca: [ca], headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200);
    const resp = (json(r) as { response: { uid: string; allowed: boolean; patchType: string; patch: string } }).response;
    assert.equal(resp.uid, 'm1');
    assert.equal(resp.patchType, 'JSONPatch');
    assert.deepEqual(JSON.parse(Buffer.from(resp.patch, 'base64').toString()), [{ op: 'replace', path: '/spec/containers/0/image', value: `nginx:1.25@${digest}` }]);
    const line = JSON.parse(decisions.lines.at(-1)!) as { path: string; result: unknown };
    assert.equal(line.path, 'v1/mutate');
    assert.deepEqual(line.result, { 'nginx:1.25': `nginx:1.25@${digest}` });
    const m = await request(`${server.url}/metrics`, { ca: [ca], headers: { authorization: 'Bearer secret-token' } });
    assert.match(m.text, /handler="v1\/mutate",outcome="mutated"} 1/);
  } finally {
    runtime.store.delete(['docker', 'images']);
    if (config === undefined) runtime.store.delete(['image_policy']);
    else runtime.store.put(['image_policy'], config);
  }
});
