// deploy/kubernetes: every manifest validates against the Kubernetes schemas (kubernetes-models),
// the kustomization renders (with our own small renderer, and with `kubectl kustomize` when
// kubectl is installed: both must agree), the pieces fit together (labels, ports, mounts, the
// webhook URL and the policy it names), the Deployment is hardened, and the API-server files
// carry valid ImagePolicyWebhook settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { type Dirent, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { Command } from 'commander';
import { parse, parseAllDocuments, parseDocument, isMap, isPair, isScalar, type Node as YamlNode } from 'yaml';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { registerRunCommand } from '../src/cli/run.js';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { Runtime, type ReloadEvent } from '../src/runtime/runtime.js';
import { fromJSON, toJSON } from '../src/rego/value.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const kdir = join(root, 'deploy', 'kubernetes');

type Obj = Record<string, unknown>;
type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> } } & Obj;

const VALIDATORS: Record<string, (o: unknown) => void> = {
  'v1/Namespace': (o) => new Namespace(o as ConstructorParameters<typeof Namespace>[0]).validate(),
  'v1/ServiceAccount': (o) => new ServiceAccount(o as ConstructorParameters<typeof ServiceAccount>[0]).validate(),
  'v1/ConfigMap': (o) => new ConfigMap(o as ConstructorParameters<typeof ConfigMap>[0]).validate(),
  'v1/Service': (o) => new Service(o as ConstructorParameters<typeof Service>[0]).validate(),
  'apps/v1/Deployment': (o) => new Deployment(o as ConstructorParameters<typeof Deployment>[0]).validate(),
  'policy/v1/PodDisruptionBudget': (o) => new PodDisruptionBudget(o as ConstructorParameters<typeof PodDisruptionBudget>[0]).validate(),
};

function validate(o: K8sObject): void {
  const v = VALIDATORS[`${o.apiVersion}/${o.kind}`];
  assert.ok(v, `no schema for ${o.apiVersion} ${o.kind}`);
  v(o);
}

const CLUSTER_SCOPED = new Set(['Namespace']);

interface Kustomization {
  namespace?: string;
  resources?: string[];
  configMapGenerator?: Array<{ name: string; files?: string[] }>;
  generatorOptions?: { disableNameSuffixHash?: boolean };
  images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
}

/** kustomize's `images` transformer for the containers of workload templates. */
function setImages(o: K8sObject, images: NonNullable<Kustomization['images']>): void {
  const spec = (o.spec as { template?: { spec?: { containers?: Array<{ image: string }>; initContainers?: Array<{ image: string }> } } } | undefined)?.template?.spec;
  for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
    const m = /^(.*?)(?::([^:/@]+))?(?:@(.+))?$/.exec(c.image);
    if (!m) continue;
    const img = images.find((i) => i.name === m[1]);
    if (!img) continue;
    const name = img.newName ?? m[1];
    c.image = img.digest ? `${name}@${img.digest}` : `${name}${img.newTag ?? m[2] ? `:${img.newTag ?? m[2]}` : ''}`;
  }
}

/**
 * Renders the subset of kustomize this folder uses: resources, namespace, configMapGenerator
 * with files (names without hash suffix). Anything else in the kustomization is an error, so
 * the folder cannot silently grow beyond what this checks.
 */
function render(dir: string): K8sObject[] {
  const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization & Obj;
  const known = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'configMapGenerator', 'generatorOptions', 'images']);
  for (const key of Object.keys(k)) assert.ok(known.has(key), `kustomization field ${key} is not covered by the test renderer`);
  assert.equal(k.generatorOptions?.disableNameSuffixHash, true, 'the renderer does not compute name hashes');
  const out: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    for (const doc of parseAllDocuments(readFileSync(join(dir, r), 'utf8'))) {
      assert.equal(doc.errors.length, 0, `${r}: ${doc.errors.join('; ')}`);
      const o = doc.toJS() as K8sObject | null;
      if (o) out.push(o);
    }
  }
  for (const g of k.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const f of g.files ?? []) data[basename(f)] = readFileSync(join(dir, f), 'utf8');
    out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
  }
  if (k.namespace) for (const o of out) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  if (k.images) for (const o of out) setImages(o, k.images);
  return out;
}

const rendered = render(kdir);

