// Loads policy and data paths (OPA's loader rules) and compiles the modules: the starting point
// of `eval`, `test`, `check`, the shell and the server.
import { load, type LoadedModule } from '../loader/index.js';
import type { Module } from '../rego/ast.js';
import { compile, type CompileOptions } from '../rego/compiler.js';
import type { CompiledPolicy } from '../rego/compiled.js';
import { dataConflicts } from '../rego/data-conflicts.js';
import { RegoErrors } from '../rego/errors.js';
import type { RObject, Value } from '../rego/value.js';

export interface PolicySetOptions extends CompileOptions {
  /** 0 = accept only Rego v0 (OPA's --v0-compatible); 1 = only v1; 'auto' = per module (default). */
  regoVersion?: 0 | 1 | 'auto';
  ignore?: string[];
}

export interface PolicySet {
  policy: CompiledPolicy;
  data: RObject;
  modules: LoadedModule[];
  /** Files and directories read, for watching. */
  files: string[];
  dirs: string[];
}

/** Throws LoadErrors (files) or RegoErrors (compilation). */
export async function loadPolicySet(paths: readonly string[], opts: PolicySetOptions = {}): Promise<PolicySet> {
  const loaded = await load(paths, { regoVersion: opts.regoVersion ?? 'auto', ignore: opts.ignore });
  const policy = compileWithData(
    loaded.modules.map((m) => m.module),
    loaded.data,
    opts,
  );
  return { policy, data: loaded.data, modules: loaded.modules, files: loaded.files, dirs: loaded.dirs };
}

/** Compiles modules, refusing rules that would define documents where the data has one (as OPA does). */
export function compileWithData(modules: Module[], data: Value, opts: CompileOptions = {}): CompiledPolicy {
  const policy = compile(modules, opts);
  const conflicts = dataConflicts(modules, data);
  if (conflicts.length > 0) throw new RegoErrors(conflicts);
  return policy;
}
