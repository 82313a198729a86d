// Loader tests: real files in temp directories, checked against OPA's loading rules
// (protocols.md §3.6 and OPA's loader behaviour).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  load,
  splitPrefix,
  cleanPath,
  LoadError,
  LoadErrors,
  parseJSONValue,
  parseJSONExact,
  JSONSyntaxError,
  parseYAMLValue,
  YAMLDataError,
  MAX_YAML_DEPTH,
  yamlNestedDeeperThan,
  globMatch,
  watchPaths,
  type ParseModuleFn,
} from '../src/loader/index.js';
import { RObject, parseJSON, toJSON, type Value } from '../src/rego/value.js';
import type { Module } from '../src/rego/ast.js';
import { RegoError } from '../src/rego/errors.js';
import { DataTree } from '../src/loader/merge.js';
import fc from 'fast-check';

/** The sample data: the repo's own data/ once shipped, else the shared seed copy. */
function findSeedData(): string | undefined {
  const candidates: string[] = [];
  if (process.env.SEED_DATA) candidates.push(process.env.SEED_DATA);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) {
      candidates.push(path.join(dir, 'data'));
      break;
    }
    dir = path.dirname(dir);
  }
  candidates.push('/work/shared/seed/data');
  return candidates.find((c) => existsSync(path.join(c, 'docker', 'docker.json')) && existsSync(path.join(c, 'clair', 'clair.json')));
}
const SEED_DATA = findSeedData();

/** A stand-in parser: a module is text starting with `package x.y`; anything else is a parse error. */
const fakeParse: ParseModuleFn = (text, file) => {
  const m = /^\s*package\s+([\w.]+)/.exec(text);
  if (!m) throw new RegoError('rego_parse_error', 'package expected', { file, row: 1, col: 1 });
  return { file, package: { path: { type: 'ref', terms: [] } }, imports: [], rules: [], regoVersion: 1, _pkg: m[1] } as unknown as Module;
};

let tmpRoot: string;
before(async () => {
  tmpRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'ie-loader-'));
});
after(async () => {
  await fsp.rm(tmpRoot, { recursive: true, force: true });
});

let counter = 0;
/** Creates a fresh directory with the given files (path -> content). */
async function tree(files: Record<string, string>): Promise<string> {
  const dir = path.join(tmpRoot, `t${counter++}`);
  await fsp.mkdir(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(dir, rel);
    await fsp.mkdir(path.dirname(full), { recursive: true });
    await fsp.writeFile(full, content);
  }
  return dir;
}

function js(v: Value): unknown {
  return toJSON(v);
}

async function loadData(paths: string[], opts: { ignore?: string[] } = {}): Promise<unknown> {
  const r = await load(paths, { parseModule: fakeParse, ...opts });
  return js(r.data);
}

async function loadErrors(paths: string[], opts: { ignore?: string[] } = {}): Promise<LoadErrors> {
  try {
    await load(paths, { parseModule: fakeParse, ...opts });
  } catch (e) {
    assert.ok(e instanceof LoadErrors, `expected LoadErrors, got ${String(e)}`);
    return e;
  }
  assert.fail('expected loading to fail');
}

describe('splitPrefix and cleanPath', () => {
  test('prefix forms follow OPA', () => {
    assert.deepEqual(splitPrefix('foo/bar'), { prefix: [], path: 'foo/bar' });
    assert.deepEqual(splitPrefix('foo:/bar'), { prefix: ['foo'], path: '/bar' });
    assert.deepEqual(splitPrefix('one.two:bar.yaml'), { prefix: ['one', 'two'], path: 'bar.yaml' });
    assert.deepEqual(splitPrefix('file:///a/b'), { prefix: [], path: 'file:///a/b' });
    assert.deepEqual(splitPrefix('x.y:file:///a/b'), { prefix: ['x', 'y'], path: 'file:///a/b' });
    assert.deepEqual(splitPrefix(':a'), { prefix: [], path: ':a' });
    // OPA splits on the first ':' even after "./": the prefix is ["", "/x"].
    assert.deepEqual(splitPrefix('./x:y'), { prefix: ['', '/x'], path: 'y' });
  });
  test('file URLs become paths; other schemes are errors', () => {
    assert.equal(cleanPath('file:///tmp/a%20b.json'), '/tmp/a b.json');
    assert.equal(cleanPath('plain/path'), 'plain/path');
    assert.throws(() => cleanPath('http://example.com/x'), /unsupported URL scheme: http:\/\/example.com\/x/);
    // Node's URL helpers throw TypeErrors for these; they are load errors naming the argument.
    for (const bad of ['file:///a%2Fb', 'file://localhost/%2F', 'file://host/%zz']) {
      assert.throws(() => cleanPath(bad), (e: unknown) => e instanceof LoadError && e.message.startsWith(`${bad}: malformed file URL`));
    }
  });
  test('a path with a NUL character is a clear load error', async () => {
    const e = await loadErrors(['a\u0000b.json']);
    assert.ok(e.errors[0] instanceof LoadError);
    assert.equal(e.errors[0].message, 'a\u0000b.json: invalid path (it contains a NUL character)');
  });
});

