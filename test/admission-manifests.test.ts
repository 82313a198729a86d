// deploy/kubernetes/admission: the ValidatingWebhookConfiguration and the (optional)
// MutatingWebhookConfiguration validate against the Kubernetes schemas (kubernetes-models) and
// route exactly the kinds the handlers read to /v1/admit and /v1/mutate on the enforcer's
// Service; the cert-manager resources and install-tls.sh produce a certificate the API server
// would accept for <service>.<namespace>.svc and put its CA into both configurations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { MutatingWebhookConfiguration, ValidatingWebhookConfiguration } from 'kubernetes-models/admissionregistration.k8s.io/v1';
import { supportedKinds } from '../src/kube/pod-specs.js';
import { projectRoot } from './helpers/paths.js';
import { request } from './fixtures/server/client.js';

const root = projectRoot();
const adir = join(root, 'deploy', 'kubernetes', 'admission');
const script = join(adir, 'install-tls.sh');

type Obj = Record<string, unknown>;
interface Rule { operations: string[]; apiGroups: string[]; apiVersions: string[]; resources: string[]; scope?: string }
interface Webhook {
  name: string;
  admissionReviewVersions: string[];
  sideEffects: string;
  failurePolicy: string;
  timeoutSeconds: number;
  matchPolicy: string;
  rules: Rule[];
  namespaceSelector: { matchExpressions: Array<{ key: string; operator: string; values: string[] }> };
  clientConfig: { service: { namespace: string; name: string; path: string; port: number }; caBundle?: string };
}

const vwcText = readFileSync(join(adir, 'webhook', 'validating-webhook.yaml'), 'utf8');
const vwc = parse(vwcText) as { apiVersion: string; kind: string; metadata: { name: string }; webhooks: Webhook[] };
const [hook] = vwc.webhooks;
const mwc = parse(readFileSync(join(adir, 'mutating', 'webhook', 'mutating-webhook.yaml'), 'utf8')) as typeof vwc & { webhooks: Array<Webhook & { reinvocationPolicy: string }> };
const [mhook] = mwc.webhooks;

test('webhook configuration validates against the Kubernetes schema', () => {
  new ValidatingWebhookConfiguration(vwc as unknown as ConstructorParameters<typeof ValidatingWebhookConfiguration>[0]).validate();
  // The validator is not a rubber stamp.
  const broken = structuredClone(vwc) as unknown as { webhooks: Array<Obj> };
  broken.webhooks[0]!.sideEffects = 7;
  assert.throws(() => new ValidatingWebhookConfiguration(broken as unknown as ConstructorParameters<typeof ValidatingWebhookConfiguration>[0]).validate());
});

test('webhook configuration: the settings issue 6 asks for', () => {
  assert.equal(vwc.webhooks.length, 1);
  assert.match(hook!.name, /^[a-z0-9-]+(\.[a-z0-9-]+)+$/, 'a fully qualified webhook name');
  assert.deepEqual(hook!.admissionReviewVersions, ['v1']);
  assert.equal(hook!.sideEffects, 'None');
  assert.equal(hook!.failurePolicy, 'Fail');
  assert.ok(hook!.timeoutSeconds >= 1 && hook!.timeoutSeconds <= 30);
  assert.equal(hook!.matchPolicy, 'Equivalent');
  const excluded = hook!.namespaceSelector.matchExpressions.find((e) => e.key === 'kubernetes.io/metadata.name' && e.operator === 'NotIn');
  assert.ok(excluded, 'a NotIn on the namespace name');
  assert.ok(excluded.values.includes('kube-system'));
  assert.equal(hook!.clientConfig.caBundle, undefined, "caBundle is filled in by cert-manager or install-tls.sh");
});

test('webhook configuration: routes exactly the kinds the handler reads, CREATE and UPDATE', () => {
  const routed = new Set<string>();
  for (const r of hook!.rules) {
    assert.deepEqual(r.operations, ['CREATE', 'UPDATE']);
    assert.deepEqual(r.apiVersions, ['v1']);
    assert.equal(r.scope, 'Namespaced');
    for (const g of r.apiGroups) for (const res of r.resources) routed.add(`${g}/${res}`);
  }
  const expected = new Set(supportedKinds().map((k) => `${k.group}/${k.resource}`));
  expected.add('/pods/ephemeralcontainers');
  assert.deepEqual([...routed].sort(), [...expected].sort());
});

