// --authentication=tls: client certificates signed by a CA of --tls-ca-cert-file, as the
// Kubernetes API server presents them to webhooks (client-certificate and client-key in the
// webhook's kubeconfig). Real HTTPS on loopback, certificates made with openssl.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Runtime } from '../src/runtime/runtime.js';
import { ServerStartError, createServer, type ServerHandle, type ServerOptions } from '../src/server/index.js';
import { Lines, imageReview, json, makeCA, makeCert, makeClientCert, request, tempDir, type RequestOptions } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const dir = tempDir('ie-mtls-');
const serverCert = makeCert(dir, 'server');
const ca = makeCA(dir, 'clients-ca');
const otherCA = makeCA(dir, 'other-ca');
const apiserver = makeClientCert(dir, 'kube-apiserver', ca);
const stranger = makeClientCert(dir, 'stranger', otherCA);
/** The CA file the server reads; the rotation test rewrites it. */
const caFile = join(dir, 'ca-in-use.crt');
copyFileSync(ca.certFile, caFile);

let runtime: Runtime;
let server: ServerHandle;
const log = new Lines();

const options = (extra: Partial<ServerOptions> = {}): ServerOptions => ({
  addr: '127.0.0.1:0',
  tlsCertFile: serverCert.certFile,
  tlsPrivateKeyFile: serverCert.keyFile,
  authentication: 'tls',
  tlsCaCertFile: caFile,
  maxBodyBytes: 1 << 20,
  evalTimeoutMs: 5000,
  decisionLog: 'off',
  logSink: log,
  fileCheckIntervalMs: 60_000, // the rotation test calls checkFiles() itself
  ...extra,
});

before(async () => {
  runtime = await Runtime.start({ paths: [join(root, 'policies'), join(root, 'data')] });
  server = await createServer(runtime, options());
});

after(async () => {
  await server.close();
  runtime.close();
});

/** A request on a new connection (so each one goes through a handshake with its own certificate). */
function send(path: string, o: RequestOptions = {}): ReturnType<typeof request> {
  return request(`${server.url}${path}`, { ca: [serverCert.cert], agent: false, ...o });
}

const review = { method: 'POST', body: imageReview(['wordpress:4-apache']) };

test('a client certificate signed by the CA reaches the webhook and the OPA API', async () => {
  const r = await send('/v0/data/io/k8s/image_policy/verify', { ...review, ...apiserver });
  assert.equal(r.status, 200, r.text);
  assert.equal((json(r).status as { allowed: boolean }).allowed, false);
  const put = await send('/v1/data/extra', { method: 'PUT', body: '{"a": 1}', ...apiserver });
  assert.equal(put.status, 204, put.text);
  assert.deepEqual(json(await send('/v1/data/extra', apiserver)).result, { a: 1 });
});

test('without a client certificate, or with one from another CA, the API answers 401 with the reason', async () => {
  const none = await send('/v0/data/io/k8s/image_policy/verify', review);
  assert.equal(none.status, 401);
  assert.deepEqual(json(none), { code: 'unauthorized', message: 'no client certificate: this server requires one signed by a CA of its --tls-ca-cert-file' });

  const other = await send('/v1/data/extra', { method: 'PUT', body: '{"a": 2}', ...stranger });
  assert.equal(other.status, 401);
  assert.match(String(json(other).message), /^client certificate not accepted: it is not signed by a CA of --tls-ca-cert-file \(\w+\)$/);
  // A bearer token is no substitute.
  const token = await send('/v1/data/extra', { headers: { Authorization: 'Bearer anything' } });
  assert.equal(token.status, 401);
  assert.deepEqual(json(await send('/v1/data/extra', apiserver)).result, { a: 1 }, 'the refused write changed nothing');
});

test('health checks and the admission webhook need no client certificate', async () => {
  assert.equal((await send('/health')).status, 200);
  const admission = {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'default', operation: 'CREATE', object: { spec: { containers: [{ name: 'a', image: 'alpine:3.5' }] } } },
  };
  const r = await send('/v1/admit', { method: 'POST', body: JSON.stringify(admission) });
  assert.equal(r.status, 200, r.text);
});

test('the CA file is reloaded when it changes: new connections are judged by the new CAs', async () => {
  writeFileSync(caFile, otherCA.cert);
  await server.checkFiles();
  try {
    assert.equal((await send('/v1/data/extra', stranger)).status, 200);
    assert.equal((await send('/v1/data/extra', apiserver)).status, 401);
    // A CA file that holds no certificate is refused; the previous CAs stay in force.
    writeFileSync(caFile, 'not a certificate\n');
    await server.checkFiles();
    assert.equal((await send('/v1/data/extra', stranger)).status, 200);
    assert.ok(log.parsed().some((l) => l.msg === 'TLS certificate reload failed; still serving the previous certificate' && /holds no PEM certificate/.test(String(l.error))));
  } finally {
    writeFileSync(caFile, ca.cert);
    await server.checkFiles();
  }
  assert.equal((await send('/v1/data/extra', apiserver)).status, 200);
});

test('start-up errors name what is missing or wrong', async () => {
  const emptyCA = join(dir, 'empty.crt');
  writeFileSync(emptyCA, '');
  const garbled = join(dir, 'garbled.crt');
  writeFileSync(garbled, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
  const cases: Array<[Partial<ServerOptions>, RegExp]> = [
    [{ tlsCertFile: undefined, tlsPrivateKeyFile: undefined }, /--authentication=tls needs HTTPS: --tls-cert-file and --tls-private-key-file/],
    [{ tlsCaCertFile: undefined }, /--authentication=tls needs --tls-ca-cert-file/],
    [{ tlsCaCertFile: join(dir, 'missing.crt') }, /cannot read --tls-ca-cert-file .*missing\.crt/],
    [{ tlsCaCertFile: emptyCA }, /--tls-ca-cert-file .*empty\.crt holds no PEM certificate/],
    [{ tlsCaCertFile: garbled }, /cannot use --tls-ca-cert-file .*garbled\.crt/],
    [{ tokenFile: join(dir, 'tokens') }, /--token-file is only used with --authentication=token/],
    [{ authentication: 'off' }, /--tls-ca-cert-file is only used with --authentication=tls/],
  ];
  for (const [extra, message] of cases) {
    await assert.rejects(createServer(runtime, options(extra)), (e: unknown) => e instanceof ServerStartError && message.test(e.message), JSON.stringify(extra));
  }
});
