// The policy server in operation: the ImagePolicyWebhook call over HTTPS, certificate rotation,
// token authentication, body and evaluation limits, graceful shutdown, and the real CLI.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, renameSync, writeFileSync } from 'node:fs';
import { Agent, createServer as createHttpServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { Runtime } from '../src/runtime/runtime.js';
import { createServer, type ServerHandle, type ServerOptions } from '../src/server/index.js';
import { Lines, freePort, imageReview, json, makeCA, makeCert, makeClientCert, request, tempDir, type Reply } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const VERIFY = '/v0/data/io/k8s/image_policy/verify';
let runtime: Runtime;

const base: ServerOptions = {
  addr: '127.0.0.1:0',
  authentication: 'off',
  maxBodyBytes: 1024 * 1024,
  evalTimeoutMs: 5000,
  decisionLog: 'off',
};

async function withServer(opts: Partial<ServerOptions>, fn: (s: ServerHandle) => Promise<void>): Promise<void> {
  const s = await createServer(runtime, { ...base, logSink: new Lines(), ...opts });
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

async function allowedOf(r: Reply): Promise<boolean> {
  assert.equal(r.status, 200, r.text);
  return (json(r).status as { allowed: boolean }).allowed;
}

before(async () => {
  runtime = await Runtime.start({
    paths: [join(root, 'policies'), join(root, 'data'), join(root, 'test/fixtures/server/extra')],
  });
});

after(() => runtime.close());

describe('HTTPS and the ImagePolicyWebhook', () => {
  const dir = tempDir();
  const one = makeCert(dir, 'enforcer-one');
  const two = makeCert(dir, 'enforcer-two');
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');

  test('the API server\'s ImageReview over HTTPS: allowed, then denied with the image and why', async () => {
    copyFileSync(one.certFile, certFile);
    copyFileSync(one.keyFile, keyFile);
    await withServer({ tlsCertFile: certFile, tlsPrivateKeyFile: keyFile }, async (s) => {
      assert.match(s.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const send = (images: string[]): Promise<Reply> =>
        request(s.url + VERIFY, { method: 'POST', body: imageReview(images), headers: { 'Content-Type': 'application/json' }, ca: [one.cert] });

      const ok = await send(['alpine:3.5', 'openpolicyagent/opa:0.4.10']);
      assert.equal(ok.peerCN, 'enforcer-one');
      assert.deepEqual(json(ok), { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });

      const denied = await send(['wordpress:4-apache', 'openpolicyagent/opa:0.4.10']);
      const review = json<{ apiVersion: string; kind: string; status: { allowed: boolean; reason: string } }>(denied);
      assert.equal(review.apiVersion, 'imagepolicy.k8s.io/v1alpha1');
      assert.equal(review.kind, 'ImageReview');
      assert.equal(review.status.allowed, false);
      assert.match(review.status.reason, /^image wordpress:4-apache has \d+ known vulnerabilities \(CVE-\d{4}-\d+, CVE-\d{4}-\d+, CVE-\d{4}-\d+\)$/);

      const bad = await request(s.url + VERIFY, { method: 'POST', body: '{"kind":"ImageReview","apiVersion":"imagepolicy.k8s.io/v1alpha1","spec":{"containers":[]}}', ca: [one.cert] });
      assert.equal(bad.status, 400);
      assert.match(json(bad).message as string, /spec.containers" is empty/);

      // Plain HTTP to the HTTPS port is not served.
      const plain = await request(s.url.replace('https:', 'http:') + '/health').catch((e: Error) => e);
      assert.ok(plain instanceof Error || plain.status >= 400);
    });
  });

  test('certificate rotation: replaced files are served to new connections without a restart', async () => {
    copyFileSync(one.certFile, certFile);
    copyFileSync(one.keyFile, keyFile);
    const logs = new Lines();
    await withServer({ tlsCertFile: certFile, tlsPrivateKeyFile: keyFile, fileCheckIntervalMs: 60_000, logSink: logs }, async (s) => {
      const health = (): Promise<Reply> => request(s.url + '/health', { ca: [one.cert, two.cert], agent: false });
      assert.equal((await health()).peerCN, 'enforcer-one');

      // A half-finished rotation (new cert, old key) is refused; the old pair keeps serving.
      copyFileSync(two.certFile, certFile);
      await s.checkFiles();
      assert.equal((await health()).peerCN, 'enforcer-one');
      assert.ok(logs.parsed().some((l) => l.level === 'error' && /reload failed/.test(String(l.msg))));

      // Replace the key by rename, as cert-manager and kubelet do.
      const tmp = join(dir, 'tls.key.new');
      copyFileSync(two.keyFile, tmp);
      renameSync(tmp, keyFile);
      await s.checkFiles();
      const after = await health();
      assert.equal(after.status, 200);
      assert.equal(after.peerCN, 'enforcer-two');
      assert.ok(logs.parsed().some((l) => l.msg === 'TLS certificate reloaded'));
      const metrics = await request(s.url + '/metrics', { ca: [two.cert] });
      assert.match(metrics.text, /^image_enforcer_tls_certificate_reloads_total\{outcome="ok"\} 1$/m);
    });
  });

  test('the poller notices rotation by itself', async () => {
    copyFileSync(one.certFile, certFile);
    copyFileSync(one.keyFile, keyFile);
    await withServer({ tlsCertFile: certFile, tlsPrivateKeyFile: keyFile, fileCheckIntervalMs: 50 }, async (s) => {
      copyFileSync(two.keyFile, keyFile);
      copyFileSync(two.certFile, certFile);
      let cn: string | undefined;
      for (let i = 0; i < 100 && cn !== 'enforcer-two'; i++) {
        await new Promise((r) => setTimeout(r, 50));
        cn = (await request(s.url + '/health', { ca: [one.cert, two.cert], agent: false })).peerCN;
      }
      assert.equal(cn, 'enforcer-two');
    });
  });

  test('bad TLS options fail at start with a clear error', async () => {
    await assert.rejects(createServer(runtime, { ...base, tlsCertFile: join(dir, 'missing.crt'), tlsPrivateKeyFile: keyFile }), /cannot read --tls-cert-file .*missing\.crt/);
    await assert.rejects(createServer(runtime, { ...base, tlsCertFile: one.certFile }), /needs both --tls-cert-file and --tls-private-key-file/);
    await assert.rejects(createServer(runtime, { ...base, tlsCertFile: one.certFile, tlsPrivateKeyFile: two.keyFile }), /cannot use certificate/);
  });
});

describe('token authentication', () => {
  const dir = tempDir();
  const tokenFile = join(dir, 'tokens');

  test('every endpoint but /health needs a listed bearer token', async () => {
    writeFileSync(tokenFile, '# tokens for the API server and the sync\napiserver-token\n\nsync-token\n');
    await withServer({ authentication: 'token', tokenFile }, async (s) => {
      const call = (path: string, method = 'GET', token?: string, body?: string): Promise<Reply> =>
        request(s.url + path, { method, body, headers: token ? { Authorization: `Bearer ${token}` } : {} });

      for (const [path, method, body] of [
        [VERIFY, 'POST', imageReview(['alpine:3.5'])],
        ['/v1/data/x', 'PUT', '1'],
        ['/v1/data/x', 'GET'],
        ['/v1/policies/p', 'PUT', 'package p\n'],
        ['/v1/policies', 'GET'],
        ['/v1/query?q=1', 'GET'],
        ['/metrics', 'GET'],
      ] as Array<[string, string, string?]>) {
        const none = await call(path, method, undefined, body);
        assert.equal(none.status, 401, `${method} ${path}`);
        assert.deepEqual(json(none), { code: 'unauthorized', message: 'missing bearer token: send "Authorization: Bearer <token>"' });
        assert.match(String(none.headers['www-authenticate']), /^Bearer/);
        const wrong = await call(path, method, 'not-a-token', body);
        assert.equal(wrong.status, 401);
        assert.equal(json(wrong).message, 'invalid bearer token');
      }
      const basic = await request(s.url + '/v1/data/x', { headers: { Authorization: 'Basic YTpi' } });
      assert.equal(basic.status, 401);
      // Nothing was written without a token.
      assert.deepEqual(json(await call('/v1/data/x', 'GET', 'sync-token')), {});

      assert.equal(await allowedOf(await call(VERIFY, 'POST', 'apiserver-token', imageReview(['alpine:3.5']))), true);
      assert.equal((await call('/v1/data/x', 'PUT', 'sync-token', '1')).status, 204);
      assert.equal(json(await call('/v1/data/x', 'GET', 'sync-token')).result, 1);
      assert.equal((await call('/health')).status, 200);
      assert.equal((await call('/health/ready')).status, 200);
      await call('/v1/data/x', 'DELETE', 'sync-token');
    });
  });

  test('the token file is re-read when it changes', async () => {
    writeFileSync(tokenFile, 'old-token\n');
    await withServer({ authentication: 'token', tokenFile, fileCheckIntervalMs: 60_000 }, async (s) => {
      const get = (t: string): Promise<Reply> => request(s.url + '/v1/data/mock/allowed/kind', { headers: { Authorization: `Bearer ${t}` } });
      assert.equal((await get('old-token')).status, 200);
      writeFileSync(tokenFile, 'new-token\n');
      await s.checkFiles();
      assert.equal((await get('new-token')).status, 200);
      assert.equal((await get('old-token')).status, 401);
      // An emptied file keeps the previous tokens rather than locking everyone out (or in).
      writeFileSync(tokenFile, '\n');
      await s.checkFiles();
      assert.equal((await get('new-token')).status, 200);
    });
  });

  test('misconfiguration fails at start', async () => {
    await assert.rejects(createServer(runtime, { ...base, authentication: 'token' }), /needs --token-file/);
    writeFileSync(tokenFile, '# nothing\n');
    await assert.rejects(createServer(runtime, { ...base, authentication: 'token', tokenFile }), /holds no tokens/);
    await assert.rejects(createServer(runtime, { ...base, authentication: 'token', tokenFile: join(dir, 'nope') }), /cannot read --token-file/);
  });
});

describe('limits', () => {
  test('request bodies over the limit get 413; the connection and server keep working', async () => {
    await withServer({ maxBodyBytes: 2048 }, async (s) => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const big = imageReview(Array.from({ length: 200 }, (_, i) => `registry.example.com/team/app-${i}:v1`));
        assert.ok(big.length > 2048);
        // Declared length over the limit.
        const declared = await request(s.url + VERIFY, { method: 'POST', body: big, agent });
        assert.equal(declared.status, 413);
        assert.deepEqual(json(declared), { code: 'invalid_parameter', message: 'request body too large: the limit is 2048 bytes (set with --max-body-size)' });
        // Chunked upload, length unknown in advance, sent in pieces.
        const chunked = await request(s.url + VERIFY, { method: 'POST', body: big, agent, headers: { 'Transfer-Encoding': 'chunked' }, slowChunks: { pieces: 8, delayMs: 5 } });
        assert.equal(chunked.status, 413);
        // A small gzip body that inflates past the limit.
        const bomb = gzipSync(Buffer.alloc(1024 * 1024, 0x20));
        assert.ok(bomb.length < 2048);
        const inflated = await request(s.url + VERIFY, { method: 'POST', body: bomb, agent, headers: { 'Content-Encoding': 'gzip' } });
        assert.equal(inflated.status, 413);
        assert.match(json(inflated).message as string, /^compressed request body too large/);
        // Same keep-alive agent, normal request.
        assert.equal(await allowedOf(await request(s.url + VERIFY, { method: 'POST', body: imageReview(['alpine:3.5']), agent })), true);
        const m = await request(s.url + '/metrics', { agent });
        assert.match(m.text, /^image_enforcer_bad_requests_total\{handler="v0\/data",reason="too_large"\} 3$/m);
      } finally {
        agent.destroy();
      }
    });
  });

  test('Expect: 100-continue with a declared length over the limit is refused before the upload', async () => {
    await withServer({ maxBodyBytes: 1024 }, async (s) => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(s.url + VERIFY, { method: 'POST', headers: { Expect: '100-continue', 'Content-Length': '1000000' } });
        req.on('continue', () => reject(new Error('server asked for the body')));
        req.on('response', (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.flushHeaders();
      });
      assert.equal(status, 413);
    });
  });

  test('evaluation over the time limit is stopped with a clear 500; the server keeps serving', async () => {
    await withServer({ evalTimeoutMs: 150 }, async (s) => {
      const r = await request(s.url + '/v1/data/testing/slow');
      assert.equal(r.status, 500);
      const e = json<{ code: string; message: string; errors: Array<{ code: string }> }>(r);
      assert.equal(e.code, 'evaluation_error');
      assert.equal(e.message, 'evaluation stopped: it took longer than the time limit of 150 ms (set with --eval-timeout)');
      assert.equal(e.errors[0].code, 'eval_cancel_error');
      const q = await request(s.url + '/v1/query?q=' + encodeURIComponent('x := count([1 | some i in numbers.range(1, 30000); some j in numbers.range(1, 30000)])'));
      assert.equal(q.status, 500);
      assert.equal(json(q).code, 'evaluation_error');
      assert.equal(await allowedOf(await request(s.url + VERIFY, { method: 'POST', body: imageReview(['alpine:3.5']) })), true);
    });
  });

  test('an idle keep-alive connection is not closed after Node\'s default 5 s (clients such as the API server keep them 90 s)', async () => {
    await withServer({}, async (s) => {
      const socket = connect(s.port, '127.0.0.1');
      let closed = false;
      socket.on('close', () => (closed = true));
      const body = imageReview(['alpine:3.5']);
      const ask = (): Promise<string> =>
        new Promise((resolve, reject) => {
          if (closed) return reject(new Error('the server closed the idle connection'));
          let text = '';
          const onData = (b: Buffer): void => {
            text += b.toString('latin1');
            if (/\r\n\r\n[^]*"kind":"ImageReview"[^]*\}$/.test(text)) {
              socket.off('data', onData);
              socket.off('close', onClose);
              resolve(text);
            }
          };
          const onClose = (): void => reject(new Error('the connection closed before the answer'));
          socket.on('data', onData);
          socket.once('close', onClose);
          socket.write(`POST ${VERIFY} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        });
      try {
        assert.match(await ask(), /^HTTP\/1\.1 200 /);
        await new Promise((r) => setTimeout(r, 6000));
        assert.equal(closed, false, 'the server closed the idle connection');
        assert.match(await ask(), /^HTTP\/1\.1 200 /);
      } finally {
        socket.destroy();
      }
    });
  });

  test('option errors are reported at start', async () => {
    await assert.rejects(createServer(runtime, { ...base, addr: 'nonsense' }), /invalid --addr "nonsense"/);
    await assert.rejects(createServer(runtime, { ...base, maxBodyBytes: 0 }), /body limit must be a positive/);
    await withServer({}, async (s) => {
      await assert.rejects(createServer(runtime, { ...base, addr: `127.0.0.1:${s.port}` }), /address is already in use/);
    });
  });
});

describe('graceful shutdown', () => {
  test('with a wait period the server keeps answering new connections (readiness failing, Connection: close), then closes the port', async () => {
    // Long enough for three requests on a busy machine; the test ends when close() resolves.
    const s = await createServer(runtime, { ...base, logSink: new Lines(), shutdownWaitMs: 2500 });
    const closed = s.close();
    const during = await request(s.url + VERIFY, { method: 'POST', body: imageReview(['alpine:3.5']), agent: false });
    assert.equal(during.status, 200);
    assert.equal(during.headers.connection, 'close');
    assert.equal((await request(s.url + '/health/ready', { agent: false })).status, 500);
    assert.equal((await request(s.url + '/health/live', { agent: false })).status, 200);
    await closed;
    await assert.rejects(request(s.url + '/health', { agent: false }), /ECONNREFUSED/);
  });


  test('close() stops accepting, lets the in-flight request finish, then resolves', async () => {
    const s = await createServer(runtime, { ...base, logSink: new Lines() });
    const idle = new Agent({ keepAlive: true });
    // An idle keep-alive connection does not hold the shutdown up.
    assert.equal((await request(s.url + '/health', { agent: idle })).status, 200);

    // A slow upload is in flight when the shutdown starts.
    const arrived = new Promise((r) => s.server.once('request', r));
    const inflight = request(s.url + VERIFY, { method: 'POST', body: imageReview(['wordpress:4-apache']), slowChunks: { pieces: 10, delayMs: 40 } });
    await arrived;
    let closed = false;
    const closing = s.close().then(() => {
      closed = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(closed, false, 'close waits for the request in flight');
    await assert.rejects(request(s.url + '/health', { agent: false }), /ECONNREFUSED|ECONNRESET/);

    const r = await inflight;
    assert.equal(r.status, 200);
    assert.equal(r.headers.connection, 'close');
    assert.equal(await allowedOf(r), false);
    await closing;
    assert.equal(closed, true);
    idle.destroy();
  });
});

describe('the run command', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  // The compiled CLI next to this compiled test (dist/ or a build dir), as bin/image-enforcer.js loads it.
  const mainJs = join(here, '..', 'src', 'cli', 'main.js');
  const launcher = `const { main } = await import(${JSON.stringify(mainJs)}); process.exitCode = await main(process.argv.slice(1));`;

  function runCli(args: string[]): { out: Lines; err: Lines; exited: Promise<number | null>; kill: () => void; waitFor: (re: RegExp) => Promise<void> } {
    const child = spawn(process.execPath, ['--input-type=module', '-e', launcher, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = new Lines();
    const err = new Lines();
    child.stdout.on('data', (b: Buffer) => out.write(b.toString()));
    child.stderr.on('data', (b: Buffer) => err.write(b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const waitFor = async (re: RegExp): Promise<void> => {
      for (let i = 0; i < 150; i++) {
        if (err.lines.some((l) => re.test(l))) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.fail(`no log line matching ${re}:\n${err.lines.join('\n')}`);
    };
    return { out, err, exited, kill: () => child.kill('SIGTERM'), waitFor };
  }

  test('`run --server` serves the bundled policies and stops cleanly on SIGTERM', async () => {
    const port = await freePort();
    const { out, err, exited, kill, waitFor } = runCli(['run', '--server', '--addr', `127.0.0.1:${port}`, '--decision-log', 'stdout', join(root, 'policies'), join(root, 'data')]);
    try {
      await waitFor(/"server started"/);
      const url = `http://127.0.0.1:${port}`;
      assert.equal(await allowedOf(await request(url + VERIFY, { method: 'POST', body: imageReview(['alpine:3.5']) })), true);
      assert.equal(await allowedOf(await request(url + VERIFY, { method: 'POST', body: imageReview(['wordpress:4-apache']) })), false);
      assert.equal((await request(url + VERIFY, { method: 'POST', body: '{"kind":"Pod"' })).status, 400);
      assert.equal((await request(url + '/health')).status, 200);
    } finally {
      kill();
    }
    assert.equal(await exited, 0, err.lines.join('\n'));
    const decisions = out.parsed().filter((l) => l.msg === 'Decision Log');
    assert.equal(decisions.length, 2);
    const logs = err.parsed();
    assert.ok(logs.some((l) => l.msg === 'server stopped'));
    assert.ok(logs.some((l) => l.msg === 'shutting down: finishing requests in flight' && l.signal === 'SIGTERM'));
  });
});

describe('--sync-config', () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const mainJs = join(here, '..', 'src', 'cli', 'main.js');
  const launcher = `const { main } = await import(${JSON.stringify(mainJs)}); process.exitCode = await main(process.argv.slice(1));`;

  for (const mode of ['http', 'https', 'client certificates', 'its own token'] as const) test(`the layer sync runs in the server process and writes manifests through the Data API (${mode})`, async () => {
    const tls = mode !== 'http';
    // A minimal registry: one repository with one tag and a single-platform manifest.
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const sha = (s: string): string => 'sha256:' + createHash('sha256').update(s).digest('hex');
    const layer = 'sha256:' + 'cd'.repeat(32);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 1234, digest: layer }],
    });
    const registry = createHttpServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/v2/' || url === '/v2') res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      else if (url.startsWith('/v2/acme/app/tags/list')) res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"name":"acme/app","tags":["1.0"]}');
      else if (url === '/v2/acme/app/manifests/1.0' || url === `/v2/acme/app/manifests/${sha(manifest)}`) {
        res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json', 'Docker-Content-Digest': sha(manifest), 'Content-Length': manifest.length });
        res.end(req.method === 'HEAD' ? undefined : manifest);
      } else if (url === `/v2/acme/app/blobs/${sha(config)}`) res.writeHead(200, { 'Content-Type': 'application/octet-stream' }).end(config);
      else res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"errors":[{"code":"NOT_FOUND"}]}');
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    const regPort = (registry.address() as { port: number }).port;
    const dir = tempDir();
    const cfg = join(dir, 'sync.yaml');
    writeFileSync(cfg, `pollDelay: 1h\nclair: {url: ""}\nregistries:\n  - url: http://127.0.0.1:${regPort}\n    repositories: [acme/app]\n`);
    const tokenFile = join(dir, 'tokens');
    writeFileSync(tokenFile, 'secret-token\n');
    let authArgs = ['--authentication', 'token', '--token-file', tokenFile];
    let client: { cert?: string; key?: string; headers?: Record<string, string> } = { headers: { Authorization: 'Bearer secret-token' } };
    if (mode === 'client certificates') {
      // The sync presents the client certificate its configuration names.
      const ca = makeCA(dir, 'clients');
      makeClientCert(dir, 'sync', ca);
      writeFileSync(cfg, `opa: {certFile: ${join(dir, 'sync.crt')}, keyFile: ${join(dir, 'sync.key')}}\n`, { flag: 'a' });
      authArgs = ['--authentication', 'tls', '--tls-ca-cert-file', ca.certFile];
      client = makeClientCert(dir, 'test', ca);
    }
    if (mode === 'its own token') {
      // The first token may only read; the sync's configuration names the token that may write.
      writeFileSync(tokenFile, 'reader-token\nwriter-token\n');
      writeFileSync(join(dir, 'sync-token'), 'writer-token\n');
      writeFileSync(cfg, `opa: {tokenFile: ${join(dir, 'sync-token')}}\n`, { flag: 'a' });
      const authz = join(dir, 'authz.rego');
      writeFileSync(authz, 'package system.authz\n\ndefault allow := false\n\nallow if input.identity == "writer-token"\n\nallow if {\n\tinput.identity == "reader-token"\n\tinput.method == "GET"\n}\n');
      authArgs = [...authArgs, '--authorization', 'basic', authz];
      client = { headers: { Authorization: 'Bearer reader-token' } };
    }

    // With TLS the in-process sync must trust the server's own certificate.
    const cert = tls ? makeCert(dir, 'image-enforcer.image-enforcer.svc') : undefined;
    const tlsArgs = cert ? ['--tls-cert-file', cert.certFile, '--tls-private-key-file', cert.keyFile] : [];
    const base = `${tls ? 'https' : 'http'}://127.0.0.1:`;
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', launcher, 'run', '--server', '--addr', `127.0.0.1:${port}`, '--decision-log', 'off', ...tlsArgs,
        ...authArgs, '--sync-config', cfg, join(root, 'policies'), join(root, 'data')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const err = new Lines();
    child.stderr.on('data', (b: Buffer) => err.write(b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let doc: Record<string, unknown> | undefined;
      for (let i = 0; i < 150 && !doc; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const r = await request(`${base}${port}/v1/data/docker/layers/acme/app/1.0`, { ...client, ca: cert ? [cert.cert] : undefined }).catch(() => undefined);
        if (r?.status === 200) doc = json<{ result?: Record<string, unknown> }>(r).result;
      }
      assert.ok(doc, err.lines.join('\n'));
      assert.deepEqual((doc.layers as Array<{ digest: string }>).map((l) => l.digest), [layer]);
      assert.ok(err.parsed().some((l) => l.msg === 'layer sync started'));
      // The sync's counters are on the server's /metrics (counted just after the write lands).
      const synced = new RegExp(`^image_enforcer_sync_images_synced_total\\{registry="127\\.0\\.0\\.1:${regPort}"\\} 1$`, 'm');
      let metrics = '';
      for (let i = 0; i < 50 && !synced.test(metrics); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 100));
        metrics = (await request(`${base}${port}/metrics`, { ...client, ca: cert ? [cert.cert] : undefined })).text;
      }
      assert.match(metrics, synced);
    } finally {
      child.kill('SIGTERM');
      registry.close();
    }
    assert.equal(await exited, 0, err.lines.join('\n'));
  });

  test('with client certificates, a sync configuration without one stops the command before it listens', async () => {
    const dir = tempDir();
    const cert = makeCert(dir, 'server');
    const ca = makeCA(dir, 'clients');
    const cfg = join(dir, 'sync.yaml');
    writeFileSync(cfg, 'pollDelay: 1h\nclair: {url: ""}\nregistries:\n  - url: http://127.0.0.1:1\n    repositories: [acme/app]\n');
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', launcher, 'run', '--server', '--addr', `127.0.0.1:${port}`, '--tls-cert-file', cert.certFile, '--tls-private-key-file', cert.keyFile,
        '--authentication', 'tls', '--tls-ca-cert-file', ca.certFile, '--sync-config', cfg, join(root, 'policies')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.equal(code, 1);
    assert.match(stderr, /^error: --sync-config \S+sync\.yaml: with --authentication=tls the sync needs a client certificate .*: set opa\.certFile and opa\.keyFile\n$/);
  });

  test('a bad sync configuration stops the command before it listens', async () => {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      ['--input-type=module', '-e', launcher, 'run', '--server', '--addr', `127.0.0.1:${port}`, '--sync-config', join(tempDir(), 'missing.yaml'), join(root, 'policies')],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    assert.notEqual(code, 0);
    assert.match(stderr, /missing\.yaml/);
  });
});
