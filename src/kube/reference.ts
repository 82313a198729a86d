// Docker image reference parsing and normalisation (protocols.md §6).
//
// This follows distribution/reference's grammar and Docker's `ParseNormalizedNamed`
// rules so that the enforcer sees an image exactly the way the kubelet's container
// runtime will pull it. Anything the runtime would refuse is refused here too, with
// a message that says why: a policy must be able to fail closed on it.

export interface ImageReference {
  /** Registry domain as written in references, lowercased (DNS is case-insensitive):
   * "docker.io", "quay.io", "localhost:5000", "[::1]:5000". */
  domain: string;
  /** Repository path inside the registry, e.g. "library/nginx" or "a/b/c". */
  path: string;
  /** The tag written in the reference, or null when none was given. */
  tag: string | null;
  /** The digest written in the reference ("sha256:<hex>"), or null. */
  digest: string | null;
  /** Fully-qualified repository name: "<domain>/<path>". */
  name: string;
  /** Docker's short display form: "nginx", "openpolicyagent/opa", "quay.io/coreos/clair". */
  familiarName: string;
  /** Tag used when pulling by tag: the given tag, or "latest" when neither tag nor digest was given;
   * null when only a digest was given. */
  effectiveTag: string | null;
  /** Canonical string: name, then ":tag" (implied "latest" included), then "@digest". */
  normalized: string;
  /** Host to use for the Registry HTTP API (docker.io → registry-1.docker.io). */
  apiHost: string;
}

export interface ReferenceError {
  error: string;
}

export const DEFAULT_DOMAIN = "docker.io";
export const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";
const OFFICIAL_REPO_PREFIX = "library/";
const NAME_TOTAL_MAX = 255;

// Grammar pieces, anchored. Written from the grammar in protocols.md §6.1.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST_ALGORITHM = /^[A-Za-z][A-Za-z0-9]*(?:[+._-][A-Za-z][A-Za-z0-9]*)*$/;
const DIGEST_HEX = /^[0-9a-fA-F]{32,}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const IPV6_HOST = /^\[[a-fA-F0-9:]+\]$/;
const PORT = /^[0-9]+$/;
const IDENTIFIER = /^[a-f0-9]{64}$/;

export function isReferenceError(r: ImageReference | ReferenceError): r is ReferenceError {
  return (r as ReferenceError).error !== undefined;
}

/** Validates a digest string "algo:hex"; returns an error message or null. */
export function checkDigest(d: string): string | null {
  const colon = d.indexOf(":");
  if (colon <= 0) return `invalid digest "${d}": expected algorithm:hex`;
  const algo = d.slice(0, colon);
  const hex = d.slice(colon + 1);
  if (!DIGEST_ALGORITHM.test(algo)) return `invalid digest algorithm "${algo}"`;
  if (algo === "sha256") {
    if (!SHA256_HEX.test(hex)) return `invalid sha256 digest "${d}": need exactly 64 lowercase hex characters`;
  } else if (!DIGEST_HEX.test(hex)) {
    return `invalid digest "${d}": need at least 32 hex characters`;
  }
  return null;
}

/** Validates a registry domain (host[:port]); returns an error message or null. */
export function checkDomain(domain: string): string | null {
  let host = domain;
  let port: string | null = null;
  if (domain.startsWith("[")) {
    const close = domain.indexOf("]");
    if (close < 0) return `invalid registry domain "${domain}"`;
    host = domain.slice(0, close + 1);
    const rest = domain.slice(close + 1);
    if (rest !== "") {
      if (!rest.startsWith(":")) return `invalid registry domain "${domain}"`;
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(host)) return `invalid registry domain "${domain}"`;
  } else {
    const colon = domain.indexOf(":");
    if (colon >= 0) {
      host = domain.slice(0, colon);
      port = domain.slice(colon + 1);
    }
    const parts = host.split(".");
    if (host === "" || !parts.every((p) => DOMAIN_COMPONENT.test(p))) {
      return `invalid registry domain "${domain}"`;
    }
  }
  if (port !== null && !PORT.test(port)) return `invalid port in registry domain "${domain}"`;
  return null;
}

