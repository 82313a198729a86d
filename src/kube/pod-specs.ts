// Where the container images of a Kubernetes workload live (protocols.md §2.4), and how to read
// them without trusting the object's shape.
//
// The admission webhook and `image-enforcer review` both go through here, so a manifest checked
// offline and the same object arriving at the webhook yield the same list of images. All three
// container lists are read for every kind: templates never carry ephemeral containers, but reading
// them costs nothing and closes the gap if a future API version allows them.

export type ContainerList = 'containers' | 'initContainers' | 'ephemeralContainers';

export const CONTAINER_LISTS: readonly ContainerList[] = ['containers', 'initContainers', 'ephemeralContainers'];

/** A workload kind this module knows how to read. */
export interface WorkloadKind {
  /** API group ("" for the core group). */
  group: string;
  kind: string;
  /** Plural resource name, as in webhook rules and request.resource. */
  resource: string;
  /** Path from the object root to the PodSpec. */
  specPath: readonly string[];
  /** Path from the object root to the metadata of the pods it creates (the Pod's own metadata for Pods). */
  metadataPath: readonly string[];
}

const TEMPLATE = ['spec', 'template'];

// Old group versions (extensions/v1beta1, apps/v1beta2, batch/v1beta1) keep the same layout, so a
// kind is identified by its group and name only; the version does not matter.
const KINDS: readonly WorkloadKind[] = [
  { group: '', kind: 'Pod', resource: 'pods', specPath: ['spec'], metadataPath: ['metadata'] },
  { group: 'apps', kind: 'Deployment', resource: 'deployments', specPath: [...TEMPLATE, 'spec'], metadataPath: [...TEMPLATE, 'metadata'] },
  { group: 'apps', kind: 'StatefulSet', resource: 'statefulsets', specPath: [...TEMPLATE, 'spec'], metadataPath: [...TEMPLATE, 'metadata'] },
  { group: 'apps', kind: 'DaemonSet', resource: 'daemonsets', specPath: [...TEMPLATE, 'spec'], metadataPath: [...TEMPLATE, 'metadata'] },
  { group: 'apps', kind: 'ReplicaSet', resource: 'replicasets', specPath: [...TEMPLATE, 'spec'], metadataPath: [...TEMPLATE, 'metadata'] },
  { group: 'batch', kind: 'Job', resource: 'jobs', specPath: [...TEMPLATE, 'spec'], metadataPath: [...TEMPLATE, 'metadata'] },
  {
    group: 'batch',
    kind: 'CronJob',
    resource: 'cronjobs',
    specPath: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
    metadataPath: ['spec', 'jobTemplate', 'spec', 'template', 'metadata'],
  },
  { group: '', kind: 'ReplicationController', resource: 'replicationcontrollers', specPath: [...TEMPLATE, 'spec'], metadataPath: [...TEMPLATE, 'metadata'] },
  { group: '', kind: 'PodTemplate', resource: 'podtemplates', specPath: ['template', 'spec'], metadataPath: ['template', 'metadata'] },
];

/** Before apps/v1, Deployments, DaemonSets and ReplicaSets were also served from extensions. */
const GROUP_ALIASES: Record<string, string> = { extensions: 'apps' };

export function supportedKinds(): readonly WorkloadKind[] {
  return KINDS;
}

/** The workload kind for an API group and kind name, or undefined when it has no pod template we know. */
export function workloadKind(group: string, kind: string): WorkloadKind | undefined {
  const g = GROUP_ALIASES[group] ?? group;
  return KINDS.find((k) => k.group === g && k.kind === kind);
}

/** Splits "apps/v1" into group "apps", version "v1"; "v1" is the core group. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? { group: '', version: apiVersion } : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

export interface ContainerImage {
  list: ContainerList;
  index: number;
  /** The container's name, when it has a string one. */
  name: string | null;
  /** The image string as written (may be "" when the field is empty). */
  image: string;
  /** Dotted location in the object, e.g. "spec.template.spec.initContainers[0].image". */
  field: string;
}

export interface PodSpecImages {
  /** False when the object has no pod spec at all (nothing to check). */
  found: boolean;
  images: ContainerImage[];
  /** Structural problems (a container list that is not a list, an image that is not a string...). */
  problems: string[];
  /** The pod metadata's annotations (string values only). */
  annotations: Record<string, string>;
}

export type JSONObject = Record<string, unknown>;

export function isJSONObject(v: unknown): v is JSONObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function at(obj: unknown, path: readonly string[]): unknown {
  let cur = obj;
  for (const p of path) {
    if (!isJSONObject(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * Reads the images of an object of a known kind. `lists` picks the container lists (all three by
 * default; the ephemeralcontainers subresource reads only `ephemeralContainers`).
 */
export function podSpecImages(kind: WorkloadKind, object: unknown, lists: readonly ContainerList[] = CONTAINER_LISTS): PodSpecImages {
  const out: PodSpecImages = { found: false, images: [], problems: [], annotations: {} };
  const spec = at(object, kind.specPath);
  const specField = kind.specPath.join('.');
  if (spec === undefined || spec === null) return out;
  if (!isJSONObject(spec)) {
    out.problems.push(`${specField} must be an object, got ${describe(spec)}`);
    return out;
  }
  out.found = true;
  for (const list of lists) {
    const items = spec[list];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      out.problems.push(`${specField}.${list} must be a list, got ${describe(items)}`);
      continue;
    }
    items.forEach((c: unknown, index) => {
      const field = `${specField}.${list}[${index}]`;
      if (!isJSONObject(c)) {
        out.problems.push(`${field} must be an object, got ${describe(c)}`);
        return;
      }
      const image = c.image;
      const name = typeof c.name === 'string' ? c.name : null;
      // An absent image is left for the API server's own validation (a later mutating admission
      // controller may fill it); any other non-string can never be pulled and is refused.
      if (image === undefined || image === null) {
        out.images.push({ list, index, name, image: '', field: `${field}.image` });
        return;
      }
      if (typeof image !== 'string') {
        out.problems.push(`${field}.image must be a string, got ${describe(image)}`);
        return;
      }
      out.images.push({ list, index, name, image, field: `${field}.image` });
    });
  }
  const ann = at(object, [...kind.metadataPath, 'annotations']);
  if (isJSONObject(ann)) {
    for (const [k, v] of Object.entries(ann)) if (typeof v === 'string') out.annotations[k] = v;
  }
  return out;
}

/**
 * The annotations the ImagePolicyWebhook forwards: only keys containing ".image-policy.k8s.io/"
 * (protocols.md §1.1), so a policy sees the same annotations on both protocols.
 */
export function imagePolicyAnnotations(annotations: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) if (k.includes('.image-policy.k8s.io/')) out[k] = v;
  return out;
}
