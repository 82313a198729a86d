// The command-line contract of design.md for eval, check and capabilities: output shapes, exit
// codes and one-line errors. Runs the real CLI (bin/image-enforcer.js) as a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cli, tempFiles as tmp } from './helpers/cli.js';

test('eval --format json prints OPA\'s result shape with text and location', () => {
  const r = cli('eval', '-d', 'policies', '-d', 'data', 'x := data.mock.allowed.spec.namespace');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), {
    result: [
      {
        expressions: [{ value: true, text: 'x := data.mock.allowed.spec.namespace', location: { row: 1, col: 1 } }],
        bindings: { x: 'production' },
      },
    ],
  });
});

test('eval of an undefined query prints {} and exits 0; --fail exits 1; --fail-defined exits 1 when defined', () => {
  let r = cli('eval', '-d', 'policies', 'data.nope');
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), '{}');
  r = cli('eval', '--fail', '-d', 'policies', 'data.nope');
  assert.equal(r.code, 1);
  r = cli('eval', '--fail-defined', '-d', 'policies', 'data.mock');
  assert.equal(r.code, 1);
});

test('eval -i reads the input document (JSON or YAML)', () => {
  const dir = tmp({ 'in.json': '{"spec":{"namespace":"production","containers":[{"image":"wordpress:4-apache"}]}}', 'in.yaml': 'spec:\n  namespace: dev\n  containers: [{image: nginx}]\n' });
  let r = cli('eval', '-d', 'policies', '-d', 'data', '-i', join(dir, 'in.json'), '--format', 'pretty', 'data.io.k8s.image_policy.allow');
  assert.equal(r.stdout.trim(), 'false');
  r = cli('eval', '-d', 'policies', '-d', 'data', '-i', join(dir, 'in.yaml'), '--format', 'pretty', 'data.io.k8s.image_policy.allow');
  assert.equal(r.stdout.trim(), 'true');
});

test('eval --format pretty prints a table of bindings', () => {
  const r = cli('eval', '--format', 'pretty', 'x := [1, 2][_]');
  assert.equal(r.code, 0);
  assert.match(r.stdout, /│ x │/);
  assert.match(r.stdout, /│ 1 │\n│ 2 │/);
});

test('policy errors are one line each: file:row:col: code: message, exit 1', () => {
  const dir = tmp({ 'bad.rego': 'package bad\n\np if {\n  x > 1\n}\n' });
  const r = cli('eval', '-d', dir, 'data.bad.p');
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim(), `${join(dir, 'bad.rego')}:4:3: rego_unsafe_var_error: var x is unsafe`);
  assert.doesNotMatch(r.stderr, /at .*\.js/, 'no stack trace');
});

test('--strict-builtin-errors raises builtin errors; without it the expression is undefined', () => {
  let r = cli('eval', '--format', 'pretty', 'x := 1 / 0');
  assert.equal(r.stdout.trim(), 'undefined');
  r = cli('eval', '--strict-builtin-errors', 'x := 1 / 0');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /eval_builtin_error: div: divide by zero/);
});

test('--v0-compatible accepts only Rego v0; by default v0 modules are detected', () => {
  const dir = tmp({ 'v0.rego': 'package v0\n\ndeny[msg] {\n  msg := "x"\n}\n' });
  assert.equal(cli('eval', '-d', dir, '--format', 'pretty', 'data.v0.deny').stdout.trim(), '[\n  "x"\n]');
  assert.equal(cli('eval', '--v0-compatible', '-d', dir, '--format', 'pretty', 'data.v0.deny').code, 0);
  const v1 = tmp({ 'v1.rego': 'package v1\n\ndeny contains "x" if true\n' });
  const r = cli('eval', '--v0-compatible', '-d', v1, 'data.v1.deny');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /rego_parse_error/);
});

test('check reports every error and exits 1; a clean tree exits 0', () => {
  // Compile errors of several modules are all reported...
  const dir = tmp({ 'a.rego': 'package a\np := count(1, 2)\n', 'b.rego': 'package b\nq if { x > 1 }\n' });
  const r = cli('check', dir);
  assert.equal(r.code, 1);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.some((l) => l.startsWith(join(dir, 'a.rego') + ':2:') && l.includes('rego_type_error')), r.stderr);
  assert.ok(lines.some((l) => l.startsWith(join(dir, 'b.rego') + ':2:') && l.includes('rego_unsafe_var_error')), r.stderr);
  // ...and so are parse errors of several files (compilation needs every module to parse).
  const bad = tmp({ 'c.rego': 'package c\nq if {\n', 'd.rego': 'package d\np :=\n' });
  const parse = cli('check', bad).stderr.trim().split('\n');
  assert.equal(parse.length, 2, parse.join('\n'));
  assert.ok(parse.every((l) => l.includes('rego_parse_error')));
  assert.equal(cli('check', 'policies').code, 0);
  const json = cli('check', '--format', 'json', dir);
  assert.ok((JSON.parse(json.stdout) as { errors: unknown[] }).errors.length >= 2);
});

