// Store tests: OPA storage semantics, copy-on-write snapshots, atomic patches, persistence.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Store, StoreError, parsePointer, formatPath, type ChangeEvent } from '../src/store/index.js';
import { RObject, parseJSON, toJSON, type Value } from '../src/rego/value.js';

function obj(json: string): RObject {
  const v = parseJSON(json);
  assert.ok(v instanceof RObject);
  return v;
}
function js(v: Value | undefined): unknown {
  return v === undefined ? undefined : toJSON(v);
}
function storeOf(json: string): Store {
  return new Store(obj(json));
}
function expectStoreError(fn: () => unknown, kind: StoreError['kind'], message?: string | RegExp): StoreError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof StoreError, `expected StoreError, got ${String(e)}`);
    assert.equal(e.kind, kind, e.message);
    if (typeof message === 'string') assert.equal(e.message, message);
    else if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected a ${kind} error`);
}

describe('read', () => {
  test('objects, arrays and missing paths', () => {
    const s = storeOf('{"a": {"b": [10, {"c": "x"}]}, "n": null}');
    assert.deepEqual(js(s.read([])), { a: { b: [10, { c: 'x' }] }, n: null });
    assert.equal(s.read(['a', 'b', '0']), 10);
    assert.equal(s.read(['a', 'b', '1', 'c']), 'x');
    assert.equal(s.read(['n']), null);
    assert.equal(s.read(['a', 'b', '2']), undefined);
    assert.equal(s.read(['a', 'b', 'x']), undefined);
    assert.equal(s.read(['a', 'b', '-1']), undefined);
    assert.equal(s.read(['a', 'b', '0', 'deeper']), undefined);
    assert.equal(s.read(['missing']), undefined);
  });
});

describe('write (storage semantics)', () => {
  test('add sets object keys and inserts into arrays', () => {
    const s = storeOf('{"a": {}, "l": [1, 3]}');
    s.write('add', ['a', 'k'], 'v');
    s.write('add', ['l', '1'], 2);
    s.write('add', ['l', '-'], 4);
    s.write('add', ['l', '4'], 5); // index == length appends
    assert.deepEqual(js(s.read([])), { a: { k: 'v' }, l: [1, 2, 3, 4, 5] });
  });

  test('replace and remove need the target', () => {
    const s = storeOf('{"a": {"k": 1}, "l": [1, 2, 3]}');
    s.write('replace', ['a', 'k'], 2);
    s.write('replace', ['l', '0'], 'one');
    s.write('remove', ['l', '1']);
    assert.deepEqual(js(s.read([])), { a: { k: 2 }, l: ['one', 3] });
    expectStoreError(() => s.write('replace', ['a', 'nope'], 1), 'not_found', 'storage_not_found_error: /a/nope: document does not exist');
    expectStoreError(() => s.write('remove', ['a', 'nope']), 'not_found');
    expectStoreError(() => s.write('remove', ['l', '5']), 'not_found', /array index out of range/);
    expectStoreError(() => s.write('replace', ['l', 'x'], 1), 'not_found', /array index must be integer/);
    expectStoreError(() => s.write('replace', ['l', '-'], 1), 'invalid_patch', /invalid patch path/);
  });

  test('missing parents and steps into scalars are not found', () => {
    const s = storeOf('{"a": 1}');
    expectStoreError(() => s.write('add', ['x', 'y'], 1), 'not_found', 'storage_not_found_error: /x/y: document does not exist');
    expectStoreError(() => s.write('add', ['a', 'y'], 1), 'not_found');
  });

  test('the root can only be replaced by an object and never removed', () => {
    const s = storeOf('{"a": 1}');
    expectStoreError(() => s.write('replace', [], [1] as Value), 'invalid_patch', 'storage_invalid_patch_error: root must be object');
    expectStoreError(() => s.write('remove', []), 'invalid_patch', 'storage_invalid_patch_error: root cannot be removed');
    s.write('replace', [], obj('{"b": 2}'));
    assert.deepEqual(js(s.read([])), { b: 2 });
  });
});

describe('put (Data API PUT)', () => {
  test('creates missing parents like mkdir -p', () => {
    const s = new Store();
    assert.equal(s.put(['docker', 'layers', 'library', 'nginx', 'latest'], obj('{"config": {"digest": "sha256:1"}}')), 'created');
    assert.equal(s.put(['clair', 'layers', 'sha256:abc'], obj('{"Layer": {"Name": "sha256:abc"}}')), 'created');
    assert.deepEqual(js(s.read([])), {
      docker: { layers: { library: { nginx: { latest: { config: { digest: 'sha256:1' } } } } } },
      clair: { layers: { 'sha256:abc': { Layer: { Name: 'sha256:abc' } } } },
    });
  });

  test('replaces an existing document; If-None-Match leaves it alone', () => {
    const s = storeOf('{"a": {"b": 1}}');
    assert.equal(s.put(['a', 'b'], 2), 'replaced');
    assert.equal(s.read(['a', 'b']), 2);
    assert.equal(s.put(['a', 'b'], 3, { ifNoneMatch: true }), 'unchanged');
    assert.equal(s.read(['a', 'b']), 2);
    assert.equal(s.put(['a', 'c'], 3, { ifNoneMatch: true }), 'created');
    assert.equal(s.read(['a', 'c']), 3);
  });

  test('writing through a non-object is a write conflict and changes nothing', () => {
    const s = storeOf('{"a": 1, "l": [1, 2]}');
    const before = s.snapshot();
    expectStoreError(() => s.put(['a', 'b', 'c'], 1), 'conflict', 'storage_write_conflict_error: /a');
    expectStoreError(() => s.put(['l', 'x'], 1), 'conflict', 'storage_write_conflict_error: /l');
    expectStoreError(() => s.put(['l', '7', 'y'], 1), 'conflict');
    assert.equal(s.snapshot(), before);
  });

  test('put at the root replaces all data but must be an object', () => {
    const s = storeOf('{"a": 1}');
    assert.equal(s.put([], obj('{"z": true}')), 'replaced');
    assert.deepEqual(js(s.read([])), { z: true });
    expectStoreError(() => s.put([], 'x'), 'invalid_patch', /root must be object/);
  });

  test('an existing array element can be replaced', () => {
    const s = storeOf('{"l": [1, 2]}');
    assert.equal(s.put(['l', '1'], 'two'), 'replaced');
    assert.deepEqual(js(s.read(['l'])), [1, 'two']);
  });
});

describe('delete', () => {
  test('removes, and a missing document is not found', () => {
    const s = storeOf('{"a": {"b": 1, "c": 2}}');
    s.delete(['a', 'b']);
    assert.deepEqual(js(s.read([])), { a: { c: 2 } });
    const e = expectStoreError(() => s.delete(['a', 'b']), 'not_found', 'storage_not_found_error: /a/b: document does not exist');
    assert.equal(e.code, 'storage_not_found_error');
    assert.deepEqual(e.path, ['a', 'b']);
  });
});

describe('copy-on-write snapshots', () => {
  test('a snapshot taken before a write never changes', () => {
    const s = storeOf('{"a": {"b": [1, 2], "c": {"d": 1}}, "e": {"f": 1}}');
    const snap = s.snapshot();
    const before = JSON.stringify(js(snap));
    s.write('add', ['a', 'b', '-'], 3);
    s.put(['a', 'c', 'd'], 2);
    s.put(['new', 'path'], 'x');
    s.delete(['e', 'f']);
    assert.equal(JSON.stringify(js(snap)), before);
    assert.deepEqual(js(s.read([])), { a: { b: [1, 2, 3], c: { d: 2 } }, e: {}, new: { path: 'x' } });
  });

  test('untouched subtrees are shared, touched ones copied', () => {
    const s = storeOf('{"big": {"x": 1}, "small": {"y": 1}}');
    const snap = s.snapshot();
    s.put(['small', 'y'], 2);
    const now = s.snapshot();
    assert.notEqual(now, snap);
    assert.equal(now.get('big'), snap.get('big'), 'shared');
    assert.notEqual(now.get('small'), snap.get('small'), 'copied');
  });

  test('a failed write leaves the same root object', () => {
    const s = storeOf('{"a": 1}');
    const snap = s.snapshot();
    assert.throws(() => s.write('remove', ['zz']));
    assert.equal(s.snapshot(), snap);
  });
});

describe('patch (JSON Patch, all-or-nothing)', () => {
  test('add, remove, replace relative to a base path, with pointer escapes', () => {
    const s = storeOf('{"base": {"l": [1], "k": 1, "a/b": 0, "t~": 0}}');
    s.patch(['base'], [
      { op: 'add', path: '/l/-', value: 2 },
      { op: 'add', path: '/new', value: obj('{"x": 1}') },
      { op: 'replace', path: '/k', value: 2 },
      { op: 'remove', path: '/a~1b' },
      { op: 'replace', path: 't~0', value: 1 },
    ]);
    assert.deepEqual(js(s.read(['base'])), { l: [1, 2], new: { x: 1 }, k: 2, 't~': 1 });
  });

  test('a failing operation rolls back the whole patch', () => {
    const s = storeOf('{"a": {"x": 1}}');
    const snap = s.snapshot();
    let events = 0;
    s.onChange(() => events++);
    expectStoreError(
      () => s.patch([], [
        { op: 'add', path: '/a/y', value: 2 },
        { op: 'remove', path: '/a/x' },
        { op: 'remove', path: '/a/missing' },
      ]),
      'not_found',
      /\/a\/missing/,
    );
    assert.equal(s.snapshot(), snap);
    assert.deepEqual(js(s.read([])), { a: { x: 1 } });
    assert.equal(events, 0);
  });

  test('later operations see earlier ones', () => {
    const s = storeOf('{}');
    s.patch([], [
      { op: 'add', path: '/a', value: obj('{}') },
      { op: 'add', path: '/a/b', value: 1 },
      { op: 'copy', from: '/a/b', path: '/a/c' },
      { op: 'move', from: '/a/b', path: '/d' },
      { op: 'test', path: '/a/c', value: 1 },
    ]);
    assert.deepEqual(js(s.read([])), { a: { c: 1 }, d: 1 });
  });

  test('bad operations are invalid patches', () => {
    const s = storeOf('{"a": {"b": 1}}');
    expectStoreError(() => s.patch([], [{ op: 'frobnicate', path: '/a' }]), 'invalid_patch', /bad patch operation: frobnicate/);
    expectStoreError(() => s.patch([], [{ op: 'add', path: '/a/c' }]), 'invalid_patch', /needs a "value"/);
    expectStoreError(() => s.patch([], [{ op: 'test', path: '/a/b', value: 2 }]), 'invalid_patch', /test failed/);
    expectStoreError(() => s.patch([], [{ op: 'move', from: '/a', path: '/a/b/c' }]), 'invalid_patch', /own children/);
    expectStoreError(() => s.patch([], { op: 'add' } as never), 'invalid_patch', /must be an array/);
    expectStoreError(() => s.patch([], [{ op: 'add', value: 1 } as never]), 'invalid_patch', /string "path"/);
    assert.deepEqual(js(s.read([])), { a: { b: 1 } });
  });

  test('parent must exist (no mkdir for patches)', () => {
    const s = storeOf('{}');
    expectStoreError(() => s.patch(['x'], [{ op: 'add', path: '/y', value: 1 }]), 'not_found');
  });
});

describe('change events', () => {
  test('listeners see the new and previous roots and the paths; unsubscribe works', () => {
    const s = storeOf('{"a": 1}');
    const seen: ChangeEvent[] = [];
    const off = s.onChange((e) => seen.push(e));
    const first = s.snapshot();
    s.put(['b', 'c'], 2);
    assert.equal(seen.length, 1);
    assert.equal(seen[0].previous, first);
    assert.equal(seen[0].root, s.snapshot());
    assert.deepEqual(seen[0].paths, [['b'], ['b', 'c']]);
    off();
    s.put(['d'], 3);
    assert.equal(seen.length, 1);
  });

  test('a throwing listener does not undo the write or stop other listeners', () => {
    const errors: unknown[] = [];
    const s = new Store(new RObject(), { onListenerError: (e) => errors.push(e) });
    let second = 0;
    s.onChange(() => {
      throw new Error('boom');
    });
    s.onChange(() => second++);
    s.put(['x'], 1);
    assert.equal(s.read(['x']), 1);
    assert.equal(second, 1);
    assert.equal(errors.length, 1);
  });
});

describe('pointers and paths', () => {
  test('parsePointer and formatPath', () => {
    assert.deepEqual(parsePointer(''), []);
    assert.deepEqual(parsePointer('/'), []);
    assert.deepEqual(parsePointer('/a/b~1c/d~0e'), ['a', 'b/c', 'd~e']);
    assert.deepEqual(parsePointer('a/b/'), ['a', 'b']);
    assert.equal(formatPath(['a', 'b/c']), '/a/b%2Fc');
    assert.equal(formatPath([]), '/');
  });
});

describe('persistence', () => {
  let dir: string;
  before(async () => {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'ie-store-'));
  });
  after(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  test('saveTo/loadFrom round-trip, keeping big integers exact', async () => {
    const s = storeOf('{"big": 123456789012345678901234567890, "l": [1.5, "x", null], "o": {"k": true}}');
    const file = path.join(dir, 'data.json');
    await s.saveTo(file);
    const t = new Store();
    await t.loadFrom(file);
    assert.deepEqual(js(t.read([])), js(s.read([])));
    assert.equal(t.read(['big']), 123456789012345678901234567890n);
    const leftovers = (await fsp.readdir(dir)).filter((f) => f.endsWith('.tmp'));
    assert.deepEqual(leftovers, []);
  });

  test('loadFrom refuses a non-object file and keeps the data', async () => {
    const file = path.join(dir, 'arr.json');
    await fsp.writeFile(file, '[1]');
    const s = storeOf('{"keep": 1}');
    await assert.rejects(s.loadFrom(file), /root must be object/);
    assert.equal(s.read(['keep']), 1);
  });

  test('persistTo saves the latest state after bursts of writes', async () => {
    const file = path.join(dir, 'persist.json');
    const s = new Store();
    const stop = s.persistTo(file);
    for (let i = 0; i < 20; i++) s.put(['n', String(i)], i);
    await stop();
    const t = new Store();
    await t.loadFrom(file);
    assert.equal((t.read(['n']) as RObject).size, 20);
    assert.equal(t.read(['n', '19']), 19);
  });
});
