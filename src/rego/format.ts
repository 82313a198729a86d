// Pretty-printer: AST -> Rego v1 text (for the REPL's `show`, messages and tests).
//
// The output re-parses to the same AST (locations and wildcard numbering aside): infix calls are
// printed with the fewest parentheses the parser's precedence allows, and the places where the
// parser would read something else are parenthesised (`[(x + 1) | ...]` is a comprehension
// whose head needs parentheses in OPA's grammar; `[(a | b)]` is an array, `[a | b]` would be a
// comprehension). Comments and METADATA blocks are not reproduced.
import type { Body, Expr, Head, Import, Module, Rule, Term } from './ast.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Binding strength of infix operators: higher binds tighter (as in parser.ts). */
const INFIX: Record<string, { sym: string; level: number }> = {
  'internal.member_2': { sym: 'in', level: 1 },
  equal: { sym: '==', level: 2 },
  neq: { sym: '!=', level: 2 },
  lt: { sym: '<', level: 2 },
  lte: { sym: '<=', level: 2 },
  gt: { sym: '>', level: 2 },
  gte: { sym: '>=', level: 2 },
  or: { sym: '|', level: 3 },
  and: { sym: '&', level: 4 },
  plus: { sym: '+', level: 5 },
  minus: { sym: '-', level: 5 },
  mul: { sym: '*', level: 6 },
  div: { sym: '/', level: 6 },
  rem: { sym: '%', level: 6 },
};
const TERM_LEVEL = 7;

function opName(t: Extract<Term, { type: 'call' }>): string {
  return refText(t.operator.terms);
}

/** Precedence level of a term as an operand: infix calls have their operator's level. */
function levelOf(t: Term): number {
  if (t.type !== 'call' || t.args.length !== (opName(t) === 'internal.member_3' ? 3 : 2)) return TERM_LEVEL;
  const name = opName(t);
  if (name === 'internal.member_3') return 0;
  return INFIX[name]?.level ?? TERM_LEVEL;
}

function paren(s: string, needed: boolean): string {
  return needed ? `(${s})` : s;
}

/** A term where the parser reads a full infix expression without `k, v in` (list items). */
function listItem(t: Term): string {
  const l = levelOf(t);
  // `|` inside brackets would start a comprehension; `k, v in xs` would split at the comma.
  return paren(formatTerm(t), l === 0 || l === 3);
}

/** A term where the parser reads a single term only (comprehension heads, `with` targets). */
function single(t: Term): string {
  return paren(formatTerm(t), levelOf(t) < TERM_LEVEL);
}

function refText(terms: Term[]): string {
  let out = '';
  terms.forEach((t, i) => {
    if (i === 0) {
      out += t.type === 'var' ? varText(t) : single(t);
    } else if (t.type === 'string' && IDENT.test(t.value)) {
      out += `.${t.value}`;
    } else {
      out += `[${formatTerm(t)}]`;
    }
  });
  return out;
}

function varText(t: Extract<Term, { type: 'var' }>): string {
  return t.wildcard ? '_' : t.name;
}

function numberText(raw: string): string {
  return raw;
}

/** Formats a term as Rego text. */
export function formatTerm(t: Term): string {
  switch (t.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return t.value ? 'true' : 'false';
    case 'number':
      return numberText(t.raw);
    case 'string':
      return JSON.stringify(t.value);
    case 'var':
      return varText(t);
    case 'ref':
      return refText(t.terms);
    case 'array':
      return `[${t.items.map(listItem).join(', ')}]`;
    case 'set':
      return t.items.length ? `{${t.items.map(listItem).join(', ')}}` : 'set()';
    case 'object':
      return `{${t.items.map(([k, v]) => `${listItem(k)}: ${listItem(v)}`).join(', ')}}`;
    case 'arraycompr':
      return `[${single(t.term)} | ${inlineBody(t.body)}]`;
    case 'setcompr':
      return `{${single(t.term)} | ${inlineBody(t.body)}}`;
    case 'objectcompr':
      return `{${listItemKey(t.key)}: ${single(t.value)} | ${inlineBody(t.body)}}`;
    case 'call':
      return callText(t);
  }
}

/** Object comprehension keys are read as full expressions (`{a + 1: b | ...}`) except `|`. */
function listItemKey(t: Term): string {
  return listItem(t);
}

