// URL paths <-> data paths and Rego refs. Where rules live (writes there are refused) is worked
// out in the rego layer: src/rego/data-conflicts.ts.
export { conflictingRule, hasRulesAt, rulePaths } from '../rego/data-conflicts.js';
import { isArray, isObject, type Value } from '../rego/value.js';
import { badRequest } from './errors.js';

/** `/a/b%2Fc/` -> ["a", "b/c"]; empty segments are skipped, as OPA does. */
export function splitPath(raw: string): string[] {
  const out: string[] = [];
  const encoded = raw.includes('%');
  for (const seg of raw.split('/')) {
    if (seg === '') continue;
    // Most paths (the webhook's) have nothing to decode: skip the per-segment decoding.
    if (!encoded) {
      out.push(seg);
      continue;
    }
    try {
      out.push(decodeURIComponent(seg));
    } catch {
      throw badRequest(`invalid path: bad percent-encoding in "${seg}"`);
    }
  }
  return out;
}

const KEYWORDS = new Set(['not', 'package', 'import', 'as', 'default', 'else', 'with', 'some', 'null', 'true', 'false', 'contains', 'every', 'if', 'in']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTEGER = /^(0|-?[1-9][0-9]{0,14})$/;

/** True when dataRef's answer for this path depends on the data (an integer segment). */
export function dataRefReadsData(path: readonly string[]): boolean {
  return path.some((seg) => INTEGER.test(seg));
}

/**
 * The query for a data path: `data.io.k8s.image_policy.verify`, with brackets where a segment is
 * not an identifier. As in OPA, an integer segment indexes arrays; but when the base document at
 * that point is an object it is a key ("3" in docker.layers.library.alpine["3"]).
 */
export function dataRef(path: readonly string[], data?: Value): string {
  let s = 'data';
  let cur: Value | undefined = data;
  for (const seg of path) {
    if (INTEGER.test(seg) && !isObject(cur)) s += `[${seg}]`;
    else if (IDENT.test(seg) && !KEYWORDS.has(seg)) s += '.' + seg;
    else s += `[${JSON.stringify(seg)}]`;
    if (isObject(cur)) cur = cur.get(seg);
    else if (isArray(cur) && INTEGER.test(seg)) cur = cur[Number(seg)];
    else cur = undefined;
  }
  return s;
}

export function formatDataPath(path: readonly string[]): string {
  return dataRef(path);
}
