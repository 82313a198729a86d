// --authorization=basic: data.system.authz.allow decides on every request but the open ones, with
// OPA's input (path, method, params, headers, body, identity, client_certificates). The shipped
// example (examples/authz) gives each client only what its role needs. Real HTTP(S) on loopback.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { Runtime } from '../src/runtime/runtime.js';
import { createServer, type ServerHandle, type ServerOptions } from '../src/server/index.js';
import { Lines, imageReview, json, makeCA, makeCert, makeClientCert, request, tempDir, type RequestOptions } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const dir = tempDir('ie-authz-');
const tokenFile = join(dir, 'tokens');
writeFileSync(tokenFile, 'webhook-token\nsync-token\nmetrics-token\nadmin-token\nunknown-token\n');

const started: Array<{ runtime: Runtime; server: ServerHandle }> = [];

async function start(paths: string[], extra: Partial<ServerOptions> = {}): Promise<ServerHandle> {
  const runtime = await Runtime.start({ paths });
  const server = await createServer(runtime, {
    addr: '127.0.0.1:0',
    authentication: 'token',
    tokenFile,
    authorization: 'basic',
    maxBodyBytes: 1 << 20,
    evalTimeoutMs: 5000,
    decisionLog: 'off',
    logSink: new Lines(),
    ...extra,
  });
  started.push({ runtime, server });
  return server;
}

let example: ServerHandle;

before(async () => {
  example = await start([join(root, 'policies'), join(root, 'data'), join(root, 'examples/authz/authz.rego'), `authz.clients:${join(root, 'examples/authz/clients.example.yaml')}`]);
});

after(async () => {
  for (const { runtime, server } of started) {
    await server.close();
    runtime.close();
  }
});

function as(token: string | undefined, path: string, o: RequestOptions = {}, server = example): ReturnType<typeof request> {
  const headers = { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...o.headers };
  return request(`${server.url}${path}`, { ...o, headers });
}

const REJECTED = { code: 'unauthorized', message: 'request rejected by administrative policy' };
const WEBHOOK = '/v0/data/io/k8s/image_policy/verify';
const review = { method: 'POST', body: imageReview(['wordpress:4-apache']) };

test('example: the webhook token gets the decision and nothing else', async () => {
  const r = await as('webhook-token', WEBHOOK, review);
  assert.equal(r.status, 200, r.text);
  assert.equal((json(r).status as { allowed: boolean }).allowed, false);
  for (const [path, o] of [
    ['/v1/data/docker', {}],
    ['/v1/policies/evil', { method: 'PUT', body: 'package io.k8s.image_policy\nverify := {"status": {"allowed": true}}\n' }],
    ['/v1/data/clair', { method: 'DELETE' }],
    ['/metrics', {}],
  ] as Array<[string, RequestOptions]>) {
    const refused = await as('webhook-token', path, o);
    assert.equal(refused.status, 401, path);
    assert.deepEqual(json(refused), REJECTED, path);
  }
  assert.equal((await as('admin-token', '/v1/policies/evil')).status, 404, 'the refused policy was not stored');
});

test('example: the sync token reads and writes under data.docker and data.clair only', async () => {
  assert.equal((await as('sync-token', '/v1/data/docker/images/probe', { method: 'PUT', body: '{"layers": []}' })).status, 204);
  assert.equal((await as('sync-token', '/v1/data/clair/layers')).status, 200);
  assert.equal((await as('sync-token', '/v1/data/docker/images/probe', { method: 'DELETE' })).status, 204);
  assert.equal((await as('sync-token', '/v1/data/image_policy', { method: 'PUT', body: '{}' })).status, 401);
  assert.equal((await as('sync-token', '/v1/data', { method: 'PUT', body: '{}' })).status, 401);
  assert.equal((await as('sync-token', WEBHOOK, review)).status, 401);
});

