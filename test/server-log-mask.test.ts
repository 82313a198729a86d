// Decision log masking and dropping, as OPA's `data.system.log.mask` and `data.system.log.drop`
// define them: the rules (log-mask.ts) on their own, then through a real server on loopback,
// where the logged line changes and the answer to the client does not.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyMask, parseMaskRules, type Maskable } from '../src/server/log-mask.js';
import fc from 'fast-check';
import { fromJSON, isObject, parseJSON, stringifyJSON, type Value } from '../src/rego/value.js';
import { Runtime } from '../src/runtime/runtime.js';
import { createServer, type ServerHandle } from '../src/server/index.js';
import { Lines, imageReview, json, request, tempDir } from './fixtures/server/client.js';
import { projectRoot } from './helpers/paths.js';

const v = (text: string): Value => parseJSON(text);
const text = (x: Value | undefined): string => (x === undefined ? 'undefined' : stringifyJSON(x, 0, false));

function masked(event: { input?: string; result?: string }, rules: string): { input: string; result: string; erased?: string[]; masked?: string[] } {
  const e: Maskable = { input: event.input === undefined ? undefined : v(event.input), result: event.result === undefined ? undefined : v(event.result) };
  const out = applyMask(e, parseMaskRules(v(rules)));
  return { input: text(out.input), result: text(out.result), erased: out.erased, masked: out.masked };
}

test('mask rules: strings erase, objects remove or upsert; anything else is a clear error', () => {
  assert.deepEqual(
    parseMaskRules(v('["/input/password", {"op": "upsert", "path": "/result/token", "value": "**"}, {"op": "remove", "path": "/input/a%2Fb/0"}]')).map((r) => [r.op, r.part, r.keys, r.value]),
    [
      ['remove', 'input', ['password'], undefined],
      ['upsert', 'result', ['token'], '**'],
      ['remove', 'input', ['a/b', '0'], undefined],
    ],
  );
  const refused: Array<[string, RegExp]> = [
    ['"/input/x"', /must be a set or an array, got string/],
    ['[1]', /a mask rule must be a path string or an object/],
    ['["input/x"]', /must start with "\/"/],
    ['["/data/x"]', /must be under \/input or \/result/],
    ['[{"path": "/input/x"}]', /op must be "remove" or "upsert", got nothing/],
    ['[{"op": "erase", "path": "/input/x"}]', /op must be "remove" or "upsert", got string "erase"/],
    ['[{"op": "remove", "path": 3}]', /path must be a string, got number 3/],
    ['["/input/%zz"]', /bad percent-encoding/],
  ];
  for (const [rules, message] of refused) assert.throws(() => parseMaskRules(v(rules)), message, rules);
});

test('mask rules: erasing keys, array elements and whole parts; paths that are not there are not listed', () => {
  assert.deepEqual(masked({ input: '{"a": {"password": "x", "user": "u"}}' }, '["/input/a/password"]'), {
    input: '{"a":{"user":"u"}}',
    result: 'undefined',
    erased: ['/input/a/password'],
    masked: undefined,
  });
  // An array loses the element; a whole part goes away.
  assert.deepEqual(masked({ input: '{"env": [1, 2, 3]}', result: '{"ok": true}' }, '["/input/env/1", "/result"]'), {
    input: '{"env":[1,3]}',
    result: 'undefined',
    erased: ['/input/env/1', '/result'],
    masked: undefined,
  });
  // Missing keys, indexes out of range or not numbers, scalars on the way, a missing part.
  assert.deepEqual(masked({ input: '{"a": 1, "l": [1]}' }, '["/input/b", "/input/l/1", "/input/l/x", "/input/a/b", "/result/x"]'), {
    input: '{"a":1,"l":[1]}',
    result: 'undefined',
    erased: undefined,
    masked: undefined,
  });
});

