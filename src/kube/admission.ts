// The validating admission webhook (protocols.md §2): an AdmissionReview in, an AdmissionReview
// out, decided by the same policy the ImagePolicyWebhook path uses.
//
// The policy gets the ImageReview the ImagePolicyWebhook would have sent for the object's pods
// ({apiVersion: imagepolicy.k8s.io/v1alpha1, kind: ImageReview, spec: {containers, namespace,
// annotations}}), so policies written for that protocol work unchanged, plus extra context:
//   input.request      kind, resource, subResource, name, namespace, operation, userInfo, object,
//                      oldObject, dryRun, options (as the API server sent them)
//   input.spec.images  every image with its container, list, field and parsed reference
// and the answer is read from the decision document (default data.io.k8s.image_policy.verify):
//   status.allowed, status.reason, status.auditAnnotations, and the optional status.warnings.
//
// admit() never throws: a body that is not an AdmissionReview gets a 400; everything after the
// uid is known gets a well-formed AdmissionReview. Evaluation errors and time-outs follow the
// configured failure mode. Evaluation is synchronous and bounded by a deadline, so the answer
// comes within the time limit however slow the policy is.
import type { BuiltinHooks } from '../rego/builtins/registry.js';
import { RegoError, RegoErrors, HaltError } from '../rego/errors.js';
import type { PreparedQuery } from '../rego/index.js';
import { fromJSON, parseJSON, RObject, stringifyJSON, toJSON, type Value } from '../rego/value.js';
import { parseImageReference, isReferenceError } from './reference.js';
import {
  CONTAINER_LISTS,
  imagePolicyAnnotations,
  isJSONObject,
  podSpecImages,
  splitApiVersion,
  workloadKind,
  type ContainerImage,
  type ContainerList,
  type JSONObject,
  type WorkloadKind,
} from './pod-specs.js';

export const DEFAULT_DECISION = 'data.io.k8s.image_policy.verify';
export const ADMISSION_GROUP = 'admission.k8s.io';
export const SUPPORTED_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;

/** What admit() needs from the runtime: prepared queries and a consistent data snapshot. */
export interface AdmissionRuntime {
  prepare(query: string): PreparedQuery;
  readonly store: { snapshot(): RObject };
}

export type FailureMode = 'deny' | 'allow';

export interface AdmitOptions {
  /** The decision to evaluate (default data.io.k8s.image_policy.verify). */
  decision?: string;
  /** What to answer when the policy cannot be evaluated (error, time-out, no decision). */
  failureMode: FailureMode;
  /** Time limit for the evaluation in ms; keep it below the webhook's timeoutSeconds. */
  timeoutMs: number;
  /** Builtin hooks (print, http.send...) passed to the evaluation. */
  hooks?: BuiltinHooks;
  /** Fixed time for time.now_ns (tests). */
  nowNs?: bigint;
  /** Also evaluate UPDATEs that leave every image as it was (default: they are allowed). */
  recheckUnchangedImages?: boolean;
}

/** Why the answer is what it is, for decision logs and metrics (not sent to the API server). */
export type AdmitOutcome =
  | 'allowed'
  | 'denied'
  | 'skipped' // DELETE/CONNECT, other subresources, unknown kinds, no images
  | 'invalid' // a malformed request (400 status in the response, or HTTP 400)
  | 'failed-open'
  | 'failed-closed'
  | 'mutated' // the mutating webhook (mutation.ts) answered with a patch
  | 'unchanged'; // ... or without one

export interface AdmitResult {
  /** HTTP status to answer with: 200, or 400 when the body is not an AdmissionReview at all. */
  statusCode: number;
  /** The JSON body: an AdmissionReview, or an OPA-style error {code, message} with a 400. */
  body: unknown;
  outcome: AdmitOutcome;
  /** request.dryRun: the caller must skip side effects (decision logs, metrics that count writes). */
  dryRun: boolean;
  /** The input handed to the policy, when it was evaluated (for decision logs). */
  input?: unknown;
  /** The decision's value, when it was evaluated. */
  result?: unknown;
  /** The evaluation error, when the failure mode answered. */
  error?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
  /** Mutating webhook only: a base64-encoded JSON patch. */
  patchType?: 'JSONPatch';
  patch?: string;
}

