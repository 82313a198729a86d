// Builtins of OPA's "regex" category. Registered at import time.
//
// Patterns use RE2 syntax and semantics (as Go's regexp does) through re2js, which matches in
// linear time, so a hostile pattern cannot hang evaluation.
import { RE2JS, type Matcher } from 're2js';
import { BuiltinError } from '../errors.js';
import type { Value } from '../value.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';
import { intOperand } from './strings.js';

// ---------------------------------------------------------------------------------------------
// Compiled pattern cache: bounded, least-recently-used eviction.

const CACHE_MAX = 200;
const cache = new Map<string, RE2JS>();

/** Compiles a Go/RE2 pattern, with OPA's "error parsing regexp: ..." message on bad input. */
export function compileRegex(pattern: string): RE2JS {
  const hit = cache.get(pattern);
  if (hit) {
    cache.delete(pattern);
    cache.set(pattern, hit);
    return hit;
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (e) {
    throw new BuiltinError(e instanceof Error ? e.message : String(e));
  }
  cache.set(pattern, re);
  if (cache.size > CACHE_MAX) cache.delete(cache.keys().next().value as string);
  return re;
}

// ---------------------------------------------------------------------------------------------
// Result cache. Matching is pure, and admission traffic asks about the same image names again
// and again; re2js matching costs microseconds (submatches tens of them), a lookup far less.
// Bounded in entries and in the size of what is cached.

const RESULTS_MAX = 4096;
const RESULT_INPUT_MAX = 512;
// By pattern first: patterns are long and usually the same string object every call (a policy
// constant), whose hash the engine keeps, so only the short key below is built per call.
const results = new Map<string, Map<string, Value>>();
let resultCount = 0;

function cachedResult(kind: string, pattern: string, s: string, n: number, compute: () => Value): Value {
  if (s.length > RESULT_INPUT_MAX || pattern.length > RESULT_INPUT_MAX) return compute();
  let byInput = results.get(pattern);
  const key = `${kind}${n}\u0000${s}`;
  const hit = byInput?.get(key);
  if (hit !== undefined) return hit;
  const v = compute();
  if (resultCount >= RESULTS_MAX) {
    // Bounded: start afresh rather than track recency on every hit.
    results.clear();
    resultCount = 0;
    byInput = undefined;
  }
  if (byInput === undefined) {
    byInput = new Map();
    results.set(pattern, byInput);
  }
  byInput.set(key, v);
  resultCount++;
  return v;
}

export function isValidRegex(pattern: string): boolean {
  try {
    compileRegex(pattern);
    return true;
  } catch {
    return false;
  }
}

/** Go's regexp.QuoteMeta. */
export function quoteMeta(s: string): string {
  return s.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

function width(s: string, i: number): number {
  const c = s.codePointAt(i);
  return c !== undefined && c > 0xffff ? 2 : 1;
}

/**
 * All successive non-overlapping matches, as Go's regexp allMatches: an empty match right after
 * a previous match is skipped, and the search always advances by at least one code point.
 * `each` gets the matcher positioned on each accepted match; n < 0 means no limit.
 */
function forEachMatch(re: RE2JS, s: string, n: number, each: (m: Matcher) => void): void {
  if (n === 0) return;
  const m = re.matcher(s);
  let pos = 0;
  let prevEnd = -1;
  let count = 0;
  while (pos <= s.length && (n < 0 || count < n)) {
    if (!m.find(pos)) break;
    const start = m.start();
    const end = m.end();
    let accept = true;
    if (end === start) {
      if (start === prevEnd) accept = false;
      // A match never starts inside a surrogate pair: step over whole code points.
      pos = start >= s.length ? s.length + 1 : start + width(s, start);
    } else {
      pos = end;
    }
    prevEnd = end;
    if (accept) {
      each(m);
      count++;
    }
  }
}

function findN(pattern: string, s: string, n: number): string[] {
  const out: string[] = [];
  forEachMatch(compileRegex(pattern), s, n, (m) => out.push(m.group() ?? ''));
  return out;
}

function findAllSubmatch(pattern: string, s: string, n: number): string[][] {
  const re = compileRegex(pattern);
  const groups = re.groupCount();
  const out: string[][] = [];
  forEachMatch(re, s, n, (m) => {
    const row: string[] = [];
    for (let g = 0; g <= groups; g++) row.push(m.group(g) ?? '');
    out.push(row);
  });
  return out;
}

/** Go's Regexp.Split(s, -1). */
function regexSplit(pattern: string, s: string): string[] {
  const re = compileRegex(pattern);
  if (pattern.length > 0 && s.length === 0) return [''];
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  forEachMatch(re, s, -1, (m) => {
    end = m.start();
    if (m.end() !== 0) out.push(s.slice(beg, end));
    beg = m.end();
  });
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

/**
 * Go's Regexp.Expand template syntax: $1, ${1}, $name, ${name}; $$ is a literal $. A name is
 * the longest run of letters, digits and underscores, so "$1x" names group "1x" (empty).
 */
function expand(template: string, m: Matcher, named: Record<string, number>, groups: number): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const d = template.indexOf('$', i);
    if (d < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, d);
    i = d + 1;
    if (template[i] === '$') {
      out += '$';
      i++;
      continue;
    }
    let name: string | undefined;
    if (template[i] === '{') {
      const close = template.indexOf('}', i);
      const inner = close > 0 ? template.slice(i + 1, close) : '';
      if (close > 0 && /^[A-Za-z0-9_]+$/.test(inner)) {
        name = inner;
        i = close + 1;
      }
    } else {
      const mm = /^[A-Za-z0-9_]+/.exec(template.slice(i));
      if (mm) {
        name = mm[0];
        i += name.length;
      }
    }
    if (name === undefined) {
      // Malformed reference: Go copies the '$' and continues.
      out += '$';
      continue;
    }
    let g = -1;
    if (/^[0-9]+$/.test(name)) {
      const num = Number(name);
      if (num <= groups) g = num;
    } else if (named[name] !== undefined) g = named[name];
    if (g >= 0) out += m.group(g) ?? '';
  }
  return out;
}

/** Go's Regexp.ReplaceAllString. */
function regexReplace(s: string, pattern: string, repl: string): string {
  const re = compileRegex(pattern);
  const named = re.namedGroups();
  const groups = re.groupCount();
  const m = re.matcher(s);
  let out = '';
  let lastEnd = 0;
  let pos = 0;
  while (pos <= s.length) {
    if (!m.find(pos)) break;
    const a0 = m.start();
    const a1 = m.end();
    out += s.slice(lastEnd, a0);
    // No replacement for an empty match right after a previous match.
    if (a1 > lastEnd || a0 === 0) out += expand(repl, m, named, groups);
    lastEnd = a1;
    const w = pos < s.length ? width(s, pos) : 1;
    if (pos + w > a1) pos += w;
    else if (pos + 1 > a1) pos++;
    else pos = a1;
  }
  return out + s.slice(lastEnd);
}

// ---------------------------------------------------------------------------------------------
// regex.template_match: a pattern with regular expressions between delimiters.

function delimiterIndices(s: string, open: string, close: string): number[] {
  let level = 0;
  let idx = 0;
  const idxs: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === open) {
      if (++level === 1) idx = i;
    } else if (s[i] === close) {
      if (--level === 0) idxs.push(idx, i + 1);
      else if (level < 0) throw new BuiltinError(`unbalanced braces in ${JSON.stringify(s)}`);
    }
  }
  if (level !== 0) throw new BuiltinError(`unbalanced braces in ${JSON.stringify(s)}`);
  return idxs;
}

