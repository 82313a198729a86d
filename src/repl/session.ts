// The shell's state and its handling of one line at a time, independent of the terminal (so
// tests can drive it directly). Behaviour follows OPA's REPL:
//
//   - Each package typed with `package x` gets its own module; rules typed at the prompt go to
//     the active module (default `package repl`, created on first use). The shell's modules are
//     compiled together with the runtime's modules; a statement that does not compile leaves
//     everything as it was.
//   - A one-expression `=`/`:=` statement that reads as a rule (`p = 1`, `input = data.mock.x`)
//     defines that rule. `:=` replaces earlier definitions ("re-defined"); `=` on a name the
//     package already defines is a comparison instead, as in OPA (so switching input takes
//     `unset input` first). Rules with ref heads (`a.b = 1`) are evaluated as queries.
//   - Queries run with input = the value of data.repl.input, and data = the store's snapshot.
import { writeFileSync } from 'node:fs';
import type * as A from '../rego/ast.js';
import type { CompiledPolicy } from '../rego/compiled.js';
import { compile } from '../rego/compiler.js';
import { RegoError, RegoErrors, HaltError, isStackOverflow } from '../rego/errors.js';
import { LoadErrors } from '../loader/errors.js';
import { formatModule } from '../rego/format.js';
import { prepareQuery, type PreparedQuery } from '../rego/index.js';
import { parseStatements, parseTerm, refToString, type Statement } from '../rego/parser.js';
import { stringifyJSON, type Value } from '../rego/value.js';
import type { ReloadEvent, Runtime } from '../runtime/runtime.js';
import { helpText, helpTopic } from './help.js';
import { needsMore } from './lines.js';
import { formatRegoErrors, jsonErrors, jsonResults, prettyResults, type OutputFormat } from './present.js';

export const PROMPT = '> ';
export const CONTINUATION_PROMPT = '| ';
const DEFAULT_PACKAGE = ['repl'];
const DEFAULT_PRETTY_LIMIT = 80;

/** An error of the shell itself (bad command arguments), printed as OPA prints them. */
export class ShellError extends Error {}

function badArgs(msg: string): ShellError {
  return new ShellError(`code bad arguments: ${msg}`);
}

/** OPA commands this shell does not implement: say so instead of evaluating them as Rego. */
const UNSUPPORTED = new Set(['metrics', 'instrument', 'profile', 'types', 'unknown', 'target', 'fails']);
const COMMANDS = new Set([
  'dump',
  'json',
  'pretty',
  'pretty-limit',
  'show',
  'unset',
  'unset-package',
  'trace',
  'notes',
  'strict-builtin-errors',
  'help',
  'exit',
  ...UNSUPPORTED,
]);

export interface SessionOptions {
  /** Rego syntax accepted at the prompt (defaults to the runtime's setting). */
  regoVersion?: 0 | 1 | 'auto';
}

export type LineOutcome = 'exit' | undefined;

export class ReplSession {
  /** The shell's modules by package path (`repl`, `foo.bar`). */
  private modules = new Map<string, A.Module>();
  /** Key of the active module; '' until a package or rule is entered (then `repl`). */
  private current = '';
  private buffer: string[] = [];
  private compiled?: { key: string; policy: CompiledPolicy };
  private generation = 0;
  format: OutputFormat = 'pretty';
  prettyLimit = DEFAULT_PRETTY_LIMIT;
  strictBuiltinErrors = false;
  notes = false;

  constructor(
    readonly runtime: Runtime,
    private readonly write: (text: string) => void,
    private readonly options: SessionOptions = {},
  ) {}

  get prompt(): string {
    return this.buffer.length ? CONTINUATION_PROMPT : PROMPT;
  }

  /** True while a multi-line statement is being typed. */
  get buffering(): boolean {
    return this.buffer.length > 0;
  }

  /** Drops a half-typed statement (Ctrl+C). */
  reset(): void {
    this.buffer = [];
  }

  /**
   * Handles one line. Statements spanning lines are collected until brackets close and the
   * line does not end with an operator; an empty line ends a statement in any case.
   */
  line(line: string): LineOutcome {
    if (this.buffer.length === 0) {
      const cmd = parseCommand(line);
      if (cmd) return this.guard(() => this.command(cmd.op, cmd.args));
      if (line.trim() === '') return undefined;
      if (needsMore(line)) {
        this.buffer = [line];
        return undefined;
      }
      return this.guard(() => this.evalText(line));
    }
    this.buffer.push(line);
    const text = this.buffer.join('\n');
    if (line.trim() === '' || !needsMore(text)) {
      this.buffer = [];
      return this.guard(() => this.evalText(text));
    }
    return undefined;
  }

