// Loading policy and data files with the rules of today's `opa run` / `opa eval -d`.
//
//   - Each argument may be `prefix:path`: the first ':' splits it and the prefix, split on '.',
//     is where the content lands under `data` (a `scheme://` URL is not a prefix).
//   - `file://` URLs are accepted; other URL schemes are errors.
//   - A file named on the command line: `.rego` is a module, `.json`/`.yaml`/`.yml` is data,
//     anything else is tried as Rego, then JSON, then YAML.
//   - A directory is walked recursively (in name order). The directory named on the command line
//     adds no path segment; each subdirectory below it adds its name. Inside directories only
//     `.rego`, `.json`, `.yaml`, `.yml` files are read; others are skipped.
//   - A data file's name never matters: its content merges at the path of its directory. At the
//     root of `data` the content must be an object.
//   - `ignore` patterns match file and directory names below the arguments (not the arguments
//     themselves), e.g. `.*` to skip hidden entries. Nothing is hidden by default, as in OPA.
//   - A module's location in `data` comes only from its `package`.
// All problems are collected and thrown together as LoadErrors.
import { promises as fsp, type Stats } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Module } from '../rego/ast.js';
import { RegoError, RegoErrors } from '../rego/errors.js';
import type { RObject } from '../rego/value.js';
import { LoadError, LoadErrors } from './errors.js';
import { compileGlob, GlobPatternError } from './glob.js';
import { JSONSyntaxError, parseJSONValue } from './json.js';
import { DataTree } from './merge.js';
import { YAMLDataError, parseYAMLValue } from './yaml.js';

export type RegoVersionOption = 0 | 1 | 'auto';

/** The parser's signature (src/rego/parser.ts); throws RegoErrors/RegoError on bad input. */
export type ParseModuleFn = (text: string, file: string, opts: { regoVersion?: RegoVersionOption }) => Module;

export interface LoadOptions {
  /** Rego syntax version for modules; default: the parser's default (see ParseOptions). */
  regoVersion?: RegoVersionOption;
  /** Name patterns to skip below the arguments (Go filepath.Match syntax). */
  ignore?: string[];
  /** Overrides the Rego parser (tests, embedding). Default: parseModule from src/rego/parser.ts. */
  parseModule?: ParseModuleFn;
}

export interface LoadedModule {
  /** The file name as used in error locations (the path as given / as walked). */
  file: string;
  text: string;
  module: Module;
}

export interface LoadResult {
  /** Modules in load order; a file loaded twice appears once (the last load). */
  modules: LoadedModule[];
  /** The root of the base documents. */
  data: RObject;
  /** Every file that was read, in load order (for -w watching). */
  files: string[];
  /** Every directory that was walked (for -w watching: new files appear there). */
  dirs: string[];
}

export const DATA_EXTENSIONS = ['.json', '.yaml', '.yml'] as const;
export const REGO_EXTENSION = '.rego';

/**
 * Splits `prefix:path`. Like OPA: no prefix when the first ':' starts a `://` URL scheme or when
 * the part before ':' is empty; the prefix is split on '.' (so `./x:y` gives the odd prefix
 * ["", "/x"], exactly as OPA does).
 */
export function splitPrefix(arg: string): { prefix: string[]; path: string } {
  const colon = arg.indexOf(':');
  if (colon < 0 || arg.indexOf('://') === colon) return { prefix: [], path: arg };
  if (colon === 0) return { prefix: [], path: arg };
  return { prefix: arg.slice(0, colon).split('.'), path: arg.slice(colon + 1) };
}

/** Turns a `file://` URL into a path; other `scheme://` forms are an error; plain paths pass. */
export function cleanPath(p: string): string {
  if (!p.includes('://')) return p;
  let url: URL;
  try {
    url = new URL(p);
  } catch {
    throw new LoadError('unsupported', p, 'malformed URL');
  }
  if (url.protocol !== 'file:') throw new LoadError('unsupported', '', `unsupported URL scheme: ${p}`);
  // WHATWG URLs read a bare `file://` as `/`: loading it would walk the whole file system (an
  // unset variable in `file://$DIR` is enough). OPA reads it as an empty path, an error.
  if (p.slice(p.indexOf('://') + 3) === '') throw new LoadError('read', p, 'empty path');
  // OPA also accepts host-relative forms like file://a/b (the "host" is the first segment).
  try {
    if (url.host !== '' && url.host !== 'localhost') return url.host + decodeURIComponent(url.pathname);
    return fileURLToPath(url);
  } catch (e) {
    // e.g. an encoded '/' (%2F) or a broken %-escape in the path
    throw new LoadError('unsupported', p, `malformed file URL: ${(e as Error).message}`);
  }
}