describe('the image_enforcer data layout (protocols.md §3.6 table)', { skip: SEED_DATA ? false : 'sample data not found' }, () => {
  let data: string;
  before(async () => {
    const dir = path.join(tmpRoot, 'seed');
    // Only the sample image and Clair data (the bundled data/ also holds the library's config).
    for (const sub of ['docker', 'clair']) await fsp.cp(path.join(SEED_DATA!, sub), path.join(dir, 'data', sub), { recursive: true });
    data = path.join(dir, 'data');
  });

  test('`run ./data` puts the files at data.docker and data.clair', async () => {
    const d = (await loadData([data])) as Record<string, any>;
    assert.deepEqual(Object.keys(d).sort(), ['clair', 'docker']);
    assert.ok(d.docker.layers.library.wordpress, 'docker.layers.library.wordpress');
    const digests = Object.keys(d.clair.layers);
    assert.ok(digests.length > 0 && digests.every((k) => k.startsWith('sha256:')));
    assert.ok(d.clair.layers[digests[0]].Layer, 'Clair Layer envelope');
  });

  test('`run ./data/docker ./data/clair` merges both files at the root (current OPA)', async () => {
    const d = (await loadData([path.join(data, 'clair'), path.join(data, 'docker')])) as Record<string, any>;
    assert.deepEqual(Object.keys(d), ['layers']);
    assert.equal(d.docker, undefined);
    assert.equal(d.clair, undefined);
    assert.ok(d.layers.library, 'docker content at data.layers');
    assert.ok(Object.keys(d.layers).some((k) => k.startsWith('sha256:')), 'clair content at data.layers');
  });

  test('`run docker:./data/docker clair:./data/clair` restores the paths', async () => {
    const d = (await loadData([`docker:${path.join(data, 'docker')}`, `clair:${path.join(data, 'clair')}`])) as Record<string, any>;
    assert.deepEqual(Object.keys(d).sort(), ['clair', 'docker']);
    assert.ok(d.docker.layers.library);
    assert.ok(!('docker' in d.docker), 'no doubled segment');
  });

  test('prefixed file arguments behave the same', async () => {
    const d = (await loadData([
      `docker:${path.join(data, 'docker', 'docker.json')}`,
      `clair:${path.join(data, 'clair', 'clair.json')}`,
    ])) as Record<string, any>;
    assert.ok(d.docker.layers.library.wordpress);
    assert.ok(Object.keys(d.clair.layers).length > 0);
  });

  test('files lists what was read', async () => {
    const r = await load([data], { parseModule: fakeParse });
    assert.deepEqual(r.files.map((f) => path.relative(data, f)).sort(), ['clair/clair.json', 'docker/docker.json']);
    assert.ok(r.dirs.includes(data));
  });
});