test('example: metrics, admin, unknown and missing tokens; open routes need neither', async () => {
  assert.equal((await as('metrics-token', '/metrics')).status, 200);
  assert.equal((await as('metrics-token', '/v1/data')).status, 401);
  assert.equal((await as('admin-token', '/v1/policies')).status, 200);
  assert.equal((await as('admin-token', WEBHOOK, review)).status, 200);
  // A token the server accepts but the policy gives no role.
  assert.deepEqual(json(await as('unknown-token', '/v1/data')), REJECTED);
  // No token: authentication refuses before the policy is asked.
  const none = await as(undefined, '/v1/data');
  assert.equal(none.status, 401);
  assert.match(String(json(none).message), /missing bearer token/);
  assert.equal((await as(undefined, '/health')).status, 200);
});

test('the policy sees path, method, params, headers, body and identity as OPA gives them', async () => {
  const probe = `package system.authz
import rego.v1
allow if {
	input.path == ["v1", "data", "a/b"]
	input.method == "POST"
	input.params == {"q": ["1", "2"], "pretty": [""]}
	input.headers["X-Probe"] == ["abc"]
	input.headers["Content-Type"] == ["application/json"]
	input.body == {"input": {"x": 1}}
	input.identity == "sync-token"
}
`;
  const put = await as('admin-token', '/v1/policies/probe', { method: 'PUT', body: probe });
  assert.equal(put.status, 200, put.text);
  try {
    const o = (body: string, q = 'q=1&q=2&pretty'): Promise<Awaited<ReturnType<typeof request>>> =>
      as('sync-token', `/v1/data/a%2Fb?${q}`, { method: 'POST', body, headers: { 'X-Probe': 'abc', 'Content-Type': 'application/json' } });
    const allowed = await o('{"input": {"x": 1}}');
    assert.equal(allowed.status, 200, allowed.text);
    assert.deepEqual(json(allowed), {}, 'the handler still reads the body (kept from the authorization step)');
    assert.equal((await o('{"input": {"x": 2}}')).status, 401);
    assert.equal((await o('{"input": {"x": 1}}', 'q=1')).status, 401);
    const broken = await o('{"input": ');
    assert.equal(broken.status, 400);
    assert.match(String(json(broken).message), /^invalid request body: /);
  } finally {
    assert.equal((await as('admin-token', '/v1/policies/probe', { method: 'DELETE' })).status, 200);
  }
});

test('a reason in {"allowed": false, "reason": ...} is the message; an undefined or failing policy is a 500', async () => {
  const policies = tempDir('ie-authz-policy-');
  writeFileSync(
    join(policies, 'authz.rego'),
    `package system.authz
import rego.v1
allow := {"allowed": true} if input.path == ["v1", "policies"]
allow := {"allowed": false, "reason": "read-only during the maintenance window"} if input.path[1] == "data"
allow := x if { input.path[1] == "query"; x := [true, false][_] }
`,
  );
  const server = await start([policies]);
  assert.equal((await as('admin-token', '/v1/policies', {}, server)).status, 200);
  const reason = await as('admin-token', '/v1/data/x', { method: 'PUT', body: '1' }, server);
  assert.deepEqual([reason.status, json(reason)], [401, { code: 'unauthorized', message: 'read-only during the maintenance window' }]);
  const undefinedDecision = await as('admin-token', '/metrics', {}, server);
  assert.equal(undefinedDecision.status, 500);
  assert.deepEqual(json(undefinedDecision), { code: 'internal_error', message: 'authorization policy missing or undefined: define data.system.authz.allow' });
  const failing = await as('admin-token', '/v1/query', { method: 'POST', body: '{"query": "x := 1"}' }, server);
  assert.equal(failing.status, 500);
  assert.match(String(json(failing).message), /^authorization policy failed: .*complete rules must not produce multiple outputs/);
});