function isUNC(p: string): boolean {
  return p.length > 1 && (p[0] === '/' || p[0] === '\\') && (p[1] === '/' || p[1] === '\\');
}

function errnoMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENOTDIR':
      return 'not a directory';
    case 'EISDIR':
      return 'is a directory';
    case 'ERR_INVALID_ARG_VALUE':
    case 'ERR_INVALID_ARG_TYPE':
      return 'invalid path (it contains a NUL character)';
    default:
      return err.message ?? String(e);
  }
}

let defaultParser: ParseModuleFn | undefined;
async function getDefaultParser(): Promise<ParseModuleFn> {
  if (!defaultParser) {
    // Imported lazily so that loading pure data never pays for the Rego parser.
    const mod = await import('../rego/parser.js');
    defaultParser = mod.parseModule;
  }
  return defaultParser;
}

function extOf(file: string): string {
  if (file.endsWith('.tar.gz')) return '.tar.gz';
  return path.extname(file);
}

class Loader {
  readonly tree = new DataTree();
  readonly modules = new Map<string, LoadedModule>();
  readonly files: string[] = [];
  readonly dirs: string[] = [];
  readonly errors: Array<LoadError | RegoError> = [];
  private parser?: ParseModuleFn;

  constructor(
    private readonly opts: LoadOptions,
    private readonly ignore: RegExp[],
  ) {
    this.parser = opts.parseModule;
  }

  private async parse(text: string, file: string): Promise<Module> {
    this.parser ??= await getDefaultParser();
    return this.parser(text, file, this.opts.regoVersion === undefined ? {} : { regoVersion: this.opts.regoVersion });
  }

  private ignored(name: string, depth: number): boolean {
    return depth >= 1 && this.ignore.some((re) => re.test(name));
  }