/** Audit annotation keys this handler adds itself (the API server prefixes them with the webhook name). */
export const AUDIT_FAILED_OPEN = 'failed-open';
export const AUDIT_ERROR = 'evaluation-error';
export const AUDIT_SKIPPED = 'skipped';

// Warnings travel as HTTP headers; the API server truncates long or many ones.
const MAX_WARNINGS = 16;
const MAX_WARNING_LENGTH = 256;

function badRequest(message: string): AdmitResult {
  return { statusCode: 400, body: { code: 'invalid_parameter', message }, outcome: 'invalid', dryRun: false };
}

/** Accepts the body as parsed JSON, a Rego value (what the server's body reader produces), or text. */
function decodeBody(body: unknown): { value: unknown } | { error: string } {
  try {
    if (typeof body === 'string' || body instanceof Uint8Array) {
      const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
      if (text.trim() === '') return { value: undefined };
      // JSON.parse is much faster but rounds integers beyond 2^53; the exact parser takes over
      // when the text has a run of digits that long.
      return { value: /\d{16}/.test(text) ? toJSON(parseJSON(text)) : (JSON.parse(text) as unknown) };
    }
    if (body instanceof RObject) return { value: toJSON(body) };
    return { value: body };
  } catch (e) {
    return { error: `the body is not valid JSON: ${(e as Error).message}` };
  }
}

