// rego.metadata.rule() and rego.metadata.chain(): the METADATA annotations that apply to the
// rule being evaluated, in OPA's shape.
//
// The active rule is found from the call's location: the last rule of the call's file that
// starts at or before the call (rules do not nest; else branches belong to their rule).
import type { Annotation, Location, Module, Rule, Term } from './ast.js';
import { BuiltinError } from './errors.js';
import { registerBuiltins, type BuiltinContext } from './builtins/registry.js';
import { fromJSON, type Value } from './value.js';
import { parseTerm } from './parser.js';
import { termToJSON } from './ast-json.js';

export interface MetadataContext extends BuiltinContext {
  readonly modules?: readonly Module[];
}

type J = unknown;

function before(a: Location, b: Location): boolean {
  return a.row < b.row || (a.row === b.row && a.col <= b.col);
}

/** The rule (of the call's file) that contains the location. */
export function activeRule(modules: readonly Module[], loc: Location): { module: Module; rule: Rule } | undefined {
  let best: { module: Module; rule: Rule } | undefined;
  for (const m of modules) {
    if (m.file !== loc.file) continue;
    for (const r of m.rules) {
      if (!r.loc || !before(r.loc, loc)) continue;
      if (!best || before(best.rule.loc!, r.loc)) best = { module: m, rule: r };
    }
  }
  return best;
}

function packagePath(m: Module): string[] {
  return m.package.path.terms.slice(1).map((t) => (t.type === 'string' ? t.value : ''));
}

/** The rule's path below data: package path plus the ground prefix of the head ref. */
function rulePath(m: Module, r: Rule): string[] {
  const out = packagePath(m);
  r.head.ref.forEach((t: Term, i: number) => {
    if (i === 0 && t.type === 'var') out.push(t.name);
    else if (i > 0 && t.type === 'string' && out.length === packagePath(m).length + i) out.push(t.value);
  });
  return out;
}

/** The rule an annotation block of scope rule/document annotates: the first rule after it. */
function annotatedRule(m: Module, a: Annotation): Rule | undefined {
  if (!a.loc) return undefined;
  let best: Rule | undefined;
  for (const r of m.rules) {
    if (!r.loc || r.loc.row <= a.loc.row) continue;
    if (!best || before(r.loc, best.loc!)) best = r;
  }
  return best;
}

function samePath(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function isPrefix(p: string[], of: string[]): boolean {
  return p.length <= of.length && p.every((x, i) => x === of[i]);
}

/** An author entry: "Name <email>" or {name, email}. */
function author(x: J): J {
  if (typeof x === 'string') {
    const m = /^(.*?)\s*<([^>]*)>\s*$/.exec(x.trim());
    if (m) {
      const o: Record<string, string> = {};
      if (m[1]) o.name = m[1];
      if (m[2]) o.email = m[2];
      return o;
    }
    return { name: x.trim() };
  }
  return x;
}

function schemaPath(x: J): J {
  if (typeof x !== 'string') return x;
  try {
    const t = parseTerm(x);
    return t.type === 'ref' ? t.terms.map(termToJSON) : [termToJSON(t)];
  } catch {
    return x;
  }
}

/** OPA's JSON for an annotation block (scope always present, short forms expanded). */
export function annotationJSON(a: Annotation): J {
  const raw = (a.raw ?? {}) as Record<string, J>;
  const out: Record<string, J> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (v === null || v === undefined) continue;
    switch (k) {
      case 'authors':
        if (Array.isArray(v)) out.authors = v.map(author);
        break;
      case 'related_resources':
        if (Array.isArray(v)) out.related_resources = v.map((r) => (typeof r === 'string' ? { ref: r } : r));
        break;
      case 'schemas':
        if (Array.isArray(v)) {
          out.schemas = v.map((s) => {
            if (s === null || typeof s !== 'object' || Array.isArray(s)) return s;
            const [[path, def]] = Object.entries(s as Record<string, J>);
            return typeof def === 'string' ? { path: schemaPath(path), schema: schemaPath(def) } : { path: schemaPath(path), definition: def };
          });
        }
        break;
      default:
        out[k] = v;
    }
  }
  out.scope = a.scope;
  return out;
}

interface ChainEntry {
  path: string[];
  annotations?: J;
}

/** The chain for the rule at `loc`: the rule itself first, then outward through its packages. */
export function metadataChain(modules: readonly Module[], loc: Location): ChainEntry[] | undefined {
  const active = activeRule(modules, loc);
  if (!active) return undefined;
  const path = rulePath(active.module, active.rule);
  const ruleScoped = (active.module.annotations ?? []).filter(
    (a) => a.scope === 'rule' && annotatedRule(active.module, a) === active.rule,
  );
  const chain: ChainEntry[] = [];
  chain.push(ruleScoped.length ? { path, annotations: annotationJSON(ruleScoped[0]) } : { path });
  for (const m of modules) {
    for (const a of m.annotations ?? []) {
      if (a.scope !== 'document') continue;
      const r = annotatedRule(m, a);
      if (r && samePath(rulePath(m, r), path)) chain.push({ path, annotations: annotationJSON(a) });
    }
  }
  // Package and subpackages annotations, from the rule's package outward.
  const pkg = packagePath(active.module);
  for (let n = pkg.length; n >= 0; n--) {
    const p = pkg.slice(0, n);
    for (const scope of ['package', 'subpackages']) {
      for (const m of modules) {
        if (!samePath(packagePath(m), p)) continue;
        for (const a of m.annotations ?? []) {
          if (a.scope === scope && (scope === 'package' ? n === pkg.length : isPrefix(p, pkg))) chain.push({ path: p, annotations: annotationJSON(a) });
        }
      }
    }
  }
  return chain;
}

function modulesOf(ctx: BuiltinContext): readonly Module[] {
  const m = (ctx as MetadataContext).modules;
  if (!m) throw new BuiltinError('annotations are not available in this context');
  return m;
}

registerBuiltins(
  {
    name: 'rego.metadata.chain',
    args: [],
    result: 'array[any]',
    category: 'rego',
    impl: (_args, ctx) => {
      const chain = ctx.location ? metadataChain(modulesOf(ctx), ctx.location) : undefined;
      return fromJSON(chain ?? []) as Value;
    },
  },
  {
    name: 'rego.metadata.rule',
    args: [],
    result: 'any',
    category: 'rego',
    impl: (_args, ctx) => {
      const chain = ctx.location ? metadataChain(modulesOf(ctx), ctx.location) : undefined;
      const first = chain?.[0];
      return fromJSON(first?.annotations && (first.annotations as { scope?: string }).scope === 'rule' ? first.annotations : {});
    },
  },
);