test('missing files and bad input files are clear one-line errors', () => {
  let r = cli('eval', '-d', '/nonexistent/policies', 'data');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/nonexistent\/policies/);
  const dir = tmp({ 'in.json': '{"a": ' });
  r = cli('eval', '-i', join(dir, 'in.json'), 'input');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /in\.json: invalid JSON/);
});

test('capabilities lists the builtins in OPA\'s format', () => {
  const r = cli('capabilities');
  const caps = JSON.parse(r.stdout) as { builtins: Array<{ name: string; decl: { type: string } }> };
  const names = new Set(caps.builtins.map((b) => b.name));
  for (const n of ['count', 'regex.match', 'time.now_ns', 'io.jwt.decode_verify', 'net.cidr_contains', 'http.send']) assert.ok(names.has(n), n);
  assert.equal(caps.builtins.find((b) => b.name === 'count')?.decl.type, 'function');
});

test('every command has --help', () => {
  for (const c of ['eval', 'test', 'check', 'run', 'sync', 'capabilities']) {
    const r = cli(c, '--help');
    assert.equal(r.code, 0, c);
    assert.match(r.stdout, /Usage: image-enforcer/, c);
  }
});

test('time limits too long to limit anything, and shutdown periods out of range, are refused', () => {
  const policies = tmp({ 'p.rego': 'package p\n\nx := 1\n' });
  for (const [flag, value] of [['--eval-timeout', '2h'], ['--admission-timeout', '9'.repeat(400)]]) {
    const r = cli('run', '--server', flag, value, policies);
    assert.equal(r.code, 1, flag);
    assert.equal(r.stderr.split('\n')[0], `error: option '${flag} <duration>' argument '${value}' is invalid. duration "${value}" is too long: at most 1h`);
  }
  for (const [flag, value] of [['--shutdown-wait-period', '-1'], ['--shutdown-grace-period', '2.5'], ['--shutdown-wait-period', '3601']]) {
    const r = cli('run', '--server', flag, value, policies);
    assert.equal(r.code, 1, flag);
    assert.equal(r.stderr.split('\n')[0], `error: option '${flag} <seconds>' argument '${value}' is invalid. ${flag} must be a whole number of seconds from 0 to 3600`);
  }
});

test('server start-up errors (flags, files, a port in use) are one clear line, without the --debug hint', async () => {
  const policies = tmp({ 'p.rego': 'package p\n\nx := 1\n' });
  const cases: Array<[string[], RegExp]> = [
    [['--addr', 'nope'], /^error: invalid --addr "nope": expected host:port/],
    [['--authentication=token'], /^error: --authentication=token needs --token-file/],
    [['--authentication=tls'], /^error: --authentication=tls needs HTTPS: --tls-cert-file and --tls-private-key-file/],
    [['--tls-ca-cert-file', join(policies, 'ca.crt')], /^error: --tls-ca-cert-file is only used with --authentication=tls/],
    [['--tls-cert-file', join(policies, 'missing.crt'), '--tls-private-key-file', join(policies, 'missing.key')], /^error: cannot read --tls-cert-file \S+missing\.crt: /],
    [['--sync-config', join(policies, 'missing.yaml')], /^error: --sync-config: cannot read config file \S+missing\.yaml/],
  ];
  for (const [flags, message] of cases) {
    const r = cli('run', '--server', ...flags, policies);
    assert.equal(r.code, 1, flags.join(' '));
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /--debug|\n\s+at /);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  // A port already taken.
  const { createServer } = await import('node:net');
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  try {
    const port = (taken.address() as { port: number }).port;
    const r = cli('run', '--server', '--addr', `127.0.0.1:${port}`, policies);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`^error: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use\\n$`));
  } finally {
    taken.close();
  }
});

test('eval --package reads a package path as a package clause does, and refuses junk', () => {
  const dir = tmp({ 'p.rego': 'package a["b-c"]\n\np := 7\n', 'q.rego': 'package x.y\n\nq := 8\n' });
  const p = cli('eval', '-d', dir, '--package', 'a["b-c"]', '-f', 'pretty', 'v := p');
  assert.equal(p.code, 0, p.stderr);
  assert.match(p.stdout, /│ 7 │/);
  const q = cli('eval', '-d', dir, '--package', 'data.x.y', '-f', 'pretty', 'v := q');
  assert.equal(q.code, 0, q.stderr);
  assert.match(q.stdout, /│ 8 │/);
  for (const junk of ['1x', 'a b', '', 'a; v := 1']) {
    const r = cli('eval', '-d', dir, '--package', junk, 'v := 1');
    assert.equal(r.code, 1, junk);
    assert.equal(r.stderr, `error: invalid --package ${JSON.stringify(junk)}: expected a package path such as a.b or a["b-c"]\n`);
  }
});
