// Shell-style name patterns for --ignore, with Go's filepath.Match syntax (what OPA uses):
//   *        any run of characters except '/'
//   ?        one character except '/'
//   [a-z]    a class; [^a-z] its complement; ']' first in a class is literal
//   \c       the character c
// Patterns match a file or directory *name* (not its path), e.g. `.*` skips hidden entries.

export class GlobPatternError extends Error {
  constructor(pattern: string, why: string) {
    super(`bad ignore pattern ${JSON.stringify(pattern)}: ${why}`);
    this.name = 'GlobPatternError';
  }
}

function escapeRegExp(c: string): string {
  return /[\\^$.*+?()[\]{}|\/-]/.test(c) ? '\\' + c : c;
}

/** Compiles a pattern to an anchored RegExp. Throws GlobPatternError for malformed patterns. */
export function compileGlob(pattern: string): RegExp {
  const chars = [...pattern];
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (i + 1 >= chars.length) throw new GlobPatternError(pattern, 'trailing backslash');
      re += escapeRegExp(chars[++i]);
    } else if (c === '[') {
      i++;
      let negate = false;
      if (chars[i] === '^') {
        negate = true;
        i++;
      }
      let body = '';
      let n = 0;
      for (;;) {
        if (i >= chars.length) throw new GlobPatternError(pattern, 'unclosed [');
        if (chars[i] === ']' && n > 0) break;
        let lo = chars[i];
        if (lo === '\\') {
          if (++i >= chars.length) throw new GlobPatternError(pattern, 'trailing backslash');
          lo = chars[i];
        }
        i++;
        if (chars[i] === '-' && chars[i + 1] !== undefined && chars[i + 1] !== ']') {
          let hi = chars[i + 1];
          i += 2;
          if (hi === '\\') {
            if (i >= chars.length) throw new GlobPatternError(pattern, 'trailing backslash');
            hi = chars[i++];
          }
          if (hi.codePointAt(0)! < lo.codePointAt(0)!) throw new GlobPatternError(pattern, `bad range ${lo}-${hi}`);
          body += escapeRegExp(lo) + '-' + escapeRegExp(hi);
        } else {
          body += escapeRegExp(lo);
        }
        n++;
      }
      re += negate ? `(?![/])[^${body}]` : `[${body}]`;
    } else re += escapeRegExp(c);
  }
  return new RegExp(re + '$', 'u');
}

/** True when `name` matches the pattern. */
export function globMatch(pattern: string, name: string): boolean {
  return compileGlob(pattern).test(name);
}