test('mask rules: upserts replace or create objects on the way, never array elements or below scalars', () => {
  assert.deepEqual(
    masked({ input: '{"a": {"token": "t"}, "l": [{"k": 1}]}', result: 'true' }, '[{"op": "upsert", "path": "/input/a/token", "value": "**"}, {"op": "upsert", "path": "/input/b/c", "value": 1}, {"op": "upsert", "path": "/input/l/0/k", "value": 0}]'),
    { input: '{"a":{"token":"**"},"b":{"c":1},"l":[{"k":0}]}', result: 'true', erased: undefined, masked: ['/input/a/token', '/input/b/c', '/input/l/0/k'] },
  );
  assert.deepEqual(
    masked({ input: '{"a": 1, "l": []}', result: '[1]' }, '[{"op": "upsert", "path": "/input/a/b", "value": 1}, {"op": "upsert", "path": "/input/l/0", "value": 1}, {"op": "upsert", "path": "/result/x", "value": 1}]'),
    { input: '{"a":1,"l":[]}', result: '[1]', erased: undefined, masked: undefined },
  );
  // A whole part is replaced; an upsert without a value writes null.
  assert.deepEqual(masked({ input: '[1]', result: '{"a": 1}' }, '[{"op": "upsert", "path": "/input", "value": "hidden"}, {"op": "upsert", "path": "/result/a"}]'), {
    input: '"hidden"',
    result: '{"a":null}',
    erased: undefined,
    masked: ['/input', '/result/a'],
  });
});

test('mask rules never change the values they are given (they are shared with the answer)', () => {
  const input = v('{"a": {"password": "x", "l": [1, 2]}, "b": 1}');
  const result = v('{"status": {"allowed": true, "token": "t"}}');
  const before = [text(input), text(result)];
  const out = applyMask({ input, result }, parseMaskRules(v('["/input/a/password", "/input/a/l/0", {"op": "upsert", "path": "/result/status/token", "value": "**"}, {"op": "upsert", "path": "/input/c/d", "value": 1}]')));
  assert.deepEqual([text(input), text(result)], before);
  assert.equal(text(out.input), '{"a":{"l":[2]},"b":1,"c":{"d":1}}');
  assert.equal(text(out.result), '{"status":{"allowed":true,"token":"**"}}');
});

// ---------------------------------------------------------------------------------------------
// Through the server

let runtime: Runtime;
let server: ServerHandle;
const decisions = new Lines();
const serverLog = new Lines();

const POLICY = `package io.k8s.image_policy
import rego.v1
verify := {"apiVersion": "imagepolicy.k8s.io/v1alpha1", "kind": "ImageReview", "status": {"allowed": true, "token": "from-policy"}}
`;

before(async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'verify.rego'), POLICY);
  runtime = await Runtime.start({ paths: [dir] });
  server = await createServer(runtime, {
    addr: '127.0.0.1:0',
    authentication: 'off',
    maxBodyBytes: 1 << 20,
    evalTimeoutMs: 5000,
    decisionLog: 'stdout',
    decisionLogSink: decisions,
    logSink: serverLog,
  });
});

after(async () => {
  await server.close();
  runtime.close();
});

async function putPolicy(id: string, rego: string): Promise<void> {
  const r = await request(`${server.url}/v1/policies/${id}`, { method: 'PUT', body: rego });
  assert.equal(r.status, 200, r.text);
}

async function deletePolicy(id: string): Promise<void> {
  assert.equal((await request(`${server.url}/v1/policies/${id}`, { method: 'DELETE' })).status, 200);
}

/** Sends an ImageReview to the webhook path and returns the answer and what was logged for it. */
async function review(namespace: string): Promise<{ answer: Record<string, unknown>; logged: Array<Record<string, unknown>> }> {
  const before = decisions.lines.length;
  const r = await request(`${server.url}/v0/data/io/k8s/image_policy/verify`, { method: 'POST', body: imageReview(['alpine:3.5'], namespace) });
  assert.equal(r.status, 200, r.text);
  return { answer: json(r), logged: decisions.parsed().slice(before) };
}