  /** End of input: evaluates whatever is still buffered. */
  flush(): void {
    if (!this.buffer.length) return;
    const text = this.buffer.join('\n');
    this.buffer = [];
    this.guard(() => this.evalText(text));
  }

  /** One line describing a reload of the runtime's files (`-w`). */
  reloadMessage(ev: ReloadEvent): string {
    if (ev.ok) return '# reloaded files\n';
    return `# reload error (keeping the previous policies and data): ${describeError(ev.error)}\n`;
  }

  /**
   * Tab completion (as OPA's shell): rule paths of all loaded and shell modules, and the names
   * imported into the active module, that start with the word being typed.
   */
  complete(word: string): string[] {
    const found = new Set<string>();
    const mod = this.current ? this.modules.get(this.current) : undefined;
    for (const i of mod?.imports ?? []) {
      const name = importName(i);
      if (name.startsWith(word)) found.add(name);
    }
    let root;
    try {
      root = this.policy().root;
    } catch {
      return [...found].sort();
    }
    const walk = (node: typeof root, path: string): void => {
      if ((node.rules.length > 0 || node.defaultRule) && path.startsWith(word)) found.add(path);
      for (const [seg, child] of node.children) {
        const next = /^[A-Za-z_][A-Za-z0-9_]*$/.test(seg) ? `${path}.${seg}` : `${path}[${JSON.stringify(seg)}]`;
        // Only descend where the word and the path can still meet.
        if (next.startsWith(word) || word.startsWith(next)) walk(child, next);
      }
    };
    walk(root, 'data');
    return [...found].sort();
  }

  // -------------------------------------------------------------------------------------------

  private guard(fn: () => LineOutcome | void): LineOutcome {
    try {
      return fn() ?? undefined;
    } catch (e) {
      this.write(describeError(e) + '\n');
      return undefined;
    }
  }

  private command(op: string, args: string[]): LineOutcome {
    switch (op) {
      case 'exit':
        return 'exit';
      case 'json':
      case 'pretty':
        this.format = op;
        return;
      case 'pretty-limit': {
        const n = args.length === 1 && /^\d+$/.test(args[0]) ? Number(args[0]) : NaN;
        if (!Number.isSafeInteger(n)) throw new ShellError('usage: pretty-limit <n>');
        this.prettyLimit = n;
        return;
      }
      case 'strict-builtin-errors':
        this.strictBuiltinErrors = !this.strictBuiltinErrors;
        return;
      case 'notes':
        this.notes = !this.notes;
        return;
      case 'trace':
        if (args[0] === 'notes') {
          this.notes = !this.notes;
          return;
        }
        throw new ShellError('full tracing is not supported by this shell; `notes` prints the messages of trace() calls');
      case 'help':
        this.help(args);
        return;
      case 'show':
        this.show(args);
        return;
      case 'dump':
        this.dump(args);
        return;
      case 'unset':
        this.unset(args);
        return;
      case 'unset-package':
        this.unsetPackage(args);
        return;
      default:
        throw new ShellError(`the '${op}' command of OPA's shell is not supported here (type 'help' for the commands)`);
    }
  }

  private help(args: string[]): void {
    if (args.length === 0) {
      this.write(helpText(PROMPT));
      return;
    }
    const text = helpTopic(args[0]);
    if (text === undefined) throw new ShellError(`unknown topic '${args[0]}'`);
    this.write(text);
  }

  private show(args: string[]): void {
    if (args.length === 0) {
      const mod = this.current ? this.modules.get(this.current) : undefined;
      if (!mod) {
        this.write('no rules defined\n');
        return;
      }
      // Imports sorted, as OPA's formatter prints them.
      const imports = [...mod.imports].sort((a, b) => importKey(a).localeCompare(importKey(b)));
      this.write(formatModule({ ...mod, imports }));
      return;
    }
    if (args[0] === 'debug') {
      const state = {
        format: this.format,
        'pretty-limit': this.prettyLimit,
        notes: this.notes,
        'strict-builtin-errors': this.strictBuiltinErrors,
      };
      this.write(JSON.stringify(state, null, '\t') + '\n');
      return;
    }
    throw new ShellError(`unknown option '${args[0]}'`);
  }

