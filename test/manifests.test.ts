// deploy/kubernetes: every manifest validates against the Kubernetes schemas (kubernetes-models),
// the kustomization renders (with our own small renderer, and with `kubectl kustomize` when
// kubectl is installed: both must agree), the pieces fit together (labels, ports, mounts, the
// webhook URL and the policy it names), the Deployment is hardened, and the API-server files
// carry valid ImagePolicyWebhook settings. The layer sync beside the server and the Clair
// kustomization (deploy/kubernetes/clair) are checked the same way, and for their wiring: the
// sync's flags parse, its --opa-url reaches the server container with the server's certificate
// and an accepted token, its Clair URL is Clair's Service, the pre-shared key and database
// password written by clair/make-secrets.sh match on both sides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { type Dirent, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { Command } from 'commander';
import { parse, parseAllDocuments, parseDocument, isMap, isPair, isScalar, type Node as YamlNode } from 'yaml';
import { ConfigMap, Namespace, Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { registerRunCommand } from '../src/cli/run.js';
import { parseSyncFlags, type SyncOptions } from '../src/sync/options.js';
import { compilePolicies, prepareQuery } from '../src/rego/index.js';
import { Runtime, type ReloadEvent } from '../src/runtime/runtime.js';
import { fromJSON, toJSON } from '../src/rego/value.js';
import { projectRoot } from './helpers/paths.js';
import { createServer } from '../src/server/index.js';
import { Syncer } from '../src/sync/sync.js';
import { MemoryLogger } from '../src/sync/log.js';
import { noProgress } from '../src/sync/progress.js';
import { registryAvailable, startRegistry, makeLayer, pushImage } from './sync/registry-helper.js';
import { ClairV2Replay } from './sync/servers.js';
import { RECORDED_VULNERABLE } from './sync/common.js';

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
  'apps/v1/StatefulSet': (o) => new StatefulSet(o as ConstructorParameters<typeof StatefulSet>[0]).validate(),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o as ConstructorParameters<typeof NetworkPolicy>[0]).validate(),
  'v1/Secret': (o) => new Secret(o as ConstructorParameters<typeof Secret>[0]).validate(),
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
 * Renders the subset of kustomize these folders use: resources, namespace, configMapGenerator
 * with files (`path`, or `key=path`; names without hash suffix). Anything else in the kustomization is an error, so
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
    for (const f of g.files ?? []) {
      const eq = f.indexOf('=');
      if (eq >= 0) data[f.slice(0, eq)] = readFileSync(join(dir, f.slice(eq + 1)), 'utf8');
      else data[basename(f)] = readFileSync(join(dir, f), 'utf8');
    }
    out.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
  }
  if (k.namespace) for (const o of out) if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
  if (k.images) for (const o of out) setImages(o, k.images);
  return out;
}

const rendered = render(kdir);
const clairDir = join(kdir, 'clair');
const clairRendered = render(clairDir);

function find<T extends K8sObject = K8sObject>(kind: string, from: K8sObject[] = rendered, name?: string): T {
  const o = from.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `a ${kind}${name ? ` ${name}` : ''} is rendered`);
  return o as T;
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Probe {
  httpGet?: { path: string; port: string; scheme?: string };
  exec?: { command: string[] };
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env?: EnvVar[];
  ports: Array<{ name: string; containerPort: number }>;
  readinessProbe: { httpGet: { path: string; port: string; scheme: string } } & Probe;
  livenessProbe: { httpGet: { path: string; port: string; scheme: string } } & Probe;
  startupProbe?: Probe;
  resources: { requests: Obj; limits: Obj };
  securityContext: Obj & { capabilities: { drop: string[] }; seccompProfile: { type: string } };
  volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }>;
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Obj & { seccompProfile: { type: string }; runAsUser: number };
  containers: Container[];
  volumes: Volume[];
}
interface Volume {
  name: string;
  configMap?: { name: string; items?: Array<{ key: string; path: string }> };
  secret?: { secretName: string; optional?: boolean; items?: Array<{ key: string; path: string }> };
  projected?: { sources: Array<{ configMap?: { name: string; items?: Array<{ key: string; path: string }> }; secret?: { name: string; items?: Array<{ key: string; path: string }> } }> };
  emptyDir?: Obj;
}
type DeploymentObj = K8sObject & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } };

/** A rendered ConfigMap's data by name. */
function configMapData(name: string, from: K8sObject[] = rendered): Record<string, string> {
  const cm = from.find((o) => o.kind === 'ConfigMap' && o.metadata.name === name) as (K8sObject & { data: Record<string, string> }) | undefined;
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
const container = pod.containers.find((c) => c.name === 'image-enforcer') as Container;
const syncContainer = pod.containers.find((c) => c.name === 'sync') as Container;

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
  assert.deepEqual(rendered.map((o) => o.kind).sort(), ['ConfigMap', 'ConfigMap', 'ConfigMap', 'Deployment', 'Namespace', 'PodDisruptionBudget', 'Service', 'ServiceAccount']);
  for (const o of rendered) validate(o);
  assert.ok(container && syncContainer, 'the server and the sync container');
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
  for (const [dir, list] of [[kdir, rendered], [clairDir, clairRendered]] as const) {
    const r = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const fromKubectl = parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject);
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const byKey = (l: K8sObject[]) => new Map(l.map((o) => [key(o), o]));
    const ours = byKey(list);
    const theirs = byKey(fromKubectl);
    assert.deepEqual([...theirs.keys()].sort(), [...ours.keys()].sort());
    for (const [k, o] of theirs) assert.deepEqual(o, ours.get(k), k);
  }
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
  // A rollout must not close the port while the pod is still in the Service's endpoints, and the
  // wait plus the grace period must end before the kubelet kills the container.
  const wait = Number(flag('shutdown-wait-period'));
  const grace = Number(flag('shutdown-grace-period'));
  assert.ok(wait >= 3, 'a shutdown wait period of a few seconds');
  assert.ok(wait + grace < ((pod as { terminationGracePeriodSeconds?: number }).terminationGracePeriodSeconds ?? 30));
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

/** The hardening every container of ours meets (also the restricted Pod Security Standard). */
function assertHardened(spec: PodSpec, writable: string[], what: string): void {
  assert.equal(spec.securityContext.runAsNonRoot, true, what);
  assert.ok(spec.securityContext.runAsUser > 0, what);
  assert.equal(spec.securityContext.seccompProfile.type, 'RuntimeDefault', what);
  assert.equal((spec as PodSpec & { automountServiceAccountToken?: boolean }).automountServiceAccountToken, false, `${what}: no API token`);
  for (const c of spec.containers) {
    const sc = c.securityContext;
    assert.equal(sc.runAsNonRoot, true, c.name);
    assert.equal(sc.readOnlyRootFilesystem, true, c.name);
    assert.equal(sc.allowPrivilegeEscalation, false, c.name);
    assert.deepEqual(sc.capabilities.drop, ['ALL'], c.name);
    assert.equal(sc.seccompProfile.type, 'RuntimeDefault', c.name);
    for (const m of c.volumeMounts) if (!writable.includes(m.name)) assert.equal(m.readOnly, true, `${c.name}: ${m.name}`);
    for (const r of ['cpu', 'memory']) {
      assert.ok(c.resources.requests[r], `${c.name}: request ${r}`);
      assert.ok(c.resources.limits[r], `${c.name}: limit ${r}`);
    }
  }
}

test('deployment: hardened (non-root, read-only root, no capabilities, RuntimeDefault seccomp), both containers', () => {
  assertHardened(pod, ['tmp'], 'image-enforcer');
  assert.equal(pod.serviceAccountName, find('ServiceAccount').metadata.name);
  assert.deepEqual(pod.containers.map((c) => c.name), ['image-enforcer', 'sync']);
  // The sync runs the same image.
  assert.equal(syncContainer.image, container.image);
});