test('webhook configuration: calls the enforcer Service, whose own namespace is excluded', () => {
  const k = parse(readFileSync(join(root, 'deploy/kubernetes/kustomization.yaml'), 'utf8')) as { namespace: string };
  const svc = parse(readFileSync(join(root, 'deploy/kubernetes/service.yaml'), 'utf8')) as { metadata: { name: string }; spec: { ports: Array<{ port: number }> } };
  const s = hook!.clientConfig.service;
  assert.equal(s.namespace, k.namespace);
  assert.equal(s.name, svc.metadata.name);
  assert.ok(svc.spec.ports.some((p) => p.port === s.port));
  assert.equal(s.path, '/v1/admit');
  assert.ok(hook!.namespaceSelector.matchExpressions[0]!.values.includes(k.namespace), 'the enforcer cannot block its own recovery');
});

test('mutating webhook configuration: valid, the validating webhook\'s kinds and namespaces, /v1/mutate, best effort', () => {
  new MutatingWebhookConfiguration(mwc as unknown as ConstructorParameters<typeof MutatingWebhookConfiguration>[0]).validate();
  const broken = structuredClone(mwc) as unknown as { webhooks: Array<Obj> };
  broken.webhooks[0]!.reinvocationPolicy = 7;
  assert.throws(() => new MutatingWebhookConfiguration(broken as unknown as ConstructorParameters<typeof MutatingWebhookConfiguration>[0]).validate());
  assert.equal(mwc.webhooks.length, 1);
  assert.equal(mwc.metadata.name, vwc.metadata.name, 'install-tls.sh patches both under one name');
  assert.notEqual(mhook!.name, hook!.name);
  assert.deepEqual(mhook!.rules, hook!.rules);
  assert.deepEqual(mhook!.namespaceSelector, hook!.namespaceSelector);
  assert.deepEqual(mhook!.admissionReviewVersions, ['v1']);
  assert.equal(mhook!.sideEffects, 'None');
  // Pinning is best effort; the validating webhook still fails closed.
  assert.equal(mhook!.failurePolicy, 'Ignore');
  assert.equal(mhook!.reinvocationPolicy, 'IfNeeded');
  assert.equal(mhook!.matchPolicy, 'Equivalent');
  assert.deepEqual(mhook!.clientConfig, { service: { ...hook!.clientConfig.service, path: '/v1/mutate' } });
});

test('cert-manager: serving certificate for <svc>.<ns>.svc in the Secret the Deployment mounts, CA injected', () => {
  const docs = parseAllDocuments(readFileSync(join(adir, 'cert-manager', 'certificate.yaml'), 'utf8')).map((d) => d.toJS() as Obj & { kind: string; metadata: { name: string; namespace: string }; spec: Obj });
  const s = hook!.clientConfig.service;
  for (const d of docs) {
    assert.equal(d.apiVersion, 'cert-manager.io/v1');
    assert.equal(d.metadata.namespace, s.namespace);
  }
  const serving = docs.find((d) => d.kind === 'Certificate' && !d.spec.isCA)!;
  assert.ok((serving.spec.dnsNames as string[]).includes(`${s.name}.${s.namespace}.svc`));
  const deployment = readFileSync(join(root, 'deploy/kubernetes/deployment.yaml'), 'utf8');
  assert.match(deployment, new RegExp(`secretName: ${serving.spec.secretName as string}\\b`));
  const issuer = docs.find((d) => d.kind === 'Issuer' && d.metadata.name === (serving.spec.issuerRef as { name: string }).name)!;
  const ca = docs.find((d) => d.kind === 'Certificate' && d.spec.isCA)!;
  assert.equal((issuer.spec.ca as { secretName: string }).secretName, ca.spec.secretName);
  const kust = readFileSync(join(adir, 'cert-manager', 'kustomization.yaml'), 'utf8');
  assert.match(kust, new RegExp(`cert-manager.io/inject-ca-from: ${s.namespace}/${serving.metadata.name}\\n`));
});

