// The validating admission webhook handler (src/kube/admission.ts): real AdmissionReview JSON for
// every workload kind, with allowed, denied, warned and audited images in every container list,
// checked field by field; the ephemeralcontainers subresource; v1beta1; dryRun; failure modes;
// and malformed requests, which must get a 400 or a well-formed answer, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import fc from 'fast-check';
import { parse as parseYAML } from 'yaml';
import { admit, type AdmissionRuntime, type AdmitOptions, type AdmitResult } from '../src/kube/admission.js';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { fromJSON, RObject, toJSON } from '../src/rego/value.js';
import { Runtime } from '../src/runtime/runtime.js';
import { KINDS, POD, objectOf, reviewOf, type Obj } from './fixtures/admission/objects.js';
import { validateObject } from './fixtures/admission/validate.js';
import { json, makeCert, request, tempDir } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const runtime = await Runtime.start({ paths: [join(root, 'policies'), join(root, 'data')] });
runtime.store.put(['image_policy'], fromJSON(parseYAML(readFileSync(join(root, 'test/fixtures/admission/config.yaml'), 'utf8'))));

const OPTS: AdmitOptions = { failureMode: 'deny', timeoutMs: 5000 };
const UID = '705ab4f5-6393-11e8-b7cc-42010a800002';

type Response = { uid: string; allowed: boolean; status?: { code: number; reason?: string; message: string }; warnings?: string[]; auditAnnotations?: Record<string, string> };

function responseOf(r: AdmitResult, apiVersion = 'admission.k8s.io/v1'): Response {
  assert.equal(r.statusCode, 200, JSON.stringify(r.body));
  const body = r.body as { apiVersion: string; kind: string; response: Response };
  assert.equal(body.apiVersion, apiVersion);
  assert.equal(body.kind, 'AdmissionReview');
  assert.deepEqual(Object.keys(body), ['apiVersion', 'kind', 'response']);
  return body.response;
}

// Images and what the test configuration (test/fixtures/admission/config.yaml) says about them.
const BASE = 'alpine:3.5';
const DENIED = 'myregistry.io.evil.com/acme/x:1';
const DENIED_MSG = `image ${DENIED} (myregistry.io.evil.com/acme/x) is not from a registry allowed in namespace "prod-apps" (allowed: docker.io, quay.io/acme/**)`;
const WARNED = 'nginx';
const WARNED_MSG = 'image nginx has no tag: it pulls whatever "latest" points at';
const AUDITED = 'someone/tool:1';
const AUDITED_MSG = 'image someone/tool:1: repository "someone/tool" does not match the naming pattern "^(library|openpolicyagent|acme)/"';
const ALLOWED = 'quay.io/acme/app:1.0';

const CLASSES: Array<[string, string, (uid: string) => Response]> = [
  ['allowed', ALLOWED, (uid) => ({ uid, allowed: true })],
  ['denied', DENIED, (uid) => ({ uid, allowed: false, status: { code: 403, reason: 'Forbidden', message: DENIED_MSG } })],
  ['warned', WARNED, (uid) => ({ uid, allowed: true, warnings: [WARNED_MSG] })],
  ['audited', AUDITED, (uid) => ({ uid, allowed: true, auditAnnotations: { naming: AUDITED_MSG } })],
];

const LISTS = ['containers', 'initContainers', 'ephemeralContainers'] as const;

function podSpecWith(list: (typeof LISTS)[number], image: string): Obj {
  const spec: Obj = { containers: [{ name: 'app', image: BASE }] };
  if (list === 'containers') (spec.containers as Obj[]).push({ name: 'extra', image });
  else spec[list] = [{ name: 'extra', image }];
  return spec;
}

test('admission: the test objects of every kind validate against the Kubernetes schemas', () => {
  for (const k of KINDS) {
    for (const list of LISTS) {
      // Ephemeral containers exist only in Pods (the handler reads them everywhere anyway).
      if (list === 'ephemeralContainers' && k.kind !== 'Pod') continue;
      validateObject(objectOf(k, podSpecWith(list, ALLOWED)));
    }
  }
  assert.throws(() => validateObject(objectOf(POD, { containers: [{ name: 'a', image: 7 }] })));
});