test('deployment: the sync serves its metrics on the port it declares, and its flags parse', () => {
  const addr = syncContainer.args.find((a) => a.startsWith('--metrics-addr='))?.slice('--metrics-addr='.length);
  assert.ok(addr, 'the sync exposes its last successful cycle to Prometheus');
  assert.equal(Number(addr.split(':').at(-1)), syncContainer.ports.find((p) => p.name === 'sync-metrics')?.containerPort);
  // The flags the container passes are accepted by the sync itself (files are not read here).
  const flags = syncContainer.args.slice(1).filter((a) => !/^--(config|opa-ca-file|opa-token-file)=/.test(a));
  assert.equal(parseSyncFlags([...flags, '--repository', 'library/alpine'], {}).metricsAddr, addr);
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

// ---------------------------------------------------------------------------------------------
// The layer sync beside the server, and Clair (deploy/kubernetes/clair)

const flagValue = (args: string[], name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** The volume mounted (in container c) at the directory holding `file`, and the file's name in it. */
function volumeOf(c: Container, spec: PodSpec, file: string): { volume: Volume; name: string } {
  const m = c.volumeMounts.filter((x) => file.startsWith(`${x.mountPath}/`)).sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  assert.ok(m, `${file} is inside a volume mount of ${c.name}`);
  const volume = spec.volumes.find((v) => v.name === m.name);
  assert.ok(volume, `volume ${m.name} exists`);
  return { volume, name: file.slice(m.mountPath.length + 1) };
}

/** The Secret key a file of a secret volume comes from (through `items`, or the key itself). */
function secretKeyOf(v: Volume, file: string): { secret: string; key: string } {
  assert.ok(v.secret, `${v.name} is a secret volume`);
  const item = v.secret.items?.find((i) => i.path === file);
  if (v.secret.items) assert.ok(item, `${file} is an item of ${v.name}`);
  return { secret: v.secret.secretName, key: item?.key ?? file };
}

const syncYaml = (): string => {
  const file = flagValue(syncContainer.args, 'config');
  assert.ok(file, 'the sync reads a --config file');
  const { volume, name } = volumeOf(syncContainer, pod, file);
  assert.ok(volume.configMap, 'from a ConfigMap');
  const data = configMapData(volume.configMap.name);
  assert.ok(name in data, `ConfigMap ${volume.configMap.name} has key ${name}`);
  return data[name];
};

/** Secret values as created by make-secrets.sh (fixed inputs), parsed and validated. */
function madeSecrets(env: Record<string, string> = {}): { status: number | null; stderr: string; secrets: Array<K8sObject & { stringData: Record<string, string> }> } {
  const r = spawnSync('bash', [join(clairDir, 'make-secrets.sh')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  const secrets = r.status === 0 ? parseAllDocuments(r.stdout).map((d) => d.toJS() as K8sObject & { stringData: Record<string, string> }) : [];
  return { status: r.status, stderr: r.stderr, secrets };
}
const PSK = Buffer.from('a test pre-shared key of 32 byte').toString('base64');

/** The sync's options exactly as the container would parse them: its args, its ConfigMap, its env from the Secrets. */
function syncOptionsAsDeployed(secretValues: Record<string, Record<string, string>>): SyncOptions {
  const dir = mkdtempSync(join(tmpdir(), 'sync-config-'));
  try {
    writeFileSync(join(dir, 'sync.yaml'), syncYaml());
    const env: Record<string, string | undefined> = {};
    for (const e of syncContainer.env ?? []) {
      if (e.value !== undefined) env[e.name] = e.value;
      const ref = e.valueFrom?.secretKeyRef;
      if (ref) {
        const v = secretValues[ref.name]?.[ref.key];
        if (v === undefined) assert.ok(ref.optional, `${e.name}: Secret ${ref.name} key ${ref.key} is required but not given`);
        else env[e.name] = v;
      }
    }
    const args = syncContainer.args.slice(1).map((a) => (a.startsWith('--config=') ? `--config=${join(dir, 'sync.yaml')}` : a));
    return parseSyncFlags(args, env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const clairDeployment = find<DeploymentObj>('Deployment', clairRendered, 'clair');
const clairPod = clairDeployment.spec.template.spec;
const clairContainer = clairPod.containers[0];
const postgres = find<DeploymentObj & { spec: { serviceName: string; volumeClaimTemplates: Array<{ metadata: { name: string } }> } }>('StatefulSet', clairRendered, 'clair-postgres');
const postgresPod = postgres.spec.template.spec;
type ServiceObj = K8sObject & { spec: { selector: Record<string, string>; clusterIP?: string; ports: Array<{ name: string; port: number; targetPort: string }> } };

test('sync container: `image-enforcer sync` with flags and a config file it accepts', () => {
  assert.equal(syncContainer.args[0], 'sync');
  const o = syncOptionsAsDeployed({ 'image-enforcer-registry': { username: '', password: '' }, 'image-enforcer-clair': { psk: PSK } });
  assert.equal(o.once, false, 'runs as a daemon, not --once');
  assert.equal(o.clair?.version, 'v4');
  assert.equal(o.clair?.psk, PSK, 'CLAIR_PSK from the Secret');
  assert.equal(o.registries[0].credentials, undefined, 'empty registry credentials mean anonymous');
  assert.ok(o.registries[0].repositories.length > 0);
  // A typo in a flag would be refused (the check is real).
  assert.throws(() => parseSyncFlags([...syncContainer.args.slice(1).filter((a) => !a.startsWith('--config')), '--repository=a/b', '--opa-ulr=x'], {}), /unknown flag/);
});

test('sync container: --opa-url reaches the server container over loopback, with its certificate and an accepted token', () => {
  const o = syncOptionsAsDeployed({ 'image-enforcer-registry': { username: 'u', password: 'p' } });
  const url = new URL(o.opaUrl);
  // The server container listens on all addresses (--addr=:port) of the pod's network namespace.
  assert.match(flagValue(container.args, 'addr') ?? '', /^:\d+$/);
  assert.equal(url.hostname, '127.0.0.1');
  assert.equal(url.port, flagValue(container.args, 'addr')?.slice(1));
  assert.ok(container.ports.some((p) => String(p.containerPort) === url.port));
  // The server serves HTTPS (it has a certificate) on the v1 Data API.
  assert.ok(flagValue(container.args, 'tls-cert-file'));
  assert.equal(url.protocol, 'https:');
  assert.equal(url.pathname, '/v1');
  // The certificate is checked for the Service's name (what the serving certificate names) ...
  const svc = find('Service');
  assert.equal(o.opaTls?.serverName, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  assert.notEqual(o.opaTls?.insecure, true);
  // ... against the server's own certificate: the same Secret key the server serves, and only it.
  const ca = o.opaTls?.caFile;
  assert.ok(ca);
  const serverCert = volumeOf(container, pod, flagValue(container.args, 'tls-cert-file')!);
  const syncCert = volumeOf(syncContainer, pod, ca);
  assert.deepEqual(secretKeyOf(syncCert.volume, syncCert.name), secretKeyOf(serverCert.volume, serverCert.name));
  assert.deepEqual(syncCert.volume.secret?.items?.map((i) => i.key), ['tls.crt'], 'the sync never sees the private key');
  // The token comes from the Secret whose `tokens` key the server accepts; docs put it in both.
  assert.ok(o.opaTokenFile);
  const serverTokens = volumeOf(container, pod, flagValue(container.args, 'token-file')!);
  const syncToken = volumeOf(syncContainer, pod, o.opaTokenFile);
  const tokenRef = secretKeyOf(syncToken.volume, syncToken.name);
  assert.equal(tokenRef.secret, secretKeyOf(serverTokens.volume, serverTokens.name).secret);
  assert.deepEqual(syncToken.volume.secret?.items?.map((i) => i.key), [tokenRef.key], 'only the sync token');
  // Optional: a Secret without the sync's key must not keep the server (the webhook) from starting.
  assert.equal(syncToken.volume.secret?.optional, true);
  const deployDoc = readFileSync(join(root, 'docs', 'deploy.md'), 'utf8');
  const create = /kubectl -n image-enforcer create secret generic image-enforcer-token(?:[^\n]*\\\n)*[^\n]*/.exec(deployDoc)?.[0] ?? '';
  assert.match(create, new RegExp(`--from-literal=${tokenRef.key}=`), 'docs/deploy.md creates the sync token key');
  assert.match(create, /--from-literal=tokens=[^\n]*SYNC_TOKEN/, 'docs/deploy.md lists the sync token among the accepted tokens');
});

test('sync container: registry credentials from the Secret the docs create, under the names the config reads', () => {
  const cfg = parse(syncYaml()) as { registries: Array<{ usernameEnv?: string; passwordEnv?: string }> };
  const env = new Map((syncContainer.env ?? []).map((e) => [e.name, e]));
  const names = cfg.registries.flatMap((r) => [r.usernameEnv, r.passwordEnv]).filter((x): x is string => Boolean(x));
  assert.deepEqual(names, ['DOCKER_USER', 'DOCKER_PASSWORD'], 'the original sync\'s variables');
  const deployDoc = readFileSync(join(root, 'docs', 'deploy.md'), 'utf8');
  for (const n of names) {
    const ref = env.get(n)?.valueFrom?.secretKeyRef;
    assert.ok(ref, `${n} comes from a Secret`);
    assert.equal(ref.name, 'image-enforcer-registry');
    const create = new RegExp(`create secret generic ${ref.name}(?:[^\\n]*\\\\\\n)*[^\\n]*`).exec(deployDoc)?.[0] ?? '';
    assert.match(create, new RegExp(`--from-literal=${ref.key}=`), `docs/deploy.md creates key ${ref.key} of ${ref.name}`);
  }
  // The same variables, unset, are a clear configuration error (not a silent anonymous sync).
  assert.throws(() => syncOptionsAsDeployed({}), /image-enforcer-registry key username is required/);
});

test('clair: every object validates; namespace clair enforces the restricted standard', () => {
  assert.deepEqual(clairRendered.map((o) => `${o.kind}/${o.metadata.name}`).sort(), [
    'ConfigMap/clair-config',
    'Deployment/clair',
    'Namespace/clair',
    'NetworkPolicy/clair',
    'NetworkPolicy/clair-postgres',
    'Service/clair',
    'Service/clair-postgres',
    'StatefulSet/clair-postgres',
  ]);
  for (const o of clairRendered) validate(o);
  const ns = find('Namespace', clairRendered);
  assert.equal(ns.metadata.labels?.['pod-security.kubernetes.io/enforce'], 'restricted');
  for (const o of clairRendered) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, ns.metadata.name, `${o.kind}/${o.metadata.name}`);
  const broken = structuredClone(postgres) as unknown as K8sObject & { spec: Obj };
  broken.spec.replicas = 'one';
  assert.throws(() => validate(broken), /replicas/);
});

test('clair: Clair and PostgreSQL hardened, probed, with resources; PostgreSQL keeps its data on a volume', () => {
  assertHardened(clairPod, ['tmp'], 'clair');
  assertHardened(postgresPod, ['data', 'run', 'tmp', 'shm'], 'clair-postgres');
  for (const c of [clairContainer, postgresPod.containers[0]]) {
    assert.ok(c.readinessProbe && c.livenessProbe, `${c.name} probes`);
    assert.doesNotMatch(c.image, /:latest$|^[^:]+$/, `${c.name}: a pinned tag`);
  }
  // Clair's health endpoints live on the introspection port.
  for (const p of [clairContainer.readinessProbe, clairContainer.livenessProbe, clairContainer.startupProbe]) assert.equal(p?.httpGet?.port, 'introspection');
  const data = postgresPod.containers[0].volumeMounts.find((m) => m.name === 'data');
  assert.ok(data && postgres.spec.volumeClaimTemplates.some((t) => t.metadata.name === 'data'), 'data from a PersistentVolumeClaim');
  const pgdata = postgresPod.containers[0].env?.find((e) => e.name === 'PGDATA')?.value;
  assert.ok(pgdata?.startsWith(`${data.mountPath}/`), 'PGDATA is a subdirectory of the volume (lost+found)');
});

/** Clair's configuration as Clair loads it: config.yaml, then the drop-ins (JSON merge patches, RFC 7386). */
function clairConfig(secrets: Array<K8sObject & { stringData: Record<string, string> }>): Obj {
  const merge = (a: unknown, b: unknown): unknown => {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return b;
    const out: Obj = a !== null && typeof a === 'object' && !Array.isArray(a) ? { ...(a as Obj) } : {};
    for (const [k, v] of Object.entries(b)) {
      if (v === null) delete out[k];
      else out[k] = merge(out[k], v);
    }
    return out;
  };
  const volume = clairPod.volumes.find((v) => v.name === clairContainer.volumeMounts.find((m) => m.mountPath === '/config')?.name);
  assert.ok(volume?.projected, 'config volume');
  const confPath = clairContainer.env?.find((e) => e.name === 'CLAIR_CONF')?.value;
  assert.equal(confPath, '/config/config.yaml');
  let conf: unknown;
  const dropins: Array<[string, unknown]> = [];
  for (const src of volume.projected.sources) {
    for (const item of src.configMap?.items ?? []) {
      assert.equal(item.path, 'config.yaml');
      conf = parse(configMapData(src.configMap!.name, clairRendered)[item.key]);
    }
    for (const item of src.secret?.items ?? []) {
      // Clair 4.7+ loads <config>.d/*.yaml (merge) drop-ins after the root file.
      assert.match(item.path, /^config\.yaml\.d\/[^/]+\.yaml$/);
      const s = secrets.find((x) => x.metadata.name === src.secret!.name);
      assert.ok(s, `make-secrets.sh writes Secret ${src.secret!.name}`);
      assert.equal(s.metadata.namespace, clairDeployment.metadata.namespace);
      dropins.push([item.path, parse(s.stringData[item.key])]);
    }
  }
  for (const [, d] of dropins.sort((a, b) => a[0].localeCompare(b[0]))) conf = merge(conf, d);
  return conf as Obj;
}

// Clair 4.7+ refuses unknown keys; these are the documented ones (Clair's config reference).
const CLAIR_KEYS: Record<string, string[]> = {
  '': ['http_listen_addr', 'introspection_addr', 'log_level', 'tls', 'indexer', 'matcher', 'matchers', 'updaters', 'notifier', 'auth', 'trace', 'metrics'],
  indexer: ['connstring', 'scanlock_retry', 'layer_scan_concurrency', 'migrations', 'scanner', 'airgap', 'index_report_request_concurrency'],
  matcher: ['connstring', 'max_conn_pool', 'indexer_addr', 'migrations', 'period', 'disable_updaters', 'update_retention', 'cache_age', 'disable_enrichment'],
  notifier: ['connstring', 'migrations', 'indexer_addr', 'matcher_addr', 'poll_interval', 'delivery_interval', 'disable_summary', 'webhook', 'amqp', 'stomp'],
  updaters: ['sets', 'config', 'filter'],
  auth: ['psk'],
  'auth.psk': ['key', 'iss'],
  metrics: ['name', 'prometheus', 'otlp'],
};

test('clair: configuration has only known keys, listens where the Service and probes point, uses the PostgreSQL Service', () => {
  const { secrets, status } = madeSecrets({ CLAIR_PSK: PSK, POSTGRES_PASSWORD: 'pw-123' });
  assert.equal(status, 0);
  const conf = clairConfig(secrets);
  for (const [path, keys] of Object.entries(CLAIR_KEYS)) {
    const node = (path === '' ? conf : path.split('.').reduce<unknown>((o, k) => (o as Obj | undefined)?.[k], conf)) as Obj | undefined;
    if (node === undefined) continue;
    for (const k of Object.keys(node)) assert.ok(keys.includes(k), `unknown Clair config key ${path ? `${path}.` : ''}${k}`);
  }
  const port = (addr: unknown) => Number(String(addr).split(':').pop());
  const cport = (name: string) => clairContainer.ports.find((p) => p.name === name)?.containerPort;
  assert.equal(port(conf.http_listen_addr), cport('http'));
  assert.equal(port(conf.introspection_addr), cport('introspection'));
  // Combo mode needs all three blocks, each with the database.
  assert.equal(clairContainer.env?.find((e) => e.name === 'CLAIR_MODE')?.value, 'combo');
  const pgSvc = find<ServiceObj>('Service', clairRendered, 'clair-postgres');
  const pgEnv = new Map((postgresPod.containers[0].env ?? []).map((e) => [e.name, e]));
  for (const block of ['indexer', 'matcher', 'notifier']) {
    const conn = String((conf[block] as Obj | undefined)?.connstring ?? '');
    const kv = Object.fromEntries(conn.split(/\s+/).filter(Boolean).map((p) => p.split('=') as [string, string]));
    assert.equal(kv.host, pgSvc.metadata.name, `${block}: host is the PostgreSQL Service`);
    assert.equal(Number(kv.port), pgSvc.spec.ports[0].port, `${block}: port`);
    assert.equal(kv.user, pgEnv.get('POSTGRES_USER')?.value, `${block}: user`);
    assert.equal(kv.dbname, pgEnv.get('POSTGRES_DB')?.value, `${block}: dbname`);
    assert.equal(kv.password, undefined, `${block}: no password in the ConfigMap`);
    assert.equal((conf[block] as Obj).migrations, true, `${block}: migrations`);
  }
  // The PostgreSQL Service selects the StatefulSet's pods and is its governing Service.
  for (const [k, v] of Object.entries(pgSvc.spec.selector)) assert.equal(postgres.spec.template.metadata.labels[k], v);
  assert.equal(postgres.spec.serviceName, pgSvc.metadata.name);
  assert.ok(postgresPod.containers[0].ports.some((p) => p.name === pgSvc.spec.ports[0].targetPort));
  // Clair's Service selects Clair and maps its ports by name.
  const svc = find<ServiceObj>('Service', clairRendered, 'clair');
  for (const [k, v] of Object.entries(svc.spec.selector)) assert.equal(clairDeployment.spec.template.metadata.labels[k], v);
  for (const p of svc.spec.ports) assert.ok(clairContainer.ports.some((c) => c.name === p.targetPort), p.name);
});

test('clair: make-secrets.sh writes one pre-shared key and password that both sides read, with the sync\'s issuer', () => {
  const { secrets, status, stderr } = madeSecrets({ CLAIR_PSK: PSK, POSTGRES_PASSWORD: 'pw-123' });
  assert.equal(status, 0, stderr);
  for (const s of secrets) validate(s);
  const byName = new Map(secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  // Clair's side: auth.psk from the drop-in.
  const conf = clairConfig(secrets);
  const psk = (conf.auth as { psk: { key: string; iss: string[] } }).psk;
  assert.equal(psk.key, PSK);
  // The sync's side: CLAIR_PSK from a Secret in the enforcer's namespace, which the script writes.
  const pskRef = syncContainer.env?.find((e) => e.name === 'CLAIR_PSK')?.valueFrom?.secretKeyRef;
  assert.ok(pskRef);
  const syncSecret = byName.get(`${deployment.metadata.namespace}/${pskRef.name}`);
  assert.ok(syncSecret, `make-secrets.sh writes ${pskRef.name} into ${deployment.metadata.namespace}`);
  const o = syncOptionsAsDeployed({ 'image-enforcer-registry': { username: '', password: '' }, [pskRef.name]: syncSecret.stringData });
  assert.equal(o.clair?.psk, psk.key, 'the sync signs with the key Clair verifies');
  assert.ok(psk.iss.includes(o.clair?.pskIssuer ?? 'image-enforcer'), 'the sync\'s issuer is accepted');
  // PostgreSQL's password, read by PostgreSQL and by Clair (PGPASSWORD), from the one Secret.
  const pgPw = postgresPod.containers[0].env?.find((e) => e.name === 'POSTGRES_PASSWORD')?.valueFrom?.secretKeyRef;
  const clairPw = clairContainer.env?.find((e) => e.name === 'PGPASSWORD')?.valueFrom?.secretKeyRef;
  assert.ok(pgPw && clairPw);
  assert.deepEqual(clairPw, pgPw);
  assert.equal(byName.get(`${postgres.metadata.namespace}/${pgPw.name}`)?.stringData[pgPw.key], 'pw-123');
  // Without inputs the values are random, and differ between runs.
  const a = madeSecrets().secrets;
  const b = madeSecrets().secrets;
  const key = (l: typeof a) => l.find((s) => s.metadata.name === pskRef.name)?.stringData.psk;
  assert.ok(key(a) && Buffer.from(key(a)!, 'base64').length >= 32);
  assert.notEqual(key(a), key(b));
  // Bad inputs are refused with a message, nothing printed.
  const bad = madeSecrets({ CLAIR_PSK: 'not base64!' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /CLAIR_PSK must be base64/);
});

test('clair: the sync\'s Clair URL is Clair\'s Service (DNS name and port), and the network policies let exactly it in', () => {
  const o = syncOptionsAsDeployed({ 'image-enforcer-registry': { username: '', password: '' } });
  const svc = find<ServiceObj>('Service', clairRendered, 'clair');
  const url = new URL(o.clair?.url ?? '');
  assert.equal(url.protocol, 'http:');
  assert.equal(url.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
  assert.equal(Number(url.port), svc.spec.ports.find((p) => p.name === 'http')?.port);
  assert.equal(url.pathname, '/', 'Clair v4: the client adds /indexer/... and /matcher/...');
  type Policy = K8sObject & { spec: { podSelector: { matchLabels: Record<string, string> }; ingress: Array<{ from?: Array<{ namespaceSelector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } }>; ports: Array<{ port: number }> }> } };
  const np = find<Policy>('NetworkPolicy', clairRendered, 'clair');
  assert.deepEqual(np.spec.podSelector.matchLabels, clairDeployment.spec.selector.matchLabels);
  const api = np.spec.ingress.find((r) => r.ports.some((p) => p.port === svc.spec.ports.find((x) => x.name === 'http')?.port || p.port === clairContainer.ports.find((c) => c.name === 'http')?.containerPort));
  assert.ok(api?.from, 'the API port is restricted');
  const peer = api.from[0];
  assert.equal(peer.namespaceSelector?.matchLabels['kubernetes.io/metadata.name'], deployment.metadata.namespace);
  for (const [k, v] of Object.entries(peer.podSelector?.matchLabels ?? {})) assert.equal(deployment.spec.template.metadata.labels[k], v, 'the enforcer pods (with the sync)');
  const pg = find<Policy>('NetworkPolicy', clairRendered, 'clair-postgres');
  assert.deepEqual(pg.spec.podSelector.matchLabels, postgres.spec.selector.matchLabels);
  assert.deepEqual(pg.spec.ingress[0].from?.[0].podSelector?.matchLabels, clairDeployment.spec.selector.matchLabels);
  assert.deepEqual(pg.spec.ingress[0].ports.map((p) => p.port), [5432]);
});

test('the pod, run here: the server with the Deployment\'s TLS and token settings, the sync with its Data API flags; a vulnerable image becomes denied', { skip: registryAvailable ? false : 'docker-registry is not installed' }, async () => {
  // Stand-ins for what Kubernetes provides: the Secrets' files (a CA-issued certificate naming only
  // the Service, as docs/deploy.md creates it; tokens with the sync's among them), the ConfigMaps'
  // files, a registry, and Clair (a Clair v2 test server replaying recorded real responses: Clair
  // cannot run here; the wiring to Clair v4 is checked above).
  const dir = mkdtempSync(join(tmpdir(), 'pod-'));
  const svc = find('Service');
  const svcName = `${svc.metadata.name}.${svc.metadata.namespace}.svc`;
  const ossl = (args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  };
  ossl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=image-enforcer-ca', '-keyout', 'ca.key', '-out', 'ca.crt']);
  ossl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${svcName}`, '-keyout', 'tls.key', '-out', 'tls.csr']);
  writeFileSync(join(dir, 'ext'), `subjectAltName=DNS:${svcName},DNS:${svcName}.cluster.local\n`);
  ossl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-out', 'tls.crt', '-extfile', 'ext']);
  writeFileSync(join(dir, 'tokens'), 'apiserver-token\nsync-token-value\n');
  writeFileSync(join(dir, 'sync-token'), 'sync-token-value');
  mkdirSync(join(dir, 'policies'));
  for (const [f, text] of Object.entries(configMapData('image-enforcer-policies'))) writeFileSync(join(dir, 'policies', f), text);
  mkdirSync(join(dir, 'data', 'image_policy'), { recursive: true });
  writeFileSync(join(dir, 'data', 'image_policy', 'config.yaml'), configMapData('image-enforcer-config')['config.yaml']);

  const reg = await startRegistry();
  const clair = await ClairV2Replay.start();
  const runtime = await Runtime.start({ paths: [join(dir, 'policies'), join(dir, 'data')], ignore: ['.*'] });
  // The server container's settings, with its mounted files at their local paths.
  assert.equal(flagValue(container.args, 'authentication'), 'token');
  const server = await createServer(runtime, {
    addr: '127.0.0.1:0',
    tlsCertFile: join(dir, 'tls.crt'),
    tlsPrivateKeyFile: join(dir, 'tls.key'),
    authentication: 'token',
    tokenFile: join(dir, 'tokens'),
    maxBodyBytes: 1 << 20,
    evalTimeoutMs: 5000,
    decisionLog: 'off',
    logSink: { write: () => {} },
  });
  const logger = new MemoryLogger();
  let syncer: Syncer | undefined;
  try {
    const debian = makeLayer({ 'etc/os-release': 'ID=debian\nVERSION_ID=8\n' });
    clair.aliases.set(debian.digest, RECORDED_VULNERABLE);
    await pushImage(reg.url, 'library/wordpress', '4-apache', [debian, makeLayer({ 'var/www/index.php': '<?php' })]);

    // The sync container's options, exactly as deployed, then only the addresses localised.
    const deployed = syncOptionsAsDeployed({ 'image-enforcer-registry': { username: '', password: '' } });
    const opaUrl = new URL(deployed.opaUrl);
    opaUrl.port = String(server.port);
    const o: SyncOptions = {
      ...deployed,
      opaUrl: opaUrl.toString().replace(/\/$/, ''),
      opaTls: { ...deployed.opaTls, caFile: join(dir, basename(deployed.opaTls?.caFile ?? '')) },
      opaTokenFile: join(dir, 'sync-token'),
      registries: [{ ...deployed.registries[0], url: reg.url, repositories: ['library/wordpress'] }],
      clair: { url: `${clair.served.url}/v1`, version: 'v2' },
      retry: { attempts: 2, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 50 },
      logger,
      progress: noProgress,
    };
    assert.equal(basename(o.opaTls?.caFile ?? ''), 'tls.crt', 'the pinned file is the serving certificate');

    const review = async (): Promise<{ allowed: boolean; reason?: string }> => {
      const body = JSON.stringify({ apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec: { containers: [{ image: 'wordpress:4-apache' }], namespace: 'production' } });
      const r = await new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpsRequest(`https://127.0.0.1:${server.port}/v0/data/io/k8s/image_policy/verify`, { method: 'POST', ca: readFileSync(join(dir, 'ca.crt')), servername: svcName, headers: { authorization: 'Bearer apiserver-token', 'content-type': 'application/json' } }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(r.status, 200, r.text);
      return (JSON.parse(r.text) as { status: { allowed: boolean; reason?: string } }).status;
    };
    assert.equal((await review()).allowed, true, 'no vulnerability data yet');

    syncer = new Syncer(o);
    const report = await syncer.cycle();
    assert.deepEqual(report.errors, []);
    assert.ok(report.imagesWritten >= 1 && report.layerReportsWritten >= 1, JSON.stringify(report));
    const after = await review();
    assert.equal(after.allowed, false, 'the synced vulnerable layer denies the image');
    assert.match(after.reason ?? '', /CVE-/);

    // A server that does not accept the sync's token refuses its writes: a logged Data API error.
    writeFileSync(join(dir, 'tokens'), 'apiserver-token\n');
    await server.checkFiles();
    await pushImage(reg.url, 'library/wordpress', 'latest', [debian]);
    const refused = await syncer.cycle();
    assert.ok(refused.errors.some((e) => e.component === 'data-api' && /HTTP 401/.test(e.message)), JSON.stringify(refused.errors));
  } finally {
    syncer?.close();
    await server.close();
    runtime.close();
    await clair.served.close();
    await reg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