  private dump(args: string[]): void {
    const text = stringifyJSON(this.runtime.store.snapshot()) + '\n';
    if (args.length === 0) {
      this.write(text);
      return;
    }
    try {
      writeFileSync(args[0], text);
    } catch (e) {
      throw new ShellError(`cannot write ${args[0]}: ${(e as Error).message}`);
    }
  }

  private unset(args: string[]): void {
    if (args.length !== 1) throw badArgs('unset <var>: expects exactly one argument');
    let term: A.Term;
    try {
      term = parseTerm(args[0]);
    } catch {
      throw badArgs('argument must identify a rule');
    }
    let name: string;
    if (term.type === 'var') name = term.name;
    else if (term.type === 'ref' && term.terms[0].type === 'var' && (term.terms[0].name === 'data' || term.terms[0].name === 'input')) {
      name = term.terms[0].name;
    } else throw badArgs('arguments must identify a rule');

    const mod = this.current ? this.modules.get(this.current) : undefined;
    const kept = mod ? mod.rules.filter((r) => ruleName(r) !== name) : [];
    if (!mod || kept.length === mod.rules.length) {
      this.write('warning: no matching rules in current module\n');
      return;
    }
    this.commit(this.current, { ...mod, rules: kept });
  }

  private unsetPackage(args: string[]): void {
    if (args.length !== 1) throw badArgs('unset-package <var>: expects exactly one argument');
    let pkg: A.Package | undefined;
    try {
      const st = parseStatements(`package ${args[0]}`, '', { regoVersion: 1 });
      if (st.length === 1 && st[0].kind === 'package') pkg = st[0].pkg;
    } catch {
      pkg = undefined;
    }
    if (!pkg) throw badArgs('argument must identify a package');
    const key = packageKey(pkg);
    if (!this.modules.has(key)) {
      this.write('warning: no matching package\n');
      return;
    }
    const next = new Map(this.modules);
    next.delete(key);
    this.compileWith(next);
    this.modules = next;
    this.generation++;
    if (this.current === key) this.current = '';
  }

  // -------------------------------------------------------------------------------------------
  // Statements

  private evalText(text: string): void {
    const stmts = parseStatements(text, '', { regoVersion: this.regoVersion });
    for (let i = 0; i < stmts.length; i++) {
      this.statement(stmts[i], statementText(text, stmts, i));
    }
  }

  private get regoVersion(): 0 | 1 | 'auto' {
    return this.options.regoVersion ?? this.runtime.options.regoVersion ?? 'auto';
  }

  private statement(st: Statement, text: string): void {
    switch (st.kind) {
      case 'package':
        this.setPackage(st.pkg);
        return;
      case 'import':
        this.addImport(st.imp);
        return;
      case 'rule':
        this.defineRule(st.rule);
        return;
      case 'query':
        if (st.asRule && st.asRule.head.ref.length === 1 && !(st.isUnification && this.isDefined(st.body))) {
          this.defineRule(st.asRule);
          return;
        }
        this.query(st.body, text);
    }
  }

  private setPackage(pkg: A.Package): void {
    const key = packageKey(pkg);
    if (!this.modules.has(key)) {
      this.modules.set(key, { package: pkg, imports: [], rules: [], regoVersion: this.moduleVersion(), file: '', shell: true });
      this.generation++;
    }
    this.current = key;
  }

  private moduleVersion(): 0 | 1 {
    return this.regoVersion === 0 ? 0 : 1;
  }

  /** The active module, creating `package repl` when nothing was entered yet. */
  private activeModule(): A.Module {
    if (!this.current) this.setPackage(defaultPackage());
    return this.modules.get(this.current) as A.Module;
  }

  private addImport(imp: A.Import): void {
    const mod = this.activeModule();
    if (mod.imports.some((i) => importKey(i) === importKey(imp))) return;
    this.commit(this.current, { ...mod, imports: [...mod.imports, imp] });
  }

