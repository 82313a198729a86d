// The running policy engine behind `run` (shell and server): the modules loaded from files and
// pushed through the Policy API, the base documents in the store, the compiled policy, and
// reloading when files change (`-w`). A reload or module update that fails to compile keeps the
// last good state and reports the error.
import { EventEmitter } from 'node:events';
import { load, watchPaths, type Watcher } from '../loader/index.js';
import type { Module } from '../rego/ast.js';
import type { CompiledPolicy } from '../rego/compiled.js';
import { rulePaths } from '../rego/data-conflicts.js';
import { RegoError, RegoErrors, isStackOverflow } from '../rego/errors.js';
import { parseModule } from '../rego/parser.js';
import { prepareQuery, type PreparedQuery, type PrepareOptions } from '../rego/index.js';
import { RObject, type Value } from '../rego/value.js';
import { coalesce } from './coalesce.js';
import { compileWithData, loadPolicySet } from './policy-set.js';
import { Store } from '../store/index.js';

export interface RuntimeOptions {
  paths: string[];
  /** Reload files when they change. */
  watch?: boolean;
  regoVersion?: 0 | 1 | 'auto';
  ignore?: string[];
  /** Builtins that policies may not call (e.g. http.send when network access is off). */
  disabledBuiltins?: Set<string>;
  /** How reloads read the paths: the loader's `load` (tests hold a reload in flight with it). */
  loadFiles?: typeof load;
}

export interface PolicyModule {
  /** Module id: the file path for files, the API id for pushed policies. */
  id: string;
  text: string;
  module: Module;
  /** Where it came from. */
  source: 'file' | 'api';
}

export interface ReloadEvent {
  ok: boolean;
  /** Why the files could not be loaded (the last good state stays). */
  error?: Error;
}

export class Runtime extends EventEmitter {
  readonly store: Store;
  private fileModules = new Map<string, PolicyModule>();
  private apiModules = new Map<string, PolicyModule>();
  private fileDataKeys = new Set<string>();
  private compiled: CompiledPolicy;
  private queryCache = new Map<string, PreparedQuery>();
  /** Where rules live (data-conflicts.ts), for the current generation. */
  private rules?: { generation: number; paths: string[][] };
  private watcher?: Watcher;
  private readonly serialReload = coalesce(() => this.readAndApply());
  private closed = false;
  /** Incremented on every successful recompilation. */
  generation = 0;

  private constructor(
    readonly options: RuntimeOptions,
    compiled: CompiledPolicy,
    store: Store,
  ) {
    super();
    this.compiled = compiled;
    this.store = store;
  }

  /** Loads the paths; throws LoadErrors / RegoErrors when the initial state is not valid. */
  static async start(options: RuntimeOptions): Promise<Runtime> {
    const set = await loadPolicySet(options.paths, { regoVersion: options.regoVersion, ignore: options.ignore, disabledBuiltins: options.disabledBuiltins });
    const rt = new Runtime(options, set.policy, new Store(set.data));
    for (const m of set.modules) rt.fileModules.set(m.file, { id: m.file, text: m.text, module: m.module, source: 'file' });
    rt.fileDataKeys = new Set(set.data.keys().map(String));
    if (options.watch) rt.startWatching(set.files, set.dirs);
    return rt;
  }

  get policy(): CompiledPolicy {
    return this.compiled;
  }

  /** Every module, files first then API modules, by id. */
  modules(): PolicyModule[] {
    return [...this.fileModules.values(), ...this.apiModules.values()];
  }

  module(id: string): PolicyModule | undefined {
    return this.apiModules.get(id) ?? this.fileModules.get(id);
  }

  /** The data paths rules define (see rulePaths in rego/data-conflicts.ts), until the policy changes. */
  rulePaths(): string[][] {
    if (this.rules?.generation !== this.generation) {
      this.rules = { generation: this.generation, paths: rulePaths(this.modules().map((m) => m.module)) };
    }
    return this.rules.paths;
  }

  /** A prepared query for the current policy, cached until the policy changes. */
  prepare(query: string, opts: PrepareOptions = {}): PreparedQuery {
    const key = `${opts.package?.join('.') ?? ''}\u0000${query}`;
    let q = this.queryCache.get(key);
    if (!q) {
      q = prepareQuery(this.compiled, query, { ...opts, disabledBuiltins: this.options.disabledBuiltins });
      if (this.queryCache.size > 1000) this.queryCache.clear();
      this.queryCache.set(key, q);
    }
    return q;
  }

