// The mutating admission webhook: the policy may replace images — typically to pin a tag to the
// digest it points at now, so that the image that was scanned and admitted is the image the
// kubelet pulls, whatever the tag points at later. The answer is an AdmissionReview whose
// JSON patch replaces the image fields; nothing else in the object can be changed.
//
// The policy gets the same input as the validating webhook (admission.ts) and is asked for the
// decision data.io.k8s.image_policy.image_replacements: an object from an image, as written in
// the object, to the image to use instead. Undefined or empty: nothing to change. On an UPDATE
// only the images that changed are replaced: an image already running is never rewritten (a
// moved tag would otherwise roll out a new image on a mere label change).
//
// Mutation is best effort: when the policy cannot be evaluated or answers something unusable,
// the object is admitted unchanged, with a warning and an audit annotation. The validating
// webhook still decides whether it may run (and can require digests).
import { parseImageReference, isReferenceError } from './reference.js';
import { AUDIT_ERROR, evaluationError, readReview, truncateWarning, type AdmissionRuntime, type AdmitResult, type ReviewedRequest } from './admission.js';
import type { BuiltinHooks } from '../rego/builtins/registry.js';
import { fromJSON, toJSON, type Value } from '../rego/value.js';
import { isJSONObject, type ContainerImage, type JSONObject } from './pod-specs.js';

export const DEFAULT_REPLACEMENTS = 'data.io.k8s.image_policy.image_replacements';

/** Audit annotation naming each replacement ("old -> new", comma-separated). */
export const AUDIT_REPLACED = 'replaced-images';

export interface MutateOptions {
  /** The decision to evaluate (default data.io.k8s.image_policy.image_replacements). */
  decision?: string;
  /** Time limit for the evaluation in ms; keep it below the webhook's timeoutSeconds. */
  timeoutMs: number;
  hooks?: BuiltinHooks;
  /** Fixed time for time.now_ns (tests). */
  nowNs?: bigint;
}

/** One JSON patch operation (RFC 6902), as the API server applies it. */
export interface ReplaceOp {
  op: 'replace';
  path: string;
  value: string;
}

/** Answers one AdmissionReview for the mutating webhook. Never throws. */
export function mutate(runtime: AdmissionRuntime, body: unknown, opts: MutateOptions): AdmitResult {
  // A request the validating webhook would refuse as malformed is refused here the same way;
  // evaluation problems below always admit unchanged.
  const r = readReview(body, { failureMode: 'allow' });
  if ('done' in r) return r.done;
  try {
    return replaceImages(runtime, r, opts);
  } catch (e) {
    // A bug here must not take the webhook down: admit unchanged, as for any other failure.
    return unchangedAfter(r, `internal error: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** Admits the object unchanged because the replacements could not be worked out. */
function unchangedAfter(r: ReviewedRequest, message: string, result?: unknown): AdmitResult {
  return r.answer(
    {
      uid: r.uid,
      allowed: true,
      warnings: [truncateWarning(`images not replaced (${message}); admitted unchanged`)],
      auditAnnotations: { [AUDIT_ERROR]: message },
    },
    'failed-open',
    { input: r.input, result, error: message },
  );
}

/** The patch for the images the policy replaces. */
function replaceImages(runtime: AdmissionRuntime, r: ReviewedRequest, opts: MutateOptions): AdmitResult {
  const decision = opts.decision ?? DEFAULT_REPLACEMENTS;
  let value: Value | undefined;
  try {
    value = runtime.prepare(decision).evalValue({
      input: fromJSON(r.input),
      data: runtime.store.snapshot(),
      hooks: opts.hooks,
      nowNs: opts.nowNs,
      deadline: r.started + Math.max(1, opts.timeoutMs),
    });
  } catch (e) {
    return unchangedAfter(r, evaluationError(e, opts.timeoutMs));
  }
  if (value === undefined) return r.answer({ uid: r.uid, allowed: true }, 'unchanged', { input: r.input });
  const result = toJSON(value);
  const replacements = replacementMap(result, decision);
  if (typeof replacements === 'string') return unchangedAfter(r, replacements, result);

  const ops: ReplaceOp[] = [];
  const done: string[] = [];
  for (const image of r.images) {
    const to = replacements.get(image.image);
    if (to === undefined || to === image.image || image.image === '' || keptFromOldObject(image, r.oldImages)) continue;
    ops.push({ op: 'replace', path: '/' + [...r.kind.specPath, image.list, String(image.index), 'image'].join('/'), value: to });
    done.push(`${image.image} -> ${to}`);
  }
  if (ops.length === 0) return r.answer({ uid: r.uid, allowed: true }, 'unchanged', { input: r.input, result });
  return r.answer(
    {
      uid: r.uid,
      allowed: true,
      patchType: 'JSONPatch',
      patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
      auditAnnotations: { [AUDIT_REPLACED]: [...new Set(done)].join(', ') },
    },
    'mutated',
    { input: r.input, result },
  );
}

/** The decision as image -> replacement, or why it cannot be used. */
function replacementMap(result: unknown, decision: string): Map<string, string> | string {
  if (!isJSONObject(result)) return `the decision ${decision} must be an object from image to image`;
  const out = new Map<string, string>();
  for (const [from, to] of Object.entries(result)) {
    if (typeof to !== 'string') return `the decision ${decision} maps ${JSON.stringify(from)} to something other than a string`;
    const ref = parseImageReference(to);
    if (isReferenceError(ref)) return `the decision ${decision} maps ${JSON.stringify(from)} to ${JSON.stringify(to)}, which is not a valid image reference: ${ref.error}`;
    out.set(from, to);
  }
  return out;
}

/** On an UPDATE: the same image in the same container of the old object is left as it is. */
function keptFromOldObject(image: ContainerImage, old: ContainerImage[]): boolean {
  return old.some((o) => o.list === image.list && o.index === image.index && o.image === image.image);
}

/**
 * The object with the replacements of a mutate() answer applied, as the API server applies the
 * patch (for `image-enforcer review`, which then asks the validating webhook about the result).
 */
export function applyReplacements(object: JSONObject, ops: readonly ReplaceOp[]): JSONObject {
  const out = structuredClone(object);
  for (const op of ops) {
    const keys = op.path.split('/').slice(1);
    let cur: unknown = out;
    for (const k of keys.slice(0, -1)) cur = Array.isArray(cur) ? cur[Number(k)] : isJSONObject(cur) ? cur[k] : undefined;
    const last = keys[keys.length - 1]!;
    if (Array.isArray(cur)) cur[Number(last)] = op.value;
    else if (isJSONObject(cur)) cur[last] = op.value;
  }
  return out;
}

/** The replacements a mutate() answer makes: its patch decoded, empty when it has none. */
export function replacementsOf(result: AdmitResult): ReplaceOp[] {
  const patch = (result.body as { response?: { patch?: unknown } }).response?.patch;
  return typeof patch === 'string' ? (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as ReplaceOp[]) : [];
}