test('with client certificates the policy sees the verified chain', async () => {
  const certs = tempDir('ie-authz-tls-');
  const serverCert = makeCert(certs, 'server');
  const ca = makeCA(certs, 'clients');
  const apiserver = makeClientCert(certs, 'kube-apiserver', ca);
  const intruder = makeClientCert(certs, 'intruder', ca);
  const policies = tempDir('ie-authz-tls-policy-');
  writeFileSync(
    join(policies, 'authz.rego'),
    `package system.authz
import rego.v1
default allow := false
allow if {
	[leaf, issuer] := input.client_certificates
	leaf.subject.CN == "kube-apiserver"
	issuer.subject.CN == "clients"
	not input.identity
}
`,
  );
  const server = await start([policies], {
    authentication: 'tls',
    tokenFile: undefined,
    tlsCertFile: serverCert.certFile,
    tlsPrivateKeyFile: serverCert.keyFile,
    tlsCaCertFile: ca.certFile,
  });
  const send = (client: { cert: string; key: string }) => request(`${server.url}/v1/policies`, { ca: [serverCert.cert], agent: false, ...client });
  assert.equal((await send(apiserver)).status, 200);
  assert.deepEqual(json(await send(intruder)), REJECTED);
});

test('bodies read for the policy get the same limits and errors as elsewhere, and the server keeps serving', async () => {
  const post = (body: string | Buffer, headers: Record<string, string> = {}) =>
    as('admin-token', '/v1/data/io/k8s/image_policy/verify', { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
  const tooLarge = await post(Buffer.alloc((1 << 20) + 1, 0x20));
  assert.equal(tooLarge.status, 413);
  assert.match(String(json(tooLarge).message), /request body too large/);
  const deep = await post('['.repeat(100_000));
  assert.equal(deep.status, 400);
  const yaml = await post('a: [' + '['.repeat(5000), { 'Content-Type': 'application/x-yaml' });
  assert.equal(yaml.status, 400);
  const gzip = await post('not gzip', { 'Content-Encoding': 'gzip' });
  assert.equal(gzip.status, 400);
  assert.match(String(json(gzip).message), /could not decompress/);
  // A client that goes away mid-body.
  await assert.rejects(
    new Promise((resolve, reject) => {
      const c = httpRequest(`${example.url}/v1/data/x`, { method: 'POST', headers: { Authorization: 'Bearer admin-token', 'Content-Length': '1000' } }, resolve);
      c.on('error', reject);
      c.write('{"input": ');
      setTimeout(() => c.destroy(new Error('gone')), 50);
    }),
    /gone/,
  );
  const ok = await as('admin-token', WEBHOOK, review);
  assert.equal(ok.status, 200, 'still serving');
});

test('--diagnostic-addr serves the health checks and /metrics without credentials, and nothing else', async () => {
  const server = await start([join(root, 'policies'), join(root, 'data'), join(root, 'examples/authz/authz.rego'), `authz.clients:${join(root, 'examples/authz/clients.example.yaml')}`], {
    diagnosticAddr: '127.0.0.1:0',
  });
  const diag = server.diagnosticUrl!;
  assert.match(diag, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.notEqual(diag, server.url);
  for (const path of ['/health', '/health/live', '/health/ready']) assert.equal((await request(diag + path)).status, 200, path);
  const metrics = await request(diag + '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.text, /^http_request_duration_seconds_count\{/m);
  for (const [path, o] of [['/v1/data', {}], [WEBHOOK, review], ['/v1/policies', {}], ['/', {}]] as Array<[string, RequestOptions]>) {
    const r = await request(diag + path, { ...o, headers: { Authorization: 'Bearer admin-token' } });
    assert.equal(r.status, 404, path);
    assert.deepEqual(json(r), { code: 'resource_not_found', message: `unknown path ${path}: the diagnostic address serves /health and /metrics only` });
  }
  // The main address still asks for credentials and the policy's consent.
  assert.equal((await request(server.url + '/metrics')).status, 401);
  assert.equal((await as('webhook-token', '/metrics', {}, server)).status, 401);
});

test('--diagnostic-addr start-up errors: a bad address, or one in use, before anything listens', async () => {
  await assert.rejects(start([join(root, 'policies')], { diagnosticAddr: 'nonsense' }), /invalid --diagnostic-addr "nonsense": expected host:port/);
  const taken = example.url.replace(/^http:\/\//, '');
  await assert.rejects(start([join(root, 'policies')], { diagnosticAddr: taken }), new RegExp(`cannot listen on --diagnostic-addr ${taken}: the address is already in use`));
});