test('kustomizations render (when kubectl is installed)', (t) => {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    t.skip('kubectl is not installed');
    return;
  }
  for (const dir of ['webhook', 'cert-manager', 'mutating/webhook', 'mutating/cert-manager']) {
    const r = spawnSync('kubectl', ['kustomize', join(adir, dir)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const kinds = parseAllDocuments(r.stdout).map((d) => (d.toJS() as { kind: string }).kind);
    assert.ok(kinds.includes(dir.startsWith('mutating') ? 'MutatingWebhookConfiguration' : 'ValidatingWebhookConfiguration'), dir);
    if (dir.endsWith('cert-manager')) assert.match(r.stdout, /cert-manager.io\/inject-ca-from: image-enforcer\/image-enforcer-serving/);
  }
});

// ---------------------------------------------------------------------------------------------
// install-tls.sh

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('sh', [script, ...args], { env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

test('install-tls.sh: a CA and a serving certificate the API server accepts for image-enforcer.image-enforcer.svc', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'ie-tls-')), 'tls');
  const r = await run(['--no-kubectl', '-o', out]);
  assert.equal(r.code, 0, r.stderr);
  const ca = new X509Certificate(readFileSync(join(out, 'ca.crt')));
  const cert = new X509Certificate(readFileSync(join(out, 'tls.crt')));
  assert.ok(ca.ca);
  assert.ok(!cert.ca);
  assert.ok(cert.checkIssued(ca));
  assert.ok(cert.verify(ca.publicKey));
  assert.match(cert.subjectAltName!, /DNS:image-enforcer\.image-enforcer\.svc\b/);
  assert.equal(cert.checkHost('image-enforcer.image-enforcer.svc'), 'image-enforcer.image-enforcer.svc');
  assert.equal(cert.checkHost('image-enforcer.image-enforcer.svc.evil.com'), undefined);
  // A TLS client trusting only the CA, asking for the service name, completes the handshake.
  const server = createServer({ cert: readFileSync(join(out, 'tls.crt')), key: readFileSync(join(out, 'tls.key')) }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const { request: httpsRequest } = await import('node:https');
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest({ host: '127.0.0.1', port, servername: 'image-enforcer.image-enforcer.svc', ca: readFileSync(join(out, 'ca.crt')), path: '/v1/admit', method: 'POST' }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end('{}');
    });
    assert.equal(status, 200);
    // And a client trusting something else refuses it.
    await assert.rejects(request(`https://127.0.0.1:${port}/`, { ca: [readFileSync(join(root, 'test/fixtures/crypto/codesign.pem'))] }));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

test('install-tls.sh: other names, and bad arguments refused', async () => {
  const out = join(mkdtempSync(join(tmpdir(), 'ie-tls-')), 'tls');
  const r = await run(['--no-kubectl', '-o', out, '-n', 'security', '-s', 'enforcer', '--days', '30']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(new X509Certificate(readFileSync(join(out, 'tls.crt'))).checkHost('enforcer.security.svc'), 'enforcer.security.svc');
  for (const [args, message] of [
    [['--days', 'x'], /--days must be a positive number/],
    [['-n', 'Bad_Name'], /'Bad_Name' is not a valid Kubernetes name/],
    [['--bogus'], /unknown argument: --bogus/],
    [['-o'], /-o needs a value/],
  ] as Array<[string[], RegExp]>) {
    const bad = await run(['--no-kubectl', ...args]);
    assert.equal(bad.code, 1, args.join(' '));
    assert.match(bad.stderr, message);
  }
});

/** A stand-in kubectl that records its calls and answers `get` as if the webhooks existed (or not). */
function fakeKubectl(dir: string, webhookExists: boolean, mutatingExists = false): string {
  const file = join(dir, 'kubectl');
  const get = (exists: boolean, count: string) => (exists ? `case "$*" in *jsonpath*) printf ${count} ;; esac; exit 0` : 'exit 1');
  writeFileSync(
    file,
    `#!/bin/sh
echo "$*" >> "${dir}/calls"
case "$1 $2" in
  "get validatingwebhookconfiguration") ${get(webhookExists, 'xx')} ;;
  "get mutatingwebhookconfiguration") ${get(mutatingExists, 'x')} ;;
esac
case "$*" in
  *"create secret tls"*) echo "kind: Secret" ;;
  "apply -f -") { echo "---"; cat; } >> "${dir}/applied" ;;
esac
exit 0
`,
  );
  chmodSync(file, 0o755);
  return file;
}

test('install-tls.sh: creates the Secret and patches caBundle of every webhook', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ie-tls-'));
  const kubectl = fakeKubectl(dir, true);
  const r = await run(['-o', join(dir, 'tls')], { KUBECTL: kubectl });
  assert.equal(r.code, 0, r.stderr);
  const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
  // The two sides of a pipe run at once: either may log first.
  const firstTwo = calls.slice(0, 2);
  assert.match(firstTwo.find((c) => c.startsWith('-n ')) ?? '', /^-n image-enforcer create secret tls image-enforcer-tls --cert=\S+tls\.crt --key=\S+tls\.key --dry-run=client -o yaml$/);
  assert.ok(firstTwo.includes('apply -f -'), firstTwo.join(' | '));
  const patch = calls.find((c) => c.startsWith('patch validatingwebhookconfiguration image-enforcer --type=json -p '))!;
  const ops = JSON.parse(patch.slice(patch.indexOf('-p ') + 3)) as Array<{ op: string; path: string; value: string }>;
  const b64 = readFileSync(join(dir, 'tls', 'ca.crt')).toString('base64');
  assert.deepEqual(ops, [0, 1].map((i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: b64 })));
  // No mutating webhook installed: nothing done to one.
  assert.ok(!calls.some((c) => c.startsWith('patch mutatingwebhookconfiguration')), calls.join(' | '));
});

