// Hardening for the ImagePolicyWebhook call (protocols.md §1.2): the API server POSTs an
// ImageReview to /v0/data/<policy path>. A body that is not a well-formed ImageReview would make
// the policy quietly undefined or allow nothing in particular; we answer 400 with what is wrong
// instead, before evaluating anything. Fields the API server adds but leaves empty
// ("metadata":{"creationTimestamp":null}, "status":{"allowed":false}) are accepted and ignored.
import { RObject, isObject, typeName, type Value } from '../rego/value.js';

export const IMAGE_REVIEW_KIND = 'ImageReview';
export const IMAGE_POLICY_GROUP = 'imagepolicy.k8s.io';

/** True for a body that says it is an ImageReview (by kind or by API group). */
export function looksLikeImageReview(v: Value | undefined): boolean {
  if (!isObject(v)) return false;
  const kind = v.get('kind');
  const apiVersion = v.get('apiVersion');
  return kind === IMAGE_REVIEW_KIND || (typeof apiVersion === 'string' && apiVersion.startsWith(IMAGE_POLICY_GROUP + '/'));
}

const describe = (v: Value): string => {
  const t = typeName(v);
  return t === 'string' ? `string ${JSON.stringify(v)}` : t;
};

/** Returns what is wrong with an ImageReview, or undefined when it is well-formed. */
export function imageReviewProblem(v: Value | undefined): string | undefined {
  if (v === undefined) return 'the body is empty: expected the ImageReview the API server sends';
  if (!isObject(v)) return `expected an ImageReview object, got ${describe(v)}`;
  const kind = v.get('kind');
  if (kind === undefined) return `missing "kind": expected "${IMAGE_REVIEW_KIND}"`;
  if (kind !== IMAGE_REVIEW_KIND) return `wrong kind ${typeof kind === 'string' ? JSON.stringify(kind) : describe(kind)}: expected "${IMAGE_REVIEW_KIND}"`;
  const apiVersion = v.get('apiVersion');
  if (apiVersion === undefined) return `missing "apiVersion": expected "${IMAGE_POLICY_GROUP}/v1alpha1"`;
  if (typeof apiVersion !== 'string' || !apiVersion.startsWith(IMAGE_POLICY_GROUP + '/')) {
    return `unsupported apiVersion ${typeof apiVersion === 'string' ? JSON.stringify(apiVersion) : describe(apiVersion)}: expected "${IMAGE_POLICY_GROUP}/v1alpha1"`;
  }
  const spec = v.get('spec');
  if (spec === undefined || spec === null) return 'missing "spec": there is no image to review';
  if (!isObject(spec)) return `"spec" must be an object, got ${describe(spec)}`;
  const containers = spec.get('containers');
  if (containers === undefined || containers === null) return 'missing "spec.containers": there is no image to review';
  if (!Array.isArray(containers)) return `"spec.containers" must be a list, got ${describe(containers)}`;
  if (containers.length === 0) return '"spec.containers" is empty: there is no image to review';
  for (let i = 0; i < containers.length; i++) {
    const c = containers[i];
    const where = `spec.containers[${i}]`;
    if (!isObject(c)) return `"${where}" must be an object with an "image", got ${describe(c)}`;
    const image = c.get('image');
    if (image === undefined || image === null) return `"${where}.image" is missing`;
    if (typeof image !== 'string') return `"${where}.image" must be a string, got ${describe(image)}`;
    if (image.trim() === '') return `"${where}.image" is empty`;
  }
  const ns = spec.get('namespace');
  if (ns !== undefined && ns !== null && typeof ns !== 'string') return `"spec.namespace" must be a string, got ${describe(ns)}`;
  const ann = spec.get('annotations');
  if (ann !== undefined && ann !== null) {
    if (!isObject(ann)) return `"spec.annotations" must be an object of strings, got ${describe(ann)}`;
    for (const [k, x] of (ann as RObject).entries()) {
      if (typeof x !== 'string') return `"spec.annotations[${JSON.stringify(k)}]" must be a string, got ${describe(x)}`;
    }
  }
  return undefined;
}

/** `{"allowed": ...}` from a decision, for metrics; undefined when the value is no ImageReview answer. */
export function reviewAllowed(result: Value | undefined): boolean | undefined {
  if (!isObject(result)) return undefined;
  const status = result.get('status');
  if (!isObject(status)) return undefined;
  const allowed = status.get('allowed');
  return typeof allowed === 'boolean' ? allowed : undefined;
}
