// `image-enforcer review FILE...`: the admission webhook's decision for Kubernetes manifests,
// offline, for CI pipelines. Every workload in the files is wrapped in the AdmissionReview the
// API server would send (a dry-run CREATE) and answered by the webhooks' own code — mutate()
// first (digest pinning, when configured), then admit() on the result — so what passes here
// passes at `kubectl apply`, and what is denied here is denied there.
//
// Exit codes: 0 nothing denied; 2 something would be denied; 1 the files or policies could not
// be read (and nothing was denied).
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { admissionReviewFor, admit, DEFAULT_DECISION, type AdmissionRuntime, type AdmitOutcome } from '../kube/admission.js';
import { applyReplacements, mutate, replacementsOf } from '../kube/mutation.js';
import { isJSONObject, splitApiVersion, workloadKind, type JSONObject } from '../kube/pod-specs.js';
import { prepareQuery, type PreparedQuery } from '../rego/index.js';
import { MAX_YAML_DEPTH, yamlNestedDeeperThan } from '../rego/yaml-depth.js';
import { unsupportedMappingKey } from '../rego/yaml-keys.js';
import { loadPolicySet } from '../runtime/policy-set.js';
import { ExitCode, UserError } from './common.js';

export interface ReviewItem {
  file: string;
  /** 0-based index of the document in the file (items of a List count as documents of their own). */
  document: number;
  kind: string;
  name: string;
  namespace: string;
  /** allowed | denied | skipped (not a workload) | invalid | error */
  decision: 'allowed' | 'denied' | 'skipped' | 'invalid' | 'error';
  reasons: string[];
  warnings: string[];
  auditAnnotations: Record<string, string>;
  /** The images the mutating webhook would replace (digest pinning): JSON pointer and new image. */
  replacements?: Array<{ field: string; image: string }>;
}

export interface ReviewOptions {
  data: string[];
  namespace: string;
  decision?: string;
  timeoutMs?: number;
}