test('install-tls.sh: renews the mutating webhook\'s caBundle when it is installed, and --apply-mutating-webhook installs it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ie-tls-'));
  const r = await run(['-o', join(dir, 'tls')], { KUBECTL: fakeKubectl(dir, true, true) });
  assert.equal(r.code, 0, r.stderr);
  const calls = readFileSync(join(dir, 'calls'), 'utf8').trim().split('\n');
  const b64 = readFileSync(join(dir, 'tls', 'ca.crt')).toString('base64');
  const patch = calls.find((c) => c.startsWith('patch mutatingwebhookconfiguration image-enforcer --type=json -p '))!;
  assert.deepEqual(JSON.parse(patch.slice(patch.indexOf('-p ') + 3)), [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: b64 }]);
  assert.ok(calls.some((c) => c.startsWith('patch validatingwebhookconfiguration image-enforcer')));

  const dir2 = mkdtempSync(join(tmpdir(), 'ie-tls-'));
  const r2 = await run(['--apply-webhook', '--apply-mutating-webhook', '-o', join(dir2, 'tls')], { KUBECTL: fakeKubectl(dir2, false, false) });
  assert.equal(r2.code, 0, r2.stderr);
  const applied = parseAllDocuments(readFileSync(join(dir2, 'applied'), 'utf8')).map((d) => d.toJS() as Obj);
  const mutating = applied.find((d) => d.kind === 'MutatingWebhookConfiguration') as unknown as typeof mwc;
  const b64b = readFileSync(join(dir2, 'tls', 'ca.crt')).toString('base64');
  const expected = structuredClone(mwc);
  expected.webhooks[0]!.clientConfig.caBundle = b64b;
  assert.deepEqual(mutating, expected);
  new MutatingWebhookConfiguration(mutating as unknown as ConstructorParameters<typeof MutatingWebhookConfiguration>[0]).validate();
  assert.ok(applied.some((d) => d.kind === 'ValidatingWebhookConfiguration'));
});

test('install-tls.sh --apply-webhook registers the webhook with its caBundle already set', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ie-tls-'));
  const kubectl = fakeKubectl(dir, false);
  const r = await run(['--apply-webhook', '-o', join(dir, 'tls')], { KUBECTL: kubectl });
  assert.equal(r.code, 0, r.stderr);
  const applied = parseAllDocuments(readFileSync(join(dir, 'applied'), 'utf8')).map((d) => d.toJS() as Obj);
  const webhook = applied.find((d) => d.kind === 'ValidatingWebhookConfiguration') as unknown as typeof vwc;
  assert.ok(webhook);
  const b64 = readFileSync(join(dir, 'tls', 'ca.crt')).toString('base64');
  assert.equal(webhook.webhooks[0]!.clientConfig.caBundle, b64);
  // Apart from caBundle it is the shipped configuration, and still valid.
  const expected = structuredClone(vwc);
  expected.webhooks[0]!.clientConfig.caBundle = b64;
  assert.deepEqual(webhook, expected);
  new ValidatingWebhookConfiguration(webhook as unknown as ConstructorParameters<typeof ValidatingWebhookConfiguration>[0]).validate();
  // Without --apply-webhook, nothing is registered and the caBundle is printed.
  const dir2 = mkdtempSync(join(tmpdir(), 'ie-tls-'));
  const r2 = await run(['-o', join(dir2, 'tls')], { KUBECTL: fakeKubectl(dir2, false) });
  assert.equal(r2.code, 0);
  assert.match(r2.stdout, /does not exist yet: run this script with --apply-webhook/);
  assert.ok(r2.stdout.includes(readFileSync(join(dir2, 'tls', 'ca.crt')).toString('base64')));
});