function callText(t: Extract<Term, { type: 'call' }>): string {
  const name = opName(t);
  if (name === 'internal.member_3' && t.args.length === 3) {
    const [k, v, xs] = t.args;
    return `${operand(k, 2)}, ${operand(v, 2)} in ${operand(xs, 2)}`;
  }
  const inf = INFIX[name];
  if (inf && t.args.length === 2) {
    const [a, b] = t.args;
    if (inf.level === 1) return `${operand(a, 1)} in ${operand(b, 2)}`;
    // Left associative: the left operand may be at the same level, the right one must bind tighter.
    // The right operand of * / % is read by the parser as a single term.
    const rightMin = inf.level === 6 ? TERM_LEVEL : inf.level + 1;
    return `${operand(a, inf.level)} ${inf.sym} ${operand(b, rightMin)}`;
  }
  if ((name === 'eq' || name === 'assign') && t.args.length === 2) {
    // Only valid at the top of an expression; nested, it is printed as a call.
    return `${name}(${t.args.map(listItem).join(', ')})`;
  }
  return `${refText(t.operator.terms)}(${t.args.map(listItem).join(', ')})`;
}

function operand(t: Term, minLevel: number): string {
  const l = levelOf(t);
  return paren(formatTerm(t), l < minLevel);
}

/** The top-level term of an expression: `=` and `:=` are infix here. */
function exprTerm(t: Term): string {
  if (t.type === 'call' && t.args.length === 2) {
    const name = opName(t);
    if (name === 'eq' || name === 'assign') {
      const [a, b] = t.args;
      return `${exprOperand(a)} ${name === 'eq' ? '=' : ':='} ${exprOperand(b)}`;
    }
  }
  return formatTerm(t);
}

/** Operands of `=`/`:=` are read as full infix expressions (including `k, v in xs`). */
function exprOperand(t: Term): string {
  if (t.type === 'call' && t.args.length === 2 && (opName(t) === 'eq' || opName(t) === 'assign')) return `(${formatTerm(t)})`;
  return formatTerm(t);
}

function formatExpr(e: Expr): string {
  let out = e.negated ? 'not ' : '';
  const x = e.terms;
  if (x.type === 'some') {
    const sym = x.symbols;
    if (sym.length === 1 && sym[0].type === 'call') out += `some ${formatTerm(sym[0])}`;
    else out += `some ${sym.map(formatTerm).join(', ')}`;
  } else if (x.type === 'every') {
    const vars = x.key ? `${formatTerm(x.key)}, ${formatTerm(x.value)}` : formatTerm(x.value);
    out += `every ${vars} in ${operand(x.domain, 2)} { ${inlineBody(x.body)} }`;
  } else {
    out += exprTerm(x);
  }
  for (const w of e.with) out += ` with ${single(w.target)} as ${exprOperand(w.value)}`;
  return out;
}

function inlineBody(b: Body): string {
  return b.map(formatExpr).join('; ');
}

/** Formats a query body, one expression per line. */
export function formatBody(b: Body): string {
  return b.map(formatExpr).join('\n');
}

function blockBody(b: Body, indent: string): string {
  return `{\n${b.map((e) => `${indent}  ${formatExpr(e)}`).join('\n')}\n${indent}}`;
}

function isTrueBody(b: Body): boolean {
  if (b.length !== 1) return false;
  const e = b[0];
  return !e.negated && e.with.length === 0 && e.terms.type === 'boolean' && e.terms.value === true;
}

function headText(h: Head): string {
  let out = refText(h.ref);
  if (h.args) out += `(${h.args.map(listItem).join(', ')})`;
  if (h.key !== undefined) out += ` contains ${formatTerm(h.key)}`;
  if (h.value !== undefined) out += ` ${h.assign ? ':=' : '='} ${formatTerm(h.value)}`;
  return out;
}

/** Formats a rule (with its else chain) as Rego v1. */
export function formatRule(r: Rule): string {
  if (r.default) return `default ${headText(r.head)}`;
  let out = headText(r.head);
  const bodyOptional = r.head.value !== undefined || r.head.key !== undefined;
  if (!(bodyOptional && isTrueBody(r.body))) out += ` if ${blockBody(r.body, '')}`;
  for (let e = r.else; e; e = e.else) {
    out += ' else';
    if (e.head.value !== undefined) out += ` ${e.head.assign ? ':=' : '='} ${formatTerm(e.head.value)}`;
    if (!(e.head.value !== undefined && isTrueBody(e.body))) out += ` if ${blockBody(e.body, '')}`;
  }
  return out;
}

function importText(i: Import): string {
  return `import ${refText(i.path.terms)}${i.alias ? ` as ${i.alias}` : ''}`;
}

/** Formats a module as Rego v1 text (comments are not kept). */
export function formatModule(m: Module): string {
  const path = m.package.path.terms;
  const pkg = path.length > 1 ? refText([{ type: 'var', name: (path[1] as { value: string }).value }, ...path.slice(2)]) : 'data';
  const parts = [`package ${pkg}`];
  if (m.imports.length) parts.push(m.imports.map(importText).join('\n'));
  for (const r of m.rules) parts.push(formatRule(r));
  return `${parts.join('\n\n')}\n`;
}
