// The policy server's REST API over real HTTP on loopback: OPA's v0/v1 Data API, Policy API,
// Query API, health, the default decision, status codes and error bodies, and bad input of every
// kind (each answered clearly, the server still serving afterwards).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Runtime } from '../src/runtime/runtime.js';
import { createServer, parseAddr, type ServerHandle } from '../src/server/index.js';
import { Lines, imageReview, json, request, type Reply, type RequestOptions } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const VERIFY = '/v0/data/io/k8s/image_policy/verify';

let runtime: Runtime;
let srv: ServerHandle;
let decisions: Lines;
let logs: Lines;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

const call = (path: string, o: RequestOptions = {}): Promise<Reply> => request(srv.url + path, { agent, ...o });
const post = (path: string, body: string, headers: Record<string, string> = {}): Promise<Reply> =>
  call(path, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });

/** The server still answers a normal webhook call correctly. */
async function stillServing(): Promise<void> {
  const r = await post(VERIFY, imageReview(['alpine:3.5']));
  assert.equal(r.status, 200);
  assert.equal((json(r).status as { allowed: boolean }).allowed, true);
}

before(async () => {
  runtime = await Runtime.start({
    paths: [join(root, 'policies'), join(root, 'data'), join(root, 'test/fixtures/server/extra')],
  });
  decisions = new Lines();
  logs = new Lines();
  srv = await createServer(runtime, {
    addr: '127.0.0.1:0',
    authentication: 'off',
    maxBodyBytes: 64 * 1024,
    evalTimeoutMs: 5000,
    decisionLog: 'off',
    decisionLogSink: decisions,
    logSink: logs,
  });
});

after(async () => {
  agent.destroy();
  await srv.close();
  runtime.close();
});