for (const k of KINDS) {
  test(`admission: ${k.kind} — allowed, denied, warned and audited images in every container list`, () => {
    for (const list of LISTS) {
      for (const [label, image, expected] of CLASSES) {
        const uid = `${k.kind}-${list}-${label}`;
        const r = admit(runtime, reviewOf(k, objectOf(k, podSpecWith(list, image)), { uid }), OPTS);
        assert.deepEqual(responseOf(r), expected(uid), `${k.kind} ${list} ${label}`);
        assert.equal(r.outcome, label === 'denied' ? 'denied' : 'allowed');
      }
    }
  });
}

test('admission: the policy gets the ImageReview the ImagePolicyWebhook would send, plus context', () => {
  const meta = { annotations: { 'mycluster.image-policy.k8s.io/ticket-1234': 'break-glass', 'other.example.com/x': 'y' } };
  const spec = { containers: [{ name: 'a', image: 'nginx:1.25' }], initContainers: [{ name: 'i', image: 'busybox' }], ephemeralContainers: [{ name: 'e', image: 'Bad' }] };
  const object = objectOf(KINDS[1]!, spec, meta);
  const r = admit(runtime, reviewOf(KINDS[1]!, object, { namespace: 'team-a', dryRun: true }), OPTS);
  const input = r.input as { apiVersion: string; kind: string; spec: Obj; request: Obj };
  assert.equal(input.apiVersion, 'imagepolicy.k8s.io/v1alpha1');
  assert.equal(input.kind, 'ImageReview');
  assert.deepEqual(input.spec.containers, [{ image: 'nginx:1.25' }, { image: 'busybox' }, { image: 'Bad' }]);
  assert.equal(input.spec.namespace, 'team-a');
  assert.deepEqual(input.spec.annotations, { 'mycluster.image-policy.k8s.io/ticket-1234': 'break-glass' });
  assert.deepEqual(input.spec.images, [
    {
      image: 'nginx:1.25', container: 'a', list: 'containers', field: 'spec.template.spec.containers[0].image',
      reference: { valid: true, registry: 'docker.io', repository: 'library/nginx', name: 'docker.io/library/nginx', tag: '1.25', digest: null, effective_tag: '1.25', normalized: 'docker.io/library/nginx:1.25', familiar: 'nginx' },
    },
    {
      image: 'busybox', container: 'i', list: 'initContainers', field: 'spec.template.spec.initContainers[0].image',
      reference: { valid: true, registry: 'docker.io', repository: 'library/busybox', name: 'docker.io/library/busybox', tag: null, digest: null, effective_tag: 'latest', normalized: 'docker.io/library/busybox:latest', familiar: 'busybox' },
    },
    {
      image: 'Bad', container: 'e', list: 'ephemeralContainers', field: 'spec.template.spec.ephemeralContainers[0].image',
      reference: { valid: false, error: 'repository name "library/Bad" must be lowercase' },
    },
  ]);
  assert.deepEqual(input.request.kind, { group: 'apps', version: 'v1', kind: 'Deployment' });
  assert.equal(input.request.operation, 'CREATE');
  assert.equal(input.request.dryRun, true);
  assert.deepEqual(input.request.object, object);
  assert.deepEqual((input.request.userInfo as Obj).username, 'admin');
  assert.equal(r.dryRun, true);
});

test('admission: one policy, both protocols — the ImageReview path and the webhook decide alike', () => {
  const verify = runtime.prepare('data.io.k8s.image_policy.verify');
  for (const images of [['wordpress:4-apache', 'openpolicyagent/opa:0.4.10'], ['alpine:3.5'], [DENIED, WARNED, AUDITED], ['MyImage']]) {
    const imageReview = { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: images.map((image) => ({ image })), namespace: 'production' } };
    const direct = toJSON(verify.evalValue({ input: fromJSON(imageReview), data: runtime.store.snapshot() })!) as { status: { allowed: boolean; reason?: string } };
    const spec = { containers: images.map((image, i) => ({ name: `c${i}`, image })) };
    const res = responseOf(admit(runtime, reviewOf(POD, objectOf(POD, spec), { namespace: 'production' }), OPTS));
    assert.equal(res.allowed, direct.status.allowed, images.join(','));
    if (!res.allowed) assert.equal(res.status!.message, direct.status.reason);
  }
});

