// JSON objects have string keys. Go's YAML-to-JSON conversion (which OPA applies to YAML data
// files, bodies and yaml.unmarshal) accepts string, number and boolean mapping keys and refuses
// the others: sequences, mappings (`? [a, b]: 1`) and null (`null: 1`, `~: 1`, `: 1`). The YAML
// library would instead stringify the first kind (with a process warning on stderr) and turn
// null into "". This finds the first such key of a parsed document.
import { isAlias, isCollection, isScalar, visit, type Document } from 'yaml';

export interface UnsupportedKey {
  /** "a sequence or mapping", or "null". */
  what: string;
  /** Offset of the key (or, for an empty key, of its value) in the text. */
  offset?: number;
}

export function unsupportedMappingKey(doc: Document.Parsed | Document): UnsupportedKey | undefined {
  let found: UnsupportedKey | undefined;
  visit(doc, {
    Pair(_, pair) {
      const key = isAlias(pair.key) ? pair.key.resolve(doc) : pair.key;
      const what = isCollection(key) ? 'a sequence or mapping' : key === null || (isScalar(key) && key.value === null) ? 'null' : undefined;
      if (!what) return undefined;
      const range = (node: unknown): number | undefined => (node as { range?: [number, number, number] } | null)?.range?.[0];
      found = { what, offset: range(pair.key) ?? range(pair.value) };
      return visit.BREAK;
    },
  });
  return found;
}