/** A JSON value as text for a message. Unlike JSON.stringify it takes the bigints of exact integers. */
function jsonText(v: unknown): string {
  return stringifyJSON(v, 0, false);
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * Answers one AdmissionReview. Never throws. `body` is the request body: parsed JSON, a Rego
 * value, or the raw text.
 */
export function admit(runtime: AdmissionRuntime, body: unknown, opts: AdmitOptions): AdmitResult {
  const r = readReview(body, opts);
  if ('done' in r) return r.done;
  try {
    return evaluate(runtime, r.input, opts, r.started, r.uid, r.images, r.answer);
  } catch (e) {
    // A bug here must not take the webhook down: answer like any other evaluation failure.
    return failure(opts, `internal error: ${(e as Error)?.message ?? String(e)}`, r.uid, r.answer);
  }
}

/** An AdmissionReview read up to the policy input, for the validating and the mutating webhook. */
export interface ReviewedRequest {
  uid: string;
  /** When the request arrived: evaluation deadlines count from here. */
  started: number;
  kind: WorkloadKind;
  /** The images of the object, and for an UPDATE those of the old object. */
  images: ContainerImage[];
  oldImages: ContainerImage[];
  /** The policy input (buildInput). */
  input: JSONObject;
  /** Wraps a response in the AdmissionReview of the request's apiVersion. */
  answer: Answer;
}

/**
 * Reads and checks an AdmissionReview up to the policy input. `done` is the whole answer when
 * there is nothing to decide: a malformed body (HTTP 400), an invalid request, an operation or
 * kind without images, or an UPDATE that changes no image. Never throws.
 */
export function readReview(body: unknown, opts: Pick<AdmitOptions, 'failureMode' | 'recheckUnchangedImages'>): { done: AdmitResult } | ReviewedRequest {
  const started = Date.now();
  const decoded = decodeBody(body);
  if ('error' in decoded) return { done: badRequest(decoded.error) };
  const review = decoded.value;
  if (review === undefined) return { done: badRequest('the body is empty: expected the AdmissionReview the API server sends') };
  if (!isJSONObject(review)) return { done: badRequest(`expected an AdmissionReview object, got ${kindOf(review)}`) };
  if (review.kind !== 'AdmissionReview') {
    return { done: badRequest(`expected kind "AdmissionReview", got ${review.kind === undefined ? 'none' : jsonText(review.kind)}`) };
  }
  const apiVersion = review.apiVersion;
  if (typeof apiVersion !== 'string' || !(SUPPORTED_VERSIONS as readonly string[]).includes(apiVersion)) {
    return { done: badRequest(`unsupported apiVersion ${apiVersion === undefined ? '(none)' : jsonText(apiVersion)}: expected ${SUPPORTED_VERSIONS.join(' or ')}`) };
  }
  const request = review.request;
  if (!isJSONObject(request)) return { done: badRequest('missing "request": an AdmissionReview from the API server carries the request to review') };
  const uid = request.uid;
  if (typeof uid !== 'string' || uid === '') return { done: badRequest('missing "request.uid": the response must echo it') };
  const dryRun = request.dryRun === true;

  const answer = (response: AdmissionResponse, outcome: AdmitOutcome, extra: Partial<AdmitResult> = {}): AdmitResult => ({
    statusCode: 200,
    body: { apiVersion, kind: 'AdmissionReview', response },
    outcome,
    dryRun,
    ...extra,
  });
  const invalid = (message: string): { done: AdmitResult } => ({
    done: answer({ uid, allowed: false, status: { code: 400, reason: 'BadRequest', message: `invalid admission request: ${message}` } }, 'invalid'),
  });
  const skip = (why?: string): { done: AdmitResult } => ({ done: answer(why ? { uid, allowed: true, auditAnnotations: { [AUDIT_SKIPPED]: why } } : { uid, allowed: true }, 'skipped') });

  try {
    const operation = request.operation;
    if (operation === 'DELETE' || operation === 'CONNECT') return skip();
    if (operation !== 'CREATE' && operation !== 'UPDATE') {
      return invalid(`request.operation must be CREATE, UPDATE, DELETE or CONNECT, got ${jsonText(operation ?? null)}`);
    }
    const object = request.object;
    if (!isJSONObject(object)) return invalid(`request.object must be the ${operation === 'CREATE' ? 'new' : 'updated'} object, got ${kindOf(object)}`);

    // request.kind is what the webhook registered for (after matchPolicy: Equivalent conversion);
    // the object's own apiVersion/kind is the fallback for hand-made requests.
    let group: string | undefined;
    let kindName: string | undefined;
    const rk = request.kind;
    if (isJSONObject(rk) && typeof rk.kind === 'string') {
      group = typeof rk.group === 'string' ? rk.group : '';
      kindName = rk.kind;
    } else if (typeof object.kind === 'string' && typeof object.apiVersion === 'string') {
      group = splitApiVersion(object.apiVersion).group;
      kindName = object.kind;
    }
    if (kindName === undefined || group === undefined) return invalid('request.kind is missing: expected {group, version, kind}');
    const kind = workloadKind(group, kindName);
    if (!kind) return skip(`${group ? group + '/' : ''}${kindName} has no pod template this webhook knows; not inspected`);

    const sub = typeof request.subResource === 'string' ? request.subResource : '';
    let lists: readonly ContainerList[] = CONTAINER_LISTS;
    if (sub !== '') {
      // Only pods/ephemeralcontainers can add images; status, scale and the like cannot.
      if (kind.kind !== 'Pod' || sub !== 'ephemeralcontainers') return skip(`subresource ${kind.resource}/${sub} carries no new images; not inspected`);
      lists = ['ephemeralContainers'];
    }

    const found = podSpecImages(kind, object, lists);
    if (found.problems.length > 0) return invalid(found.problems.join('; '));
    if (found.images.length === 0) return skip();
    const old = operation === 'UPDATE' ? podSpecImages(kind, request.oldObject, lists) : undefined;
    // An UPDATE that changes no image (labels, finalizers, replicas...) adds nothing to check, and
    // refusing it could keep a pod from ever being deleted after the policy got stricter. Pods a
    // controller creates from such an object are still checked on their own CREATE.
    if (old && sub === '' && !opts.recheckUnchangedImages && sameImages(found.images, old)) return skip();

    const namespace = typeof request.namespace === 'string' && request.namespace !== ''
      ? request.namespace
      : (isJSONObject(object.metadata) && typeof object.metadata.namespace === 'string' ? object.metadata.namespace : '');
    const input = buildInput(request, found.images, namespace, imagePolicyAnnotations(found.annotations));
    const oldImages = old && old.problems.length === 0 ? old.images : [];
    return { uid, started, kind, images: found.images, oldImages, input, answer };
  } catch (e) {
    // A bug here must not take the webhook down: answer like any other evaluation failure.
    return { done: failure(opts, `internal error: ${(e as Error)?.message ?? String(e)}`, uid, answer) };
  }
}

function sameImages(a: ContainerImage[], old: { found: boolean; problems: string[]; images: ContainerImage[] }): boolean {
  if (!old.found || old.problems.length > 0 || old.images.length !== a.length) return false;
  return a.every((x, i) => {
    const y = old.images[i]!;
    return x.list === y.list && x.index === y.index && x.image === y.image;
  });
}

/** The ImageReview-shaped input, plus the admission context. */
export function buildInput(request: JSONObject, images: ContainerImage[], namespace: string, annotations: Record<string, string>): JSONObject {
  const spec: JSONObject = { containers: images.map((i) => ({ image: i.image })) };
  if (Object.keys(annotations).length > 0) spec.annotations = annotations;
  if (namespace !== '') spec.namespace = namespace;
  spec.images = images.map((i) => ({
    image: i.image,
    container: i.name,
    list: i.list,
    field: i.field,
    reference: referenceDoc(i.image),
  }));
  const context: JSONObject = {};
  for (const k of ['uid', 'kind', 'resource', 'subResource', 'requestKind', 'requestResource', 'requestSubResource', 'name', 'namespace', 'operation', 'userInfo', 'object', 'oldObject', 'dryRun', 'options']) {
    if (request[k] !== undefined) context[k] = request[k];
  }
  return { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', spec, request: context };
}

/**
 * The parsed reference in the shape policies/lib/image_reference.rego produces, so a policy can use
 * either: {valid, registry, repository, name, tag, digest, effective_tag, normalized, familiar}
 * or {valid: false, error}.
 */
export function referenceDoc(image: string): JSONObject {
  const r = parseImageReference(image);
  if (isReferenceError(r)) return { valid: false, error: r.error };
  return {
    valid: true,
    registry: r.domain,
    repository: r.path,
    name: r.name,
    tag: r.tag,
    digest: r.digest,
    effective_tag: r.effectiveTag,
    normalized: r.normalized,
    familiar: r.familiarName,
  };
}

export type Answer = (response: AdmissionResponse, outcome: AdmitOutcome, extra?: Partial<AdmitResult>) => AdmitResult;

function evaluate(runtime: AdmissionRuntime, input: JSONObject, opts: AdmitOptions, started: number, uid: string, images: ContainerImage[], answer: Answer): AdmitResult {
  const decision = opts.decision ?? DEFAULT_DECISION;
  let value: Value | undefined;
  try {
    const q = runtime.prepare(decision);
    value = q.evalValue({
      input: fromJSON(input),
      data: runtime.store.snapshot(),
      hooks: opts.hooks,
      nowNs: opts.nowNs,
      // The deadline counts from when the request arrived, so parsing and preparing are included.
      deadline: started + Math.max(1, opts.timeoutMs),
    });
  } catch (e) {
    return failure(opts, evaluationError(e, opts.timeoutMs), uid, answer, input);
  }
  if (value === undefined) return failure(opts, `the decision ${decision} is undefined`, uid, answer, input);
  const result = toJSON(value);
  const status = isJSONObject(result) ? result.status : undefined;
  if (!isJSONObject(status) || typeof status.allowed !== 'boolean') {
    return failure(opts, `the decision ${decision} has no boolean status.allowed`, uid, answer, input, result);
  }
  const response: AdmissionResponse = { uid, allowed: status.allowed };
  if (!status.allowed) {
    const reason = typeof status.reason === 'string' && status.reason !== '' ? status.reason : undefined;
    response.status = {
      code: 403,
      reason: 'Forbidden',
      message: reason ?? `one or more images rejected by the image policy: ${[...new Set(images.map((i) => i.image))].join(', ')}`,
    };
  }
  const warnings = stringList(status.warnings);
  if (warnings.length > 0) response.warnings = warnings;
  const audit = stringMap(status.auditAnnotations);
  if (Object.keys(audit).length > 0) response.auditAnnotations = audit;
  return answer(response, status.allowed ? 'allowed' : 'denied', { input, result });
}

function failure(opts: Pick<AdmitOptions, 'failureMode'>, message: string, uid: string, answer: Answer, input?: unknown, result?: unknown): AdmitResult {
  if (opts.failureMode === 'allow') {
    return answer(
      {
        uid,
        allowed: true,
        warnings: [truncateWarning(`image policy not evaluated (${message}); admitted because the webhook fails open`)],
        auditAnnotations: { [AUDIT_FAILED_OPEN]: 'true', [AUDIT_ERROR]: message },
      },
      'failed-open',
      { input, result, error: message },
    );
  }
  return answer(
    {
      uid,
      allowed: false,
      status: { code: 500, reason: 'InternalError', message: `image policy could not be evaluated: ${message}` },
      auditAnnotations: { [AUDIT_ERROR]: message },
    },
    'failed-closed',
    { input, result, error: message },
  );
}

export function evaluationError(e: unknown, timeoutMs: number): string {
  const inner = e instanceof HaltError ? e.inner : e;
  const errs = inner instanceof RegoErrors ? inner.errors : inner instanceof RegoError ? [inner] : [];
  if (errs.some((x) => x.code === 'eval_cancel_error')) return `evaluation took longer than the time limit of ${timeoutMs} ms`;
  if (errs.length > 0) return errs.map((x) => x.message).join('; ');
  if (inner instanceof RangeError) return `evaluation exceeded the maximum nesting depth`;
  return `internal error during evaluation: ${(inner as Error)?.message ?? String(inner)}`;
}

/** A warning cut to what the API server shows. */
export function truncateWarning(s: string): string {
  return s.length > MAX_WARNING_LENGTH ? s.slice(0, MAX_WARNING_LENGTH - 3) + '...' : s;
}

function stringList(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  const out = v.map((x) => (typeof x === 'string' ? x : jsonText(x))).map(truncateWarning);
  return out.length > MAX_WARNINGS ? [...out.slice(0, MAX_WARNINGS - 1), `... and ${out.length - MAX_WARNINGS + 1} more warnings`] : out;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isJSONObject(v)) return out;
  for (const [k, x] of Object.entries(v)) out[k] = typeof x === 'string' ? x : jsonText(x);
  return out;
}

/** Builds the AdmissionReview the API server would send for an object (used by `review` and tests). */
export function admissionReviewFor(
  object: JSONObject,
  opts: { uid: string; namespace?: string; operation?: 'CREATE' | 'UPDATE'; subResource?: string; dryRun?: boolean; userInfo?: JSONObject; apiVersion?: string },
): JSONObject | undefined {
  if (typeof object.apiVersion !== 'string' || typeof object.kind !== 'string') return undefined;
  const { group, version } = splitApiVersion(object.apiVersion);
  const kind = workloadKind(group, object.kind);
  const meta = isJSONObject(object.metadata) ? object.metadata : {};
  const namespace = opts.namespace ?? (typeof meta.namespace === 'string' ? meta.namespace : 'default');
  const operation = opts.operation ?? 'CREATE';
  const resource = kind?.resource ?? object.kind.toLowerCase() + 's';
  const request: JSONObject = {
    uid: opts.uid,
    kind: { group, version, kind: object.kind },
    resource: { group, version, resource },
    requestKind: { group, version, kind: object.kind },
    requestResource: { group, version, resource },
    name: typeof meta.name === 'string' ? meta.name : '',
    namespace,
    operation,
    userInfo: opts.userInfo ?? { username: 'image-enforcer-review', groups: ['system:authenticated'] },
    object: { ...object, metadata: { ...meta, namespace } },
    oldObject: null,
    dryRun: opts.dryRun ?? true,
    options: { apiVersion: 'meta.k8s.io/v1', kind: operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions' },
  };
  if (opts.subResource) {
    request.subResource = opts.subResource;
    request.requestSubResource = opts.subResource;
  }
  return { apiVersion: opts.apiVersion ?? 'admission.k8s.io/v1', kind: 'AdmissionReview', request };
}