  private defineRule(rule: A.Rule): void {
    const mod = this.activeModule();
    const name = ruleName(rule);
    let rules = mod.rules;
    let redefined = false;
    if (rule.head.assign) {
      rules = rules.filter((r) => ruleName(r) !== name);
      redefined = rules.length !== mod.rules.length;
    }
    const next: A.Module = { ...mod, rules: [...rules, rule] };
    this.commit(this.current, next);
    if (this.format === 'pretty') {
      const verb = redefined ? 're-defined' : 'defined';
      this.write(`Rule '${refToString(rule.head.ref)}' ${verb} in ${packageText(next.package)}. Type 'show' to see rules.\n`);
    }
  }

  /** Replaces one shell module after checking that everything still compiles. */
  private commit(key: string, mod: A.Module): void {
    const next = new Map(this.modules);
    next.set(key, mod);
    const policy = this.compileWith(next);
    this.modules = next;
    this.generation++;
    this.compiled = { key: this.cacheKey(), policy };
  }

  private compileWith(modules: Map<string, A.Module>): CompiledPolicy {
    return compile([...this.runtime.modules().map((m) => m.module), ...modules.values()], {
      disabledBuiltins: this.runtime.options.disabledBuiltins,
    });
  }

  private cacheKey(): string {
    return `${this.runtime.generation}/${this.generation}`;
  }

  /** The runtime's policies and the shell's modules, compiled (cached until either changes). */
  private policy(): CompiledPolicy {
    const key = this.cacheKey();
    if (this.compiled?.key !== key) this.compiled = { key, policy: this.compileWith(this.modules) };
    return this.compiled.policy;
  }

  /** OPA's check before reading `x = ...` as a rule: is `x` already a rule or import here? */
  private isDefined(body: A.Body): boolean {
    const e = body[0].terms;
    if (e.type !== 'call') return false;
    const lhs = e.args[0];
    let name: string | undefined;
    if (lhs.type === 'var') name = lhs.name;
    else if (lhs.type === 'ref' && lhs.terms.length === 1 && lhs.terms[0].type === 'var') name = lhs.terms[0].name;
    if (!name) return false;
    const mod = this.current ? this.modules.get(this.current) : undefined;
    if (mod?.imports.some((i) => importName(i) === name)) return true;
    const pkg = mod ? packageSegments(mod.package) : DEFAULT_PACKAGE;
    let node = this.policy().root;
    for (const seg of [...pkg, name]) {
      const child = node.children.get(seg);
      if (!child) return false;
      node = child;
    }
    return node.rules.length > 0 || node.defaultRule !== undefined;
  }

  private query(body: A.Body, text: string): void {
    const policy = this.policy();
    const input = this.loadInput(policy);
    const mod = this.current ? this.modules.get(this.current) : undefined;
    const ctx = {
      package: mod ? packageSegments(mod.package) : DEFAULT_PACKAGE,
      imports: mod?.imports ?? [],
      disabledBuiltins: this.runtime.options.disabledBuiltins,
      file: '',
    };
    let pq: PreparedQuery;
    try {
      // From the text, so that expressions carry their source text (table headers, json).
      pq = prepareQuery(policy, text, ctx);
    } catch (e) {
      if (!(e instanceof RegoErrors && e.code === 'rego_parse_error')) throw e;
      pq = prepareQuery(policy, body, ctx);
    }
    let outcome;
    try {
      outcome = pq.eval({
        input,
        data: this.runtime.store.snapshot(),
        strictBuiltinErrors: this.strictBuiltinErrors,
        collectNotes: this.notes,
        hooks: { print: (msg) => this.write(msg + '\n') },
      });
    } catch (e) {
      const errors = regoErrorsOf(e);
      if (!errors) throw e;
      this.write(this.format === 'json' ? jsonErrors(errors) : formatRegoErrors(errors) + '\n');
      return;
    }
    if (this.notes) for (const n of outcome.notes) this.write(`Note ${JSON.stringify(n.message)}\n`);
    this.write(this.format === 'json' ? jsonResults(outcome.results) : prettyResults(outcome.results, this.prettyLimit));
  }

  /** The input document: the value of data.repl.input, if the shell defines it. */
  private loadInput(policy: CompiledPolicy): Value | undefined {
    const pq = prepareQuery(policy, 'data.repl.input', { disabledBuiltins: this.runtime.options.disabledBuiltins });
    return pq.evalValue({ data: this.runtime.store.snapshot() });
  }
}

// ---------------------------------------------------------------------------------------------