function find<T extends K8sObject = K8sObject>(kind: string): T {
  const o = rendered.find((x) => x.kind === kind);
  assert.ok(o, `a ${kind} is rendered`);
  return o as T;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: { httpGet: { path: string; port: string; scheme: string } };
  livenessProbe: { httpGet: { path: string; port: string; scheme: string } };
  resources: { requests: Obj; limits: Obj };
  securityContext: Obj & { capabilities: { drop: string[] }; seccompProfile: { type: string } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Obj & { seccompProfile: { type: string }; runAsUser: number };
  containers: Container[];
  volumes: Array<{ name: string; configMap?: { name: string }; secret?: { secretName: string } }>;
}
type DeploymentObj = K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

/** A rendered ConfigMap's data by name. */
function configMapData(name: string): Record<string, string> {
  const cm = rendered.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as (K8sObject & { data: Record<string, string> }) | undefined;
  assert.ok(cm, `ConfigMap ${name} is rendered`);
  return cm.data;
}

/** Files below dir, as paths relative to it. */
function listFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort();
}

/** The repository policies that are deployed: every module except tests and the mock input. */
function deployablePolicies(): string[] {
  return listFiles(join(root, 'policies')).filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego') && !f.startsWith('mock/'));
}

const deployment = find<DeploymentObj>('Deployment');
const pod = deployment.spec.template.spec;
const container = pod.containers[0];

// ---------------------------------------------------------------------------------------------

test('deploy policies are identical to the repository policies', () => {
  const files = listFiles(join(kdir, 'policies'));
  assert.deepEqual(files, deployablePolicies(), 'run deploy/kubernetes/update-policies.sh');
  for (const f of files) {
    assert.equal(readFileSync(join(kdir, 'policies', f), 'utf8'), readFileSync(join(root, 'policies', f), 'utf8'), `${f} differs: run deploy/kubernetes/update-policies.sh`);
  }
  assert.deepEqual(listFiles(join(kdir, 'data')), ['image_policy/config.yaml']);
  assert.equal(readFileSync(join(kdir, 'data/image_policy/config.yaml'), 'utf8'), readFileSync(join(root, 'data/image_policy/config.yaml'), 'utf8'), 'run deploy/kubernetes/update-policies.sh');
  // Every copied module is in the generated ConfigMap (and no two share a key).
  assert.deepEqual(Object.keys(configMapData('image-enforcer-policies')).sort(), files.map((f) => basename(f)).sort());
  assert.equal(new Set(files.map((f) => basename(f))).size, files.length, 'policy file names must be unique (flat ConfigMap keys)');
});