describe('addresses', () => {
  test('parseAddr accepts :port, host:port and [v6]:port and rejects the rest', () => {
    assert.deepEqual(parseAddr(':8181'), { host: undefined, port: 8181 });
    assert.deepEqual(parseAddr('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseAddr('[::1]:8181'), { host: '::1', port: 8181 });
    assert.throws(() => parseAddr('8181'), /invalid --addr "8181"/);
    assert.throws(() => parseAddr('host:99999'), /invalid --addr/);
  });
});

describe('v0 Data API (the ImagePolicyWebhook endpoint)', () => {
  test('allowed ImageReview gets an ImageReview with status.allowed true', async () => {
    const r = await post(VERIFY, imageReview(['alpine:3.5', 'openpolicyagent/opa:0.4.10']));
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /application\/json/);
    assert.deepEqual(json(r), { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
  });

  test('denied ImageReview names the image and why', async () => {
    const r = await post(VERIFY, imageReview(['wordpress:4-apache', 'openpolicyagent/opa:0.4.10']));
    assert.equal(r.status, 200);
    const status = json(r).status as { allowed: boolean; reason: string };
    assert.equal(status.allowed, false);
    assert.match(status.reason, /^image wordpress:4-apache has \d+ known vulnerabilities \(CVE-/);
  });

  test('undefined document: 404 undefined_document naming the ref', async () => {
    const r = await post('/v0/data/io/k8s/nothing/here', '{}');
    assert.equal(r.status, 404);
    assert.deepEqual(json(r), { code: 'undefined_document', message: 'document missing or undefined: data.io.k8s.nothing.here' });
  });

  test('raw value out for any path, empty body allowed', async () => {
    const r = await call('/v0/data/mock/allowed/kind', { method: 'POST' });
    assert.equal(r.status, 200);
    assert.equal(r.text, '"ImageReview"');
  });

  test('YAML input with application/x-yaml', async () => {
    const yaml = 'apiVersion: imagepolicy.k8s.io/v1alpha1\nkind: ImageReview\nspec:\n  namespace: production\n  containers:\n  - image: wordpress:4-apache\n';
    const r = await post(VERIFY, yaml, { 'Content-Type': 'application/x-yaml' });
    assert.equal(r.status, 200);
    assert.equal((json(r).status as { allowed: boolean }).allowed, false);
  });

  test('gzip-compressed input', async () => {
    const r = await call(VERIFY, {
      method: 'POST',
      body: gzipSync(imageReview(['wordpress:4-apache'])),
      headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' },
    });
    assert.equal(r.status, 200);
    assert.equal((json(r).status as { allowed: boolean }).allowed, false);
  });

  test('corrupt gzip and unknown encodings are refused clearly', async () => {
    const bad = await call(VERIFY, { method: 'POST', body: 'not gzip', headers: { 'Content-Encoding': 'gzip' } });
    assert.equal(bad.status, 400);
    assert.match(json(bad).message as string, /could not decompress the body/);
    const br = await call(VERIFY, { method: 'POST', body: 'x', headers: { 'Content-Encoding': 'br' } });
    assert.equal(br.status, 415);
    assert.match(json(br).message as string, /unsupported Content-Encoding "br"/);
    await stillServing();
  });

  test('?pretty indents the raw value', async () => {
    const r = await post(VERIFY + '?pretty=true', imageReview(['alpine:3.5']));
    assert.equal(r.text, '{\n  "apiVersion": "imagepolicy.k8s.io/v1alpha1",\n  "kind": "ImageReview",\n  "status": {\n    "allowed": true\n  }\n}\n');
  });
});

describe('ImageReview hardening', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['malformed JSON', '{"kind": "ImageReview", "spec": {', /^unexpected parse error for input: .*line 1/],
    ['truncated body', imageReview(['alpine:3.5']).slice(0, 40), /^unexpected parse error for input/],
    ['an array', '[1, 2]', /invalid ImageReview: expected an ImageReview object, got array/],
    ['a string', '"ImageReview"', /invalid ImageReview: expected an ImageReview object, got string/],
    ['an empty body', '', /invalid ImageReview: the body is empty/],
    ['wrong kind', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"Pod","spec":{"containers":[{"image":"a"}]}}', /invalid ImageReview: wrong kind "Pod": expected "ImageReview"/],
    ['AdmissionReview', '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}', /wrong kind "AdmissionReview"/],
    ['no kind', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","spec":{"containers":[{"image":"a"}]}}', /missing "kind"/],
    ['wrong apiVersion', '{"apiVersion":"v1","kind":"ImageReview","spec":{"containers":[{"image":"a"}]}}', /unsupported apiVersion "v1"/],
    ['missing spec', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview"}', /invalid ImageReview: missing "spec"/],
    ['spec not an object', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":[]}', /"spec" must be an object, got array/],
    ['missing containers', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"namespace":"production"}}', /missing "spec.containers"/],
    ['empty containers', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[]}}', /"spec.containers" is empty: there is no image to review/],
    ['containers not a list', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":{"image":"a"}}}', /"spec.containers" must be a list, got object/],
    ['a number as image', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"a"},{"image":42}]}}', /"spec.containers\[1\].image" must be a string, got number/],
    ['container without image', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"name":"x"}]}}', /"spec.containers\[0\].image" is missing/],
    ['empty image', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":" "}]}}', /"spec.containers\[0\].image" is empty/],
    ['container as a string', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":["nginx"]}}', /"spec.containers\[0\]" must be an object with an "image", got string "nginx"/],
    ['namespace not a string', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"a"}],"namespace":7}}', /"spec.namespace" must be a string, got number/],
    ['annotation not a string', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[{"image":"a"}],"annotations":{"a.image-policy.k8s.io/x":true}}}', /"spec.annotations\["a.image-policy.k8s.io\/x"\]" must be a string, got boolean/],
    ['deeply nested JSON', '['.repeat(60_000), /^unexpected parse error for input/],
  ];
  for (const [what, body, want] of cases) {
    test(`${what}: 400 with a clear message`, async () => {
      const r = await post(VERIFY, body);
      assert.equal(r.status, 400, r.text);
      const e = json(r);
      assert.equal(e.code, 'invalid_parameter');
      assert.match(e.message as string, want);
    });
  }

  test('an ImageReview body is checked on any /v0/data path', async () => {
    const r = await post('/v0/data/mock', '{"apiVersion":"imagepolicy.k8s.io/v1alpha1","kind":"ImageReview","spec":{"containers":[]}}');
    assert.equal(r.status, 400);
    assert.match(json(r).message as string, /spec.containers" is empty/);
  });

  test('the API server\'s fields left empty (metadata, status) and annotations are accepted', async () => {
    const body = JSON.stringify({
      apiVersion: 'imagepolicy.k8s.io/v1alpha1',
      kind: 'ImageReview',
      metadata: { creationTimestamp: null },
      spec: {
        containers: [{ image: 'myrepo/myimage:v1' }, { image: 'myrepo/myimage@sha256:beb6bd6a68f114c1dc2ea4b28db81bdf91de202a9014972bec5e4d9171d90ed0' }],
        annotations: { 'mycluster.image-policy.k8s.io/ticket-1234': 'break-glass' },
        namespace: 'mynamespace',
      },
      status: { allowed: false },
    });
    const r = await post(VERIFY, body);
    assert.equal(r.status, 200);
    assert.equal((json(r).status as { allowed: boolean }).allowed, true);
  });

  test('after every kind of bad body the server still serves', stillServing);
});

