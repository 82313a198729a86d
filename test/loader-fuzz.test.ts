// Randomised robustness tests for the file loader (seeded, so every run sees the same cases).
//
// Random directory trees in a temp dir (odd names, every kind of broken content, symlinks of all
// sorts, FIFOs, files where directories are expected) are loaded with random arguments
// (prefix:path, file:// URLs, missing paths, ignore patterns). The rule under test: `load`
// either succeeds or throws LoadErrors whose every entry is a LoadError or RegoError naming the
// offending file in one line; never another exception, never a hang, never a crash. A second
// property checks the data tree against a small independent model of OPA's merge rules.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { stringify as yamlStringify } from 'yaml';
import { load, LoadError, LoadErrors, type LoadOptions, type LoadResult } from '../src/loader/index.js';
import { RegoError } from '../src/rego/errors.js';
import { RObject, stringifyJSON } from '../src/rego/value.js';

const SEED = 18_2026;

let tmpRoot: string;
before(async () => {
  tmpRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'ie-loader-fuzz-'));
});
after(async () => {
  await fsp.rm(tmpRoot, { recursive: true, force: true });
});

let counter = 0;

// ---------------------------------------------------------------------------------------------
// Names

/** Names that are Rego keywords, look like other file types, or are awkward for paths. */
const SPECIAL_NAMES = [
  'package', 'import', 'default', 'if', 'contains', 'data', 'input', 'true', 'null', 'not', 'some', 'every', 'else', 'with',
  'x.json', 'x.rego', 'x.yaml', 'x.yml', 'x.tar.gz', '.hidden', '...', ' ', ' a b ', 'a:b', 'a:b.json', 'ü', '日本.yaml',
  '🙂.json', 'a\\b', '-', '--help', '$(x)', '*', '[', 'tab\there', 'new\nline', '%41', 'file:', 'a.', 'a..json', 'A.JSON',
  'c.Rego', 'noext', 'x.json.bak', '#x.rego#', '.#lock.rego', 'x'.repeat(200) + '.json',
];

const EXTENSIONS = ['.json', '.yaml', '.yml', '.rego', '', '.txt', '.tar.gz'];

const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SPECIAL_NAMES) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 8 }), fc.constantFrom(...EXTENSIONS))
      .map(([base, ext]) => base.replace(/[/\u0000]/g, '_') + ext),
  },
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('a', 'b', 'c', 'data', 'd.json'), fc.constantFrom(...EXTENSIONS)).map(([b, e]) => b + e) },
).filter((n) => n !== '.' && n !== '..' && Buffer.byteLength(n) <= 250);

// ---------------------------------------------------------------------------------------------
// Contents

const deepFlow = (n: number, open = '[', close = ']') => open.repeat(n) + close.repeat(n);

/** Awkward JSON texts, each loaded on its own by the catalogue test and mixed into the random trees. */
const JSON_SPECIAL: Buffer[] = [
  '{"a": 1, "a": 2}', // duplicate keys
  '{"a": 1e999999}',
  `{"a": ${'9'.repeat(400)}}`,
  '{"a": -0.0e-99999, "b": 1E+2}',
  '\ufeff{"bom": true}',
  `{"a": ${deepFlow(999)}}`,
  `{"a": ${deepFlow(1001)}}`,
  `{"a": ${deepFlow(20000)}}`,
  '{"a": "\\ud800"}',
  '{"a": "\u0000"}',
  '{"a": NaN}',
  '{"a": 01}',
  "{'a': 1}",
  '{"a": 1} {"b": 2}',
  '{"__proto__": {"polluted": true}, "constructor": 1}',
  '',
  '   \n',
].map((t) => Buffer.from(t));
JSON_SPECIAL.push(Buffer.concat([Buffer.from('{"a": "'), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('"}')])); // invalid UTF-8