interface ManifestDoc {
  file: string;
  document: number;
  object?: JSONObject;
  error?: string;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/**
 * The manifest files named by the arguments: files as given (explicit), directories walked for
 * .yaml/.yml/.json. In a walked directory, YAML that is no Kubernetes object (kustomization
 * settings, policy data...) is passed over; in a named file it is an error.
 */
export async function manifestFiles(args: string[]): Promise<Array<{ path: string; explicit: boolean }>> {
  const out: Array<{ path: string; explicit: boolean }> = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && MANIFEST_FILE.test(e.name)) out.push({ path: p, explicit: false });
    }
  };
  for (const a of args) {
    let s;
    try {
      s = await stat(a);
    } catch (e) {
      throw new ReviewError(`cannot read ${a}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (s.isDirectory()) await walk(a);
    else out.push({ path: a, explicit: true });
  }
  return out;
}

/** A problem with the arguments or files, reported as one line (exit 1). */
export class ReviewError extends UserError {}

/** Splits a file into objects: multi-document YAML (JSON is YAML), `kind: List` flattened. */
export function parseManifests(file: string, text: string): ManifestDoc[] {
  const out: ManifestDoc[] = [];
  let index = 0;
  const push = (v: unknown): void => {
    if (v === null || v === undefined) return; // empty documents ("---" at the end)
    if (isJSONObject(v) && v.kind === 'List' && Array.isArray(v.items)) {
      for (const item of v.items) push(item);
      return;
    }
    if (!isJSONObject(v)) out.push({ file, document: index++, error: 'not a Kubernetes object (expected a mapping with apiVersion and kind)' });
    else out.push({ file, document: index++, object: v });
  };
  // Building documents nested a few hundred levels deep can abort the process: measured first.
  if (yamlNestedDeeperThan(text, MAX_YAML_DEPTH)) {
    return [{ file, document: 0, error: `invalid YAML: nested more than ${MAX_YAML_DEPTH} levels deep` }];
  }
  for (const doc of parseAllDocuments(text)) {
    const badKey = doc.errors.length > 0 ? undefined : unsupportedMappingKey(doc);
    if (doc.errors.length > 0 || badKey) {
      const why = badKey ? `a mapping key must be a string, number or boolean, not ${badKey.what}` : doc.errors[0]!.message.split('\n')[0];
      out.push({ file, document: index++, error: `invalid YAML: ${why}` });
      continue;
    }
    push(doc.toJS({ maxAliasCount: 100 }));
  }
  return out;
}

/** A runtime for admit() over a loaded policy set (no store, no reloading). */
function staticRuntime(set: Awaited<ReturnType<typeof loadPolicySet>>): AdmissionRuntime {
  const cache = new Map<string, PreparedQuery>();
  return {
    prepare(query: string): PreparedQuery {
      let q = cache.get(query);
      if (!q) {
        q = prepareQuery(set.policy, query);
        cache.set(query, q);
      }
      return q;
    },
    store: { snapshot: () => set.data },
  };
}

/** Reviews every object of the files. Throws ReviewError / load errors when nothing can be reviewed. */
export async function reviewFiles(files: string[], opts: ReviewOptions): Promise<ReviewItem[]> {
  const set = await loadPolicySet(opts.data);
  const runtime = staticRuntime(set);
  const items: ReviewItem[] = [];
  for (const { path: file, explicit } of await manifestFiles(files)) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new ReviewError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    for (const doc of parseManifests(file, text)) {
      const item = reviewObject(runtime, doc, opts);
      if (!explicit && item.decision === 'invalid' && doc.object && typeof doc.object.kind !== 'string') continue;
      items.push(item);
    }
  }
  return items;
}

function reviewObject(runtime: AdmissionRuntime, doc: ManifestDoc, opts: ReviewOptions): ReviewItem {
  const base = { file: doc.file, document: doc.document, kind: '', name: '', namespace: '', reasons: [] as string[], warnings: [] as string[], auditAnnotations: {} };
  const o = doc.object;
  if (!o) return { ...base, decision: 'invalid', reasons: [doc.error ?? 'unreadable document'] };
  const meta = isJSONObject(o.metadata) ? o.metadata : {};
  const item = {
    ...base,
    kind: typeof o.kind === 'string' ? o.kind : '',
    name: typeof meta.name === 'string' ? meta.name : typeof meta.generateName === 'string' ? `${meta.generateName}*` : '',
    namespace: typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : opts.namespace,
  };
  if (typeof o.apiVersion !== 'string' || typeof o.kind !== 'string') {
    return { ...item, decision: 'invalid', reasons: ['not a Kubernetes object: apiVersion and kind are required'] };
  }
  if (!workloadKind(splitApiVersion(o.apiVersion).group, o.kind)) return { ...item, decision: 'skipped' };
  const reviewOf = (object: JSONObject) => admissionReviewFor(object, { uid: `review-${doc.document}`, namespace: item.namespace });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  // The mutating webhook runs first in the cluster: the validating one decides on its result.
  const mutated = mutate(runtime, reviewOf(o), { timeoutMs });
  const pins = replacementsOf(mutated);
  const mutationWarnings = ((mutated.body as { response?: { warnings?: string[] } }).response?.warnings ?? []);
  const result = admit(runtime, reviewOf(pins.length > 0 ? applyReplacements(o, pins) : o), { decision: opts.decision ?? DEFAULT_DECISION, failureMode: 'deny', timeoutMs });
  const response = ((result.body as { response?: unknown }).response ?? {}) as {
    allowed?: boolean;
    status?: { message?: string };
    warnings?: string[];
    auditAnnotations?: Record<string, string>;
  };
  const decision = decisionOf(result.outcome);
  const reasons = response.allowed === false && response.status?.message ? splitReasons(response.status.message, result.outcome) : [];
  const out: ReviewItem = { ...item, decision, reasons, warnings: [...mutationWarnings, ...(response.warnings ?? [])], auditAnnotations: response.auditAnnotations ?? {} };
  if (pins.length > 0) out.replacements = pins.map((p) => ({ field: p.path, image: p.value }));
  return out;
}

function decisionOf(outcome: AdmitOutcome): ReviewItem['decision'] {
  switch (outcome) {
    case 'allowed':
    case 'failed-open':
    case 'mutated': // the mutating webhook's outcomes; review asks the validating one
    case 'unchanged':
      return 'allowed';
    case 'denied':
      return 'denied';
    case 'skipped':
      return 'allowed';
    case 'invalid':
      return 'invalid';
    case 'failed-closed':
      return 'error';
  }
}

/** The bundled policy joins its reasons with "; "; show one per line. */
function splitReasons(message: string, outcome: AdmitOutcome): string[] {
  return outcome === 'denied' ? message.split('; ') : [message];
}

export function formatPretty(items: ReviewItem[]): string {
  const lines: string[] = [];
  for (const i of items) {
    const what = i.kind ? `${i.kind} ${i.namespace}/${i.name || '(unnamed)'}` : `document ${i.document + 1}`;
    const label = { allowed: 'allowed', denied: 'DENIED', skipped: 'not inspected (no pod template)', invalid: 'INVALID', error: 'ERROR' }[i.decision];
    lines.push(`${i.file}: ${what}: ${label}`);
    for (const r of i.replacements ?? []) lines.push(`  pinned: ${r.field} = ${r.image}`);
    for (const r of i.reasons) lines.push(`  - ${r}`);
    for (const w of i.warnings) lines.push(`  warning: ${w}`);
    for (const [k, v] of Object.entries(i.auditAnnotations)) lines.push(`  audit ${k}: ${v}`);
  }
  const count = (d: ReviewItem['decision']) => items.filter((i) => i.decision === d).length;
  const bad = count('invalid') + count('error');
  lines.push(
    `${items.length} object(s): ${count('allowed')} allowed, ${count('denied')} denied, ${count('skipped')} not inspected` +
      (bad > 0 ? `, ${bad} invalid or failed` : '') +
      `, ${items.reduce((n, i) => n + i.warnings.length, 0)} warning(s)`,
  );
  return lines.join('\n');
}

/** 0 nothing denied, 2 something denied (or failed closed), 1 unreadable manifests only. */
export function exitCodeOf(items: ReviewItem[]): number {
  if (items.some((i) => i.decision === 'denied' || i.decision === 'error')) return 2;
  if (items.some((i) => i.decision === 'invalid')) return 1;
  return 0;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Adds `review` to the program (main.ts calls this once). */
export function registerReviewCommand(program: Command): void {
  program
    .command('review')
    .description('decide Kubernetes manifests exactly as the admission webhook would (for CI); exit 2 when something would be denied')
    .argument('<files...>', 'manifest files (multi-document YAML or JSON) or directories of them')
    .option('-d, --data <path>', 'policy or data file or directory (repeatable; prefix:path allowed)', collect, [])
    .option('-n, --namespace <namespace>', 'namespace for objects that do not name one', 'default')
    .option('--decision <ref>', 'the decision to evaluate', DEFAULT_DECISION)
    .option('--timeout <ms>', 'time limit per object in milliseconds', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of milliseconds');
      return n;
    })
    .addOption(new Option('-f, --format <format>', 'output format').choices(['pretty', 'json']).default('pretty'))
    .action(async (files: string[], o: { data: string[]; namespace: string; decision: string; timeout?: number; format: string }) => {
      if (o.data.length === 0) throw new ReviewError('review needs the policies and data: pass them with -d (e.g. -d policies -d data)');
      const items = await reviewFiles(files, { data: o.data, namespace: o.namespace, decision: o.decision, timeoutMs: o.timeout });
      if (o.format === 'json') process.stdout.write(JSON.stringify({ results: items }, null, 2) + '\n');
      else process.stdout.write(formatPretty(items) + '\n');
      const code = exitCodeOf(items);
      if (code !== 0) throw new ExitCode(code);
    });
}
