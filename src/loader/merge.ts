// Building the base-document tree from many files, with OPA's merge rules and provenance.
//
// OPA merges each file's document into the tree only when it does not conflict: objects merge
// recursively, and any key that holds a non-object on either side is a conflict (even when the
// two values are equal). A conflicting file contributes nothing. We also remember which file
// created each node so the error can name both files.
import { RObject, type Value } from '../rego/value.js';
import { LoadError } from './errors.js';

const SEP = '\u0000';

export class DataTree {
  readonly root = new RObject();
  /** path key -> file that first created the node at that path */
  private readonly origins = new Map<string, string>();

  /**
   * Merges `doc` (the content of `file`) at `path`. Throws LoadError ('type' or 'merge');
   * on error the tree is unchanged.
   */
  merge(file: string, path: readonly string[], doc: Value): void {
    if (path.length === 0 && !(doc instanceof RObject)) {
      throw new LoadError('type', file, 'document must be of type object');
    }
    let obj = doc;
    for (let i = path.length - 1; i >= 0; i--) obj = new RObject().set(path[i], obj);
    const incoming = obj as RObject;
    const conflict = this.findConflict(this.root, incoming, []);
    if (conflict) {
      const other = this.originOf(conflict);
      const where = formatDataPath(conflict);
      throw new LoadError(
        'merge',
        file,
        other !== undefined && other !== file
          ? `merge error: ${where} is also defined by ${other}`
          : `merge error: ${where} is defined twice`,
      );
    }
    this.mergeInto(this.root, incoming, [], file);
  }

  private findConflict(a: RObject, b: RObject, at: string[]): string[] | undefined {
    let found: string[] | undefined;
    b.forEachUnordered((k, bv) => {
      if (found) return;
      const av = a.get(k);
      if (av === undefined) return;
      const here = [...at, k as string];
      if (av instanceof RObject && bv instanceof RObject) found = this.findConflict(av, bv, here);
      else found = here;
    });
    return found;
  }

  private mergeInto(a: RObject, b: RObject, at: string[], file: string): void {
    b.forEachUnordered((k, bv) => {
      const here = [...at, k as string];
      const av = a.get(k);
      if (av instanceof RObject && bv instanceof RObject) {
        this.mergeInto(av, bv, here, file);
      } else {
        a.set(k, bv);
        this.origins.set(here.join(SEP), file);
      }
    });
  }

  private originOf(path: string[]): string | undefined {
    for (let n = path.length; n > 0; n--) {
      const f = this.origins.get(path.slice(0, n).join(SEP));
      if (f !== undefined) return f;
    }
    return undefined;
  }
}

/** `data.a.b["x-y"]`: how a user would write the reference in Rego. */
export function formatDataPath(path: readonly string[]): string {
  let s = 'data';
  for (const p of path) s += /^[A-Za-z_][A-Za-z0-9_]*$/.test(p) ? `.${p}` : `[${JSON.stringify(p)}]`;
  return s;
}