describe('directories', () => {
  test('nested directories add segments; the named directory adds none; data file names never do', async () => {
    const dir = await tree({
      'a/data1.json': '{"a": [1,2,3]}',
      'a/e.rego': 'package q',
      'b/data2.yaml': 'aaa:\n  bbb: 1\n',
      'b/data3.yaml': 'aaa:\n  ccc: 2\n',
      'b/d/x.json': 'null',
      'b/d/e.rego': 'package p',
      'b/d/ignore': 'deadbeef',
      'foo': '{"zzz": "b"}',
    });
    const r = await load([path.join(dir, 'a'), path.join(dir, 'b'), path.join(dir, 'foo')], { parseModule: fakeParse });
    assert.deepEqual(js(r.data), { a: [1, 2, 3], aaa: { bbb: 1, ccc: 2 }, d: null, zzz: 'b' });
    assert.deepEqual(
      r.modules.map((m) => path.relative(dir, m.file)),
      ['a/e.rego', 'b/d/e.rego'],
    );
    assert.ok(!r.files.some((f) => f.endsWith('ignore')), 'unknown extensions inside directories are not read');
  });

  test('a parent directory gives its subdirectories as segments', async () => {
    const dir = await tree({ 'x/y/z/v.json': '{"k": 1}', 'x/top.json': '{"t": true}' });
    assert.deepEqual(await loadData([dir]), { x: { t: true, y: { z: { k: 1 } } } });
  });

  test('a data file that is not an object is fine below the root', async () => {
    const dir = await tree({ 'n/v.json': '42', 's/v.yaml': 'hello' });
    assert.deepEqual(await loadData([dir]), { n: 42, s: 'hello' });
  });

  test('hidden files are loaded unless ignored (OPA has no default ignore)', async () => {
    const dir = await tree({ '.h.json': '{"x": 1}', '.y/data.json': '{"y": 2}', 'z/.hidden/d.json': '"no"', 'z/a/.h.json': '"no"' });
    assert.deepEqual(await loadData([dir]), { x: 1, '.y': { y: 2 }, z: { '.hidden': 'no', a: 'no' } });
    assert.deepEqual(await loadData([dir], { ignore: ['.*'] }), {});
  });

  test('ignore patterns match names below the arguments, not the arguments themselves', async () => {
    const dir = await tree({ 'keep/a.json': '{"a": 1}', 'skip/b.json': '{"b": 2}', 'keep/c_test.json': '{"c": 3}' });
    assert.deepEqual(await loadData([dir], { ignore: ['skip', '*_test.json'] }), { keep: { a: 1 } });
    // The argument itself is depth 0 and never ignored.
    assert.deepEqual(await loadData([path.join(dir, 'skip')], { ignore: ['skip'] }), { b: 2 });
  });

  test('a malformed ignore pattern is a clear error', async () => {
    const dir = await tree({ 'a.json': '{}' });
    const e = await loadErrors([dir], { ignore: ['[abc'] });
    assert.match(e.message, /bad ignore pattern "\[abc": unclosed \[/);
  });

  test('dangling symlinks inside directories are skipped; a missing argument is an error', async () => {
    const dir = await tree({ 'a.json': '{"a": 1}' });
    await fsp.symlink('user@host.123', path.join(dir, '.#a.rego'));
    assert.deepEqual(await loadData([dir]), { a: 1 });
    const e = await loadErrors([path.join(dir, '.#a.rego')]);
    assert.match(e.message, /\.#a\.rego: no such file or directory/);
  });

  test('symlinked directories are followed, cycles reported instead of looping', async () => {
    const dir = await tree({ 'real/v.json': '{"v": 1}' });
    await fsp.symlink(path.join(dir, 'real'), path.join(dir, 'link'));
    assert.deepEqual(await loadData([dir]), { link: { v: 1 }, real: { v: 1 } });
    const cyc = await tree({ 'a/v.json': '{"v": 1}' });
    await fsp.symlink(path.join(cyc, 'a'), path.join(cyc, 'a', 'loop'));
    const e = await loadErrors([cyc]);
    assert.match(e.message, /loop: symbolic link cycle/);
  });
});

describe('explicit files', () => {
  test('a file without a known extension is tried as Rego, then JSON, then YAML', async () => {
    const dir = await tree({ 'mod': 'package x', 'json': '{"j": 1}', 'yaml': 'y: 2\n', 'junk': '{{{ :' });
    const r = await load([path.join(dir, 'mod'), path.join(dir, 'json'), path.join(dir, 'yaml')], { parseModule: fakeParse });
    assert.equal(r.modules.length, 1);
    assert.equal(r.modules[0].file, path.join(dir, 'mod'));
    assert.deepEqual(js(r.data), { j: 1, y: 2 });
    const e = await loadErrors([path.join(dir, 'junk')]);
    assert.equal(e.errors.length, 1);
    assert.match(e.message, /junk: can't recognize file type/);
  });

  test('the module keeps the file name as given and its text', async () => {
    const dir = await tree({ 'p/policy.rego': 'package a.b\n' });
    const r = await load([path.join(dir, 'p', 'policy.rego')], { parseModule: fakeParse });
    assert.equal(r.modules[0].file, path.join(dir, 'p', 'policy.rego'));
    assert.equal(r.modules[0].text, 'package a.b\n');
    assert.deepEqual(js(r.data), {});
  });

  test('prefixes apply to files and directories', async () => {
    const dir = await tree({ 'foo.json': '[1,2,3]', 'bar/bar.yaml': 'abc', 'baz/qux/qux.json': 'null' });
    const d = await loadData([`four:${path.join(dir, 'foo.json')}`, `one.two:${path.join(dir, 'bar')}`, `three:${path.join(dir, 'baz')}`]);
    assert.deepEqual(d, { four: [1, 2, 3], one: { two: 'abc' }, three: { qux: null } });
  });

  test('file:// URLs load like paths, with and without prefix', async () => {
    const dir = await tree({ 'a/a/1.json': '1', 'b.json': '{"b": 2}', 'c.json': '3' });
    const d = await loadData([
      pathToFileURL(path.join(dir, 'a')).href,
      pathToFileURL(path.join(dir, 'b.json')).href,
      'c:' + pathToFileURL(path.join(dir, 'c.json')).href,
    ]);
    assert.deepEqual(d, { a: 1, b: 2, c: 3 });
  });

  test('module files are reported with their Rego parse errors and location', async () => {
    const dir = await tree({ 'bad.rego': 'not a module' });
    const e = await loadErrors([dir]);
    assert.equal(e.errors.length, 1);
    assert.ok(e.errors[0] instanceof RegoError);
    assert.equal(e.message, `1 error occurred during loading: ${path.join(dir, 'bad.rego')}:1:1: rego_parse_error: package expected`);
  });
});

describe('data errors', () => {
  test('root documents must be objects', async () => {
    const dir = await tree({ 'bad_doc.json': '[1,2,3]' });
    const e = await loadErrors([path.join(dir, 'bad_doc.json')]);
    assert.ok(e.errors[0] instanceof LoadError);
    assert.equal((e.errors[0] as LoadError).kind, 'type');
    assert.equal(e.errors[0].message, `${path.join(dir, 'bad_doc.json')}: document must be of type object`);
    // The same content under a prefix is fine.
    assert.deepEqual(await loadData([`x:${path.join(dir, 'bad_doc.json')}`]), { x: [1, 2, 3] });
  });

  test('bad JSON names the file, line and column', async () => {
    const dir = await tree({ 'd/broken.json': '{\n  "a": 1,\n  "b": }\n' });
    const e = await loadErrors([dir]);
    const err = e.errors[0] as LoadError;
    assert.equal(err.kind, 'syntax');
    assert.equal(err.file, path.join(dir, 'd', 'broken.json'));
    assert.equal(err.row, 3);
    assert.equal(err.col, 8);
    assert.match(err.message, /broken\.json:3:8: invalid JSON: invalid character "}"/);
  });

  test('an empty JSON file is an error', async () => {
    const dir = await tree({ 'a.json': '' });
    const e = await loadErrors([dir]);
    assert.match(e.message, /a\.json:1:1: invalid JSON: unexpected end of JSON input/);
  });

  test('bad YAML names the file and position', async () => {
    const dir = await tree({ 'b.yaml': 'foo:\n  - bar: [1\n' });
    const e = await loadErrors([dir]);
    const err = e.errors[0] as LoadError;
    assert.equal(err.file, path.join(dir, 'b.yaml'));
    assert.match(err.message, /b\.yaml:\d+:\d+: invalid YAML: /);
  });

  test('multi-document YAML data is refused instead of silently dropping documents', async () => {
    const dir = await tree({ 'm.yml': 'a: 1\n---\nb: 2\n' });
    const e = await loadErrors([dir]);
    assert.match(e.message, /m\.yml:2:1: invalid YAML: a data file must hold one YAML document, found 2/);
  });

  test('merge conflicts name both files; objects merge recursively', async () => {
    const dir = await tree({ 'x1.json': '{"x": {"a": 1, "n": {"p": 1}}}', 'x2.json': '{"x": {"b": 2, "n": {"q": 2}}}' });
    assert.deepEqual(await loadData([dir]), { x: { a: 1, b: 2, n: { p: 1, q: 2 } } });
    const bad = await tree({ 'x1.json': '{"x": [1,2,3]}', 'x2.json': '{"x": {"y": 1}}' });
    const e = await loadErrors([bad]);
    assert.equal(e.errors.length, 1);
    const msg = e.errors[0].message;
    assert.ok(msg.startsWith(path.join(bad, 'x2.json') + ': merge error: data.x'), msg);
    assert.ok(msg.includes(path.join(bad, 'x1.json')), `names the first file: ${msg}`);
  });

  test('equal scalars at one key still conflict (as in OPA)', async () => {
    const dir = await tree({ 'a/1.json': '{"v": 1}', 'a/2.json': '{"v": 1}' });
    const e = await loadErrors([dir]);
    assert.match(e.message, /2\.json: merge error: data\.a\.v is also defined by .*1\.json/);
  });

  test('a conflicting file contributes nothing, and the conflict path is shown as Rego', async () => {
    const dir = await tree({ 'a.json': '{"l": {"sha256:1": 1}}', 'b.json': '{"l": {"sha256:1": 2}, "extra": true}' });
    const e = await loadErrors([dir]);
    assert.match(e.message, /data\.l\["sha256:1"\] is also defined by/);
  });

  test('DataTree: a rejected document leaves the tree unchanged', () => {
    const t = new DataTree();
    t.merge('a.json', [], parseJSON('{"x": {"k": 1}}'));
    assert.throws(() => t.merge('b.json', [], parseJSON('{"new": 1, "x": {"k": 2}}')), /b\.json: merge error: data\.x\.k is also defined by a\.json/);
    assert.deepEqual(js(t.root), { x: { k: 1 } });
    t.merge('c.json', ['p', 'q'], 5);
    assert.deepEqual(js(t.root), { x: { k: 1 }, p: { q: 5 } });
    assert.throws(() => t.merge('d.json', ['p'], parseJSON('{"q": {"deeper": 1}}')), /data\.p\.q is also defined by c\.json/);
  });

  test('an empty path after a prefix is a clear error', async () => {
    const e = await loadErrors(['x:']);
    assert.equal(e.message, '1 error occurred during loading: x:: empty path');
    // A bare file:// is an empty path too (the URL parser reads it as /, the whole file system).
    assert.equal((await loadErrors(['file://'])).message, '1 error occurred during loading: file://: empty path');
    assert.equal((await loadErrors(['x:file://'])).message, '1 error occurred during loading: file://: empty path');
    // A bare empty argument says what it is instead of a lone "empty path".
    assert.equal((await loadErrors([''])).message, '1 error occurred during loading: empty path: an argument is the empty string');
  });

  test('all errors are collected', async () => {
    const dir = await tree({ 'x1.json': '{"x": 1}', 'x2.json': '{"x": 2}', 'dir/a.json': '', 'bad.rego': 'nope', 'r.json': '[1]' });
    const e = await loadErrors([path.join(dir, 'x1.json'), path.join(dir, 'x2.json'), path.join(dir, 'dir'), path.join(dir, 'bad.rego'), path.join(dir, 'r.json'), path.join(dir, 'missing')]);
    assert.equal(e.errors.length, 5);
    assert.match(e.message, /^5 errors occurred during loading:\n/);
    assert.match(e.message, /missing: no such file or directory/);
    assert.match(e.message, /r\.json: document must be of type object/);
  });

  test('bundle tarballs are reported as unsupported', async () => {
    const dir = await tree({ 'b.tar.gz': 'not really' });
    const e = await loadErrors([dir]);
    assert.match(e.message, /b\.tar\.gz: bundle tarballs are not supported/);
  });
});

describe('exact numbers', () => {
  test('big integers in JSON and YAML data stay exact', async () => {
    const dir = await tree({ 'a.json': '{"big": 12345678901234567890, "neg": -98765432109876543210, "f": 1.5, "s": 9007199254740991}', 'b.yaml': 'y: 123456789012345678901234567890\n' });
    const r = await load([dir], { parseModule: fakeParse });
    assert.equal(r.data.get('big'), 12345678901234567890n);
    assert.equal(r.data.get('neg'), -98765432109876543210n);
    assert.equal(r.data.get('f'), 1.5);
    assert.equal(r.data.get('s'), 9007199254740991);
    assert.equal(r.data.get('y'), 123456789012345678901234567890n);
  });

  test('parseJSONValue and value.parseJSON agree with our exact parser', () => {
    const text = '{"a": [1, 2.5, -0.25e2, true, false, null, "x\\u00e9\\n"], "b": {"c": 99999999999999999999}}';
    for (const f of [parseJSONValue, parseJSONExact, parseJSON]) {
      const v = f(text) as RObject;
      assert.deepEqual(toJSON(v.get('a') as Value), [1, 2.5, -25, true, false, null, 'xé\n']);
      assert.equal((v.get('b') as RObject).get('c'), 99999999999999999999n);
    }
  });

  test('JSON errors carry positions; deep nesting cannot overflow the stack', () => {
    assert.equal((parseJSONValue('[1e25]') as Value[])[0], 10n ** 25n);
    assert.ok(Number.isFinite((parseJSONValue('[1e-400]') as Value[])[0] as number));
    assert.throws(() => parseJSONValue('[1.5e99999]'), /out of range/);
    assert.throws(() => parseJSONExact('[1,]'), (e: unknown) => e instanceof JSONSyntaxError && e.line === 1 && e.col === 4);
    assert.throws(() => parseJSONValue('{"a":1} x'), /after top-level value at line 1, column 9/);
    assert.throws(() => parseJSONExact('['.repeat(100000)), /unexpected end of JSON input/);
    const deep = '['.repeat(5000) + ']'.repeat(5000);
    assert.equal((parseJSONExact(deep) as Value[]).length, 1);
  });

  test('property: our parser accepts exactly what JSON.parse accepts, with the same values', () => {
    const same = (text: string) => {
      let want: unknown;
      let wantOk = true;
      try {
        want = JSON.parse(text);
      } catch {
        wantOk = false;
      }
      // JSON.parse turns 1e999 into Infinity; JSON data cannot hold it, so refusing is right.
      const nonFinite = (x: unknown): boolean =>
        typeof x === 'number' ? !Number.isFinite(x) : typeof x === 'object' && x !== null && Object.values(x).some(nonFinite);
      if (wantOk && nonFinite(want)) return;
      let got: Value | undefined;
      let gotOk = true;
      try {
        got = parseJSONExact(text);
      } catch (e) {
        assert.ok(e instanceof JSONSyntaxError, String(e));
        gotOk = false;
      }
      assert.equal(gotOk, wantOk, `acceptance differs for ${JSON.stringify(text)}`);
      if (wantOk) assert.deepEqual(toJSON(got as Value), toJSON(parseJSONValue(text))); // JSON.parse-based path
    };
    fc.assert(fc.property(fc.json(), (t) => same(t)), { numRuns: 300 });
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom(...'{}[]:,"\\ 0123456789.-+eEtrufalsn'.split('')) }), (t) => same(t)), { numRuns: 2000 });
  });

  test('YAML nested deeper than MAX_YAML_DEPTH is refused with the limit, never a stack overflow', () => {
    assert.equal(MAX_YAML_DEPTH, 200);
    const flow = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const block = (n: number) => Array.from({ length: n }, (_, i) => ' '.repeat(i) + 'a:').join('\n') + ' 1\n';
    const seq = (n: number) => Array.from({ length: n }, (_, i) => ' '.repeat(2 * i) + '-').join('\n') + ' 1\n';
    for (const make of [flow, block, seq]) {
      // The limit itself is fine...
      let v = parseYAMLValue(make(MAX_YAML_DEPTH));
      let depth = 0;
      while (v !== null && typeof v === 'object') {
        depth++;
        v = Array.isArray(v) ? (v[0] ?? null) : ((v as RObject).get('a') ?? null);
      }
      assert.equal(depth, MAX_YAML_DEPTH);
      assert.equal(yamlNestedDeeperThan(make(MAX_YAML_DEPTH), MAX_YAML_DEPTH), false);
      // ...one more level, or 100,000 more, is an error naming the limit (several times over:
      // the library's second stack overflow used to abort the process).
      for (const n of [MAX_YAML_DEPTH + 1, 1000, 1000, 100000]) {
        if (make !== flow && n > 1000) continue; // block forms grow quadratically with depth
        assert.equal(yamlNestedDeeperThan(make(n), MAX_YAML_DEPTH), true);
        assert.throws(
          () => parseYAMLValue(make(n)),
          (e: unknown) => e instanceof YAMLDataError && /nested too deeply: YAML data may nest at most 200 levels/.test(e.message) && e.line !== undefined,
        );
      }
    }
    // Aliases can nest an anchored collection inside another: the built value is checked too.
    const d = 150;
    const aliased = `a: &a ${'['.repeat(d)}1${']'.repeat(d)}\nb: ${'['.repeat(d)}*a${']'.repeat(d)}\n`;
    assert.equal(yamlNestedDeeperThan(aliased, MAX_YAML_DEPTH), false);
    assert.throws(() => parseYAMLValue(aliased), /nested too deeply/);
  });

  test('a deeply nested YAML data file is a load error naming the file', async () => {
    const deep = '['.repeat(1500) + ']'.repeat(1500); // deeper than the JSON limit too
    const dir = await tree({ 'sub/deep.yaml': `a: ${deep}\n`, 'sub/deep2.yml': `- ${deep}\n`, 'ok.yaml': 'x: 1\n' });
    for (let round = 0; round < 2; round++) {
      const e = await loadErrors([dir]);
      assert.equal(e.errors.length, 2, e.message);
      assert.match(e.errors[0].message, /sub\/deep\.yaml:1:\d+: invalid YAML: document is nested too deeply: YAML data may nest at most 200 levels/);
      assert.match(e.errors[1].message, /sub\/deep2\.yml:1:\d+: invalid YAML: document is nested too deeply/);
    }
    // Named explicitly without a known extension, it is not YAML either (and does not crash).
    const odd = await tree({ 'deep.txt': deep });
    assert.match((await loadErrors([path.join(odd, 'deep.txt')])).message, /deep\.txt: can't recognize file type/);
  });

  test('YAML values are JSON-shaped', () => {
    assert.deepEqual(toJSON(parseYAMLValue('1: a\ntrue: b\nyes: on\n')), { '1': 'a', true: 'b', yes: 'on' });
    assert.throws(() => parseYAMLValue('a: .inf'), YAMLDataError);
    assert.equal(parseYAMLValue(''), null);
  });

  test('YAML mapping keys that are sequences, mappings or null are refused, also through an alias', () => {
    // JSON has string keys only; Go's YAML-to-JSON refuses these, and the library would print a
    // process warning and stringify the key.
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const collection = 'a sequence or mapping';
      for (const [text, line, col, what] of [
        ['? [a, b]\n: 1\n', 1, 3, collection],
        ['x:\n  ? {k: v}\n  : 2\n', 2, 5, collection],
        ['k: &a [1, 2]\nm:\n  ? *a\n  : 1\n', 3, 5, collection],
        // Null keys too (the library would make them ""), however they are written.
        ['null: 1\n', 1, 1, 'null'],
        ['a:\n  ~: 1\n', 2, 3, 'null'],
        ['? \n: 1\n', 1, 3, 'null'],
        ['k: &n null\nm:\n  *n : 1\n', 3, 3, 'null'],
      ] as const) {
        assert.throws(
          () => parseYAMLValue(text),
          (e: unknown) => e instanceof YAMLDataError && e.detail === `invalid mapping key: a key must be a string, number or boolean, not ${what}` && e.line === line && e.col === col,
          text,
        );
      }
      // Scalar keys, and aliases of scalars, are fine; "null" quoted is a string.
      assert.deepEqual(toJSON(parseYAMLValue('k: &s x\nm:\n  *s : 1\n"null": 2\n')), { k: 'x', m: { x: 1 }, null: 2 });
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings, []);
  });
});

