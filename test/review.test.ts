// `image-enforcer review`: manifests decided exactly as the admission webhook decides them, on the
// README's examples and on the project's own deployment manifests, through the command line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exitCodeOf, parseManifests, reviewFiles, type ReviewItem } from '../src/cli/review.js';
import { admissionReviewFor, admit } from '../src/kube/admission.js';
import { loadPolicySet } from '../src/runtime/policy-set.js';
import { prepareQuery } from '../src/rego/index.js';
import { projectRoot } from './helpers/paths.js';
import { validateObject } from './fixtures/admission/validate.js';

const root = projectRoot();
const here = dirname(fileURLToPath(import.meta.url));
const P = (p: string) => join(root, p);
const DATA = ['-d', P('policies'), '-d', P('data')];

/** Runs the CLI (with `review` registered even before main.ts does it itself). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = pathToFileURL(join(here, '..', 'src', 'cli', 'main.js')).href;
  const review = pathToFileURL(join(here, '..', 'src', 'cli', 'review.js')).href;
  const launcher = `
    const { buildProgram, main, ExitCode } = await import(${JSON.stringify(main)});
    const { registerReviewCommand } = await import(${JSON.stringify(review)});
    const args = process.argv.slice(1);
    if (buildProgram().commands.some((c) => c.name() === 'review')) {
      process.exitCode = await main(args);
    } else {
      const program = buildProgram();
      registerReviewCommand(program);
      program.exitOverride();
      try { await program.parseAsync(args, { from: 'user' }); }
      catch (e) {
        if (e instanceof ExitCode) process.exitCode = e.code;
        else { if (!String(e.code ?? '').startsWith('commander.')) process.stderr.write('error: ' + e.message + '\\n'); process.exitCode = e.exitCode ?? 1; }
      }
    }`;
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', launcher, ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const byName = (items: ReviewItem[]) => Object.fromEntries(items.map((i) => [`${i.kind}/${i.name}`, i]));

test('review: the README examples get the webhook decisions', async () => {
  const items = await reviewFiles([P('examples/workloads')], { data: [P('policies'), P('data')], namespace: 'default' });
  const d = byName(items);
  assert.equal(d['Deployment/web']!.decision, 'allowed');
  assert.equal(d['Service/web']!.decision, 'skipped');
  assert.equal(d['Deployment/blog']!.decision, 'denied');
  assert.match(d['Deployment/blog']!.reasons[0]!, /^image wordpress:4-apache has 36 known vulnerabilities \(CVE-/);
  assert.equal(d['CronJob/blog-backup']!.decision, 'allowed');
  assert.equal(d['Pod/app']!.decision, 'denied');
  assert.deepEqual(d['Pod/app']!.reasons, ['image "MyCompany/App:1.0" is not a valid image reference: repository name "App" must be lowercase']);
  for (const k of ['Pod/tools', 'StatefulSet/db', 'DaemonSet/agent', 'ReplicaSet/api', 'ReplicationController/legacy', 'Job/migrate', 'PodTemplate/debug']) {
    assert.equal(d[k]?.decision, 'allowed', k);
    assert.equal(d[k]!.namespace, 'default');
  }
  assert.equal(items.length, 12);
  assert.equal(exitCodeOf(items), 2);
});

test('review: decisions are admit() decisions for the same object', async () => {
  const set = await loadPolicySet([P('policies'), P('data')]);
  const rt = { prepare: (q: string) => prepareQuery(set.policy, q), store: { snapshot: () => set.data } };
  const [doc] = parseManifests('x.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: blog, namespace: production}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: "wordpress:4-apache"}]\n');
  const direct = admit(rt, admissionReviewFor(doc!.object!, { uid: '1' }), { failureMode: 'deny', timeoutMs: 10000 });
  const message = ((direct.body as { response: { status: { message: string } } }).response.status.message);
  const dir = mkdtempSync(join(tmpdir(), 'ie-review-'));
  writeFileSync(join(dir, 'blog.yaml'), 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: blog, namespace: production}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: "wordpress:4-apache"}]\n');
  const [item] = await reviewFiles([join(dir, 'blog.yaml')], { data: [P('policies'), P('data')], namespace: 'default' });
  assert.deepEqual(item!.reasons, [message]);
});

test('review: CLI on examples prints each decision and exits 2 when something is denied', async () => {
  const r = await cli(['review', ...DATA, 'examples/workloads']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stdout, /examples\/workloads\/wordpress-production\.yaml: Deployment production\/blog: DENIED\n {2}- image wordpress:4-apache has 36 known vulnerabilities/);
  assert.match(r.stdout, /examples\/workloads\/web-production\.yaml: Deployment production\/web: allowed\n/);
  assert.match(r.stdout, /12 object\(s\): 9 allowed, 2 denied, 1 not inspected, 0 warning\(s\)\n$/);
});

test('review: CLI exits 0 when nothing is denied, with warnings shown', async () => {
  const r = await cli(['review', '-d', P('policies'), '-d', 'docker:data/docker', '-d', 'clair:data/clair', '-d', 'image_policy:examples/strict/config.yaml', 'examples/workloads/web-production.yaml']);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Deployment production\/web: allowed\n {2}warning: image alpine:3\.5 has no vulnerability scan data/);
});

test('review: CLI JSON output', async () => {
  const r = await cli(['review', ...DATA, '--format', 'json', '--namespace', 'team-a', 'examples/workloads/every-kind.yaml', 'examples/workloads/invalid-reference.yaml']);
  assert.equal(r.code, 2);
  const out = JSON.parse(r.stdout) as { results: ReviewItem[] };
  assert.equal(out.results.length, 8);
  assert.deepEqual(out.results[0], {
    file: 'examples/workloads/every-kind.yaml', document: 0, kind: 'Pod', name: 'tools', namespace: 'team-a',
    reasons: [], warnings: [], auditAnnotations: {}, decision: 'allowed',
  });
  assert.equal(out.results[7]!.decision, 'denied');
});

test('review: the deployment manifests pass their own webhook', async () => {
  const target = existsSync(P('deploy/kubernetes')) ? 'deploy/kubernetes' : 'examples';
  const r = await cli(['review', ...DATA, target]);
  if (target === 'examples') return;
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /Deployment [^\n]*image-enforcer: allowed/);
  assert.doesNotMatch(r.stdout, /DENIED|INVALID|ERROR/);
});

test('review: usage and file errors exit 1 with one line', async () => {
  const noData = await cli(['review', 'examples/workloads']);
  assert.equal(noData.code, 1);
  assert.match(noData.stderr, /review needs the policies and data: pass them with -d/);
  const missing = await cli(['review', ...DATA, 'no/such/file.yaml']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read no\/such\/file\.yaml: ENOENT/);
  const dir = mkdtempSync(join(tmpdir(), 'ie-review-'));
  writeFileSync(join(dir, 'bad.yaml'), 'kind: [unclosed\n');
  writeFileSync(join(dir, 'plain.yaml'), 'replicas: 3\n');
  const bad = await cli(['review', ...DATA, join(dir, 'bad.yaml'), join(dir, 'plain.yaml')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /bad\.yaml: document 1: INVALID\n {2}- invalid YAML/);
  assert.match(bad.stdout, /plain\.yaml: document 1: INVALID\n {2}- not a Kubernetes object/);
  // In a directory, YAML that is no Kubernetes object is passed over.
  const walked = await cli(['review', ...DATA, dir]);
  assert.equal(walked.code, 1);
  assert.doesNotMatch(walked.stdout, /plain\.yaml/);
});

test('review: lists and multi-document files are split into objects', () => {
  const docs = parseManifests('f.yaml', '---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a}}\n- {apiVersion: v1, kind: Pod, metadata: {name: b}}\n---\n---\n- 1\n');
  assert.deepEqual(docs.map((d) => (d.object ? (d.object.metadata as { name: string }).name : d.error)), ['a', 'b', 'not a Kubernetes object (expected a mapping with apiVersion and kind)']);
});

test('review: YAML nested absurdly deep, or with keys JSON cannot hold, is a clear error for its document', () => {
  // Deep YAML used to be able to abort the process (a stack overflow inside the YAML library).
  for (const text of [`a: ${'['.repeat(5000)}`, `x:\n${Array.from({ length: 400 }, (_, i) => ' '.repeat(i + 1) + 'k:').join('\n')} 1\n`]) {
    assert.deepEqual(parseManifests('deep.yaml', text), [{ file: 'deep.yaml', document: 0, error: 'invalid YAML: nested more than 200 levels deep' }]);
  }
  const docs = parseManifests('keys.yaml', 'apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  ? [x]\n  : 1\n---\napiVersion: v1\nkind: Pod\nnull: 1\n');
  assert.deepEqual(docs.map((d) => d.error ?? 'ok'), [
    'ok',
    'invalid YAML: a mapping key must be a string, number or boolean, not a sequence or mapping',
    'invalid YAML: a mapping key must be a string, number or boolean, not null',
  ]);
});

test('review: the example manifests are valid Kubernetes objects', () => {
  const dir = P('examples/workloads');
  let n = 0;
  for (const f of readdirSync(dir)) {
    for (const doc of parseManifests(f, readFileSync(join(dir, f), 'utf8'))) {
      validateObject(doc.object!);
      n++;
    }
  }
  assert.equal(n, 12);
});

test('review: with digest pinning configured, images are pinned first (as the mutating webhook does) and the result is decided', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ie-review-pin-'));
  const digest = 'sha256:' + 'a'.repeat(64);
  writeFileSync(
    join(dir, 'config.yaml'),
    'pinning:\n  require: {production: digest}\n  pin_digests: {production: true}\n',
  );
  // What a sync would have recorded for one tag.
  writeFileSync(join(dir, 'images.json'), JSON.stringify({ 'docker.io/library/nginx:1.25': { digest } }));
  const deployment = (name: string, image: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${name}, namespace: production}\nspec:\n  selector: {matchLabels: {app: ${name}}}\n  template:\n    metadata: {labels: {app: ${name}}}\n    spec: {containers: [{name: c, image: "${image}"}]}\n`;
  writeFileSync(join(dir, 'apps.yaml'), [deployment('synced', 'nginx:1.25'), deployment('unsynced', 'nginx:1.24')].join('---\n'));
  const data = [P('policies'), `image_policy:${join(dir, 'config.yaml')}`, `docker.images:${join(dir, 'images.json')}`];
  const d = byName(await reviewFiles([join(dir, 'apps.yaml')], { data, namespace: 'default' }));
  // The synced tag is pinned, so the digest requirement is met; the other cannot be pinned.
  assert.equal(d['Deployment/synced']!.decision, 'allowed', JSON.stringify(d['Deployment/synced']));
  assert.deepEqual(d['Deployment/synced']!.replacements, [{ field: '/spec/template/spec/containers/0/image', image: `nginx:1.25@${digest}` }]);
  assert.equal(d['Deployment/unsynced']!.decision, 'denied');
  assert.deepEqual(d['Deployment/unsynced']!.reasons, ['image nginx:1.24 is not pinned by digest']);
  assert.equal(d['Deployment/unsynced']!.replacements, undefined);
  const r = await cli(['review', '-d', data[0]!, '-d', data[1]!, '-d', data[2]!, join(dir, 'apps.yaml')]);
  assert.equal(r.code, 2);
  assert.match(r.stdout, new RegExp(`Deployment production/synced: allowed\\n  pinned: /spec/template/spec/containers/0/image = nginx:1\\.25@${digest}\\n`));
});
