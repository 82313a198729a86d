// Module-level checks OPA makes in Rego v1 and, for Rego v0 modules, only in strict mode
// (check -S): an import may not shadow another, and a rule may not be named `input` or `data`
// (except in the interactive shell, where `input = ...` sets the input document).
// Strict mode also reports imports no rule uses (the compiler records which ones it resolved).
import type * as A from './ast.js';
import { RegoError } from './errors.js';
import { formatTerm } from './format.js';

/** The name an import binds: its alias, or the last segment of its path. */
export function importName(imp: A.Import): string | undefined {
  if (imp.alias) return imp.alias;
  const last = imp.path.terms[imp.path.terms.length - 1];
  if (last?.type === 'var') return last.name;
  if (last?.type === 'string') return last.value;
  return undefined;
}

/** `import data.x` or `import data.x as y`, as OPA prints an import in its messages. */
export function importText(imp: A.Import): string {
  return `import ${formatTerm(imp.path)}${imp.alias ? ` as ${imp.alias}` : ''}`;
}

export function checkModule(m: A.Module, strict: boolean): RegoError[] {
  if (!strict && m.regoVersion === 0) return [];
  const errors: RegoError[] = [];
  const seen = new Map<string, A.Import>();
  for (const imp of m.imports) {
    const name = importName(imp);
    if (name === undefined) continue;
    const earlier = seen.get(name);
    if (earlier) errors.push(new RegoError('rego_compile_error', `import must not shadow ${importText(earlier)}`, imp.loc));
    else seen.set(name, imp);
  }
  for (const rule of m.shell ? [] : m.rules) {
    const first = rule.head.ref[0];
    if (first?.type === 'var' && (first.name === 'input' || first.name === 'data')) {
      errors.push(new RegoError('rego_compile_error', `rules must not shadow ${first.name} (use a different rule name)`, rule.loc));
    }
  }
  return errors;
}

/** Strict mode: imports of `data` or `input` no rule resolved (future.* and rego.* are keywords). */
export function unusedImports(m: A.Module, used: ReadonlySet<string>): RegoError[] {
  const errors: RegoError[] = [];
  for (const imp of m.imports) {
    const head = imp.path.terms[0];
    if (head?.type !== 'var' || (head.name !== 'data' && head.name !== 'input')) continue;
    if (imp.path.terms.length === 1) continue; // `import input`: the root document itself
    const name = importName(imp);
    if (name !== undefined && !used.has(name)) errors.push(new RegoError('rego_compile_error', `${importText(imp)} unused`, imp.loc));
  }
  return errors;
}