  /** Adds or replaces an API module; on a parse or compile error nothing changes (throws RegoErrors). */
  putModule(id: string, text: string): void {
    try {
      const module = parseModule(text, id, { regoVersion: this.options.regoVersion ?? 'auto' });
      const next = new Map(this.apiModules);
      next.set(id, { id, text, module, source: 'api' });
      this.recompile(this.fileModules, next);
      this.apiModules = next;
    } catch (e) {
      // The parser limits nesting, but what it lets through can still exhaust a small stack:
      // that is a fault of the module, reported like the others.
      if (isStackOverflow(e)) {
        throw new RegoErrors([new RegoError('rego_compile_error', 'module is nested too deeply to compile (the stack ran out): split deeply nested expressions into smaller rules', { file: id, row: 1, col: 1 })]);
      }
      throw e;
    }
  }

  /** Removes an API module; false when there is none with that id. Throws RegoErrors if others depend on it. */
  deleteModule(id: string): boolean {
    if (!this.apiModules.has(id)) return false;
    const next = new Map(this.apiModules);
    next.delete(id);
    this.recompile(this.fileModules, next);
    this.apiModules = next;
    return true;
  }

  /** Compiles the modules against the data they will run with (the store's, unless given). */
  private recompile(files: Map<string, PolicyModule>, api: Map<string, PolicyModule>, data: Value = this.store.snapshot()): void {
    const compiled = compileWithData(
      [...files.values(), ...api.values()].map((m) => m.module),
      data,
      { disabledBuiltins: this.options.disabledBuiltins },
    );
    this.compiled = compiled;
    this.queryCache = new Map();
    this.generation++;
  }

  /**
   * Re-reads the files. Keeps the last good state (and returns the error) when they are invalid.
   * Reloads never overlap: one asked for while another runs starts when that one ends, and every
   * request made in between shares it. So files read earlier are never applied after files read
   * later, and a burst of changes costs at most two reads.
   */
  reload(): Promise<ReloadEvent> {
    return this.serialReload();
  }

  /** One reload; never rejects. */
  private async readAndApply(): Promise<ReloadEvent> {
    if (this.closed) return { ok: false, error: new Error('the runtime is closed') };
    let event: ReloadEvent;
    try {
      const loaded = await (this.options.loadFiles ?? load)(this.options.paths, { regoVersion: this.options.regoVersion ?? 'auto', ignore: this.options.ignore });
      if (this.closed) return { ok: false, error: new Error('the runtime is closed') };
      const files = new Map<string, PolicyModule>();
      for (const m of loaded.modules) files.set(m.file, { id: m.file, text: m.text, module: m.module, source: 'file' });
      this.recompile(files, this.apiModules, this.withFileData(loaded.data));
      this.fileModules = files;
      this.replaceFileData(loaded.data);
      this.watcher?.close();
      if (this.options.watch) this.startWatching(loaded.files, loaded.dirs);
      event = { ok: true };
    } catch (e) {
      event = { ok: false, error: e as Error };
    }
    this.emit('reload', event);
    return event;
  }

  /** The data document replaceFileData would leave, without changing the store. */
  private withFileData(data: RObject): RObject {
    const out = this.store.snapshot().copy();
    for (const k of this.fileDataKeys) out.delete(k);
    for (const [k, v] of data.entries()) out.set(k, v);
    return out;
  }

  /** File data owns the top-level keys it defines; keys written only through the API stay. */
  private replaceFileData(data: RObject): void {
    const keys = new Set(data.keys().map(String));
    this.store.transaction((txn) => {
      for (const k of this.fileDataKeys) if (!keys.has(k) && txn.read([k]) !== undefined) txn.write('remove', [k]);
      for (const [k, v] of data.entries()) txn.write(txn.read([String(k)]) === undefined ? 'add' : 'replace', [String(k)], v);
    });
    this.fileDataKeys = keys;
  }

  private startWatching(files: string[], dirs: string[]): void {
    this.watcher = watchPaths([...new Set([...files, ...dirs, ...this.options.paths.map(stripPrefix)])], () => {
      void this.reload();
    });
  }

  /** Stops watching; reloads still running or asked for later change nothing. */
  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = undefined;
  }
}

function stripPrefix(arg: string): string {
  const i = arg.indexOf(':');
  return i > 0 && !arg.slice(i).startsWith('://') ? arg.slice(i + 1) : arg;
}

export function isRegoError(e: unknown): e is RegoError | RegoErrors {
  return e instanceof RegoError || e instanceof RegoErrors;
}