/** Validates a repository path; returns an error message or null. */
export function checkPath(path: string): string | null {
  if (path === "") return "repository name must not be empty";
  if (path.toLowerCase() !== path) return `repository name "${path}" must be lowercase`;
  for (const c of path.split("/")) {
    if (c === "") return `repository name "${path}" has an empty path component`;
    if (!PATH_COMPONENT.test(c)) return `repository name "${path}" has an invalid path component "${c}"`;
  }
  return null;
}

/** Docker's splitDockerDomain: decide whether the first component is a registry domain. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf("/");
  let domain: string;
  let remainder: string;
  if (slash < 0) {
    domain = DEFAULT_DOMAIN;
    remainder = name;
  } else {
    const first = name.slice(0, slash);
    if (first === "localhost" || first.includes(".") || first.includes(":") || first.toLowerCase() !== first) {
      domain = first;
      remainder = name.slice(slash + 1);
    } else {
      domain = DEFAULT_DOMAIN;
      remainder = name;
    }
  }
  if (domain.toLowerCase() === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !remainder.includes("/")) remainder = OFFICIAL_REPO_PREFIX + remainder;
  return { domain, remainder };
}

/** Docker's familiar (short) form of a fully qualified repository name. */
export function familiarize(domain: string, path: string): string {
  if (domain !== DEFAULT_DOMAIN) return `${domain}/${path}`;
  if (path.startsWith(OFFICIAL_REPO_PREFIX) && !path.slice(OFFICIAL_REPO_PREFIX.length).includes("/")) {
    return path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return path;
}

/** The host the Registry HTTP API lives on for a reference domain. */
export function apiHostFor(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_API_HOST : domain;
}

/**
 * Parse and normalise an image reference the way Docker does.
 * Returns `{error}` (never throws) for anything a container runtime would refuse.
 */
export function parseImageReference(input: string): ImageReference | ReferenceError {
  if (typeof input !== "string") return { error: "image reference must be a string" };
  if (input === "") return { error: "image reference is empty" };
  if (input.trim() !== input || /\s/.test(input)) return { error: `image reference "${input}" contains whitespace` };
  if (IDENTIFIER.test(input)) {
    return { error: `invalid repository name "${input}": cannot be a 64-character hexadecimal image ID` };
  }

  // 1. The digest comes off first: it contains ':' which must not be read as a tag or port.
  let rest = input;
  let digest: string | null = null;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    const derr = checkDigest(digest);
    if (derr) return { error: derr };
  }

  // 2. A tag is the text after the last ':' that comes after the last '/'; an earlier ':' is a port.
  let tag: string | null = null;
  const colon = rest.lastIndexOf(":");
  if (colon >= 0 && colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return { error: `invalid tag "${tag}" in image reference "${input}"` };
  }
  if (rest === "") return { error: `image reference "${input}" has no repository name` };

  const { domain: rawDomain, remainder } = splitDomain(rest);
  const derr = checkDomain(rawDomain);
  if (derr) return { error: derr };
  const perr = checkPath(remainder);
  if (perr) return { error: perr };

  const domain = rawDomain.toLowerCase();
  const name = `${domain}/${remainder}`;
  if (name.length > NAME_TOTAL_MAX) {
    return { error: `repository name must not be longer than ${NAME_TOTAL_MAX} characters` };
  }
  const effectiveTag = tag ?? (digest === null ? "latest" : null);
  let normalized = name;
  if (effectiveTag !== null) normalized += `:${effectiveTag}`;
  if (digest !== null) normalized += `@${digest}`;
  return {
    domain,
    path: remainder,
    tag,
    digest,
    name,
    familiarName: familiarize(domain, remainder),
    effectiveTag,
    normalized,
    apiHost: apiHostFor(domain),
  };
}

/** Parse a repository name (no tag, no digest) relative to a given registry domain. */
export function parseRepositoryPath(path: string): { path: string } | ReferenceError {
  const err = checkPath(path);
  return err ? { error: err } : { path };
}
