// OPA's capabilities document for the builtins this engine implements
// (`image-enforcer capabilities`, like `opa capabilities --current`).
//
// Builtin declarations come from the builtin table (builtins/registry.ts); their TypeSpec
// strings are translated into OPA's type JSON:
//   any | null | boolean | number | string        {"type": "string"}
//   array  / array[T]                              {"type":"array","dynamic":T}   (T defaults to any)
//   array<T1,T2,...>                               {"type":"array","static":[T1,T2,...]}
//   set    / set[T]                                {"type":"set","of":T}
//   object / object[K,V]                           {"type":"object","dynamic":{"key":K,"value":V}}
//   object{k1:T1,k2:T2}                            {"type":"object","static":[{"key":"k1","value":T1},...]}
//   A|B|...                                        {"type":"any","of":[A,B,...]}  (sorted as OPA sorts)
// Keys of every JSON object are emitted in sorted order, as OPA's encoder does.
import './builtins/index.js';
import { allBuiltins, type BuiltinDef, type TypeSpec } from './builtins/registry.js';

export type TypeDecl = { [key: string]: string | TypeDecl | TypeDecl[] | Array<{ key: string; value: TypeDecl }> };

export interface CapabilitiesBuiltin {
  name: string;
  decl: { args?: TypeDecl[]; result?: TypeDecl; type: 'function' };
  infix?: string;
  nondeterministic?: true;
  relation?: true;
}

export interface Capabilities {
  builtins: CapabilitiesBuiltin[];
  future_keywords: string[];
  features: string[];
}

/** Rego v1 keywords, all available without imports. */
export const FUTURE_KEYWORDS = ['contains', 'every', 'if', 'in'];
/** Language features of OPA 1.x that the engine supports. */
export const FEATURES = ['keywords_in_refs', 'rego_v1', 'rule_head_ref_string_prefixes', 'rule_head_refs'];

const SCALARS = new Set(['any', 'null', 'boolean', 'number', 'string']);
const RANK: Record<string, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5, set: 6, any: 7 };

function sortedKeys<T extends Record<string, unknown>>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out as T;
}

const ANY: TypeDecl = { type: 'any' };

/** Splits on `sep` outside of (), [], {} and <>. */
function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '[' || c === '<' || c === '{' || c === '(') depth++;
    else if (c === ']' || c === '>' || c === '}' || c === ')') depth--;
    else if (c === sep && depth === 0) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out.map((x) => x.trim());
}

function compareDecl(a: TypeDecl, b: TypeDecl): number {
  const ra = RANK[a.type as string] ?? 8;
  const rb = RANK[b.type as string] ?? 8;
  if (ra !== rb) return ra - rb;
  const sa = JSON.stringify(a);
  const sb = JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Translates one TypeSpec into OPA's type JSON. Unknown names become "any". */
export function typeSpecToDecl(spec: TypeSpec): TypeDecl {
  const alts = splitTop(spec, '|').filter((s) => s !== '');
  if (alts.length > 1) {
    const decls = alts.map(single);
    if (decls.some((d) => d.type === 'any' && d.of === undefined)) return ANY;
    // Nested unions flatten; duplicates collapse.
    const flat: TypeDecl[] = [];
    for (const d of decls) for (const x of d.type === 'any' && Array.isArray(d.of) ? (d.of as TypeDecl[]) : [d]) flat.push(x);
    const unique = [...new Map(flat.map((d) => [JSON.stringify(d), d])).values()].sort(compareDecl);
    return unique.length === 1 ? unique[0] : sortedKeys({ of: unique, type: 'any' });
  }
  return single(alts[0] ?? 'any');
}

function single(s: string): TypeDecl {
  const m = /^([a-z]+)\s*(.*)$/s.exec(s.trim());
  if (!m) return ANY;
  const [, name, rest] = m;
  if (SCALARS.has(name) && rest === '') return { type: name };
  const inner = (open: string, close: string) =>
    rest.startsWith(open) && rest.endsWith(close) ? rest.slice(1, -1) : rest === '' ? undefined : null;
  switch (name) {
    case 'array': {
      if (rest.startsWith('<')) {
        const parts = inner('<', '>');
        if (parts === null || parts === undefined) return ANY;
        return sortedKeys({ static: splitTop(parts, ',').map(typeSpecToDecl), type: 'array' });
      }
      const el = inner('[', ']');
      if (el === null) return ANY;
      return sortedKeys({ dynamic: el === undefined ? ANY : typeSpecToDecl(el), type: 'array' });
    }
    case 'set': {
      const el = inner('[', ']');
      if (el === null) return ANY;
      return sortedKeys({ of: el === undefined ? ANY : typeSpecToDecl(el), type: 'set' });
    }
    case 'object': {
      if (rest.startsWith('{')) {
        const body = inner('{', '}');
        if (body === null || body === undefined) return ANY;
        const props = splitTop(body, ',')
          .filter((p) => p !== '')
          .map((p) => {
            const colon = p.indexOf(':');
            return sortedKeys({ key: p.slice(0, colon).trim(), value: typeSpecToDecl(p.slice(colon + 1)) });
          })
          .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        return sortedKeys({ static: props, type: 'object' });
      }
      const kv = inner('[', ']');
      if (kv === null) return ANY;
      const [k, v] = kv === undefined ? ['any', 'any'] : splitTop(kv, ',');
      return sortedKeys({
        dynamic: sortedKeys({ key: typeSpecToDecl(k ?? 'any'), value: typeSpecToDecl(v ?? 'any') }),
        type: 'object',
      });
    }
    default:
      return ANY;
  }
}

function builtinEntry(def: BuiltinDef): CapabilitiesBuiltin {
  // OPA omits `args` for functions without operands (time.now_ns, opa.runtime).
  const decl: CapabilitiesBuiltin['decl'] =
    def.args.length > 0
      ? { args: def.args.map(typeSpecToDecl), result: typeSpecToDecl(def.result), type: 'function' }
      : { result: typeSpecToDecl(def.result), type: 'function' };
  const entry: CapabilitiesBuiltin = { name: def.name, decl };
  if (def.infix) entry.infix = def.infix;
  if (def.nondeterministic) entry.nondeterministic = true;
  if (def.relation) entry.relation = true;
  return entry;
}

/** The capabilities document for every registered builtin, sorted by name. */
export function capabilities(): Capabilities {
  return {
    builtins: allBuiltins().map(builtinEntry),
    future_keywords: [...FUTURE_KEYWORDS],
    features: [...FEATURES],
  };
}
