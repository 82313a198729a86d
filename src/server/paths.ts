// URL paths <-> data paths and Rego refs, and where rules live (writes there are refused).
import type { Module, Term } from '../rego/ast.js';
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

/** The constant prefix of a rule's path: package path + head ref up to the first non-string term. */
function rulePath(pkg: string[], ref: Term[]): string[] {
  const out = [...pkg];
  for (let i = 0; i < ref.length; i++) {
    const t = ref[i];
    if (i === 0 && t.type === 'var') out.push(t.name);
    else if (t.type === 'string') out.push(t.value);
    else break;
  }
  return out;
}

/** Every path where some rule defines a (virtual) document. */
export function rulePaths(modules: Iterable<Module>): string[][] {
  const seen = new Map<string, string[]>();
  for (const m of modules) {
    const pkg = m.package.path.terms.slice(1).map((t) => (t.type === 'string' ? t.value : t.type === 'var' ? t.name : ''));
    for (const r of m.rules) {
      const p = rulePath(pkg, r.head.ref);
      seen.set(p.join('\u0000'), p);
    }
  }
  return [...seen.values()];
}

function isPrefix(a: readonly string[], b: readonly string[]): boolean {
  if (a.length > b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The rule path a write of `value` at `path` would collide with, if any: writing inside a rule's
 * document, or writing a value that itself holds something at (or a non-object on the way to)
 * a rule's path. Writing a sibling (data.io.x next to rules in data.io.k8s) is fine.
 */
export function conflictingRule(rules: readonly string[][], path: readonly string[], value: Value | undefined): string[] | undefined {
  for (const r of rules) {
    if (isPrefix(r, path)) return r; // inside (or at) a rule's document
    if (!isPrefix(path, r)) continue;
    if (value === undefined) continue; // removing above a rule: nothing is written there
    let cur: Value | undefined = value;
    for (let i = path.length; i < r.length; i++) {
      if (!isObject(cur)) {
        cur = undefined;
        break;
      }
      cur = cur.get(r[i]);
    }
    if (cur !== undefined) return r;
    // A non-object on the way to a rule path also collides (data.io = 5 vs package io.k8s).
    let walk: Value | undefined = value;
    for (let i = path.length; i < r.length; i++) {
      if (walk === undefined) break;
      if (!isObject(walk)) return r;
      walk = walk.get(r[i]);
    }
  }
  return undefined;
}

/** True when some rule lives at or under `path`. */
export function hasRulesAt(rules: readonly string[][], path: readonly string[]): boolean {
  return rules.some((r) => isPrefix(path, r) || isPrefix(r, path));
}

export function formatDataPath(path: readonly string[]): string {
  return dataRef(path);
}
