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
  for (const token of new Parser().parse(text)) if (tooDeepToken(token, max)) return true;
  return false;
}
