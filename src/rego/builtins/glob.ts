// Builtins of OPA's "glob" category. Registered at import time.
//
// glob.match follows the gobwas/glob syntax OPA uses: `*` (any run of non-delimiter
// characters), `**` (any run), `?` (one non-delimiter character), `[abc]`, `[a-z]`, `[!...]`,
// `{a,b}` alternatives and `\` escapes. A pattern is parsed here and translated to an RE2
// expression, so matching is linear-time whatever the pattern.
import type { RE2JS } from 're2js';
import { BuiltinError } from '../errors.js';
import { typeName, type Value } from '../value.js';
import { compileRegex } from './regex.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';
import { elementError, operandError } from './strings.js';

type GNode =
  | { k: 'text'; s: string }
  | { k: 'any' }
  | { k: 'super' }
  | { k: 'single' }
  | { k: 'list'; chars: string[]; not: boolean }
  | { k: 'range'; lo: number; hi: number; not: boolean }
  | { k: 'alt'; alts: GNode[][] };

class GlobSyntaxError extends Error {}

/** Parses a gobwas glob; throws GlobSyntaxError with gobwas' messages. */
export function parseGlob(pattern: string): GNode[] {
  const rs = Array.from(pattern);
  let i = 0;
  // Stack of open alternatives: each holds the finished alternatives and the current one.
  const root: GNode[] = [];
  const stack: Array<{ alts: GNode[][]; node: { k: 'alt'; alts: GNode[][] } }> = [];
  const cur = (): GNode[] => (stack.length ? stack[stack.length - 1].alts[stack[stack.length - 1].alts.length - 1] : root);
  const readText = (breakers: string): string => {
    let text = '';
    while (i < rs.length) {
      let r = rs[i];
      if (r === '\\') {
        i++;
        // A trailing backslash is dropped, as gobwas does.
        if (i >= rs.length) break;
        r = rs[i];
        text += r;
        i++;
        continue;
      }
      if (breakers.includes(r)) break;
      text += r;
      i++;
    }
    return text;
  };
  while (i < rs.length) {
    const r = rs[i];
    const inTerms = stack.length > 0;
    if (r === '{') {
      i++;
      const node: { k: 'alt'; alts: GNode[][] } = { k: 'alt', alts: [[]] };
      cur().push(node);
      stack.push({ alts: node.alts, node });
      continue;
    }
    if (r === ',' && inTerms) {
      i++;
      stack[stack.length - 1].alts.push([]);
      continue;
    }
    if (r === '}' && inTerms) {
      i++;
      stack.pop();
      continue;
    }
    if (r === '[') {
      i++;
      cur().push(parseClass());
      continue;
    }
    if (r === '?') {
      i++;
      cur().push({ k: 'single' });
      continue;
    }
    if (r === '*') {
      i++;
      if (rs[i] === '*') {
        i++;
        cur().push({ k: 'super' });
      } else cur().push({ k: 'any' });
      continue;
    }
    const text = readText(inTerms ? '?*[{},' : '?*[{');
    if (text) cur().push({ k: 'text', s: text });
  }
  return root;

  function parseClass(): GNode {
    let not = false;
    if (rs[i] === '!') {
      not = true;
      i++;
    }
    if (i >= rs.length) throw new GlobSyntaxError('unexpected end of input');
    if (rs[i + 1] === '-') {
      const lo = rs[i].codePointAt(0)!;
      i += 2;
      if (i >= rs.length) throw new GlobSyntaxError('unexpected end of input');
      const hi = rs[i].codePointAt(0)!;
      i++;
      if (i >= rs.length) throw new GlobSyntaxError('unexpected end of input');
      if (rs[i] !== ']') throw new GlobSyntaxError('expected close range character');
      i++;
      if (hi < lo) throw new GlobSyntaxError(`hi character '${String.fromCodePoint(hi)}' should be greater than lo '${String.fromCodePoint(lo)}'`);
      return { k: 'range', lo, hi, not };
    }
    const text = readText(']');
    if (i >= rs.length) throw new GlobSyntaxError('unexpected end of input');
    i++; // the ]
    if (text === '') throw new GlobSyntaxError('could not parse range');
    return { k: 'list', chars: Array.from(text), not };
  }
}

function reEscape(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

function classChar(c: string): string {
  return /[\\\]\[^-]/.test(c) ? '\\' + c : c;
}

function toRegex(nodes: GNode[], notDelim: string): string {
  let out = '';
  for (const n of nodes) {
    switch (n.k) {
      case 'text':
        out += reEscape(n.s);
        break;
      case 'any':
        out += notDelim + '*';
        break;
      case 'super':
        out += '(?s:.)*';
        break;
      case 'single':
        out += notDelim;
        break;
      case 'list':
        out += '[' + (n.not ? '^' : '') + n.chars.map(classChar).join('') + ']';
        break;
      case 'range':
        out += '[' + (n.not ? '^' : '') + classChar(String.fromCodePoint(n.lo)) + '-' + classChar(String.fromCodePoint(n.hi)) + ']';
        break;
      case 'alt':
        out += '(?:' + n.alts.map((a) => toRegex(a, notDelim)).join('|') + ')';
        break;
    }
  }
  return out;
}

const CACHE_MAX = 200;
const cache = new Map<string, RE2JS>();

/** Compiles a glob with the given delimiter runes into an anchored RE2 matcher (cached). */
export function compileGlob(pattern: string, delimiters: string[]): RE2JS {
  const id = pattern + '\u0000' + delimiters.join('');
  const hit = cache.get(id);
  if (hit) return hit;
  let nodes: GNode[];
  try {
    nodes = parseGlob(pattern);
  } catch (e) {
    if (e instanceof GlobSyntaxError) throw new BuiltinError(e.message);
    throw e;
  }
  const notDelim = delimiters.length === 0 ? '(?s:.)' : '[^' + delimiters.map(classChar).join('') + ']';
  const re = compileRegex('^(?:' + toRegex(nodes, notDelim) + ')$');
  cache.set(id, re);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value as string);
  return re;
}

function delimitersOperand(v: Value): string[] {
  if (v === null) return [];
  if (!Array.isArray(v)) throw operandError(2, `must be one of {array, null} but got ${typeName(v)}`);
  const out: string[] = [];
  for (const x of v) {
    if (typeof x !== 'string') throw elementError(2, v, x, 'string');
    const rs = Array.from(x);
    if (rs.length !== 1) throw elementError(2, v, x, 'rune');
    out.push(rs[0]);
  }
  // An empty delimiter list means the default delimiter ".".
  return out.length === 0 ? ['.'] : out;
}

/** gobwas/glob's QuoteMeta: escapes * ? \ [ ] { }. */
export function globQuoteMeta(s: string): string {
  return s.replace(/[*?\\[\]{}]/g, '\\$&');
}

const cat = 'glob';
const defs: BuiltinDef[] = [
  {
    name: 'glob.match',
    args: ['string', 'array[string]|null', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([p, d, s]) => compileGlob(p as string, delimitersOperand(d)).test(s as string),
  },
  {
    name: 'glob.quote_meta',
    args: ['string'],
    result: 'string',
    category: cat,
    impl: ([p]) => globQuoteMeta(p as string),
  },
];

registerBuiltins(...defs);
