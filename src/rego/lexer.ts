// The Rego lexer: turns source text into a flat token array.
//
// Words (identifiers and keywords) are emitted as `word` tokens; whether a word is a keyword
// depends on which future keywords are enabled at that point of the module (imports of
// `future.keywords` / `rego.v1` enable them mid-file), so the parser decides.
// Whitespace is not a token: every token records whether whitespace or a newline came before
// it, because Rego is whitespace sensitive in a few places (`a [0]` is not a ref, and
// expressions of a body may be separated by newlines).

export type TokenType =
  | 'word'
  | 'number'
  | 'string'
  | 'rawstring'
  | 'eof'
  | 'illegal'
  | '['
  | ']'
  | '{'
  | '}'
  | '('
  | ')'
  | ','
  | ';'
  | '.'
  | ':'
  | ':='
  | '='
  | '=='
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '&'
  | '|';

export interface Token {
  type: TokenType;
  /** The source text of the token (for strings including the quotes). */
  text: string;
  /** Decoded value of string tokens. */
  value?: string;
  /** Message for `illegal` tokens (e.g. "non-terminated string"). */
  error?: string;
  row: number;
  col: number;
  offset: number;
  /** Whitespace or a comment directly precedes this token. */
  wsBefore: boolean;
  /** A newline lies between the previous token and this one. */
  nlBefore: boolean;
}

export interface Comment {
  /** The text after `#`. */
  text: string;
  row: number;
  col: number;
}

export interface LexResult {
  tokens: Token[];
  comments: Comment[];
}

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

const TWO_CHAR = new Set([':=', '==', '!=', '<=', '>=']);
const ONE_CHAR = new Set(['[', ']', '{', '}', '(', ')', ',', ';', '.', ':', '=', '<', '>', '+', '-', '*', '/', '%', '&', '|']);

/**
 * Decodes the body of a double-quoted string (JSON escapes). Lone surrogates from `\uXXXX`
 * become U+FFFD, as Go's JSON decoder (used by OPA) does. Returns an error message for
 * invalid escapes.
 */
export function decodeString(body: string): { value: string } | { error: string } {
  if (!body.includes('\\')) return { value: body };
  let out = '';
  const units: number[] = [];
  const flushUnits = (): void => {
    for (let i = 0; i < units.length; i++) {
      const u = units[i];
      if (u >= 0xd800 && u <= 0xdbff && i + 1 < units.length && units[i + 1] >= 0xdc00 && units[i + 1] <= 0xdfff) {
        out += String.fromCharCode(u, units[i + 1]);
        i++;
      } else if (u >= 0xd800 && u <= 0xdfff) {
        out += '\ufffd';
      } else {
        out += String.fromCharCode(u);
      }
    }
    units.length = 0;
  };
  for (let i = 0; i < body.length; i++) {
    const ch = body[i];
    if (ch !== '\\') {
      if (units.length) flushUnits();
      out += ch;
      continue;
    }
    const e = body[++i];
    if (e === 'u') {
      const hex = body.slice(i + 1, i + 5);
      if (hex.length !== 4 || ![...hex].every((h) => isHex(h.charCodeAt(0)))) return { error: 'illegal escape sequence' };
      units.push(parseInt(hex, 16));
      i += 4;
      continue;
    }
    if (units.length) flushUnits();
    switch (e) {
      case '"': out += '"'; break;
      case '\\': out += '\\'; break;
      case '/': out += '/'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'n': out += '\n'; break;
      case 'r': out += '\r'; break;
      case 't': out += '\t'; break;
      default: return { error: 'illegal escape sequence' };
    }
  }
  if (units.length) flushUnits();
  return { value: out };
}

