// Manifest formats (protocols.md §4.3): Docker schema 2, OCI image manifest, Docker manifest list,
// OCI image index. Parsing validates the fields we rely on so garbage never reaches the policy data.

import { checkDigest } from "../kube/reference.js";

export const MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json";

export const MANIFEST_ACCEPT = [MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST].join(", ");

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  urls?: string[];
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  kind: "image";
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface IndexEntry extends Descriptor {
  platform?: Platform;
}

export interface ManifestIndex {
  kind: "index";
  mediaType: string;
  manifests: IndexEntry[];
}

export type Manifest = ImageManifest | ManifestIndex;

export class ManifestError extends Error {
  override name = "ManifestError";
}

/**
 * Most layers an image manifest may have. Docker refuses images over 127 layers (overlayfs
 * stacking) and other builders stay in the low hundreds; tens of thousands is garbage or an
 * attack that only the body size limit would otherwise bound, and each layer becomes policy data
 * and a scanner request.
 */
export const MAX_IMAGE_LAYERS = 1000;

/**
 * Most entries an image index may have. One per platform plus an attestation manifest each: the
 * largest real indexes have a few dozen.
 */
export const MAX_INDEX_MANIFESTS = 1000;

function descriptor(v: unknown, where: string): Descriptor {
  if (v === null || typeof v !== "object" || Array.isArray(v)) throw new ManifestError(`${where} is not an object`);
  const o = v as Record<string, unknown>;
  if (typeof o["digest"] !== "string") throw new ManifestError(`${where}.digest is missing`);
  const derr = checkDigest(o["digest"]);
  if (derr) throw new ManifestError(`${where}.digest: ${derr}`);
  if (typeof o["size"] !== "number" || !Number.isSafeInteger(o["size"]) || o["size"] < 0) {
    throw new ManifestError(`${where}.size must be a non-negative integer`);
  }
  const d: Descriptor = { digest: o["digest"], size: o["size"] };
  if (typeof o["mediaType"] === "string") d.mediaType = o["mediaType"];
  if (Array.isArray(o["urls"]) && o["urls"].every((u) => typeof u === "string")) d.urls = o["urls"] as string[];
  return d;
}

/** Base media type without parameters ("application/json; charset=utf-8" → "application/json"). */
export function baseMediaType(ct: string | undefined): string {
  return (ct ?? "").split(";")[0]!.trim().toLowerCase();
}

/**
 * Parse a manifest body. The format comes from the Content-Type; when that is missing or generic,
 * the body's own mediaType (or shape) decides. A mismatch between the two is an error.
 */
export function parseManifest(body: Buffer, contentType: string | undefined): Manifest {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch {
    throw new ManifestError("manifest body is not valid JSON");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new ManifestError("manifest is not a JSON object");
  const o = doc as Record<string, unknown>;
  const ct = baseMediaType(contentType);
  const bodyMt = typeof o["mediaType"] === "string" ? o["mediaType"] : undefined;
  let mt = ct;
  const known = [MT_DOCKER_MANIFEST, MT_DOCKER_LIST, MT_OCI_MANIFEST, MT_OCI_INDEX];
  if (!known.includes(mt)) {
    if (bodyMt && known.includes(bodyMt)) mt = bodyMt;
    else if (Array.isArray(o["manifests"])) mt = MT_OCI_INDEX;
    else if (o["config"] !== undefined && Array.isArray(o["layers"])) mt = MT_OCI_MANIFEST;
    else if (ct.includes("prettyjws") || o["schemaVersion"] === 1) {
      throw new ManifestError("registry returned a schema 1 manifest, which is not supported (push the image with a current client)");
    } else throw new ManifestError(`unsupported manifest media type "${ct || "(none)"}"`);
  } else if (bodyMt && bodyMt !== mt) {
    throw new ManifestError(`manifest mediaType "${bodyMt}" does not match Content-Type "${ct}"`);
  }
  if (o["schemaVersion"] !== 2) throw new ManifestError("manifest schemaVersion must be 2");
  if (mt === MT_DOCKER_LIST || mt === MT_OCI_INDEX) {
    if (!Array.isArray(o["manifests"])) throw new ManifestError("index has no manifests array");
    if (o["manifests"].length > MAX_INDEX_MANIFESTS) {
      throw new ManifestError(`index has ${o["manifests"].length} manifests, more than the ${MAX_INDEX_MANIFESTS} the sync accepts`);
    }
    const manifests = o["manifests"].map((m, i) => {
      const d: IndexEntry = descriptor(m, `manifests[${i}]`);
      const p = (m as Record<string, unknown>)["platform"];
      if (p && typeof p === "object" && !Array.isArray(p)) {
        const pr = p as Record<string, unknown>;
        if (typeof pr["os"] === "string" && typeof pr["architecture"] === "string") {
          d.platform = { os: pr["os"], architecture: pr["architecture"] };
          if (typeof pr["variant"] === "string" && pr["variant"]) d.platform.variant = pr["variant"];
        }
      }
      return d;
    });
    return { kind: "index", mediaType: mt, manifests };
  }
  const config = descriptor(o["config"], "config");
  if (!Array.isArray(o["layers"])) throw new ManifestError("manifest has no layers array");
  if (o["layers"].length > MAX_IMAGE_LAYERS) {
    throw new ManifestError(`manifest has ${o["layers"].length} layers, more than the ${MAX_IMAGE_LAYERS} the sync accepts`);
  }
  const layers = o["layers"].map((l, i) => descriptor(l, `layers[${i}]`));
  return { kind: "image", mediaType: mt, config, layers };
}

/** "linux/amd64", "linux/arm/v7" → Platform. */
export function parsePlatform(s: string): Platform | { error: string } {
  const parts = s.trim().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/i.test(p))) {
    return { error: `invalid platform "${s}": expected os/architecture[/variant], e.g. linux/amd64` };
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Does an index entry's platform satisfy a wanted platform? A wanted variant must match exactly;
 * with no wanted variant any variant matches (first one wins, in index order). */
export function platformMatches(have: Platform | undefined, want: Platform): boolean {
  if (!have) return false;
  if (have.os !== want.os || have.architecture !== want.architecture) return false;
  return want.variant === undefined || have.variant === want.variant;
}

/** The entries of an index for the wanted platforms, in the order of `wanted`. Attestation manifests
 * (platform unknown/unknown) never match a real platform. */
export function selectPlatforms(index: ManifestIndex, wanted: Platform[]): Array<{ platform: Platform; entry: IndexEntry }> {
  const out: Array<{ platform: Platform; entry: IndexEntry }> = [];
  for (const w of wanted) {
    const e = index.manifests.find((m) => platformMatches(m.platform, w));
    if (e) out.push({ platform: w, entry: e });
  }
  return out;
}