test('admission: a vulnerable image in production is denied with the original message', () => {
  const res = responseOf(admit(runtime, reviewOf(KINDS[1]!, objectOf(KINDS[1]!, podSpecWith('initContainers', 'wordpress:4-apache')), { namespace: 'production' }), OPTS));
  assert.equal(res.allowed, false);
  assert.match(res.status!.message, /^image wordpress:4-apache has 36 known vulnerabilities \(CVE-/);
});

test('admission: the 403 message names every denied image, in every list', () => {
  const spec = {
    containers: [{ name: 'a', image: 'evil.io/a:1' }, { name: 'ok', image: BASE }],
    initContainers: [{ name: 'b', image: 'Evil/B' }],
    ephemeralContainers: [{ name: 'c', image: 'evil.io/c@sha256:' + 'f'.repeat(64) }],
  };
  const res = responseOf(admit(runtime, reviewOf(POD, objectOf(POD, spec)), OPTS));
  assert.equal(res.allowed, false);
  assert.equal(res.status!.code, 403);
  const parts = res.status!.message.split('; ');
  assert.equal(parts.length, 3);
  assert.ok(parts.some((p) => p.startsWith('image evil.io/a:1 (evil.io/a) is not from a registry allowed')));
  assert.ok(parts.some((p) => p.startsWith('image "Evil/B" is not a valid image reference: repository name "B" must be lowercase')));
  assert.ok(parts.some((p) => p.startsWith('image evil.io/c@sha256:ffff')));
});

test('admission: pods/ephemeralcontainers checks only the ephemeral containers', () => {
  const spec = { containers: [{ name: 'a', image: DENIED }], ephemeralContainers: [{ name: 'debug', image: WARNED }] };
  const r = admit(runtime, reviewOf(POD, objectOf(POD, spec), { operation: 'UPDATE', subResource: 'ephemeralcontainers', uid: 'e1' }), OPTS);
  assert.deepEqual(responseOf(r), { uid: 'e1', allowed: true, warnings: [WARNED_MSG] });
  assert.deepEqual((r.input as { spec: Obj }).spec.containers, [{ image: WARNED }]);
  const spec2 = { containers: [{ name: 'a', image: BASE }], ephemeralContainers: [{ name: 'debug', image: DENIED }] };
  const r2 = admit(runtime, reviewOf(POD, objectOf(POD, spec2), { operation: 'UPDATE', subResource: 'ephemeralcontainers', uid: 'e2' }), OPTS);
  assert.deepEqual(responseOf(r2), { uid: 'e2', allowed: false, status: { code: 403, reason: 'Forbidden', message: DENIED_MSG } });
  // Other subresources cannot change images.
  const r3 = admit(runtime, reviewOf(POD, objectOf(POD, spec2), { operation: 'UPDATE', subResource: 'status', uid: 'e3' }), OPTS);
  assert.equal(responseOf(r3).allowed, true);
  assert.equal(r3.outcome, 'skipped');
});

test('admission: v1beta1 is answered in v1beta1', () => {
  const r = admit(runtime, reviewOf(POD, objectOf(POD, podSpecWith('containers', DENIED)), { apiVersion: 'admission.k8s.io/v1beta1', uid: 'b1' }), OPTS);
  assert.deepEqual(responseOf(r, 'admission.k8s.io/v1beta1'), { uid: 'b1', allowed: false, status: { code: 403, reason: 'Forbidden', message: DENIED_MSG } });
});

test('admission: dryRun requests are decided the same and flagged for the caller', () => {
  const wet = admit(runtime, reviewOf(POD, objectOf(POD, podSpecWith('containers', DENIED))), OPTS);
  const dry = admit(runtime, reviewOf(POD, objectOf(POD, podSpecWith('containers', DENIED)), { dryRun: true }), OPTS);
  assert.deepEqual(dry.body, wet.body);
  assert.equal(dry.dryRun, true);
  assert.equal(wet.dryRun, false);
});

test('admission: UPDATE is checked when it changes an image; DELETE and CONNECT are allowed without evaluation', () => {
  const obj = objectOf(POD, podSpecWith('containers', DENIED));
  const before = objectOf(POD, podSpecWith('containers', ALLOWED));
  for (const k of [KINDS[1]!, KINDS[7]!]) {
    const changed = admit(runtime, reviewOf(k, objectOf(k, podSpecWith('initContainers', DENIED)), { operation: 'UPDATE', oldObject: objectOf(k, podSpecWith('initContainers', ALLOWED)) }), OPTS);
    assert.equal(responseOf(changed).allowed, false, k.kind);
  }
  assert.equal(responseOf(admit(runtime, reviewOf(POD, obj, { operation: 'UPDATE', oldObject: before }), OPTS)).allowed, false);
  assert.equal(responseOf(admit(runtime, reviewOf(POD, obj, { operation: 'UPDATE' }), OPTS)).allowed, false, 'no oldObject: checked');
  // Same images (say, a finalizer removed after the policy got stricter): nothing new to check.
  const relabelled = { ...obj, metadata: { name: 'web', labels: { x: 'y' } } };
  const same = admit(runtime, reviewOf(POD, relabelled, { operation: 'UPDATE', oldObject: obj, uid: 'u' }), OPTS);
  assert.deepEqual(responseOf(same), { uid: 'u', allowed: true });
  assert.equal(same.outcome, 'skipped');
  assert.equal(responseOf(admit(runtime, reviewOf(POD, relabelled, { operation: 'UPDATE', oldObject: obj }), { ...OPTS, recheckUnchangedImages: true })).allowed, false);
  // An image moved to another list is a change.
  const moved = objectOf(POD, { containers: [{ name: 'app', image: BASE }], initContainers: [{ name: 'extra', image: DENIED }] });
  assert.equal(responseOf(admit(runtime, reviewOf(POD, moved, { operation: 'UPDATE', oldObject: obj }), OPTS)).allowed, false);
  for (const operation of ['DELETE', 'CONNECT']) {
    const r = admit(runtime, reviewOf(POD, operation === 'DELETE' ? null : obj, { operation, uid: 'd' }), OPTS);
    assert.deepEqual(responseOf(r), { uid: 'd', allowed: true });
    assert.equal(r.outcome, 'skipped');
    assert.equal(r.input, undefined);
  }
});

test('admission: objects without images, without a pod spec, and unknown kinds are allowed', () => {
  const noImages = admit(runtime, reviewOf(POD, objectOf(POD, { containers: [] }), { uid: 'n' }), OPTS);
  assert.deepEqual(responseOf(noImages), { uid: 'n', allowed: true });
  const dep = KINDS[1]!;
  const noTemplate = admit(runtime, reviewOf(dep, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 1 } }, { uid: 'n2' }), OPTS);
  assert.deepEqual(responseOf(noTemplate), { uid: 'n2', allowed: true });
  const svc = { group: '', version: 'v1', kind: 'Service', resource: 'services', wrap: () => ({}) };
  const unknown = admit(runtime, reviewOf(svc, { apiVersion: 'v1', kind: 'Service', spec: { containers: [{ image: DENIED }] } }, { uid: 'n3' }), OPTS);
  assert.deepEqual(responseOf(unknown), { uid: 'n3', allowed: true, auditAnnotations: { skipped: 'Service has no pod template this webhook knows; not inspected' } });
  // Deployments served from an old group version are still Deployments.
  const ext = { ...dep, group: 'extensions', version: 'v1beta1' };
  assert.equal(responseOf(admit(runtime, reviewOf(ext, objectOf(ext, podSpecWith('containers', DENIED))), OPTS)).allowed, false);
});