const jsonContent: fc.Arbitrary<Buffer> = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }).map((o) => Buffer.from(JSON.stringify(o))),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')), // top-level non-objects too
  fc.tuple(fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 2 }), { minKeys: 1, maxKeys: 4 }), fc.nat()).map(([o, cut]) => {
    const s = JSON.stringify(o);
    return Buffer.from(s.slice(0, cut % s.length)); // truncated
  }),
  fc.constantFrom(...JSON_SPECIAL),
);

const bomb = (() => {
  let s = 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n';
  for (let k = 1; k < 9; k++) {
    const prev = String.fromCharCode(96 + k);
    const cur = String.fromCharCode(97 + k);
    s += `${cur}: &${cur} [${Array(9).fill('*' + prev).join(', ')}]\n`;
  }
  return s;
})();

/** Awkward YAML texts (several documents, alias bombs, tags, deep nesting, bad syntax). */
const YAML_SPECIAL: Buffer[] = [
  'a: 1\n---\nb: 2\n', // several documents
  '---\n...\n',
  bomb,
  'a: &x {b: 1}\nc: *x\nd: *x\n',
  'a: *nope\n',
  `a: ${deepFlow(200)}\n`,
  `a: ${deepFlow(1000)}\n`,
  `a: ${deepFlow(1000, '{a: ', '}')}\n`,
  Array.from({ length: 400 }, (_, i) => ' '.repeat(i) + 'k:').join('\n') + ' 1\n',
  '- '.repeat(1000) + 'x\n',
  `a: &a ${deepFlow(150)}\nb: ${'['.repeat(150)}*a${']'.repeat(150)}\n`,
  'a: !!binary aGVsbG8=\nb: !!set {x, y}\nc: !custom tag\nd: !!float .nan\n',
  'a: .inf\n',
  'a: !!timestamp 2001-12-14t21:59:43.10-05:00\n',
  '? [a, b]\n: 1\n',
  '{[1, 2]: x}\n',
  'a: 1\na: 2\n',
  '\ta: 1\n',
  'a: "unclosed\n',
  '- a\nb: c\n',
  '%YAML 1.1\n---\na: yes\n',
  '%TAG ! tag:example.com,2000:\n---\na: !foo 1\n',
  '&anchor\n',
  '*alias\n',
  'a: |\n  text\n b: 1\n',
  '<<: {a: 1}\nb: 2\n',
  '__proto__: {polluted: true}\n',
  '\ufeffa: 1\n',
  '',
  '# only a comment\n',
].map((t) => Buffer.from(t));

const yamlContent: fc.Arbitrary<Buffer> = fc.oneof(
  fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 }).map((o) => Buffer.from(yamlStringify(o))),
  fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(yamlStringify(v))),
  fc.constantFrom(...YAML_SPECIAL),
);

const PKG_NAMES = ['a', 'a.b', 'x.y.z', 'import', 'package', 'data', 'input', '日本', 'a["b c"]', 'a.default', 'test', 'repl', 'if'];
const RULES = [
  'p := 1',
  'q contains x if { some x in [1, 2] }',
  'default allow := false',
  'allow if input.user == "admin"',
  'f(x) := x + 1',
  'r := data.a',
  'p[x] { x := 1 }', // v0
  'deny[msg] { msg := "no" }', // v0
  'test_ok if true',
  'x := y', // unsafe
  'p := 2', // conflicts with p := 1
  'import rego.v1',
  'import data.nope as z',
];

/** Awkward Rego texts (nesting far past the parser's limit, unterminated strings, a BOM). */
const REGO_SPECIAL: Buffer[] = [
  `package deep\np := ${deepFlow(5000)}\n`,
  `package deep\np if { ${deepFlow(5000, '(', ')')} }\n`,
  `package deep\np := ${'{"a": '.repeat(5000)}1${'}'.repeat(5000)}\n`,
  `package deep\np := input${'.a'.repeat(5000)}\n`,
  'package a\np := "unterminated\n',
  'package a\np := `raw\n',
  '\ufeffpackage bom\np := 1\n',
  `package deep\np := 1${' + 1'.repeat(5000)}\n`, // parses; too deep for the compiler (not the loader's business)
  '',
].map((t) => Buffer.from(t));