/** Tokenizes `src`. Never throws: lexical errors become `illegal` tokens carrying a message. */
export function lex(src: string): LexResult {
  const tokens: Token[] = [];
  const comments: Comment[] = [];
  let i = 0;
  let row = 1;
  let col = 1;
  let wsBefore = false;
  let nlBefore = false;
  const n = src.length;

  // Advances over one UTF-16 code unit, counting columns in code points.
  const adv = (): void => {
    const c = src.charCodeAt(i);
    if (c === 10) {
      row++;
      col = 1;
      i++;
      return;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const d = src.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        i += 2;
        col++;
        return;
      }
    }
    i++;
    col++;
  };

  // Every token object has the same shape (fast property access, little garbage).
  const push = (type: TokenType, start: number, r: number, c: number, extra?: { value?: string; error?: string }): void => {
    tokens.push({
      type,
      text: src.slice(start, i),
      value: extra?.value,
      error: extra?.error,
      row: r,
      col: c,
      offset: start,
      wsBefore,
      nlBefore,
    });
    wsBefore = false;
    nlBefore = false;
  };

  while (i < n) {
    const c = src.charCodeAt(i);
    // Whitespace: space, tab, CR, LF (as OPA's scanner); a BOM at the very start is skipped too.
    if (c === 32 || c === 9 || c === 13 || c === 10 || (c === 0xfeff && i === 0)) {
      if (c === 10) nlBefore = true;
      wsBefore = true;
      adv();
      continue;
    }
    const start = i;
    const r = row;
    const cl = col;
    if (c === 35 /* # */) {
      while (i < n && src.charCodeAt(i) !== 10) adv();
      comments.push({ text: src.slice(start + 1, i).replace(/\r$/, ''), row: r, col: cl });
      wsBefore = true;
      continue;
    }
    if (isLetter(c)) {
      while (i < n && (isLetter(src.charCodeAt(i)) || isDigit(src.charCodeAt(i)))) adv();
      push('word', start, r, cl);
      continue;
    }
    if (isDigit(c)) {
      let err: string | undefined;
      while (i < n && isDigit(src.charCodeAt(i))) adv();
      if (src.charCodeAt(i) === 46 /* . */) {
        adv();
        let found = false;
        while (i < n && isDigit(src.charCodeAt(i))) {
          adv();
          found = true;
        }
        if (!found) err = 'expected fraction';
      }
      if (!err && (src[i] === 'e' || src[i] === 'E')) {
        adv();
        if (src[i] === '+' || src[i] === '-') adv();
        let found = false;
        while (i < n && isDigit(src.charCodeAt(i))) {
          adv();
          found = true;
        }
        if (!found) err = 'expected exponent';
      }
      // `0a2b` is one bad number, not a number followed by an identifier.
      if (!err && i < n && isLetter(src.charCodeAt(i))) {
        err = 'illegal number format';
        while (i < n && (isLetter(src.charCodeAt(i)) || isDigit(src.charCodeAt(i)))) adv();
      }
      if (err) push('illegal', start, r, cl, { error: err });
      else push('number', start, r, cl);
      continue;
    }
    if (c === 34 /* " */) {
      adv();
      let err: string | undefined;
      for (;;) {
        if (i >= n || src.charCodeAt(i) === 10) {
          err = 'non-terminated string';
          break;
        }
        const ch = src.charCodeAt(i);
        adv();
        if (ch === 34) break;
        if (ch === 92 /* \ */) {
          if (i >= n) continue;
          const e = src[i];
          if ('\\"/bfnrt'.includes(e)) adv();
          else if (e === 'u') {
            adv();
            for (let k = 0; k < 4 && i < n && src.charCodeAt(i) !== 10 && src.charCodeAt(i) !== 34; k++) adv();
          } else if (!err) err = 'illegal escape sequence';
        }
      }
      if (err) {
        push('illegal', start, r, cl, { error: err });
        continue;
      }
      const dec = decodeString(src.slice(start + 1, i - 1));
      if ('error' in dec) push('illegal', start, r, cl, { error: `illegal string literal: ${src.slice(start, i)}` });
      else push('string', start, r, cl, { value: dec.value });
      continue;
    }
    if (c === 96 /* ` */) {
      adv();
      while (i < n && src.charCodeAt(i) !== 96) adv();
      if (i >= n) {
        push('illegal', start, r, cl, { error: 'non-terminated string' });
        continue;
      }
      adv();
      push('rawstring', start, r, cl, { value: src.slice(start + 1, i - 1) });
      continue;
    }
    const two = src.slice(i, i + 2);
    if (TWO_CHAR.has(two)) {
      adv();
      adv();
      push(two as TokenType, start, r, cl);
      continue;
    }
    const one = src[i];
    if (ONE_CHAR.has(one)) {
      adv();
      push(one as TokenType, start, r, cl);
      continue;
    }
    adv();
    // Messages as OPA's scanner words them; other characters are plain illegal tokens.
    const msg =
      one === '!' ? 'illegal ! character'
      : one === '$' ? 'illegal $ character'
      : one === '\0' ? 'illegal null character'
      : one === '\ufeff' ? 'illegal byte-order mark'
      : 'illegal token';
    push('illegal', start, r, cl, { error: msg });
  }
  tokens.push({ type: 'eof', text: '', value: undefined, error: undefined, row, col, offset: n, wsBefore, nlBefore });
  return { tokens, comments };
}
