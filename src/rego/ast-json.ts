// Converts our AST into the JSON shape OPA uses for its own AST (what `opa parse --format json`
// prints and what `rego.parse_module` returns), without locations, as OPA marshals by default:
//
//   module   {"package": {"path": [term...]}, "imports": [...], "rules": [...], "comments": [...]}
//   import   {"path": refTerm, "alias"?: "x"}
//   rule     {"head": head, "body": [expr...], "default"?: true, "else"?: rule}
//   head     {"name"?: "p", "ref": [term...], "args"?: [...], "key"?: term, "value"?: term, "assign"?: true}
//   expr     {"index": i, "terms": term | [operator, args...] | someDecl | every,
//             "negated"?: true, "with"?: [{"target": term, "value": term}]}
//   term     {"type": "null"|"boolean"|"number"|"string"|"var"|"ref"|"array"|"set"|"object"|"call"|
//                     "arraycomprehension"|"setcomprehension"|"objectcomprehension", "value": ...}
//
// Empty lists and false flags are omitted, as Go's `omitempty` does. Numbers keep their exact
// value (bigint for large integers). Wildcards are named `$0`, `$1`, ... like OPA's parser.
import type * as A from './ast.js';
import { fromJSON, parseNumber, type Value } from './value.js';

type J = null | boolean | number | bigint | string | J[] | { [k: string]: J };

function t(type: string, value: J): J {
  return { type, value };
}

function varName(v: A.VarTerm): string {
  // Our parser names wildcards `$_N`; OPA's parser names them `$N`.
  return v.wildcard && v.name.startsWith('$_') ? '$' + v.name.slice(2) : v.name;
}

function numberValue(raw: string): number | bigint {
  const n = parseNumber(raw);
  return n === undefined ? Number(raw) : n;
}

export function termToJSON(term: A.Term): J {
  switch (term.type) {
    case 'null':
      return t('null', null);
    case 'boolean':
      return t('boolean', term.value);
    case 'number':
      return t('number', numberValue(term.raw));
    case 'string':
      return t('string', term.value);
    case 'var':
      return t('var', varName(term));
    case 'ref':
      return t('ref', term.terms.map(termToJSON));
    case 'array':
      return t('array', term.items.map(termToJSON));
    case 'set':
      return t('set', term.items.map(termToJSON));
    case 'object':
      return t('object', term.items.map(([k, v]) => [termToJSON(k), termToJSON(v)]));
    case 'arraycompr':
      return t('arraycomprehension', { term: termToJSON(term.term), body: bodyToJSON(term.body) });
    case 'setcompr':
      return t('setcomprehension', { term: termToJSON(term.term), body: bodyToJSON(term.body) });
    case 'objectcompr':
      return t('objectcomprehension', { key: termToJSON(term.key), value: termToJSON(term.value), body: bodyToJSON(term.body) });
    case 'call':
      return t('call', [termToJSON(term.operator), ...term.args.map(termToJSON)]);
  }
}

function exprTerms(e: A.Expr): J {
  const x = e.terms;
  if (x.type === 'some') return { symbols: x.symbols.map(termToJSON) };
  if (x.type === 'every') {
    return {
      key: x.key ? termToJSON(x.key) : null,
      value: termToJSON(x.value),
      domain: termToJSON(x.domain),
      body: bodyToJSON(x.body),
    };
  }
  // A call at the top of an expression is a list [operator, args...], not a call term.
  if (x.type === 'call') return [termToJSON(x.operator), ...x.args.map(termToJSON)];
  return termToJSON(x);
}

export function exprToJSON(e: A.Expr, index: number): J {
  const out: { [k: string]: J } = { index, terms: exprTerms(e) };
  if (e.negated) out.negated = true;
  if (e.with.length) out.with = e.with.map((w) => ({ target: termToJSON(w.target), value: termToJSON(w.value) }));
  return out;
}

const TRUE_BODY: J = [{ index: 0, terms: { type: 'boolean', value: true } }];

export function bodyToJSON(body: A.Body): J {
  return body.map((e, i) => exprToJSON(e, i));
}

function headToJSON(h: A.Head, value: A.Term | undefined, args: A.Term[] | undefined): J {
  const out: { [k: string]: J } = {};
  const first = h.ref[0];
  if (h.ref.length === 1 && first?.type === 'var') out.name = first.name;
  out.ref = h.ref.map(termToJSON);
  if (args && args.length) out.args = args.map(termToJSON);
  if (h.key) out.key = termToJSON(h.key);
  // Single-value rules without a value (`allow if ...`) have the value true.
  if (value) out.value = termToJSON(value);
  else if (!h.key) out.value = t('boolean', true);
  if (h.assign) out.assign = true;
  return out;
}

export function ruleToJSON(r: A.Rule, parentHead?: A.Head): J {
  // An `else` head carries only its value (and args): name and ref are the parent rule's.
  const head = parentHead ? { ...parentHead, key: undefined, assign: r.head.assign } : r.head;
  const out: { [k: string]: J } = {
    head: headToJSON(head, r.head.value, r.head.args ?? parentHead?.args),
    body: r.body.length ? bodyToJSON(r.body) : TRUE_BODY,
  };
  if (r.default) out.default = true;
  if (r.else) out.else = ruleToJSON(r.else, parentHead ?? r.head);
  return out;
}

function base64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/** The module as OPA's AST JSON (plain data; numbers may be bigints). */
export function moduleToJSON(m: A.Module): J {
  const out: { [k: string]: J } = { package: { path: m.package.path.terms.map(termToJSON) } };
  if (m.imports.length) {
    out.imports = m.imports.map((i) => {
      const o: { [k: string]: J } = { path: termToJSON(i.path) };
      if (i.alias) o.alias = i.alias;
      return o;
    });
  }
  if (m.rules.length) out.rules = m.rules.map((r) => ruleToJSON(r));
  // OPA's Comment has no JSON tags: upper-case keys, the text as base64 bytes, and its location.
  if (m.comments?.length) {
    out.comments = m.comments.map((c) => ({ Text: base64(c.text), Location: { file: c.loc.file, row: c.loc.row, col: c.loc.col } }));
  }
  return out;
}

/** The module as a Rego value (what `rego.parse_module` returns). */
export function moduleToValue(m: A.Module): Value {
  return fromJSON(moduleToJSON(m));
}