test('server: a mask policy erases and replaces parts of the logged input and result; the answer is untouched', async () => {
  await putPolicy(
    'mask',
    `package system.log
import rego.v1
mask contains "/input/spec/namespace"
mask contains {"op": "upsert", "path": "/result/status/token", "value": "**REDACTED**"}
# The event the policy sees is the decision log event.
mask contains "/input/metadata" if input.path == "io/k8s/image_policy/verify"
`,
  );
  try {
    const { answer, logged } = await review('production');
    assert.equal((answer.status as Record<string, unknown>).token, 'from-policy', 'the client gets the real answer');
    assert.equal(logged.length, 1);
    const line = logged[0];
    assert.deepEqual((line.input as Record<string, unknown>).spec, { containers: [{ image: 'alpine:3.5' }] });
    assert.equal((line.input as Record<string, unknown>).metadata, undefined);
    assert.equal(((line.result as Record<string, unknown>).status as Record<string, unknown>).token, '**REDACTED**');
    assert.deepEqual(line.erased, ['/input/metadata', '/input/spec/namespace']);
    assert.deepEqual(line.masked, ['/result/status/token']);
  } finally {
    await deletePolicy('mask');
  }
  const { logged } = await review('production');
  assert.equal((logged[0].input as { spec: { namespace: string } }).spec.namespace, 'production', 'without the policy nothing is masked');
  assert.equal(logged[0].erased, undefined);
});

test('server: a drop policy keeps matching decisions out of the log', async () => {
  await putPolicy('drop', 'package system.log\nimport rego.v1\ndrop if input.input.spec.namespace == "kube-system"\n');
  try {
    assert.equal((await review('kube-system')).logged.length, 0);
    assert.equal((await review('production')).logged.length, 1);
  } finally {
    await deletePolicy('drop');
  }
});

test('server: mask rules kept as base data apply as well', async () => {
  const put = await request(`${server.url}/v1/data/system/log/mask`, { method: 'PUT', body: '["/input/spec"]' });
  assert.equal(put.status, 204, put.text);
  try {
    const { logged } = await review('production');
    assert.equal((logged[0].input as Record<string, unknown>).spec, undefined);
    assert.deepEqual(logged[0].erased, ['/input/spec']);
  } finally {
    assert.equal((await request(`${server.url}/v1/data/system`, { method: 'DELETE' })).status, 204);
  }
});

test('server: a mask policy that fails leaves the decision out of the log and says why; the answer is still given', async () => {
  for (const [rego, why] of [
    ['package system.log\nmask := 7\n', /mask rules must be a set or an array, got number 7/],
    ['package system.log\nimport rego.v1\nmask contains "input/x"\n', /must start with "\/"/],
    ['package system.log\nimport rego.v1\nmask := ["/input"] if input.path\nmask := ["/result"] if input.decision_id\n', /complete rules must not produce multiple outputs/],
  ] as const) {
    await putPolicy('mask', rego);
    try {
      const errorsBefore = serverLog.lines.length;
      const { logged } = await review('production');
      assert.equal(logged.length, 0, rego);
      const errors = serverLog.parsed().slice(errorsBefore);
      assert.equal(errors.length, 1, rego);
      assert.equal(errors[0].msg, 'decision log policy failed: the decision is not logged');
      assert.equal(errors[0].policy, 'data.system.log.mask');
      assert.match(String(errors[0].error), why);
    } finally {
      await deletePolicy('mask');
    }
  }
});

test('server: the v1 Data API logs through the same policies', async () => {
  await putPolicy('mask', 'package system.log\nimport rego.v1\nmask contains "/input"\n');
  try {
    const before = decisions.lines.length;
    const r = await request(`${server.url}/v1/data/io/k8s/image_policy/verify`, { method: 'POST', body: '{"input": {"secret": "s"}}' });
    assert.equal(r.status, 200, r.text);
    const [line] = decisions.parsed().slice(before);
    assert.equal(line.input, undefined);
    assert.deepEqual(line.erased, ['/input']);
  } finally {
    await deletePolicy('mask');
  }
});