const regoContent: fc.Arbitrary<Buffer> = fc.oneof(
  fc
    .tuple(fc.constantFrom(...PKG_NAMES), fc.array(fc.constantFrom(...RULES), { maxLength: 4 }))
    .map(([pkg, rules]) => Buffer.from(`package ${pkg}\n\n${rules.join('\n')}\n`)),
  fc.array(fc.constantFrom('package', 'p', ':=', '{', '}', '[', ']', '(', ')', 'if', '"s"', '`', '#', '\n', '1', '.', 'some', 'in', 'every', 'not', 'import'), { maxLength: 30 }).map((t) => Buffer.from(t.join(' '))),
  fc.constantFrom(...REGO_SPECIAL),
);

const contentArb: fc.Arbitrary<Buffer> = fc.oneof(
  jsonContent,
  yamlContent,
  regoContent,
  fc.uint8Array({ maxLength: 64 }).map((u) => Buffer.from(u)), // binary garbage
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => Buffer.from(s)),
);

// ---------------------------------------------------------------------------------------------
// Trees

type Entry =
  | { kind: 'file'; dir: string[]; name: string; content: Buffer; mode000: boolean }
  | { kind: 'dir'; dir: string[]; name: string }
  | { kind: 'link'; dir: string[]; name: string; target: number | 'root' | 'parent' | 'self' | 'dangling' }
  | { kind: 'fifo'; dir: string[]; name: string };

const dirArb = fc.array(fc.oneof(fc.constantFrom('a', 'b', 'data', 'x.json', 'p.rego'), nameArb), { maxLength: 3 });

const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ kind: fc.constant('file' as const), dir: dirArb, name: nameArb, content: contentArb, mode000: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('dir' as const), dir: dirArb, name: nameArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('link' as const),
      dir: dirArb,
      name: nameArb,
      target: fc.oneof(fc.nat({ max: 20 }), fc.constantFrom('root' as const, 'parent' as const, 'self' as const, 'dangling' as const)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fifo' as const), dir: dirArb, name: nameArb }) },
);

interface Built {
  root: string;
  /** Paths of entries that were actually created (relative to root). */
  created: string[];
}

/** Creates what it can of the entries; collisions (a file where a directory should be) are skipped. */
async function build(entries: Entry[]): Promise<Built> {
  // One level down, so that a link to `..` stays inside this case (and loops back into it).
  const root = path.join(tmpRoot, `t${counter++}`, 'w');
  await fsp.mkdir(root, { recursive: true });
  const created: string[] = [];
  const links: Array<Extract<Entry, { kind: 'link' }>> = [];
  for (const e of entries) {
    const dir = path.join(root, ...e.dir);
    const full = path.join(dir, e.name);
    try {
      await fsp.mkdir(dir, { recursive: true });
      if (e.kind === 'file') {
        await fsp.writeFile(full, e.content, { flag: 'wx' });
        if (e.mode000) await fsp.chmod(full, 0o000);
      } else if (e.kind === 'dir') await fsp.mkdir(full);
      else if (e.kind === 'fifo') {
        if (existsSync(full)) continue;
        if (spawnSync('mkfifo', [full]).status !== 0) continue;
      } else {
        links.push(e);
        continue;
      }
      created.push(path.relative(root, full));
    } catch {
      /* name collision: skip */
    }
  }
  for (const e of links) {
    const dir = path.join(root, ...e.dir);
    const full = path.join(dir, e.name);
    let target: string;
    if (e.target === 'root') target = root;
    else if (e.target === 'parent') target = '..';
    else if (e.target === 'self') target = e.name;
    else if (e.target === 'dangling') target = path.join(root, 'does-not-exist');
    else if (created.length) target = path.relative(dir, path.join(root, created[e.target % created.length]));
    else target = '.';
    try {
      await fsp.mkdir(dir, { recursive: true });
      await fsp.symlink(target, full);
      created.push(path.relative(root, full));
    } catch {
      /* collision */
    }
  }
  return { root, created };
}

// ---------------------------------------------------------------------------------------------
// Arguments