describe('v1 Data API reads', () => {
  test('GET returns {"result": value} with a decision id', async () => {
    const r = await call('/v1/data/mock/denied/spec/namespace');
    assert.equal(r.status, 200);
    const body = json(r);
    assert.equal(body.result, 'production');
    assert.match(String(body.decision_id), /^[0-9a-f-]{36}$/);
  });

  test('GET of an undefined document is 200 {} (plus decision id)', async () => {
    const r = await call('/v1/data/does/not/exist');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(json(r)), ['decision_id']);
  });

  test('GET with ?input= evaluates with that input', async () => {
    const input = encodeURIComponent(imageReview(['wordpress:4-apache']));
    const r = await call(`/v1/data/io/k8s/image_policy/allow?input=${input}`);
    assert.equal(json(r).result, false);
  });

  test('GET with a bad ?input= is 400', async () => {
    const r = await call('/v1/data/x?input=%7Bnope');
    assert.equal(r.status, 400);
    assert.match(json(r).message as string, /^invalid input parameter/);
  });

  test('POST {"input": ...} evaluates with the input', async () => {
    const r = await post('/v1/data/io/k8s/image_policy/verify', `{"input": ${imageReview(['wordpress:4-apache'])}}`);
    const result = json(r).result as { status: { allowed: boolean } };
    assert.equal(result.status.allowed, false);
  });

  test('POST without "input" warns like OPA', async () => {
    const r = await post('/v1/data/mock/allowed/kind', '{}');
    assert.deepEqual(json(r).warning, { code: 'api_usage_warning', message: "'input' key missing from the request" });
  });

  test('POST with a non-object body or malformed JSON is 400', async () => {
    const a = await post('/v1/data/x', '[1]');
    assert.equal(a.status, 400);
    assert.match(json(a).message as string, /body must be an object like \{"input": \.\.\.\}, got array/);
    const b = await post('/v1/data/x', '{"input": ');
    assert.equal(b.status, 400);
    assert.match(json(b).message as string, /^body contains malformed input document/);
  });

  test('integer segments index arrays, and are keys in objects', async () => {
    const r = await call('/v1/data/mock/allowed/spec/containers/1/image');
    assert.equal(json(r).result, 'openpolicyagent/opa:0.4.10');
    await call('/v1/data/tags/library/alpine/3', { method: 'PUT', body: '{"ok": true}' });
    const t = await call('/v1/data/tags/library/alpine/3/ok');
    assert.equal(json(t).result, true);
  });

  test('?metrics, ?provenance, ?pretty', async () => {
    const r = await call('/v1/data/mock/allowed/kind?metrics=true&provenance&pretty');
    const body = json<{ metrics: Record<string, number>; provenance: { version: string } }>(r);
    assert.ok(body.metrics.timer_rego_query_eval_ns >= 0);
    assert.ok(body.metrics.timer_server_handler_ns > 0);
    assert.match(body.provenance.version, /^\d+\.\d+\.\d+/);
    assert.ok(r.text.startsWith('{\n  "provenance": {'), r.text);
    assert.ok(r.text.endsWith('}\n'));
  });

  test('?explain=notes returns trace() notes; other modes are refused clearly', async () => {
    const r = await call('/v1/data/testing/traced?explain=notes');
    const body = json<{ result: boolean; explanation: Array<{ op: string; message: string }> }>(r);
    assert.equal(body.result, true);
    assert.deepEqual(body.explanation.map((e) => [e.op, e.message]), [['note', 'checking the traced rule']]);
    const full = await call('/v1/data/testing/traced?explain=full');
    assert.equal(full.status, 400);
    assert.match(json(full).message as string, /explain=full is not supported/);
  });

  test('evaluation errors are 500 with the Rego error', async () => {
    const r = await post('/v1/data/testing/conflict', '{"input": {"x": true}}');
    assert.equal(r.status, 500);
    const e = json<{ code: string; message: string; errors: Array<{ code: string }> }>(r);
    assert.equal(e.code, 'internal_error');
    assert.equal(e.message, 'error(s) occurred while evaluating query');
    assert.equal(e.errors[0].code, 'eval_conflict_error');
  });

  test('strict-builtin-errors turns a builtin error into a 500', async () => {
    const lax = await call('/v1/data/testing/bad_number');
    assert.equal(lax.status, 200);
    assert.equal(json(lax).result, undefined);
    const strict = await call('/v1/data/testing/bad_number?strict-builtin-errors=true');
    assert.equal(strict.status, 500);
    assert.match(strict.text, /eval_builtin_error|to_number/);
  });
});