function compileTemplate(tpl: string, open: string, close: string): RE2JS {
  const idxs = delimiterIndices(tpl, open, close);
  let pattern = '^';
  let end = 0;
  for (let i = 0; i < idxs.length; i += 2) {
    const raw = tpl.slice(end, idxs[i]);
    end = idxs[i + 1];
    const patt = tpl.slice(idxs[i] + 1, end - 1);
    pattern += `${quoteMeta(raw)}(${patt})`;
    compileRegex(`^${patt}$`);
  }
  pattern += quoteMeta(tpl.slice(end)) + '$';
  return compileRegex(pattern);
}

function utf8Len(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

// ---------------------------------------------------------------------------------------------
// regex.globs_match: do two "regexp-style globs" (. any character, [..] classes, * and +
// repetition of the preceding item, \ escapes) match at least one common string?

interface CharSet {
  any: boolean;
  ranges: Array<[number, number]>;
}
interface GlobItem {
  set: CharSet;
  rep: '' | '*' | '+';
}

function globError(pos: number, msg: string): BuiltinError {
  return new BuiltinError(`pos:${pos}:${msg}: the input provided is invalid`);
}

function parseRegexGlob(input: string): GlobItem[] {
  const rs = Array.from(input);
  const items: GlobItem[] = [];
  let i = 0;
  const next = (): { r: string; esc: boolean } => {
    if (rs[i] === '\\') {
      if (i === rs.length - 1) throw globError(i, 'input ends with a \\ (escape) character');
      i += 2;
      return { r: rs[i - 1], esc: true };
    }
    i++;
    return { r: rs[i - 1], esc: false };
  };
  while (i < rs.length) {
    const { r, esc } = next();
    let set: CharSet;
    if (!esc && (r === '*' || r === '+')) throw globError(i, `flag '${r}' must be preceded by a non-flag`);
    if (!esc && r === ']') throw globError(i, "set-close ']' with no preceding '['");
    if (!esc && r === '.') set = { any: true, ranges: [] };
    else if (!esc && r === '[') {
      const ranges: Array<[number, number]> = [];
      let prev: number | undefined;
      let complete = false;
      while (i < rs.length) {
        const c = next();
        if (!c.esc && c.r === ']') {
          complete = true;
          break;
        }
        if (!c.esc && c.r === '-') {
          if (prev === undefined) throw globError(i, "range character '-' must be preceded by a Unicode character");
          if (i >= rs.length) throw globError(i, "range character '-' must be followed by a Unicode character");
          const hi = next();
          if (!hi.esc && (hi.r === ']' || hi.r === '-')) throw globError(i, "range character '-' cannot be followed by a special symbol");
          const h = hi.r.codePointAt(0)!;
          if (h < prev) throw globError(i, `range is out of order: '${hi.r}' comes before '${String.fromCodePoint(prev)}' in Unicode`);
          ranges.push([prev, h]);
          prev = undefined;
          continue;
        }
        const cp = c.r.codePointAt(0)!;
        ranges.push([cp, cp]);
        prev = cp;
      }
      if (!complete) throw globError(i, 'found [ without matching ]');
      set = { any: false, ranges };
    } else {
      const cp = r.codePointAt(0)!;
      set = { any: false, ranges: [[cp, cp]] };
    }
    let rep: '' | '*' | '+' = '';
    if (i < rs.length && (rs[i] === '*' || rs[i] === '+')) {
      rep = rs[i] as '*' | '+';
      i++;
    }
    items.push({ set, rep });
  }
  return items;
}

function setsIntersect(a: CharSet, b: CharSet): boolean {
  if (a.any) return b.any || b.ranges.length > 0;
  if (b.any) return a.ranges.length > 0;
  for (const [l1, h1] of a.ranges) for (const [l2, h2] of b.ranges) if (l1 <= h2 && l2 <= h1) return true;
  return false;
}

/**
 * Product-automaton search over states (i, j) = items consumed in each glob. Items are either
 * single ('') or starred ('*'); "x+" has been expanded to "x x*" beforehand.
 */
function globsIntersect(g1: GlobItem[], g2: GlobItem[]): boolean {
  const seen = new Set<number>();
  const stack: Array<[number, number]> = [[0, 0]];
  while (stack.length > 0) {
    const [i, j] = stack.pop()!;
    const k = i * (g2.length + 1) + j;
    if (seen.has(k)) continue;
    seen.add(k);
    if (i === g1.length && j === g2.length) return true;
    // A starred item may match nothing.
    if (i < g1.length && g1[i].rep === '*') stack.push([i + 1, j]);
    if (j < g2.length && g2[j].rep === '*') stack.push([i, j + 1]);
    // Both consume one common character; a starred item stays available.
    if (i < g1.length && j < g2.length && setsIntersect(g1[i].set, g2[j].set)) {
      stack.push([g1[i].rep === '*' ? i : i + 1, g2[j].rep === '*' ? j : j + 1]);
    }
  }
  return false;
}

function globsMatch(a: string, b: string): boolean {
  // After a "+" item consumed once it behaves as "*": model that by expanding x+ into x x*.
  const norm = (items: GlobItem[]): GlobItem[] =>
    items.flatMap((it) => (it.rep === '+' ? [{ set: it.set, rep: '' as const }, { set: it.set, rep: '*' as const }] : [it]));
  return globsIntersect(norm(parseRegexGlob(a)), norm(parseRegexGlob(b)));
}

// ---------------------------------------------------------------------------------------------

const cat = 'regex';
const defs: BuiltinDef[] = [
  {
    name: 'regex.match',
    args: ['string', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([p, s]) => cachedResult('m', p as string, s as string, 0, () => compileRegex(p as string).test(s as string)),
  },
  {
    name: 're_match',
    args: ['string', 'string'],
    result: 'boolean',
    category: cat,
    deprecated: true,
    impl: ([p, s]) => compileRegex(p as string).test(s as string),
  },
  {
    name: 'regex.is_valid',
    // Declared `any`: OPA answers false (not a type error) for non-string operands.
    args: ['any'],
    result: 'boolean',
    category: cat,
    impl: ([p]) => typeof p === 'string' && isValidRegex(p),
  },
  {
    name: 'regex.split',
    args: ['string', 'string'],
    result: 'array[string]',
    category: cat,
    impl: ([p, s]) => regexSplit(p as string, s as string),
  },
  {
    name: 'regex.find_n',
    args: ['string', 'string', 'number'],
    result: 'array[string]',
    category: cat,
    impl: ([p, s, n]) => {
      const count = intOperand(n, 3);
      return cachedResult('f', p as string, s as string, count, () => findN(p as string, s as string, count));
    },
  },
  {
    name: 'regex.find_all_string_submatch_n',
    args: ['string', 'string', 'number'],
    result: 'array[array[string]]',
    category: cat,
    impl: ([p, s, n]) => {
      const count = intOperand(n, 3);
      return cachedResult('s', p as string, s as string, count, () => findAllSubmatch(p as string, s as string, count) as Value[]);
    },
  },
  {
    name: 'regex.replace',
    args: ['string', 'string', 'string'],
    result: 'string',
    category: cat,
    impl: ([s, p, r]) => regexReplace(s as string, p as string, r as string),
  },
  {
    name: 'regex.template_match',
    args: ['string', 'string', 'string', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([t, s, open, close]) => {
      const o = open as string;
      const c = close as string;
      if (utf8Len(o) !== 1) throw new BuiltinError(`start delimiter has to be exactly one character long but is ${utf8Len(o)} long`);
      // OPA reports the start delimiter's length here too.
      if (utf8Len(c) !== 1) throw new BuiltinError(`end delimiter has to be exactly one character long but is ${utf8Len(o)} long`);
      return compileTemplate(t as string, o, c).test(s as string);
    },
  },
  {
    name: 'regex.globs_match',
    args: ['string', 'string'],
    result: 'boolean',
    category: cat,
    impl: ([a, b]) => globsMatch(a as string, b as string),
  },
];

registerBuiltins(...defs);
