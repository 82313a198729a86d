// The mutating admission webhook (src/kube/mutation.ts, POST /v1/mutate): the bundled library
// pins tags to the digests the sync recorded, as a JSON patch of the image fields of every
// workload kind; on an UPDATE only changed images are touched; anything the policy gets wrong
// admits the object unchanged with a warning. The API server's side is not run here: the tests
// apply the patch the way it does (RFC 6902 "replace") and validate the result against the
// Kubernetes schemas. POST /v1/mutate over HTTPS is in server-admission.test.ts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mutate, type MutateOptions, type ReplaceOp } from '../src/kube/mutation.js';
import type { AdmitResult } from '../src/kube/admission.js';
import { fromJSON } from '../src/rego/value.js';
import { Runtime } from '../src/runtime/runtime.js';
import { KINDS, POD, objectOf, reviewOf, type Obj } from './fixtures/admission/objects.js';
import { validateObject } from './fixtures/admission/validate.js';
import fc from 'fast-check';
import { tempDir } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const D1 = 'sha256:' + '1'.repeat(64);
const D2 = 'sha256:' + '2'.repeat(64);
const OPTS: MutateOptions = { timeoutMs: 5000 };

/** The bundled policies with digest pinning on in production, and what a sync would have recorded. */
async function pinningRuntime(): Promise<Runtime> {
  const runtime = await Runtime.start({ paths: [join(root, 'policies'), join(root, 'data')] });
  runtime.store.put(['image_policy'], fromJSON({ pinning: { pin_digests: { '*': false, production: true } } }));
  runtime.store.put(
    ['docker', 'images'],
    fromJSON({ 'docker.io/library/nginx:1.25': { digest: D1 }, 'docker.io/library/busybox:latest': { digest: D2 } }),
  );
  return runtime;
}

let runtime: Runtime;
before(async () => {
  runtime = await pinningRuntime();
});
after(() => runtime.close());

interface Response {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  status?: { code: number; message: string };
}

function responseOf(r: AdmitResult): Response {
  assert.equal(r.statusCode, 200, JSON.stringify(r.body));
  return (r.body as { response: Response }).response;
}

function patchOf(resp: Response): ReplaceOp[] {
  assert.equal(resp.patchType, 'JSONPatch');
  return JSON.parse(Buffer.from(resp.patch!, 'base64').toString('utf8')) as ReplaceOp[];
}

/** Applies "replace" operations as the API server does: the target must exist. */
function applyPatch(object: Obj, ops: ReplaceOp[]): Obj {
  const out = structuredClone(object);
  for (const op of ops) {
    assert.equal(op.op, 'replace');
    const keys = op.path.split('/').slice(1);
    let cur: Record<string, unknown> | unknown[] = out;
    for (const k of keys.slice(0, -1)) cur = (cur as Record<string, unknown>)[k] as Record<string, unknown>;
    const last = keys[keys.length - 1]!;
    assert.ok(last in cur, `${op.path} exists`);
    (cur as Record<string, unknown>)[last] = op.value;
  }
  return out;
}

for (const kind of KINDS) {
  test(`mutate ${kind.kind}: synced tags are pinned to their digests in every container list; the patched object is valid`, () => {
    const spec: Obj = {
      initContainers: [{ name: 'init', image: 'busybox' }],
      containers: [
        { name: 'web', image: 'nginx:1.25' },
        { name: 'pinned', image: `nginx:1.25@${D2}` },
        { name: 'unsynced', image: 'quay.io/acme/app:1' },
      ],
    };
    if (kind.kind === 'Pod') spec.ephemeralContainers = [{ name: 'debug', image: 'nginx:1.25' }];
    const object = objectOf(kind, spec);
    const resp = responseOf(mutate(runtime, reviewOf(kind, object, { namespace: 'production', uid: 'u1' }), OPTS));
    assert.equal(resp.uid, 'u1');
    assert.equal(resp.allowed, true);
    const ops = patchOf(resp);
    const specPath = kind.kind === 'Pod' ? '/spec' : kind.kind === 'CronJob' ? '/spec/jobTemplate/spec/template/spec' : kind.kind === 'PodTemplate' ? '/template/spec' : '/spec/template/spec';
    const want: ReplaceOp[] = [
      { op: 'replace', path: `${specPath}/containers/0/image`, value: `nginx:1.25@${D1}` },
      { op: 'replace', path: `${specPath}/initContainers/0/image`, value: `busybox@${D2}` },
    ];
    if (kind.kind === 'Pod') want.push({ op: 'replace', path: `${specPath}/ephemeralContainers/0/image`, value: `nginx:1.25@${D1}` });
    assert.deepEqual(ops, want);
    assert.deepEqual(resp.auditAnnotations, { 'replaced-images': `nginx:1.25 -> nginx:1.25@${D1}, busybox -> busybox@${D2}` });
    const patched = applyPatch(object, ops);
    validateObject(patched);
    // Pinned, the object has nothing left to pin.
    const again = responseOf(mutate(runtime, reviewOf(kind, patched, { namespace: 'production' }), OPTS));
    assert.deepEqual(Object.keys(again), ['uid', 'allowed']);
  });
}