function parseCommand(line: string): { op: string; args: string[] } | undefined {
  const fields = line.trim().split(/\s+/).filter(Boolean);
  if (fields.length === 0) return undefined;
  const op = fields[0].toLowerCase();
  if (!COMMANDS.has(op)) return undefined;
  // `dump = 1` or `help[x]`-like lines are Rego, not commands with odd arguments.
  if (fields.length > 1 && /^(:?=|!=|\[|\(|\+|<|>|\||&)/.test(fields[1])) return undefined;
  return { op, args: fields.slice(1) };
}

function defaultPackage(): A.Package {
  return {
    path: {
      type: 'ref',
      terms: [
        { type: 'var', name: 'data' },
        { type: 'string', value: 'repl' },
      ],
    },
  };
}

function packageSegments(pkg: A.Package): string[] {
  return pkg.path.terms.slice(1).map((t) => (t.type === 'string' ? t.value : refToString([t])));
}

function packageKey(pkg: A.Package): string {
  return packageSegments(pkg).join('.');
}

/** `package repl`, `package foo.bar`, as OPA prints a package in messages. */
function packageText(pkg: A.Package): string {
  const segs = pkg.path.terms.slice(1);
  if (!segs.length) return 'package data';
  const [first, ...rest] = segs;
  const head: A.Term = first.type === 'string' ? { type: 'var', name: first.value } : first;
  return `package ${refToString([head, ...rest])}`;
}

function importKey(i: A.Import): string {
  return refToString(i.path.terms) + (i.alias ? ` as ${i.alias}` : '');
}

/** The name an import binds: its alias or the last segment of its path. */
function importName(i: A.Import): string {
  if (i.alias) return i.alias;
  const last = i.path.terms[i.path.terms.length - 1];
  return last.type === 'string' ? last.value : last.type === 'var' ? last.name : '';
}

function ruleName(r: A.Rule): string {
  const h = r.head.ref[0];
  return h.type === 'var' ? h.name : refToString([h]);
}

function statementLoc(st: Statement): A.Location | undefined {
  switch (st.kind) {
    case 'package':
      return st.pkg.loc ?? st.pkg.path.loc;
    case 'import':
      return st.imp.loc;
    case 'rule':
      return st.rule.loc;
    case 'query':
      return st.body[0]?.loc;
  }
}

/** The source text of statement i (up to the next statement), for expression texts. */
function statementText(text: string, stmts: Statement[], i: number): string {
  if (stmts.length === 1) return text;
  const start = offsetOf(text, statementLoc(stmts[i]));
  const next = i + 1 < stmts.length ? offsetOf(text, statementLoc(stmts[i + 1])) : text.length;
  return text.slice(start ?? 0, next ?? text.length).trim();
}

function offsetOf(text: string, loc: A.Location | undefined): number | undefined {
  if (!loc) return undefined;
  const lines = text.split('\n');
  let off = 0;
  for (let r = 1; r < loc.row && r <= lines.length; r++) off += lines[r - 1].length + 1;
  const line = lines[loc.row - 1] ?? '';
  return off + Array.from(line).slice(0, loc.col - 1).join('').length;
}

function regoErrorsOf(e: unknown): RegoError[] | undefined {
  if (e instanceof RegoErrors) return e.errors;
  if (e instanceof LoadErrors && e.errors.every((x) => x instanceof RegoError)) return e.errors as RegoError[];
  if (e instanceof RegoError) return [e];
  if (e instanceof HaltError) return [e.inner];
  return undefined;
}

/** One clear message for anything the shell can meet. */
export function describeError(e: unknown): string {
  const rego = regoErrorsOf(e);
  if (rego) return formatRegoErrors(rego);
  if (e instanceof ShellError) return e.message;
  if (isStackOverflow(e)) return STACK_OVERFLOW_MESSAGE;
  if (e instanceof LoadErrors) {
    const lines = e.errors.map((x) => (x instanceof RegoError ? formatRegoErrors([x]).replace(/^1 error occurred: /, '') : x.message));
    return lines.length === 1 ? `1 error occurred: ${lines[0]}` : `${lines.length} errors occurred:\n${lines.join('\n')}`;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/** What a statement too deeply nested for the engine's recursion gets instead of V8's bare text. */
export const STACK_OVERFLOW_MESSAGE =
  'error: the statement is nested too deeply to compile or evaluate (the JavaScript stack ran out); split it into smaller parts';
