// How deeply a YAML text nests its collections, measured without building it. The YAML library
// builds documents recursively and runs out of stack at a few hundred levels (a ~1 KB text such
// as `[[[[...]]]]`); worse, a second such failure can abort the whole process (V8 fails compiling
// a regular expression without stack) instead of throwing. Its tokenizer and CST parser are
// iterative, so the depth is measured on the CST first. Used by YAML data files and request
// bodies (src/loader/yaml.ts) and by the yaml.* builtins.
import { Parser, type CST } from 'yaml';

/** YAML may nest arrays and objects this deep (JSON: MAX_JSON_DEPTH in json.ts). */
export const MAX_YAML_DEPTH = 200;

/**
 * The first collection token nested deeper than `max` in a CST token (a document from
 * `new Parser().parse(text)`), or undefined. Iterative: the depth can be anything.
 */
export function tooDeepToken(root: CST.Token, max: number): CST.Token | undefined {
  const todo: Array<{ token: CST.Token; depth: number }> = [{ token: root, depth: 0 }];
  for (let next = todo.pop(); next; next = todo.pop()) {
    const { token } = next;
    const collection = token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection';
    const depth = collection ? next.depth + 1 : next.depth;
    if (depth > max) return token;
    if (token.type === 'document' && token.value) todo.push({ token: token.value, depth });
    if (collection) {
      for (const item of token.items) {
        if (item.key) todo.push({ token: item.key, depth });
        if (item.value) todo.push({ token: item.value, depth });
      }
    }
  }
  return undefined;
}

/**
 * True when a YAML text nests collections deeper than `max` (checked on the library's CST,
 * without building the documents, so any depth is safe to measure).
 */
export function yamlNestedDeeperThan(text: string, max: number): boolean {
  if (farTooDeepAt(text, max) >= 0) return true;
  for (const token of new Parser().parse(text)) if (tooDeepToken(token, max)) return true;
  return false;
}

const SPACE = /\s/;

/**
 * Where a text is plainly nested far deeper than `max` (five times), found in one pass without
 * parsing; -1 when it is not. The CST parser takes about 10 µs per level of nesting, so a body
 * of a few MB of `[[[[` would hold the event loop for many seconds before the CST check could
 * refuse it. Counted: flow brackets that open a node (after an indicator, a line start or
 * another bracket, outside quotes and comments) and runs of compact sequence entries
 * (`- - - x`). A bracket inside a plain scalar (`url: x/[a]`) does not open a node; anything
 * subtler is left to the CST check, which is exact.
 */
export function farTooDeepAt(text: string, max: number): number {
  const bound = 5 * max;
  let flow = 0;
  let dashes = 0;
  // The last character that was not a space: a node starts after a line start, an indicator
  // (- : ?) followed by a space, or inside a flow collection after a bracket or a comma.
  let prev = '\n';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      prev = '\n';
      dashes = 0;
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') continue;
    const nodeStart =
      prev === '\n' || (flow > 0 && (prev === '[' || prev === '{' || prev === ',')) || ((prev === '-' || prev === ':' || prev === '?') && SPACE.test(text[i - 1]));
    if (c === '#' && (i === 0 || SPACE.test(text[i - 1]))) {
      const eol = text.indexOf('\n', i);
      i = (eol < 0 ? text.length : eol) - 1;
      continue;
    }
    if (nodeStart && (c === '"' || c === "'")) {
      // A quoted scalar: "..." with backslash escapes, '...' with '' for a quote.
      for (i++; i < text.length; i++) {
        if (c === '"' && text[i] === '\\') i++;
        else if (text[i] === c) {
          if (c === "'" && text[i + 1] === "'") i++;
          else break;
        }
      }
      prev = c;
      continue;
    }
    if (nodeStart && (c === '[' || c === '{')) {
      if (++flow > bound) return i;
    } else if (c === '[' || c === '{') {
      prev = 'x'; // part of a plain scalar
      continue;
    } else if ((c === ']' || c === '}') && flow > 0) {
      flow--;
    } else if (c === '-' && (prev === '\n' || prev === '-') && nodeStart && (text[i + 1] === ' ' || text[i + 1] === '\t')) {
      if (++dashes > bound) return i;
    }
    prev = c;
  }
  return -1;
}