type Arg =
  | { kind: 'root' }
  | { kind: 'entry'; index: number }
  | { kind: 'prefixed'; prefix: string; inner: { kind: 'root' } | { kind: 'entry'; index: number } }
  | { kind: 'url'; index: number }
  | { kind: 'literal'; text: string };

const innerArb = fc.oneof(fc.constant({ kind: 'root' as const }), fc.record({ kind: fc.constant('entry' as const), index: fc.nat({ max: 30 }) }));
const argArb: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: 'root' as const }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('entry' as const), index: fc.nat({ max: 30 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('prefixed' as const),
      prefix: fc.oneof(fc.constantFrom('a', 'a.b', 'package.x', '.', 'a..b', 'ü.🙂', 'data', 'x y', '0'), fc.string({ maxLength: 6 }).map((s) => s.replace(/:/g, ''))),
      inner: innerArb,
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('url' as const), index: fc.nat({ max: 30 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('literal' as const),
      text: fc.constantFrom('', ':', 'a:', '/nonexistent/x.json', 'http://example.com/x.rego', 'file://', 'x:file://', 'file:///nonexistent', 'file://%zz', 'file:///a%2Fb', 'file://localhost/%2F', 'file:///%00x', 'FILE:///nonexistent', '//unc/share', '\\\\unc\\share', '/dev/null', 'bundle.tar.gz', '\u0000'),
    }),
  },
);

function argText(a: Arg, built: Built): string {
  const entry = (i: number) => (built.created.length ? path.join(built.root, built.created[i % built.created.length]) : built.root);
  switch (a.kind) {
    case 'root':
      return built.root;
    case 'entry':
      return entry(a.index);
    case 'prefixed':
      return `${a.prefix}:${a.inner.kind === 'root' ? built.root : entry(a.inner.index)}`;
    case 'url':
      return pathToFileURL(entry(a.index)).href;
    case 'literal':
      return a.text;
  }
}

const ignoreArb = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom('.*', '*.json', 'a', '[', 'x\\', '[z-a]', '*', '?', '日*'), { minLength: 1, maxLength: 2 }) },
);

// ---------------------------------------------------------------------------------------------
// The property

/** A loader outcome, reduced to what must be the same on a second load. */
function summary(r: LoadResult | LoadErrors): string {
  if (r instanceof LoadErrors) return 'errors:\n' + r.errors.map((e) => e.message).join('\n');
  return `ok ${stringifyJSON(r.data)} ${r.modules.map((m) => m.file).join(',')}`;
}

const UNEXPECTED = /TypeError|ReferenceError|is not a function|Cannot read propert|undefined \(reading|Maximum call stack|\[object Object\]|\n\s+at /;

async function loadWithin(args: string[], opts: LoadOptions): Promise<LoadResult | LoadErrors> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`load did not finish within 20 s (a hang?): ${JSON.stringify(args)}`)), 20_000);
  });
  try {
    return await Promise.race([load(args, opts), timeout]);
  } catch (e) {
    if (e instanceof LoadErrors) return e;
    throw e; // any other exception fails the property
  } finally {
    clearTimeout(timer);
  }
}