describe('v1 Data API writes', () => {
  test('PUT creates parents (mkdir -p) and answers 204', async () => {
    const r = await call('/v1/data/team/a/b', { method: 'PUT', body: '{"x": 1}' });
    assert.equal(r.status, 204);
    assert.equal(r.text, '');
    assert.deepEqual(json((await call('/v1/data/team'))).result, { a: { b: { x: 1 } } });
  });

  test('PUT replaces; If-None-Match: * leaves an existing document alone (304)', async () => {
    await call('/v1/data/team/a/b', { method: 'PUT', body: '{"x": 2}' });
    const r = await call('/v1/data/team/a/b', { method: 'PUT', body: '{"x": 3}', headers: { 'If-None-Match': '*' } });
    assert.equal(r.status, 304);
    assert.deepEqual(json(await call('/v1/data/team/a/b')).result, { x: 2 });
    const fresh = await call('/v1/data/team/c', { method: 'PUT', body: '"new"', headers: { 'If-None-Match': '*' } });
    assert.equal(fresh.status, 204);
  });

  test('PUT through a non-object is a 404 write conflict', async () => {
    await call('/v1/data/scalar', { method: 'PUT', body: '5' });
    const r = await call('/v1/data/scalar/child', { method: 'PUT', body: '1' });
    assert.equal(r.status, 404);
    assert.equal(json(r).code, 'resource_conflict');
  });

  test('PUT where rules live is refused (404 resource_conflict), data unchanged', async () => {
    for (const path of ['/v1/data/io/k8s/image_policy/verify', '/v1/data/io/k8s/image_policy/verify/status', '/v1/data/io/k8s']) {
      const r = await call(path, { method: 'PUT', body: path.endsWith('k8s') ? '{"image_policy": {"allow": true}}' : '1' });
      assert.equal(r.status, 404, path);
      const e = json(r);
      assert.equal(e.code, 'resource_conflict');
      assert.match(e.message as string, /rules define data\.io\.k8s\.image_policy/);
    }
    // A sibling next to the rules is fine.
    assert.equal((await call('/v1/data/io/other', { method: 'PUT', body: '1' })).status, 204);
    await stillServing();
  });

  test('PUT with a malformed or empty body is 400; root must be an object', async () => {
    const bad = await call('/v1/data/team/z', { method: 'PUT', body: '{"a": ' });
    assert.equal(bad.status, 400);
    assert.match(json(bad).message as string, /malformed document/);
    const empty = await call('/v1/data/team/z', { method: 'PUT', body: '' });
    assert.equal(empty.status, 400);
    assert.match(json(empty).message as string, /the body is empty/);
    const root = await call('/v1/data', { method: 'PUT', body: '[1]' });
    assert.equal(root.status, 400);
    assert.match(json(root).message as string, /root document must be an object/);
  });

  test('PATCH applies JSON Patch operations relative to the URL path', async () => {
    await call('/v1/data/patched', { method: 'PUT', body: '{"list": [1], "a": 1}' });
    const r = await call('/v1/data/patched', {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: '[{"op":"add","path":"/list/-","value":2},{"op":"replace","path":"a","value":10},{"op":"add","path":"/b","value":{"c":true}},{"op":"remove","path":"/b/c"}]',
    });
    assert.equal(r.status, 204, r.text);
    assert.deepEqual(json(await call('/v1/data/patched')).result, { a: 10, b: {}, list: [1, 2] });
  });

  test('bad patches are 400 and change nothing', async () => {
    const before = json(await call('/v1/data/patched')).result;
    const cases: Array<[string, RegExp]> = [
      ['{"op":"add"}', /a JSON Patch must be an array/],
      ['[{"op":"frobnicate","path":"/a"}]', /bad patch operation: frobnicate/],
      ['[{"path":"/a"}]', /"op" must be a string/],
      ['[{"op":"add","value":1}]', /"path" must be a string/],
      ['[1]', /expected an object with "op" and "path"/],
      ['[{"op":"add", ', /malformed JSON Patch/],
      ['[{"op":"add","path":"/a","value":1},{"op":"test","path":"/a","value":99}]', /.+/],
    ];
    for (const [body, want] of cases) {
      const r = await call('/v1/data/patched', { method: 'PATCH', body, headers: { 'Content-Type': 'application/json-patch+json' } });
      assert.equal(r.status, 400, body + ' -> ' + r.text);
      assert.match(json(r).message as string, want);
    }
    assert.deepEqual(json(await call('/v1/data/patched')).result, before);
  });

  test('PATCH remove of a missing document is 404; into rules is refused', async () => {
    const r = await call('/v1/data/patched', { method: 'PATCH', body: '[{"op":"remove","path":"/nope"}]' });
    assert.equal(r.status, 404);
    assert.equal(json(r).code, 'resource_not_found');
    const rules = await call('/v1/data/io/k8s', { method: 'PATCH', body: '[{"op":"add","path":"/image_policy/allow","value":true}]' });
    assert.equal(rules.status, 404);
    assert.equal(json(rules).code, 'resource_conflict');
    await stillServing();
  });

  test('DELETE is 204, then 404 when the document is gone', async () => {
    await call('/v1/data/gone', { method: 'PUT', body: '{"x": 1}' });
    assert.equal((await call('/v1/data/gone', { method: 'DELETE' })).status, 204);
    const again = await call('/v1/data/gone', { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(json(again).code, 'resource_not_found');
    const root = await call('/v1/data', { method: 'DELETE' });
    assert.equal(root.status, 405);
  });

  test('written data is what policies see', async () => {
    // The sample data has no manifest for this image: allowed. Add one with a vulnerable layer.
    const review = imageReview(['acme/app:1.0']);
    assert.equal((json(await post(VERIFY, review)).status as { allowed: boolean }).allowed, true);
    const digest = 'sha256:' + 'ab'.repeat(32);
    await call('/v1/data/docker/layers/acme/app/1.0', { method: 'PUT', body: JSON.stringify({ config: {}, layers: [{ digest }] }) });
    await call(`/v1/data/clair/layers/${encodeURIComponent(digest)}`, {
      method: 'PUT',
      body: '{"Layer": {"Features": [{"Name": "openssl", "Vulnerabilities": [{"Name": "CVE-2099-0001"}]}]}}',
    });
    const status = json(await post(VERIFY, review)).status as { allowed: boolean; reason: string };
    assert.equal(status.allowed, false);
    assert.equal(status.reason, 'image acme/app:1.0 has 1 known vulnerabilities (CVE-2099-0001)');
  });
});

describe('Policy API', () => {
  const mod = 'package api.pushed\n\nimport rego.v1\n\ngreeting := sprintf("hello %s", [input.who])\n';

  test('GET /v1/policies lists the loaded modules with id, raw and ast', async () => {
    const r = await call('/v1/policies');
    const list = json<{ result: Array<{ id: string; raw: string; ast: { package: unknown } }> }>(r).result;
    const def = list.find((p) => p.id.endsWith('policies/default.rego'));
    assert.ok(def, 'default.rego listed');
    assert.match(def.raw, /^# Entry point of the image policy/);
    assert.ok(def.ast.package);
  });

  test('PUT creates a module that is evaluated at once; GET returns it', async () => {
    const put = await call('/v1/policies/pushed', { method: 'PUT', body: mod, headers: { 'Content-Type': 'text/plain' } });
    assert.equal(put.status, 200);
    assert.deepEqual(json(put), {});
    const r = await post('/v1/data/api/pushed/greeting', '{"input": {"who": "webhook"}}');
    assert.equal(json(r).result, 'hello webhook');
    const got = json<{ result: { id: string; raw: string } }>(await call('/v1/policies/pushed')).result;
    assert.equal(got.id, 'pushed');
    assert.equal(got.raw, mod);
  });

  test('PUT of a module with errors is 400 with the errors, and the old module stays', async () => {
    const broken = await call('/v1/policies/pushed', { method: 'PUT', body: 'package api.pushed\n\ngreeting := \n' });
    assert.equal(broken.status, 400);
    const e = json<{ code: string; message: string; errors: Array<{ code: string; location: { file: string; row: number } }> }>(broken);
    assert.equal(e.code, 'invalid_parameter');
    assert.equal(e.message, 'error(s) occurred while compiling module(s)');
    assert.equal(e.errors[0].code, 'rego_parse_error');
    assert.equal(e.errors[0].location.file, 'pushed');

    const unsafe = await call('/v1/policies/pushed', { method: 'PUT', body: 'package api.pushed\n\ngreeting := x if { y := 1 }\n' });
    assert.equal(unsafe.status, 400);
    assert.ok(json<{ errors: Array<{ code: string }> }>(unsafe).errors.some((x) => /rego_(unsafe_var|compile)_error/.test(x.code)));

    const typed = await call('/v1/policies/typed', { method: 'PUT', body: 'package api.pushed\n\nother := count(1)\n' });
    assert.equal(typed.status, 400);
    assert.equal(json<{ errors: Array<{ code: string }> }>(typed).errors[0].code, 'rego_type_error');

    assert.equal(json(await call('/v1/policies/pushed')).result && (json<{ result: { raw: string } }>(await call('/v1/policies/pushed')).result.raw), mod);
    assert.equal(json(await post('/v1/data/api/pushed/greeting', '{"input": {"who": "x"}}')).result, 'hello x');
    assert.equal((await call('/v1/policies/typed')).status, 404);
    await stillServing();
  });

  test('empty module is refused', async () => {
    const r = await call('/v1/policies/empty', { method: 'PUT', body: '  \n' });
    assert.equal(r.status, 400);
    assert.equal(json(r).message, 'empty module');
  });

  test('modules loaded from files cannot be replaced or deleted through the API', async () => {
    const id = json<{ result: Array<{ id: string }> }>(await call('/v1/policies')).result.find((p) => p.id.endsWith('default.rego'))!.id;
    const put = await call(`/v1/policies/${id}`, { method: 'PUT', body: 'package x\n' });
    assert.equal(put.status, 400);
    assert.match(json(put).message as string, /was loaded from a file/);
    const del = await call(`/v1/policies/${id}`, { method: 'DELETE' });
    assert.equal(del.status, 400);
    await stillServing();
  });

  test('DELETE removes a module (200 {}), then 404; dependants block a delete', async () => {
    await call('/v1/policies/base', { method: 'PUT', body: 'package api.lib\n\nf(x) := x * 2\n' });
    await call('/v1/policies/user', { method: 'PUT', body: 'package api.user\n\nimport data.api.lib\n\ny := lib.f(21)\n' });
    assert.equal(json(await call('/v1/data/api/user/y')).result, 42);
    const blocked = await call('/v1/policies/base', { method: 'DELETE' });
    assert.equal(blocked.status, 400);
    assert.equal(json(blocked).code, 'invalid_operation');
    assert.equal(json(await call('/v1/data/api/user/y')).result, 42);
    assert.equal((await call('/v1/policies/user', { method: 'DELETE' })).status, 200);
    const del = await call('/v1/policies/base', { method: 'DELETE' });
    assert.equal(del.status, 200);
    assert.deepEqual(json(del), {});
    const again = await call('/v1/policies/base', { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.deepEqual(json(again), { code: 'resource_not_found', message: 'storage_not_found_error: policy id "base"' });
    assert.equal((await call('/v1/policies/nope')).status, 404);
  });
});

describe('Query API, default decision, health', () => {
  test('GET /v1/query?q= returns bindings', async () => {
    const q = encodeURIComponent('some c in data.mock.allowed.spec.containers; image := c.image');
    const r = await call(`/v1/query?q=${q}`);
    assert.equal(r.status, 200);
    const result = json<{ result: Array<Record<string, unknown>> }>(r).result;
    assert.deepEqual(result.map((b) => b.image).sort(), ['alpine:3.5', 'openpolicyagent/opa:0.4.10']);
  });

  test('POST /v1/query with input; no solutions is {}', async () => {
    const r = await post('/v1/query', '{"query": "x := input.n + 1", "input": {"n": 41}}');
    assert.deepEqual(json(r), { result: [{ x: 42 }] });
    const none = await post('/v1/query', '{"query": "x := data.nothing.here"}');
    assert.deepEqual(json(none), {});
  });

  test('query errors are 400 with the parser or compiler errors', async () => {
    const parse = await call(`/v1/query?q=${encodeURIComponent('x := ')}`);
    assert.equal(parse.status, 400);
    assert.equal(json(parse).message, 'error(s) occurred while parsing query');
    const compile = await call(`/v1/query?q=${encodeURIComponent('x := y')}`);
    assert.equal(compile.status, 400);
    assert.equal(json(compile).message, 'error(s) occurred while compiling query');
    const missing = await call('/v1/query');
    assert.equal(missing.status, 400);
    assert.equal(json(missing).message, "missing parameter 'q'");
    const body = await post('/v1/query', '{"q": 1}');
    assert.equal(body.status, 400);
    await stillServing();
  });

  test('POST / evaluates data.system.main with the raw input; undefined is 404', async () => {
    const r = await post('/', '{"name": "enforcer"}');
    assert.equal(r.status, 200);
    assert.deepEqual(json(r), { hello: 'enforcer' });
    const u = await post('/', '{}');
    assert.equal(u.status, 404);
    assert.deepEqual(json(u), { code: 'undefined_document', message: 'document missing or undefined: data.system.main' });
  });

  test('health endpoints', async () => {
    const h = await call('/health');
    assert.equal(h.status, 200);
    assert.equal(h.text, '{}');
    assert.equal((await call('/health/live')).status, 200);
    assert.equal((await call('/health/ready')).status, 200);
    assert.equal((await call('/health/custom')).status, 200);
    const missing = await call('/health/unknown');
    assert.equal(missing.status, 500);
    assert.deepEqual(json(missing), { error: 'health check (data.system.health.unknown) was undefined' });
  });

  test('HEAD and OPTIONS on known paths are 405; unknown paths 404', async () => {
    for (const [method, path] of [['HEAD', '/v1/data/x'], ['OPTIONS', '/v1/data/x'], ['GET', VERIFY], ['DELETE', '/v1/query'], ['PATCH', '/v1/policies/x'], ['PUT', '/health']]) {
      const r = await call(path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.ok(r.headers.allow, 'Allow header');
    }
    const r = await call('/v2/data/x');
    assert.equal(r.status, 404);
    assert.equal(json(r).code, 'resource_not_found');
    assert.match(json(r).message as string, /the API is under .*\/v1\/admit, \/v1\/mutate, \/health and \/metrics$/);
    // GET / names every endpoint, the webhooks included.
    const index = json(await call('/')) as { endpoints: string[] };
    for (const e of ['/v0/data/{path}', '/v1/data/{path}', '/v1/policies/{id}', '/v1/query', '/v1/admit', '/v1/mutate', '/health', '/metrics']) assert.ok(index.endpoints.includes(e), e);
    await stillServing();
  });

  test('bad percent-encoding in a path is 400', async () => {
    const r = await call('/v1/data/%E0%A4%A');
    assert.equal(r.status, 400);
    assert.match(json(r).message as string, /invalid path/);
  });
});

describe('observability', () => {
  test('one decision log line per decision, with input, result and timings', async () => {
    const before = decisions.lines.length;
    const review = imageReview(['wordpress:4-apache']);
    await post(VERIFY, review);
    const v1 = json(await post('/v1/data/io/k8s/image_policy/allow', `{"input": ${review}}`));
    const lines = decisions.parsed().slice(before);
    assert.equal(lines.length, 2);
    const [v0, d1] = lines;
    assert.equal(v0.msg, 'Decision Log');
    assert.equal(v0.path, 'io/k8s/image_policy/verify');
    assert.deepEqual(v0.input, JSON.parse(review));
    assert.equal(((v0.result as { status: { allowed: boolean } }).status).allowed, false);
    assert.match(String(v0.decision_id), /^[0-9a-f-]{36}$/);
    assert.ok(!Number.isNaN(Date.parse(String(v0.timestamp))));
    const m = v0.metrics as Record<string, number>;
    assert.ok(m.timer_rego_query_eval_ns > 0);
    assert.ok(m.timer_server_handler_ns >= m.timer_rego_query_eval_ns);
    assert.equal(d1.decision_id, v1.decision_id);
    assert.equal(d1.result, false);
  });

  test('decisions that fail are logged with the error', async () => {
    const before = decisions.lines.length;
    await post('/v1/data/testing/conflict', '{"input": {"x": 1}}');
    const [line] = decisions.parsed().slice(before);
    assert.equal((line.error as { code: string }).code, 'internal_error');
    assert.equal(line.result, undefined);
  });

  test('/metrics exposes request and evaluation latency histograms and counters', async () => {
    await post(VERIFY, imageReview(['alpine:3.5']));
    await post(VERIFY, 'garbage');
    const r = await call('/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /text\/plain/);
    assert.match(r.text, /^# TYPE http_request_duration_seconds histogram$/m);
    assert.match(r.text, /^http_request_duration_seconds_bucket\{le="[0-9.]+",code="200",handler="v0\/data",method="POST"\} [1-9]\d*$/m);
    assert.match(r.text, /^http_request_duration_seconds_count\{code="400",handler="v0\/data",method="POST"\} [1-9]\d*$/m);
    assert.match(r.text, /^image_enforcer_eval_duration_seconds_count\{handler="v0\/data"\} [1-9]\d*$/m);
    assert.match(r.text, /^image_enforcer_image_reviews_total\{allowed="true"\} [1-9]\d*$/m);
    assert.match(r.text, /^image_enforcer_image_reviews_total\{allowed="false"\} [1-9]\d*$/m);
    assert.match(r.text, /^image_enforcer_decisions_total\{handler="v1\/data",outcome="undefined"\} [1-9]\d*$/m);
    assert.match(r.text, /^image_enforcer_bad_requests_total\{handler="v0\/data",reason="invalid"\} [1-9]\d*$/m);
    assert.match(r.text, /^image_enforcer_policy_updates_total\{operation="put",outcome="rejected"\} [1-9]\d*$/m);
  });

  test('server logs are JSON lines', () => {
    const lines = logs.parsed();
    assert.ok(lines.some((l) => l.msg === 'policy updated' && l.id === 'pushed'), logs.lines.join('\n'));
    for (const l of lines) {
      assert.equal(typeof l.level, 'string');
      assert.equal(typeof l.time, 'string');
    }
  });
});

// Input that once crashed the server, lost an answer or got no clear message; each was found by
// throwing random requests at it (test/server-fuzz.test.ts).
describe('broken HTTP and bodies found by the fuzz test', () => {
  /** Writes raw bytes and reads until the server closes the connection. */
  const raw = (text: string): Promise<string> =>
    new Promise((resolve, reject) => {
      let got = '';
      const s = connect(srv.port, '127.0.0.1', () => s.write(text));
      s.setEncoding('latin1');
      s.setTimeout(5000, () => s.destroy());
      s.on('data', (d: string) => (got += d));
      s.on('close', () => resolve(got));
      s.on('error', reject);
    });
  const statuses = (answer: string): number[] => [...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  const lastBody = (answer: string): Record<string, unknown> => JSON.parse(answer.slice(answer.lastIndexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

  test('deeply nested YAML is refused clearly (two such bodies in a row aborted the process)', async () => {
    for (const body of ['['.repeat(1000), '{a: '.repeat(1000), '- '.repeat(1000) + 'x', '['.repeat(1000)]) {
      const r = await post(VERIFY, body, { 'Content-Type': 'application/x-yaml' });
      assert.equal(r.status, 400, r.text);
      assert.match(json(r).message as string, /nested too deeply: YAML data may nest at most 200 levels/);
    }
    await stillServing();
  });

  test('requests Node cannot parse get OPA\'s error body, without one for HEAD', async () => {
    const junk = await raw('FOO /health HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.deepEqual(statuses(junk), [400]);
    assert.match(lastBody(junk).message as string, /^malformed HTTP request: Parse Error/);
    const long = await raw(`GET /v1/data?input=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.deepEqual(statuses(long), [431]);
    assert.deepEqual(Object.keys(lastBody(long)), ['code', 'message']);
    assert.match(lastBody(long).message as string, /too large: the limit is \d+ bytes \(send large inputs in a POST body/);
    const head = await raw(`HEAD /v1/data?input=${'x'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.deepEqual(statuses(head), [431]);
    assert.ok(head.endsWith('\r\n\r\n'), 'no body after the headers');
  });

  test('HTTP/1.1 without a Host header is a 400 with a message; HTTP/1.0 needs none', async () => {
    const noHost = await raw('GET /health HTTP/1.1\r\nConnection: close\r\n\r\n');
    assert.deepEqual(statuses(noHost), [400]);
    assert.deepEqual(lastBody(noHost), { code: 'invalid_parameter', message: 'the request has no Host header: HTTP/1.1 requires one' });
    assert.deepEqual(statuses(await raw('GET /health HTTP/1.0\r\n\r\n')), [200]);
  });

  test('CONNECT is a 405, not a connection dropped without an answer', async () => {
    const answer = await raw('CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n');
    assert.deepEqual(statuses(answer), [405]);
    assert.equal(lastBody(answer).code, 'invalid_operation');
    await stillServing();
  });

  test('a broken request pipelined behind good ones is answered after them', async () => {
    // The 400 used to go out at once: the client took it for the first answer, and the real
    // answers were lost.
    const input = '{"input": {"user": "alice"}}';
    const good = `POST /v1/data/testing/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${input.length}\r\n\r\n${input}`;
    const answer = await raw(good + good + 'BROKEN\r\n\r\n');
    assert.deepEqual(statuses(answer), [200, 200, 400]);
    // A request broken inside its own body is answered at once (nothing to wait for).
    const chunked = await raw('PUT /v1/data/scratch/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    assert.deepEqual(statuses(chunked), [400]);
  });
});
