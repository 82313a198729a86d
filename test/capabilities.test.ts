// The capabilities document: structure, sorting and the TypeSpec -> OPA type translation.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { capabilities, typeSpecToDecl, type TypeDecl } from '../src/rego/capabilities.js';

describe('typeSpecToDecl', () => {
  it('translates scalars and any', () => {
    assert.deepEqual(typeSpecToDecl('string'), { type: 'string' });
    assert.deepEqual(typeSpecToDecl('any'), { type: 'any' });
    assert.deepEqual(typeSpecToDecl('null'), { type: 'null' });
  });

  it('translates collections with and without element types', () => {
    assert.deepEqual(typeSpecToDecl('array'), { dynamic: { type: 'any' }, type: 'array' });
    assert.deepEqual(typeSpecToDecl('array[string]'), { dynamic: { type: 'string' }, type: 'array' });
    assert.deepEqual(typeSpecToDecl('set[number]'), { of: { type: 'number' }, type: 'set' });
    assert.deepEqual(typeSpecToDecl('object[string,any]'), {
      dynamic: { key: { type: 'string' }, value: { type: 'any' } },
      type: 'object',
    });
    assert.deepEqual(typeSpecToDecl('array<boolean,string|null>'), {
      static: [{ type: 'boolean' }, { of: [{ type: 'null' }, { type: 'string' }], type: 'any' }],
      type: 'array',
    });
    assert.deepEqual(typeSpecToDecl('object{b:string,a:number}'), {
      static: [
        { key: 'a', value: { type: 'number' } },
        { key: 'b', value: { type: 'string' } },
      ],
      type: 'object',
    });
  });

  it('turns unions into sorted "any of" types and collapses unions with any', () => {
    assert.deepEqual(typeSpecToDecl('set[any]|array[any]'), {
      of: [
        { dynamic: { type: 'any' }, type: 'array' },
        { of: { type: 'any' }, type: 'set' },
      ],
      type: 'any',
    });
    assert.deepEqual(typeSpecToDecl('string|any'), { type: 'any' });
    assert.deepEqual(typeSpecToDecl('string|string'), { type: 'string' });
  });

  it('emits object keys in sorted order', () => {
    const d = typeSpecToDecl('object[string,array[number]]');
    assert.deepEqual(Object.keys(d), ['dynamic', 'type']);
    assert.equal(JSON.stringify(d), '{"dynamic":{"key":{"type":"string"},"value":{"dynamic":{"type":"number"},"type":"array"}},"type":"object"}');
  });
});

describe('capabilities()', () => {
  const caps = capabilities();

  it('lists builtins sorted by name, each a function declaration', () => {
    assert.ok(caps.builtins.length > 0);
    const names = caps.builtins.map((b) => b.name);
    assert.deepEqual(names, [...names].sort());
    assert.equal(new Set(names).size, names.length);
    const isDecl = (t: TypeDecl): boolean => typeof t.type === 'string';
    for (const b of caps.builtins) {
      assert.equal(b.decl.type, 'function', b.name);
      assert.ok(b.decl.result === undefined || isDecl(b.decl.result), b.name);
      for (const a of b.decl.args ?? []) assert.ok(isDecl(a), b.name);
    }
  });

  it('declares the builtins of this category as OPA does', () => {
    const find = (n: string) => caps.builtins.find((b) => b.name === n);
    assert.deepEqual(find('net.cidr_contains'), {
      name: 'net.cidr_contains',
      decl: { args: [{ type: 'string' }, { type: 'string' }], result: { type: 'boolean' }, type: 'function' },
    });
    assert.deepEqual(find('http.send'), {
      name: 'http.send',
      decl: {
        args: [{ dynamic: { key: { type: 'string' }, value: { type: 'any' } }, type: 'object' }],
        result: { dynamic: { key: { type: 'any' }, value: { type: 'any' } }, type: 'object' },
        type: 'function',
      },
      nondeterministic: true,
    });
    assert.deepEqual(find('opa.runtime')?.decl, {
      result: { dynamic: { key: { type: 'string' }, value: { type: 'any' } }, type: 'object' },
      type: 'function',
    });
    assert.deepEqual(find('graph.reachable')?.decl.args?.[1], {
      of: [
        { dynamic: { type: 'any' }, type: 'array' },
        { of: { type: 'any' }, type: 'set' },
      ],
      type: 'any',
    });
  });

  it('names the Rego v1 keywords and features', () => {
    assert.deepEqual(caps.future_keywords, ['contains', 'every', 'if', 'in']);
    assert.ok(caps.features.includes('rego_v1'));
    assert.doesNotThrow(() => JSON.parse(JSON.stringify(caps)));
  });
});