test('mutate: outside the namespaces configured, and for objects without images, nothing changes', () => {
  const object = objectOf(POD, { containers: [{ name: 'web', image: 'nginx:1.25' }] });
  const r = mutate(runtime, reviewOf(POD, object, { namespace: 'dev', uid: 'u2' }), OPTS);
  assert.equal(r.outcome, 'unchanged');
  assert.deepEqual(responseOf(r), { uid: 'u2', allowed: true });
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } };
  const s = mutate(runtime, reviewOf({ ...POD, kind: 'Service', resource: 'services' }, svc, { namespace: 'production' }), OPTS);
  assert.equal(s.outcome, 'skipped');
  assert.equal(responseOf(s).patch, undefined);
});

test('mutate: an UPDATE replaces only the images it changes; one that changes none is not evaluated', () => {
  const kind = KINDS.find((k) => k.kind === 'Deployment')!;
  const old = objectOf(kind, { containers: [{ name: 'a', image: 'nginx:1.25' }, { name: 'b', image: 'busybox:1' }] });
  const changed = objectOf(kind, { containers: [{ name: 'a', image: 'nginx:1.25' }, { name: 'b', image: 'busybox' }] });
  // nginx:1.25 was already running unpinned (before pinning was turned on): a label change or a
  // new sidecar must not roll it forward to whatever the tag points at now.
  const resp = responseOf(mutate(runtime, reviewOf(kind, changed, { namespace: 'production', operation: 'UPDATE', oldObject: old }), OPTS));
  assert.deepEqual(patchOf(resp), [{ op: 'replace', path: '/spec/template/spec/containers/1/image', value: `busybox@${D2}` }]);
  const same = mutate(runtime, reviewOf(kind, old, { namespace: 'production', operation: 'UPDATE', oldObject: old }), OPTS);
  assert.equal(same.outcome, 'skipped');
  assert.equal(same.input, undefined);
});

test('mutate: v1beta1 is answered in v1beta1; dry runs are flagged; malformed requests get the validating webhook\'s answers', () => {
  const object = objectOf(POD, { containers: [{ name: 'web', image: 'nginx:1.25' }] });
  const beta = mutate(runtime, reviewOf(POD, object, { namespace: 'production', apiVersion: 'admission.k8s.io/v1beta1', dryRun: true }), OPTS);
  assert.equal((beta.body as { apiVersion: string }).apiVersion, 'admission.k8s.io/v1beta1');
  assert.equal(beta.dryRun, true);
  assert.equal(patchOf(responseOf(beta)).length, 1);
  assert.equal(mutate(runtime, '{"kind": "Pod"}', OPTS).statusCode, 400);
  assert.equal(mutate(runtime, '', OPTS).statusCode, 400);
  const bad = responseOf(mutate(runtime, reviewOf(POD, objectOf(POD, { containers: [{ name: 'x', image: 7 }] }), { namespace: 'production' }), OPTS));
  assert.equal(bad.allowed, false);
  assert.equal(bad.status?.code, 400);
});