test('admission: malformed bodies get a 400 with an OPA-style error', () => {
  const cases: Array<[unknown, RegExp]> = [
    [undefined, /the body is empty/],
    ['', /the body is empty/],
    ['{"apiVersion": ', /not valid JSON/],
    [Buffer.from('[1,2]'), /expected an AdmissionReview object, got array/],
    [null, /got null/],
    [42, /got number/],
    [{ kind: 'ImageReview', apiVersion: 'admission.k8s.io/v1' }, /expected kind "AdmissionReview", got "ImageReview"/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v2' }, /unsupported apiVersion "admission.k8s.io\/v2"/],
    [{ kind: 'AdmissionReview' }, /unsupported apiVersion \(none\)/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1' }, /missing "request"/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { operation: 'CREATE' } }, /missing "request.uid"/],
    [{ kind: 'AdmissionReview', apiVersion: 'admission.k8s.io/v1', request: { uid: 7 } }, /missing "request.uid"/],
    // Exact integers beyond 2^53 are bigints, which JSON.stringify cannot format.
    ['{"kind": [123456789012345678901234567890], "apiVersion": "admission.k8s.io/v1"}', /got \[123456789012345678901234567890\]/],
    [{ kind: 'AdmissionReview', apiVersion: 2n ** 70n }, /unsupported apiVersion 1180591620717411303424/],
  ];
  for (const [body, message] of cases) {
    const r = admit(runtime, body, OPTS);
    assert.equal(r.statusCode, 400, String(body));
    assert.equal((r.body as { code: string }).code, 'invalid_parameter');
    assert.match((r.body as { message: string }).message, message);
    assert.equal(r.outcome, 'invalid');
  }
  // Text and Rego values are accepted as well as parsed JSON.
  const text = JSON.stringify(reviewOf(POD, objectOf(POD, podSpecWith('containers', ALLOWED)), { uid: 't' }));
  assert.deepEqual(responseOf(admit(runtime, text, OPTS)), { uid: 't', allowed: true });
  assert.ok(fromJSON(JSON.parse(text)) instanceof RObject);
  assert.deepEqual(responseOf(admit(runtime, fromJSON(JSON.parse(text)), OPTS)), { uid: 't', allowed: true });
});

test('admission: malformed requests with a uid get a well-formed denial', () => {
  const bad: Array<[Obj, RegExp]> = [
    [{ ...reviewOf(POD, objectOf(POD, { containers: { image: 'x' } })) }, /spec.containers must be a list, got an object/],
    [{ ...reviewOf(POD, objectOf(POD, { containers: [{ name: 'a', image: 42 }] })) }, /spec.containers\[0\].image must be a string, got a number/],
    [{ ...reviewOf(POD, objectOf(POD, { containers: ['nginx'] })) }, /spec.containers\[0\] must be an object, got a string/],
    [{ ...reviewOf(POD, { apiVersion: 'v1', kind: 'Pod', spec: 'x' }) }, /spec must be an object/],
    [{ ...reviewOf(POD, null) }, /request.object must be the new object, got null/],
    [{ ...reviewOf(POD, objectOf(POD, podSpecWith('containers', BASE)), { operation: 'PATCH' }) }, /request.operation must be CREATE, UPDATE, DELETE or CONNECT, got "PATCH"/],
  ];
  for (const [review, message] of bad) {
    const res = responseOf(admit(runtime, review, OPTS));
    assert.equal(res.allowed, false);
    assert.equal(res.status!.code, 400);
    assert.match(res.status!.message, message);
  }
  // No request.kind: the object's apiVersion and kind identify it.
  const review = reviewOf(POD, objectOf(POD, podSpecWith('containers', DENIED)));
  delete (review.request as Obj).kind;
  assert.equal(responseOf(admit(runtime, review, OPTS)).allowed, false);
});

test('admission: random and mutated bodies never throw', () => {
  const valid = reviewOf(KINDS[7]!, objectOf(KINDS[7]!, podSpecWith('initContainers', DENIED)));
  const check = (body: unknown): void => {
    const r = admit(runtime, body, OPTS);
    assert.ok(r.statusCode === 200 || r.statusCode === 400);
    if (r.statusCode === 200) {
      const res = (r.body as { response: Response }).response;
      assert.equal(typeof res.allowed, 'boolean');
      assert.equal(typeof res.uid, 'string');
    }
  };
  fc.assert(fc.property(fc.jsonValue(), check), { numRuns: 200 });
  // Replace any one node of a valid review with a random value.
  const paths: string[][] = [];
  const walk = (v: unknown, p: string[]): void => {
    paths.push(p);
    if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
  };
  walk(valid, []);
  fc.assert(
    fc.property(fc.constantFrom(...paths.filter((p) => p.length > 0)), fc.jsonValue(), (path, value) => {
      const copy = structuredClone(valid) as Obj;
      let cur = copy as Record<string, unknown>;
      for (const k of path.slice(0, -1)) cur = cur[k] as Record<string, unknown>;
      cur[path[path.length - 1]!] = value;
      check(copy);
    }),
    { numRuns: 300 },
  );
});

// ---------------------------------------------------------------------------------------------
// Failure modes

function fakeRuntime(text: string): AdmissionRuntime {
  const policy = compilePolicies([{ file: 'p.rego', text }]);
  return { prepare: (q) => prepareQuery(policy, q), store: { snapshot: () => new RObject() } };
}

const SLOW = fakeRuntime(`package slow
import rego.v1
verify := {"status": {"allowed": n > 0}} if { n := count([1 | some x in numbers.range(1, 5000); some y in numbers.range(1, 5000); x != y]) }
`);
const BROKEN = fakeRuntime(`package broken
import rego.v1
verify := {"status": {"allowed": true}} if input.request.uid
verify := {"status": {"allowed": false}} if input.request.uid
shape := {"status": {"allowed": "yes"}}
`);

test('admission: a time-out answers per the failure mode, within the limit', () => {
  const review = reviewOf(POD, objectOf(POD, podSpecWith('containers', ALLOWED)), { uid: 's' });
  const closed = admit(SLOW, review, { decision: 'data.slow.verify', failureMode: 'deny', timeoutMs: 50 });
  assert.deepEqual(responseOf(closed), {
    uid: 's', allowed: false,
    status: { code: 500, reason: 'InternalError', message: 'image policy could not be evaluated: evaluation took longer than the time limit of 50 ms' },
    auditAnnotations: { 'evaluation-error': 'evaluation took longer than the time limit of 50 ms' },
  });
  assert.equal(closed.outcome, 'failed-closed');
  const open = admit(SLOW, review, { decision: 'data.slow.verify', failureMode: 'allow', timeoutMs: 50 });
  assert.deepEqual(responseOf(open), {
    uid: 's', allowed: true,
    warnings: ['image policy not evaluated (evaluation took longer than the time limit of 50 ms); admitted because the webhook fails open'],
    auditAnnotations: { 'failed-open': 'true', 'evaluation-error': 'evaluation took longer than the time limit of 50 ms' },
  });
  assert.equal(open.outcome, 'failed-open');
});

test('admission: evaluation errors, undefined and malformed decisions answer per the failure mode', () => {
  const review = reviewOf(POD, objectOf(POD, podSpecWith('containers', ALLOWED)), { uid: 'x' });
  const cases: Array<[AdmissionRuntime, string, RegExp]> = [
    [BROKEN, 'data.broken.verify', /eval_conflict_error/],
    [BROKEN, 'data.broken.nothing', /the decision data.broken.nothing is undefined/],
    [BROKEN, 'data.broken.shape', /the decision data.broken.shape has no boolean status.allowed/],
    [BROKEN, 'data.broken[', /rego_parse_error/],
  ];
  for (const [rt, decision, message] of cases) {
    const closed = responseOf(admit(rt, review, { decision, failureMode: 'deny', timeoutMs: 1000 }));
    assert.equal(closed.allowed, false, decision);
    assert.equal(closed.status!.code, 500);
    assert.match(closed.status!.message, message);
    const open = responseOf(admit(rt, review, { decision, failureMode: 'allow', timeoutMs: 1000 }));
    assert.equal(open.allowed, true);
    assert.equal(open.auditAnnotations!['failed-open'], 'true');
    assert.match(open.auditAnnotations!['evaluation-error']!, message);
  }
});

// ---------------------------------------------------------------------------------------------
// Over HTTPS, as the API server calls it

test('admission: AdmissionReview over HTTPS', async () => {
  const dir = tempDir('ie-admit-');
  const cert = makeCert(dir, 'image-enforcer.enforcer.svc');
  const server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = admit(runtime, Buffer.concat(chunks), OPTS);
      res.writeHead(r.statusCode, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1/admit`;
  try {
    for (const k of KINDS) {
      for (const [label, image, expected] of CLASSES) {
        const uid = `https-${k.kind}-${label}`;
        const body = JSON.stringify(reviewOf(k, objectOf(k, podSpecWith('initContainers', image)), { uid }));
        const reply = await request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, ca: [cert.cert] });
        assert.equal(reply.status, 200);
        assert.equal(reply.headers['content-type'], 'application/json');
        assert.deepEqual(json(reply), { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: expected(uid) });
      }
    }
    const bad = await request(url, { method: 'POST', body: '{"kind":"AdmissionReview"', ca: [cert.cert] });
    assert.equal(bad.status, 400);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});
