// The validating admission webhook route of the policy server: POST /v1/admit over HTTPS, with
// exactly the AdmissionReview JSON the API server sends (protocols.md §2), for every workload kind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runtime } from '../src/runtime/runtime.js';
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