describe('glob', () => {
  test('Go filepath.Match syntax on names', () => {
    assert.ok(globMatch('.*', '.git'));
    assert.ok(!globMatch('.*', 'git'));
    assert.ok(globMatch('*_test.rego', 'a_test.rego'));
    assert.ok(!globMatch('*.rego', 'a/b.rego'));
    assert.ok(globMatch('d?ta', 'data'));
    assert.ok(globMatch('[a-c]x', 'bx'));
    assert.ok(!globMatch('[^a-c]x', 'bx'));
    assert.ok(globMatch('[^a-c]x', 'dx'));
    assert.ok(globMatch('\\*', '*'));
    assert.ok(!globMatch('\\*', 'a'));
  });
});

describe('watchPaths', () => {
  /** watchPaths, with next(): the next change list, or a rejection after a generous timeout. */
  function watchChanges(paths: string[], opts: Parameters<typeof watchPaths>[2]): { next(): Promise<string[]>; close(): void } {
    const events: string[][] = [];
    const waiters: Array<(c: string[]) => void> = [];
    const w = watchPaths(paths, (c) => {
      const waiter = waiters.shift();
      if (waiter) waiter(c);
      else events.push(c);
    }, opts);
    return {
      next: () => {
        if (events.length) return Promise.resolve(events.shift()!);
        return new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no change event within 5s')), 5000);
          waiters.push((c) => {
            clearTimeout(t);
            resolve(c);
          });
        });
      },
      close: () => w.close(),
    };
  }


  test('notices changed, added and removed files, in new subdirectories too', async () => {
    const dir = await tree({ 'a.json': '{"a": 1}' });
    const w = watchChanges([dir], { debounceMs: 50 });
    try {
      await fsp.writeFile(path.join(dir, 'a.json'), '{"a": 2}');
      assert.ok((await w.next()).includes(path.join(dir, 'a.json')), 'changed');

      await fsp.writeFile(path.join(dir, 'b.yaml'), 'b: 1\n');
      assert.ok((await w.next()).includes(path.join(dir, 'b.yaml')), 'added');

      await fsp.rm(path.join(dir, 'a.json'));
      assert.ok((await w.next()).includes(path.join(dir, 'a.json')), 'removed');

      await fsp.mkdir(path.join(dir, 'sub'));
      await w.next(); // the new directory itself
      await fsp.writeFile(path.join(dir, 'sub', 'c.rego'), 'package c');
      assert.ok((await w.next()).includes(path.join(dir, 'sub', 'c.rego')), 'file in new subdirectory');
    } finally {
      w.close();
    }
  });

  test('a file argument is watched through its directory; other files there are ignored', async () => {
    const dir = await tree({ 'p.rego': 'package p', 'other.json': '{}' });
    const w = watchChanges([`x:${path.join(dir, 'p.rego')}`], { debounceMs: 50 });
    try {
      await fsp.writeFile(path.join(dir, 'other.json'), '{"x": 1}');
      // Atomic save, as editors do: write a temp file and rename it over the original.
      await fsp.writeFile(path.join(dir, 'p.rego.tmp'), 'package p2');
      await fsp.rename(path.join(dir, 'p.rego.tmp'), path.join(dir, 'p.rego'));
      const c = await w.next();
      assert.deepEqual(c, [path.join(dir, 'p.rego')]);
    } finally {
      w.close();
    }
  });

  test('a root directory that is removed and re-created is watched again', async () => {
    const parent = await tree({ 'root/a.json': '{}' });
    const dir = path.join(parent, 'root');
    const w = watchChanges([dir], { debounceMs: 50 });
    try {
      await fsp.rm(dir, { recursive: true });
      assert.ok((await w.next()).some((p) => p.startsWith(dir)), 'removal noticed');
      await fsp.mkdir(dir);
      assert.ok((await w.next()).includes(dir), 're-creation noticed');
      await fsp.writeFile(path.join(dir, 'b.json'), '{}');
      assert.ok((await w.next()).includes(path.join(dir, 'b.json')), 'new file in re-created root');
    } finally {
      w.close();
    }
  });

  test('irrelevant files do not trigger a reload', async () => {
    const dir = await tree({ 'a.json': '{}' });
    const w = watchChanges([dir], { debounceMs: 50, ignore: ['*.bak'] });
    try {
      await fsp.writeFile(path.join(dir, 'notes.txt'), 'x');
      await fsp.writeFile(path.join(dir, 'a.json.bak'), 'x');
      await fsp.writeFile(path.join(dir, 'z.json'), '{}'); // a marker that must be the first event
      const c = await w.next();
      assert.deepEqual(c, [path.join(dir, 'z.json')]);
    } finally {
      w.close();
    }
  });
});

