// Deciding whether what has been typed so far is a complete statement or the shell should keep
// reading lines (and show the continuation prompt `| `).
//
// Input continues while a bracket, brace or parenthesis is open, while a raw string (`...`) is
// unterminated, or when the last line ends with an operator or keyword that needs a right-hand
// side (`x =`, `a +`, `allow if`, `,`). Strings and comments are skipped when counting.

const TRAILING_OPERATORS = [':=', '==', '!=', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '%', '|', '&', ','];
const TRAILING_KEYWORDS = new Set(['if', 'else', 'with', 'as', 'not', 'in', 'contains', 'some', 'every', 'default', 'import', 'package']);

export interface Openness {
  /** Open brackets minus closed ones (negative when there are too many closers). */
  depth: number;
  /** Inside a raw string at the end of the text. */
  inRawString: boolean;
}

/** Counts open brackets outside strings and comments. */
export function openness(text: string): Openness {
  let depth = 0;
  let i = 0;
  let inRaw = false;
  while (i < text.length) {
    const c = text[i];
    if (inRaw) {
      if (c === '`') inRaw = false;
      i++;
      continue;
    }
    if (c === '`') {
      inRaw = true;
      i++;
      continue;
    }
    if (c === '"') {
      // A quoted string ends at the next unescaped quote or the end of the line.
      i++;
      while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    i++;
  }
  return { depth, inRawString: inRaw };
}

/** The last line without its trailing comment and spaces. */
function lastCodeLine(text: string): string {
  const lines = text.split('\n');
  for (let k = lines.length - 1; k >= 0; k--) {
    const code = stripComment(lines[k]).trimEnd();
    if (code) return code;
  }
  return '';
}

function stripComment(line: string): string {
  let inStr = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

/** True when more lines are needed before the text can be a complete statement. */
export function needsMore(text: string): boolean {
  const o = openness(text);
  if (o.inRawString || o.depth > 0) return true;
  if (o.depth < 0) return false; // too many closers: let the parser report it
  const last = lastCodeLine(text);
  if (!last) return false;
  if (TRAILING_OPERATORS.some((op) => last.endsWith(op))) return true;
  // A keyword is the last word, not a field of a ref (`data.x.as`).
  const word = /(?:^|[^.\w])([A-Za-z_]\w*)$/.exec(last)?.[1];
  if (word && TRAILING_KEYWORDS.has(word)) {
    // `package` or `import` alone is incomplete; as the last word of a longer line (e.g. a
    // rule named `default`) it is not a keyword position, except for the infix ones.
    const alone = last.trim() === word;
    if (word === 'package' || word === 'import' || word === 'default') return alone;
    return true;
  }
  return false;
}