test('server: the README example masks Pod environments in admission decisions and drops kube-system ones', async () => {
  const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
  const example = /```rego\n(package system\.log\n[^]*?)```/.exec(readme)?.[1];
  assert.ok(example, 'the README shows a system.log policy');
  await putPolicy('readme-log', example);
  try {
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        containers: [
          { name: 'app', image: 'alpine:3.5', env: [{ name: 'DB_PASSWORD', value: 'hunter2' }] },
          { name: 'plain', image: 'alpine:3.5' },
          { name: 'sidecar', image: 'alpine:3.5', env: [{ name: 'TOKEN', value: 't' }] },
        ],
      },
    };
    const admission = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: { uid: 'u-1', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'shop', operation: 'CREATE', object: pod },
    };
    const before = decisions.lines.length;
    const r = await request(`${server.url}/v1/admit`, { method: 'POST', body: JSON.stringify(admission), headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 200, r.text);
    assert.equal((json(r).response as { allowed: boolean }).allowed, true);
    const [line] = decisions.parsed().slice(before);
    assert.ok(line, 'the admission decision is logged');
    assert.doesNotMatch(JSON.stringify(line), /hunter2|DB_PASSWORD|TOKEN/);
    assert.deepEqual(line.erased, ['/input/request/object/spec/containers/0/env', '/input/request/object/spec/containers/2/env']);
    const logged = line.input as { request: { object: { spec: { containers: Array<Record<string, unknown>> } } } };
    assert.deepEqual(logged.request.object.spec.containers.map((c) => c.name), ['app', 'plain', 'sidecar']);

    assert.equal((await review('kube-system')).logged.length, 0);
    assert.equal((await review('production')).logged.length, 1);
  } finally {
    await deletePolicy('readme-log');
  }
});

test('mask rules on random documents: the originals never change, erased paths are gone, nothing throws', () => {
  const key = fc.constantFrom('a', 'b', 'c', '0', '1', 'x/y', '%');
  const json: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    value: fc.oneof({ maxDepth: 4 }, fc.constantFrom(null, true, 1, 'v'), fc.array(tie('value'), { maxLength: 3 }), fc.dictionary(key, tie('value'), { maxKeys: 3 })),
  })).value;
  const segment = fc.oneof(key, fc.constantFrom('2', '00', '-1'));
  const path = fc.tuple(fc.constantFrom('input', 'result'), fc.array(segment, { maxLength: 3 })).map(([part, keys]) => '/' + [part, ...keys.map(encodeURIComponent)].join('/'));
  const rule = fc.oneof(path, path.map((p) => ({ op: 'remove', path: p })), fc.tuple(path, json).map(([p, value]) => ({ op: 'upsert', path: p, value })));
  /** What a /part/k1/k2 path leads to in the masked event, or undefined. */
  const at = (event: Maskable, p: string): Value | undefined => {
    const [part, ...keys] = p.slice(1).split('/').map(decodeURIComponent);
    let v: Value | undefined = event[part as 'input' | 'result'];
    for (const k of keys) {
      if (isObject(v)) v = v.get(k);
      else if (Array.isArray(v) && /^(0|[1-9]\d*)$/.test(k)) v = v[Number(k)];
      else return undefined;
    }
    return v;
  };
  fc.assert(
    fc.property(fc.option(json, { nil: undefined }), fc.option(json, { nil: undefined }), fc.array(rule, { maxLength: 5 }), (input, result, rules) => {
      const event: Maskable = { input: input === undefined ? undefined : fromJSON(input), result: result === undefined ? undefined : fromJSON(result) };
      const before = [text(event.input), text(event.result)];
      const out = applyMask(event, parseMaskRules(fromJSON(rules)));
      assert.deepEqual([text(event.input), text(event.result)], before, 'the originals are unchanged');
      // A path erased by the last rule that touched it leads nowhere (array removals shift, so
      // only object keys are checked).
      const last = rules.at(-1);
      const lastPath = typeof last === 'string' ? last : last?.op === 'remove' ? last.path : undefined;
      if (lastPath && out.erased?.at(-1) === lastPath && !/\/\d+$/.test(lastPath)) assert.equal(at(out, lastPath), undefined, lastPath);
      for (const p of out.masked ?? []) assert.ok(p.startsWith('/input') || p.startsWith('/result'));
    }),
    { numRuns: 500, seed: 20261127 },
  );
});