test('every rendered object validates against the Kubernetes schemas', () => {
  assert.deepEqual(rendered.map((o) => o.kind).sort(), ['ConfigMap', 'ConfigMap', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  for (const o of rendered) validate(o);
});

test('schema validation catches broken objects (the check is real)', () => {
  const broken = structuredClone(deployment) as DeploymentObj & { spec: Obj };
  broken.spec.replicas = 'two';
  assert.throws(() => validate(broken), /replicas must be integer/);
  const noSelector = structuredClone(deployment) as unknown as K8sObject & { spec: Partial<DeploymentObj['spec']> };
  delete noSelector.spec.selector;
  assert.throws(() => validate(noSelector), /selector/);
  const badPort = structuredClone(find('Service')) as K8sObject & { spec: { ports: Array<Obj> } };
  badPort.spec.ports[0].port = '443x';
  assert.throws(() => validate(badPort));
});

test('kubectl kustomize renders the folder like the test renderer (when kubectl is installed)', (t) => {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    t.skip('kubectl is not installed');
    return;
  }
  const r = spawnSync('kubectl', ['kustomize', kdir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const fromKubectl = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
  const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const byKey = (list: K8sObject[]) => new Map(list.map((o) => [key(o), o]));
  const ours = byKey(rendered);
  const theirs = byKey(fromKubectl);
  assert.deepEqual([...theirs.keys()].sort(), [...ours.keys()].sort());
  for (const [k, o] of theirs) assert.deepEqual(o, ours.get(k), k);
});

test('`kustomize edit set image` (an images entry) is honoured by the renderer, as by kubectl', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kustomize-'));
  try {
    cpSync(kdir, dir, { recursive: true });
    const k = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    writeFileSync(join(dir, 'kustomization.yaml'), `${k}\nimages:\n  - name: image-enforcer\n    newName: registry.example.com/image-enforcer\n    newTag: "0.2.0"\n`);
    const ours = render(dir).find((o) => o.kind === 'Deployment') as DeploymentObj;
    assert.equal(ours.spec.template.spec.containers[0].image, 'registry.example.com/image-enforcer:0.2.0');
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    if (!r.error && r.status === 0) {
      const theirs = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject).find((o) => o.kind === 'Deployment');
      assert.deepEqual(theirs, ours);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('namespace: everything lives in image-enforcer, which enforces the restricted pod security standard', () => {
  const ns = find('Namespace');
  assert.equal(ns.metadata.name, 'image-enforcer');
  assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  for (const o of rendered) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'image-enforcer', o.kind);
});

test('deployment: runs the server over TLS with token auth, reloading the ConfigMap policies', () => {
  const args = container.args;
  assert.equal(args[0], 'run');
  assert.ok(args.includes('--server'));
  const flag = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const mount = (vol: string) => container.volumeMounts.find((m) => m.name === vol)?.mountPath;
  assert.equal(flag('tls-cert-file'), `${mount('tls')}/tls.crt`);
  assert.equal(flag('tls-private-key-file'), `${mount('tls')}/tls.key`);
  assert.equal(flag('authentication'), 'token');
  assert.equal(flag('token-file'), `${mount('auth')}/tokens`);
  assert.equal(flag('ignore'), '.*', 'ConfigMap volumes hold hidden ..data entries');
  assert.ok(args.includes('--watch'));
  assert.equal(args[args.length - 2], mount('policies'));
  // The configuration directory is a data path: its subdirectory image_policy -> data.image_policy.
  assert.equal(mount('config'), `${args[args.length - 1]}/image_policy`);
  assert.equal(flag('addr'), `:${container.ports[0].containerPort}`);
  const vol = (name: string) => pod.volumes.find((v) => v.name === name);
  assert.equal(vol('policies')?.configMap?.name, 'image-enforcer-policies');
  assert.equal(vol('config')?.configMap?.name, 'image-enforcer-config');
  assert.deepEqual(Object.keys(configMapData('image-enforcer-config')), ['config.yaml']);
  assert.equal(vol('tls')?.secret?.secretName, 'image-enforcer-tls');
  assert.equal(vol('auth')?.secret?.secretName, 'image-enforcer-token');
});

test('deployment: its policy flags load a ConfigMap volume (kubelet layout) and pick up an update', async () => {
  // The kubelet mounts a ConfigMap as <file> -> ..data/<file>, ..data -> ..<timestamp>/, and
  // updates it by writing a new ..<timestamp>/ and swapping the ..data link.
  const ignore = container.args.find((a) => a.startsWith('--ignore='))?.slice('--ignore='.length);
  assert.ok(ignore && container.args.includes('--watch'));
  const dir = mkdtempSync(join(tmpdir(), 'configmap-'));
  const data = configMapData('image-enforcer-policies');
  const files = Object.keys(data);
  const version = (name: string, extra = '') => {
    mkdirSync(join(dir, name));
    for (const f of files) writeFileSync(join(dir, name, f), data[f] + (f === 'default.rego' ? extra : ''));
  };
  version('..2026_01_01');
  symlinkSync('..2026_01_01', join(dir, '..data'));
  for (const f of files) symlinkSync(join('..data', f), join(dir, f));
  // The configuration ConfigMap at <data>/image_policy, in the same layout.
  const dataDir = mkdtempSync(join(tmpdir(), 'configmap-data-'));
  const cfg = join(dataDir, 'image_policy');
  mkdirSync(join(cfg, '..2026_01_01'), { recursive: true });
  writeFileSync(join(cfg, '..2026_01_01', 'config.yaml'), configMapData('image-enforcer-config')['config.yaml']);
  symlinkSync('..2026_01_01', join(cfg, '..data'));
  symlinkSync(join('..data', 'config.yaml'), join(cfg, 'config.yaml'));
  const rt = await Runtime.start({ paths: [dir, dataDir], ignore: [ignore], watch: true });
  try {
    assert.deepEqual(rt.modules().map((m) => basename(m.id)).sort(), files.sort());
    assert.deepEqual(rt.store.read(['image_policy']), fromJSON(parse(configMapData('image-enforcer-config')['config.yaml'])));
    assert.equal(rt.prepare('data.io.k8s.image_policy.extra').evalValue({}), undefined);
    const reloaded = new Promise<ReloadEvent>((resolve) => rt.once('reload', resolve));
    version('..2026_01_02', '\nextra := 42\n');
    symlinkSync('..2026_01_02', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..2026_01_01'), { recursive: true });
    const ev = await reloaded;
    assert.equal(ev.ok, true, ev.error?.message);
    assert.equal(rt.prepare('data.io.k8s.image_policy.extra').evalValue({}), 42);
  } finally {
    rt.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('deployment: every flag it passes is a flag of `image-enforcer run`', () => {
  const program = new Command();
  registerRunCommand(program);
  const run = program.commands.find((c) => c.name() === 'run');
  assert.ok(run);
  const known = new Set(run.options.flatMap((o) => [o.long, o.short].filter((x): x is string => Boolean(x))));
  for (const a of container.args.filter((x) => x.startsWith('-'))) assert.ok(known.has(a.split('=')[0]), `unknown flag ${a}`);
});

test('deployment: hardened (non-root, read-only root, no capabilities, RuntimeDefault seccomp)', () => {
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  const sc = container.securityContext;
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities.drop, ['ALL']);
  assert.equal(sc.seccompProfile.type, 'RuntimeDefault');
  assert.equal(pod.serviceAccountName, find('ServiceAccount').metadata.name);
  for (const m of container.volumeMounts) if (m.name !== 'tmp') assert.equal(m.readOnly, true, m.name);
});

test('deployment: probes on /health over HTTPS, resource requests and limits', () => {
  for (const p of [container.readinessProbe, container.livenessProbe]) {
    assert.deepEqual(p.httpGet, { path: '/health', port: 'https', scheme: 'HTTPS' });
  }
  assert.ok(container.ports.some((p) => p.name === 'https'));
  for (const r of ['cpu', 'memory']) {
    assert.ok(container.resources.requests[r], `request ${r}`);
    assert.ok(container.resources.limits[r], `limit ${r}`);
  }
});

test('service and disruption budget select the deployment pods; service exposes the https port', () => {
  const labels = deployment.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(deployment.spec.selector.matchLabels)) assert.equal(labels[k], v);
  const svc = find('Service') as K8sObject & { spec: { selector: Record<string, string>; ports: Array<{ port: number; targetPort: string }> } };
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(labels[k], v, `service selector ${k}`);
  assert.equal(svc.spec.ports[0].port, 443);
  assert.ok(container.ports.some((p) => p.name === svc.spec.ports[0].targetPort));
  const pdb = find('PodDisruptionBudget') as K8sObject & { spec: { selector: { matchLabels: Record<string, string> } } };
  for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v, `pdb selector ${k}`);
});

// ---------------------------------------------------------------------------------------------
// API server side

interface Kubeconfig {
  apiVersion: string;
  kind: string;
  clusters: Array<{ name: string; cluster: { server: string; 'certificate-authority'?: string } }>;
  users: Array<{ name: string; user: { token?: string } }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
  'current-context': string;
}

const kubeconfig = parse(readFileSync(join(kdir, 'apiserver', 'kubeconfig.yaml'), 'utf8')) as Kubeconfig;

test('webhook kubeconfig: https URL of the Service, to the v0 route of the verify rule, with CA and token', () => {
  assert.equal(kubeconfig.apiVersion, 'v1');
  assert.equal(kubeconfig.kind, 'Config');
  const ctx = kubeconfig.contexts.find((c) => c.name === kubeconfig['current-context']);
  assert.ok(ctx, 'current-context exists');
  const cluster = kubeconfig.clusters.find((c) => c.name === ctx.context.cluster);
  const user = kubeconfig.users.find((u) => u.name === ctx.context.user);
  assert.ok(cluster && user);
  const url = new URL(cluster.cluster.server);
  const svc = find('Service') as K8sObject & { spec: { ports: Array<{ port: number }> } };
  assert.equal(url.protocol, 'https:');
  assert.equal(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  assert.equal(Number(url.port || 443), svc.spec.ports[0].port);
  assert.equal(url.pathname, '/v0/data/io/k8s/image_policy/verify');
  assert.ok(cluster.cluster['certificate-authority']);
  assert.ok(user.user.token);
});

test('the webhook URL names a rule the deployed policies define (an ImageReview for it is answered)', () => {
  // Exactly what the pods load: the ConfigMaps' contents.
  const sources = Object.entries(configMapData('image-enforcer-policies')).map(([file, text]) => ({ file, text }));
  const policy = compilePolicies(sources);
  const data = fromJSON({ image_policy: parse(configMapData('image-enforcer-config')['config.yaml']) });
  const path = new URL(kubeconfig.clusters[0].cluster.server).pathname.replace(/^\/v0\//, '').split('/').join('.');
  const review = { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: [{ image: 'nginx:1.25' }], namespace: 'default' } };
  const v = prepareQuery(policy, path).evalValue({ input: fromJSON(review), data });
  assert.ok(v !== undefined, `${path} is defined`);
  assert.deepEqual((toJSON(v) as { status: unknown }).status, { allowed: true });
});

interface AdmissionConfiguration {
  apiVersion: string;
  kind: string;
  plugins: Array<{ name: string; configuration?: { imagePolicy?: Obj }; path?: string }>;
}

const admissionText = readFileSync(join(kdir, 'apiserver', 'admission-configuration.yaml'), 'utf8');

test('admission configuration: ImagePolicyWebhook with valid imagePolicy settings', () => {
  const ac = parse(admissionText) as AdmissionConfiguration;
  assert.equal(ac.apiVersion, 'apiserver.config.k8s.io/v1');
  assert.equal(ac.kind, 'AdmissionConfiguration');
  const plugin = ac.plugins.find((p) => p.name === 'ImagePolicyWebhook');
  assert.ok(plugin?.configuration?.imagePolicy, 'inline imagePolicy configuration');
  const ip = plugin.configuration.imagePolicy;
  assert.deepEqual(Object.keys(ip).sort(), ['allowTTL', 'defaultAllow', 'denyTTL', 'kubeConfigFile', 'retryBackoff']);
  assert.equal(typeof ip.kubeConfigFile, 'string');
  assert.match(ip.kubeConfigFile as string, /^\/.*kubeconfig\.yaml$/);
  // The plugin rejects values <= min or > max (protocols.md §1.5): TTLs in (1 s, 30 min], -1 disables.
  for (const f of ['allowTTL', 'denyTTL']) {
    const v = ip[f] as number;
    assert.ok(Number.isInteger(v) && (v === -1 || (v >= 2 && v <= 1800)), `${f}=${v}`);
  }
  const backoff = ip.retryBackoff as number;
  assert.ok(Number.isInteger(backoff) && (backoff === -1 || (backoff > 0 && backoff <= 300_000)), `retryBackoff=${backoff}`);
  assert.equal(ip.defaultAllow, false, 'fail closed');
});

test('admission configuration: every imagePolicy field is explained by a comment', () => {
  const doc = parseDocument(admissionText);
  const ip = doc.getIn(['plugins', 0, 'configuration', 'imagePolicy'], true) as YamlNode;
  assert.ok(isMap(ip));
  ip.items.forEach((item, i) => {
    assert.ok(isPair(item) && isScalar(item.key));
    // The parser attaches the comment above the first key to the map itself.
    const comment = (item.key as { commentBefore?: string | null }).commentBefore ?? (i === 0 ? ip.commentBefore : undefined);
    assert.ok(comment && comment.trim().length > 20, `field ${String(item.key.value)} has a comment`);
  });
  assert.match(admissionText, /--enable-admission-plugins=[^\n]*ImagePolicyWebhook/);
  assert.match(admissionText, /--admission-control-config-file=/);
});

// ---------------------------------------------------------------------------------------------
// Dockerfile

test('Dockerfile: builds on node:20 and runs `image-enforcer run --server` as the deployment user', () => {
  const text = readFileSync(join(root, 'Dockerfile'), 'utf8');
  const froms = [...text.matchAll(/^FROM\s+(\S+)/gm)].map((m) => m[1]);
  assert.ok(froms.length >= 1 && froms.every((f) => /^node:20(\b|-)/.test(f)), froms.join(', '));
  const entry = JSON.parse(/^ENTRYPOINT\s+(\[.*\])$/m.exec(text)?.[1] ?? '[]') as string[];
  const cmd = JSON.parse(/^CMD\s+(\[.*\])$/m.exec(text)?.[1] ?? '[]') as string[];
  assert.deepEqual(entry.slice(0, 2), ['node', '/app/bin/image-enforcer.js']);
  assert.deepEqual(cmd.slice(0, 2), ['run', '--server']);
  const user = /^USER\s+(\d+)(?::(\d+))?$/m.exec(text);
  assert.ok(user, 'a numeric USER');
  assert.notEqual(Number(user[1]), 0);
  assert.equal(Number(user[1]), pod.securityContext.runAsUser);
  assert.match(text, /npx tsc -p \./);
});