/** Every error is a LoadError or RegoError with a one-line message naming its file. */
function checkErrors(err: LoadErrors, args: string[], built: Built): void {
  assert.ok(err.errors.length > 0, 'LoadErrors without errors');
  for (const e of err.errors) {
    if (e instanceof LoadError) {
      assert.doesNotMatch(e.message, UNEXPECTED, `unexpected failure surfaced as a load error: ${e.message}`);
      assert.doesNotMatch(e.detail, /^could not load:/, `an unexpected exception was caught by the loader: ${e.message}`);
      assert.ok(e.detail.length > 0, 'empty error detail');
      // About an option, a URL or an empty argument, not a file:
      if (e.kind === 'options' || (e.kind === 'unsupported' && e.file === '') || e.detail === 'empty path: an argument is the empty string') continue;
      assert.ok(e.file !== '', `a ${e.kind} error must name a file: ${e.message}`);
      assert.ok(e.message.startsWith(e.file), `message must start with the file: ${e.message}`);
      const known = args.some((a) => a.includes(e.file) || e.file.includes(a.slice(a.indexOf(':') + 1))) || e.file.startsWith(built.root);
      assert.ok(known, `error about an unknown file ${JSON.stringify(e.file)}`);
      // One line: the file name itself may contain a newline, the rest must not.
      assert.ok(!e.detail.includes('\n'), `multi-line error: ${JSON.stringify(e.message)}`);
    } else {
      assert.ok(e instanceof RegoError, `not a LoadError or RegoError: ${String(e)}`);
      assert.doesNotMatch(e.message, UNEXPECTED, `unexpected failure surfaced as a Rego error: ${e.message}`);
      assert.ok(e.location?.file, `Rego error without a file: ${e.message}`);
      assert.ok(e.location.file.startsWith(built.root) || args.some((a) => a.includes(e.location!.file)), `Rego error about an unknown file: ${e.message}`);
    }
  }
}

function checkSuccess(r: LoadResult, built: Built): void {
  assert.ok(r.data instanceof RObject);
  const files = new Set(r.files);
  for (const m of r.modules) assert.ok(files.has(m.file), `module ${m.file} was not listed as read`);
  for (const f of r.files) assert.ok(existsSync(f), `listed file ${f} does not exist`);
  void built;
}

test('random trees and arguments: load succeeds or throws LoadErrors naming the files, the same way twice', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 12 }), fc.array(argArb, { minLength: 1, maxLength: 4 }), ignoreArb, fc.constantFrom<0 | 1 | 'auto'>(0, 1, 'auto'), async (entries, argSpecs, ignore, regoVersion) => {
      const built = await build(entries);
      const args = argSpecs.map((a) => argText(a, built));
      const opts: LoadOptions = { ignore, regoVersion };
      // FUZZ_TRACE=1 prints each case before loading it (to find the case behind a hang).
      if (process.env.FUZZ_TRACE) process.stderr.write(`CASE ${JSON.stringify({ entries: entries.map((e) => (e.kind === 'file' ? { ...e, content: e.content.toString('latin1').slice(0, 200) } : e)), args, ignore, regoVersion })}\n`);
      const first = await loadWithin(args, opts);
      if (first instanceof LoadErrors) checkErrors(first, args, built);
      else checkSuccess(first, built);
      const second = await loadWithin(args, opts);
      assert.equal(summary(second), summary(first), 'loading the same tree twice gave different outcomes');
    }),
    { seed: SEED, numRuns: 150, includeErrorInReport: true },
  );
});