test('mutate: a decision that is not an object of valid images, or fails, admits the object unchanged with a warning', async () => {
  const cases: Array<[string, RegExp]> = [
    ['image_replacements := "nginx"', /must be an object from image to image/],
    ['image_replacements := {"nginx:1.25": 7}', /maps "nginx:1\.25" to something other than a string/],
    ['image_replacements := {"nginx:1.25": "NGINX:1.25"}', /"NGINX:1\.25", which is not a valid image reference/],
    ['image_replacements := {"nginx:1.25": x} if x := input.nope.deeper', /^$/], // undefined: nothing to do
    ['verify := {"status": {"allowed": true}}', /^$/], // a policy without the rule: nothing to do
    // Two values for one complete rule: an evaluation error (eval_conflict_error).
    ['image_replacements := {"nginx:1.25": "nginx:1"} if input.spec\nimage_replacements := {"nginx:1.25": "nginx:2"} if input.spec', /complete rules must not produce multiple outputs/],
  ];
  for (const [rule, message] of cases) {
    const dir = tempDir('ie-mutate-');
    writeFileSync(join(dir, 'p.rego'), `package io.k8s.image_policy\n\n${rule}\n`);
    const rt = await Runtime.start({ paths: [dir] });
    try {
      const object = objectOf(POD, { containers: [{ name: 'web', image: 'nginx:1.25' }] });
      const r = mutate(rt, reviewOf(POD, object, { namespace: 'production' }), { timeoutMs: 5000 });
      const resp = responseOf(r);
      assert.equal(resp.allowed, true, rule);
      assert.equal(resp.patch, undefined, rule);
      if (message.source === '^$') {
        assert.equal(r.outcome, 'unchanged', rule);
        continue;
      }
      assert.equal(r.outcome, 'failed-open', rule);
      assert.match(resp.auditAnnotations?.['evaluation-error'] ?? '', message, rule);
      assert.match(resp.warnings?.[0] ?? '', /^images not replaced \(.*\); admitted unchanged$/, rule);
    } finally {
      rt.close();
    }
  }
});

test('mutate (property): for any workload, the patch replaces exactly the new images the sync knows, at paths that hold them', () => {
  const images = ['nginx:1.25', 'busybox', 'nginx:1.24', `nginx:1.25@${D2}`, 'NGINX:1.25', 'quay.io/acme/app:1', 'docker.io/library/nginx:1.25', ''];
  const known: Record<string, string> = { 'nginx:1.25': D1, busybox: D2, 'docker.io/library/nginx:1.25': D1 };
  const container = fc.record({ image: fc.constantFrom(...images) });
  const spec = fc.record({ containers: fc.array(container, { minLength: 1, maxLength: 3 }), initContainers: fc.array(container, { maxLength: 2 }) });
  fc.assert(
    fc.property(fc.constantFrom(...KINDS), spec, fc.option(spec, { nil: undefined }), fc.constantFrom('production', 'dev'), (kind, newSpec, oldSpec, namespace) => {
      const named = (s: typeof newSpec): Obj => ({
        containers: s.containers.map((c, i) => ({ name: `c${i}`, ...(c.image ? { image: c.image } : {}) })),
        initContainers: s.initContainers.map((c, i) => ({ name: `i${i}`, ...(c.image ? { image: c.image } : {}) })),
      });
      const object = objectOf(kind, named(newSpec));
      const old = oldSpec === undefined ? undefined : objectOf(kind, named(oldSpec));
      const r = mutate(runtime, reviewOf(kind, object, { namespace, operation: old ? 'UPDATE' : 'CREATE', oldObject: old ?? null }), OPTS);
      assert.equal(r.statusCode, 200);
      const resp = responseOf(r);
      assert.equal(resp.allowed, true);
      const ops = resp.patch ? patchOf(resp) : [];
      // What should be replaced: in production, images the sync knows, unless the same image
      // sits at the same place in the old object.
      const want: ReplaceOp[] = [];
      const specPath = kind.kind === 'Pod' ? '/spec' : kind.kind === 'CronJob' ? '/spec/jobTemplate/spec/template/spec' : kind.kind === 'PodTemplate' ? '/template/spec' : '/spec/template/spec';
      for (const list of ['containers', 'initContainers'] as const) {
        newSpec[list].forEach((c, i) => {
          const kept = oldSpec?.[list][i]?.image === c.image;
          if (namespace === 'production' && known[c.image] && !kept) want.push({ op: 'replace', path: `${specPath}/${list}/${i}/image`, value: `${c.image}@${known[c.image]}` });
        });
      }
      assert.deepEqual(ops, want);
      if (ops.length > 0) validateObject(applyPatch(object, ops));
    }),
    { numRuns: 300 },
  );
});