  async walk(p: string, dataPath: string[], depth: number, ancestors: Set<string>): Promise<void> {
    if (isUNC(p)) {
      this.errors.push(new LoadError('unsupported', '', `UNC path read is not allowed: ${p}`));
      return;
    }
    if (this.ignored(path.basename(p), depth)) return;
    let st: Stats;
    try {
      st = await fsp.stat(p);
    } catch (e) {
      // Inside a directory, an entry that vanished since it was listed (a file deleted during a
      // -w reload) or a dangling symlink (editor lock files such as .#x.rego) is skipped.
      if (depth > 0 && (e as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.errors.push(new LoadError('read', p, errnoMessage(e)));
      return;
    }
    if (!st.isDirectory()) {
      if (st.isFile()) await this.loadFile(p, dataPath, depth);
      else if (depth === 0) this.errors.push(new LoadError('read', p, 'not a regular file or directory'));
      return;
    }
    // Symlinked directories are followed (as OPA does); a link back to an ancestor would never end.
    let real: string;
    try {
      real = await fsp.realpath(p);
    } catch (e) {
      this.errors.push(new LoadError('read', p, errnoMessage(e)));
      return;
    }
    if (ancestors.has(real)) {
      this.errors.push(new LoadError('read', p, 'symbolic link cycle: directory is its own ancestor'));
      return;
    }
    const here = depth > 0 ? [...dataPath, path.basename(p)] : dataPath;
    let names: string[];
    try {
      names = await fsp.readdir(p);
    } catch (e) {
      this.errors.push(new LoadError('read', p, errnoMessage(e)));
      return;
    }
    this.dirs.push(p);
    names.sort(byBytes);
    const next = new Set(ancestors).add(real);
    for (const name of names) await this.walk(path.join(p, name), here, depth + 1, next);
  }

  private async read(file: string, depth: number): Promise<string | undefined> {
    try {
      const text = await fsp.readFile(file, 'utf8');
      this.files.push(file);
      return text;
    } catch (e) {
      if (depth > 0 && (e as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // deleted meanwhile
      this.errors.push(new LoadError('read', file, errnoMessage(e)));
      return undefined;
    }
  }

  private async loadFile(file: string, dataPath: string[], depth: number): Promise<void> {
    const ext = extOf(file);
    const known = ext === REGO_EXTENSION || (DATA_EXTENSIONS as readonly string[]).includes(ext);
    if (ext === '.tar.gz') {
      this.errors.push(new LoadError('unsupported', file, 'bundle tarballs are not supported; unpack the bundle and load the directory'));
      return;
    }
    if (!known && depth > 0) return; // other files inside directories are skipped
    const text = await this.read(file, depth);
    if (text === undefined) return;
    try {
      if (ext === REGO_EXTENSION) return this.addModule(file, text, await this.parse(text, file));
      if (ext === '.json') return this.tree.merge(file, dataPath, parseJSONValue(text));
      if (ext === '.yaml' || ext === '.yml') return this.tree.merge(file, dataPath, parseYAMLValue(text));
    } catch (e) {
      this.fail(file, e);
      return;
    }
    // Named explicitly with another extension: Rego, then JSON, then YAML (like OPA).
    let module: Module | undefined;
    try {
      module = await this.parse(text, file);
    } catch {
      /* not Rego */
    }
    if (module) return this.addModule(file, text, module);
    let doc;
    try {
      doc = parseJSONValue(text);
    } catch {
      try {
        doc = parseYAMLValue(text);
      } catch {
        this.errors.push(new LoadError('unrecognized', file, "can't recognize file type (not Rego, JSON or YAML)"));
        return;
      }
    }
    try {
      this.tree.merge(file, dataPath, doc);
    } catch (e) {
      this.fail(file, e);
    }
  }

  private addModule(file: string, text: string, module: Module): void {
    this.modules.delete(file); // keep load order for a file loaded twice
    this.modules.set(file, { file, text, module });
  }

  private fail(file: string, e: unknown): void {
    if (e instanceof LoadError) this.errors.push(e);
    else if (e instanceof RegoErrors) this.errors.push(...e.errors);
    else if (e instanceof RegoError) this.errors.push(e);
    else if (e instanceof JSONSyntaxError) this.errors.push(new LoadError('syntax', file, `invalid JSON: ${e.detail}`, e.line, e.col));
    else if (e instanceof YAMLDataError) {
      this.errors.push(new LoadError('syntax', file, `invalid YAML: ${e.detail}`, e.line, e.line !== undefined ? e.col : undefined));
    } else this.errors.push(new LoadError('syntax', file, `could not load: ${(e as Error)?.message ?? String(e)}`));
  }
}

/** Byte-order comparison of names, like Go's sorted os.ReadDir. */
function byBytes(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

/**
 * Loads policy and data paths with OPA's rules (see the header). Throws LoadErrors listing every
 * problem; on success returns the modules, the merged data and the files read.
 */
export async function load(paths: readonly string[], opts: LoadOptions = {}): Promise<LoadResult> {
  const ignore: RegExp[] = [];
  const optErrors: LoadError[] = [];
  for (const pat of opts.ignore ?? []) {
    try {
      ignore.push(compileGlob(pat));
    } catch (e) {
      if (e instanceof GlobPatternError) optErrors.push(new LoadError('options', '', e.message));
      else throw e;
    }
  }
  if (optErrors.length) throw new LoadErrors(optErrors);

  const loader = new Loader(opts, ignore);
  for (const arg of paths) {
    const { prefix, path: raw } = splitPrefix(arg);
    if (raw === '') {
      // `x:` names its argument; a bare empty argument (e.g. an unset shell variable) has no name to show.
      loader.errors.push(arg === '' ? new LoadError('read', '', 'empty path: an argument is the empty string') : new LoadError('read', arg, 'empty path'));
      continue;
    }
    let p: string;
    try {
      p = cleanPath(raw);
    } catch (e) {
      loader.errors.push(e as LoadError);
      continue;
    }
    await loader.walk(p, prefix, 0, new Set());
  }
  if (loader.errors.length) throw new LoadErrors(loader.errors);
  return {
    modules: [...loader.modules.values()],
    data: loader.tree.root,
    files: loader.files,
    dirs: loader.dirs,
  };
}