test('catalogue: every awkward content, as .json, .yaml, .rego and an unknown extension, in a directory and named', async () => {
  const contents = [...JSON_SPECIAL, ...YAML_SPECIAL, ...REGO_SPECIAL];
  for (const [i, content] of contents.entries()) {
    for (const ext of ['.json', '.yaml', '.rego', '.txt']) {
      const built: Built = { root: path.join(tmpRoot, `c${counter++}`), created: [] };
      await fsp.mkdir(built.root);
      await fsp.writeFile(path.join(built.root, `d${ext}`), content);
      for (const args of [[built.root], [path.join(built.root, `d${ext}`)], [`p.q:${path.join(built.root, `d${ext}`)}`]]) {
        const got = await loadWithin(args, {});
        if (got instanceof LoadErrors) checkErrors(got, args, built);
        else checkSuccess(got, built);
        assert.equal(summary(await loadWithin(args, {})), summary(got), `content ${i} as ${ext}: a second load differs`);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Merging against a model of OPA's rules

type JSONObj = { [k: string]: JSONVal };
type JSONVal = number | JSONObj;
type ModelDir = Map<string, ModelDir | { doc: JSONObj; yaml: boolean }>;

const objArb: fc.Arbitrary<JSONObj> = fc.letrec<{ obj: JSONObj; val: JSONVal }>((tie) => ({
  obj: fc.dictionary(fc.constantFrom('a', 'b', 'c', 'x'), tie('val'), { maxKeys: 3 }),
  val: fc.oneof({ depthSize: 'small', withCrossShrink: true }, fc.nat({ max: 3 }), tie('obj')),
})).obj;

const modelDirArb: fc.Arbitrary<ModelDir> = fc.letrec<{ dir: ModelDir }>((tie) => ({
  dir: fc
    .array(
      fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.tuple(fc.constantFrom('f.json', 'g.json', 'h.yaml', 'i.yml'), objArb.map((doc) => ({ doc, yaml: false }))),
        fc.tuple(fc.constantFrom('a', 'b', 'c', 'x'), tie('dir')),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => {
      const m: ModelDir = new Map();
      for (const [name, v] of pairs) if (!m.has(name)) m.set(name, v instanceof Map ? v : { doc: v.doc, yaml: /\.ya?ml$/.test(name) });
      return m;
    }),
})).dir;

/** OPA's rule: objects merge; any key holding a non-object on either side is a conflict. */
function conflicts(a: JSONObj, b: JSONObj): boolean {
  for (const [k, bv] of Object.entries(b)) {
    if (!(k in a)) continue;
    const av = a[k];
    if (typeof av !== 'object' || typeof bv !== 'object') return true;
    if (conflicts(av, bv)) return true;
  }
  return false;
}

function mergeInto(a: JSONObj, b: JSONObj): void {
  for (const [k, bv] of Object.entries(b)) {
    const av = a[k];
    if (typeof av === 'object' && typeof bv === 'object') mergeInto(av, bv);
    else a[k] = structuredClone(bv);
  }
}

/** Walks like the loader (names in byte order, subdirectories add segments) and merges. */
function model(dir: ModelDir, at: string[], rel: string, state: { data: JSONObj; conflicting: string[] }): void {
  const names = [...dir.keys()].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  for (const name of names) {
    const v = dir.get(name)!;
    const here = rel ? `${rel}/${name}` : name;
    if (v instanceof Map) {
      model(v, [...at, name], here, state);
      continue;
    }
    let wrapped: JSONObj = v.doc;
    for (let i = at.length - 1; i >= 0; i--) wrapped = { [at[i]]: wrapped };
    if (conflicts(state.data, wrapped)) state.conflicting.push(here);
    else mergeInto(state.data, wrapped);
  }
}

async function materialize(dir: ModelDir, where: string): Promise<void> {
  await fsp.mkdir(where, { recursive: true });
  for (const [name, v] of dir) {
    if (v instanceof Map) await materialize(v, path.join(where, name));
    else await fsp.writeFile(path.join(where, name), v.yaml ? yamlStringify(v.doc) : JSON.stringify(v.doc));
  }
}

function sortKeys(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  return Object.fromEntries(Object.keys(v as object).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
}

test('model: data files merge at their directory paths; exactly the conflicting files are reported', async () => {
  await fc.assert(
    fc.asyncProperty(modelDirArb, fc.constantFrom('', 'p', 'p.q'), async (tree, prefix) => {
      const root = path.join(tmpRoot, `m${counter++}`);
      await materialize(tree, root);
      const state = { data: {} as JSONObj, conflicting: [] as string[] };
      const at = prefix ? prefix.split('.') : [];
      model(tree, at, '', state);
      const got = await loadWithin([prefix ? `${prefix}:${root}` : root], {});
      if (state.conflicting.length) {
        assert.ok(got instanceof LoadErrors, `expected merge errors for ${state.conflicting.join(', ')}`);
        const files = got.errors.map((e) => (e instanceof LoadError && e.kind === 'merge' ? path.relative(root, e.file) : `other: ${e.message}`));
        assert.deepEqual(files, state.conflicting);
      } else {
        assert.ok(!(got instanceof LoadErrors), got instanceof LoadErrors ? got.message : '');
        assert.deepEqual(sortKeys(JSON.parse(stringifyJSON(got.data))), sortKeys(state.data));
      }
    }),
    { seed: SEED, numRuns: 300, includeErrorInReport: true },
  );
});