describe('Rego modules with the real parser', () => {
  test('modules load from directories; their path never affects data', async () => {
    const dir = await tree({
      'policies/deep/er/entry.rego': 'package io.k8s.image_policy\n\nverify := {"allowed": true}\n',
      'policies/data.json': '{"x": 1}',
    });
    const r = await load([path.join(dir, 'policies')]);
    assert.equal(r.modules.length, 1);
    const m = r.modules[0];
    assert.equal(m.file, path.join(dir, 'policies', 'deep', 'er', 'entry.rego'));
    assert.equal(m.module.file, m.file);
    assert.equal(m.module.rules.length, 1);
    assert.deepEqual(js(r.data), { x: 1 });
  });

  test('regoVersion selects the syntax; v0 syntax under v1 fails with file:row:col', async () => {
    const dir = await tree({ 'v0.rego': 'package v\n\np[x] { x := 1 }\n' });
    const ok = await load([dir], { regoVersion: 0 });
    assert.equal(ok.modules[0].module.regoVersion, 0);
    try {
      await load([dir], { regoVersion: 1 });
      assert.fail('v0 syntax must not parse as v1');
    } catch (e) {
      assert.ok(e instanceof LoadErrors);
      assert.ok(e.errors.every((x) => x instanceof RegoError && x.code === 'rego_parse_error'));
      assert.match(e.message, new RegExp(`${path.join(dir, 'v0.rego').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3:1: rego_parse_error: \`if\` keyword is required`));
    }
  });

  test('an explicitly named file without extension is parsed as Rego first', async () => {
    const dir = await tree({ 'policy': 'package p\n\nq := 1\n' });
    const r = await load([path.join(dir, 'policy')]);
    assert.equal(r.modules.length, 1);
    assert.deepEqual(js(r.data), {});
  });

  test('parse errors from several files are all reported', async () => {
    const dir = await tree({ 'a.rego': 'package a\n\np := \n', 'b.rego': 'package b\n\nq := [\n', 'ok.rego': 'package ok\n' });
    const e = await loadErrors2([dir]);
    const files = new Set(e.errors.map((x) => (x as RegoError).location?.file));
    assert.deepEqual([...files].sort(), [path.join(dir, 'a.rego'), path.join(dir, 'b.rego')]);
  });
});

async function loadErrors2(paths: string[]): Promise<LoadErrors> {
  try {
    await load(paths);
  } catch (e) {
    assert.ok(e instanceof LoadErrors, String(e));
    return e;
  }
  assert.fail('expected loading to fail');
}
