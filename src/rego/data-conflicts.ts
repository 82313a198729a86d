// Where rules define documents, and where those documents would overlap base data. A virtual
// document and a base document at the same path have no defined answer, so OPA refuses both
// ways: data written where rules live (the Data API) and rules added where data lives (policy
// updates and loading). Pure functions of modules and values: no I/O.
import type { Module, Rule, Term } from './ast.js';
import { RegoError } from './errors.js';
import { isObject, type Value } from './value.js';

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

/** Every path where some rule defines a (virtual) document, with the first rule found there. */
function ruleDefinitions(modules: Iterable<Module>): Array<{ path: string[]; rule: Rule }> {
  const seen = new Map<string, { path: string[]; rule: Rule }>();
  for (const m of modules) {
    const pkg = m.package.path.terms.slice(1).map((t) => (t.type === 'string' ? t.value : t.type === 'var' ? t.name : ''));
    for (const rule of m.rules) {
      const path = rulePath(pkg, rule.head.ref);
      const key = path.join('\u0000');
      if (!seen.has(key)) seen.set(key, { path, rule });
    }
  }
  return [...seen.values()];
}

/** Every path where some rule defines a (virtual) document. */
export function rulePaths(modules: Iterable<Module>): string[][] {
  return ruleDefinitions(modules).map((d) => d.path);
}

/**
 * Rules that would define a document where the base data already has one (or has a non-object
 * on the way to it), as OPA's path conflict check finds them: data.json with {"p": {"allow":
 * true}} next to `package p` / `allow := false` is refused rather than answered one way or the
 * other. One error per rule path, at its first rule.
 */
export function dataConflicts(modules: Iterable<Module>, data: Value): RegoError[] {
  const errors: RegoError[] = [];
  for (const { path, rule } of ruleDefinitions(modules)) {
    if (conflictingRule([path], [], data)) {
      errors.push(new RegoError('rego_compile_error', `conflicting rule for data path ${path.join('/')} found`, rule.loc));
    }
  }
  return errors;
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
