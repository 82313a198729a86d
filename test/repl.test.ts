// The interactive shell (`image-enforcer run` without --server): statement handling through
// ReplSession, the stream loop through runRepl, the real CLI as a child process with piped stdin
// (the seed walkthrough), and -w reloads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Runtime } from '../src/runtime/runtime.js';
import { ReplSession, runRepl } from '../src/repl/index.js';
import { needsMore } from '../src/repl/lines.js';
import { renderTable } from '../src/repl/present.js';
import { STACK_OVERFLOW_MESSAGE, describeError } from '../src/repl/session.js';
import { stringifyJSON } from '../src/rego/value.js';
import { projectRoot } from './helpers/paths.js';

const root = projectRoot();
const SEED_PATHS = [join(root, 'policies'), join(root, 'data')];

let shared: Runtime | undefined;
async function seedRuntime(): Promise<Runtime> {
  shared ??= await Runtime.start({ paths: SEED_PATHS });
  return shared;
}

/** A session whose output is collected per line typed. */
async function session(rt?: Runtime) {
  const runtime = rt ?? (await seedRuntime());
  let out = '';
  const s = new ReplSession(runtime, (t) => {
    out += t;
  });
  /** Types one line and returns what it printed. */
  const type = (line: string): string => {
    out = '';
    const r = s.line(line);
    assert.notEqual(r, 'exit');
    return out;
  };
  return { s, type };
}

function json(text: string): unknown {
  return JSON.parse(text);
}

// ---------------------------------------------------------------------------------------------
// The seed walkthrough

test('walkthrough: data.mock, package repl, input = data.mock.allowed / denied', async () => {
  const { type } = await session();
  const mock = json(type('data.mock')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(mock), ['allowed', 'denied']);
  assert.equal(type('package repl'), '');
  assert.equal(type('input = data.mock.allowed'), "Rule 'input' defined in package repl. Type 'show' to see rules.\n");
  const allowed = json(type('data.io.k8s.image_policy.verify')) as { kind: string; status: { allowed: boolean } };
  assert.deepEqual(allowed, { apiVersion: 'imagepolicy.k8s.io/v1alpha1', kind: 'ImageReview', status: { allowed: true } });
  assert.equal(type('unset input'), '');
  assert.equal(type('input = data.mock.denied'), "Rule 'input' defined in package repl. Type 'show' to see rules.\n");
  const denied = json(type('data.io.k8s.image_policy.verify')) as { status: { allowed: boolean; reason: string } };
  assert.equal(denied.status.allowed, false);
  assert.match(denied.status.reason, /wordpress:4-apache/);
});

test('pretty output is 2-space indented JSON with sorted keys, as OPA prints it', async () => {
  const { type } = await session();
  assert.equal(type('{"b": 1, "a": [true, null], "c": {}}'), '{\n  "a": [\n    true,\n    null\n  ],\n  "b": 1,\n  "c": {}\n}\n');
  assert.equal(type('{3, 1, 2}'), '[\n  1,\n  2,\n  3\n]\n');
  // Go's encoder escapes HTML characters.
  assert.equal(type('"<a&b>"'), '"\\u003ca\\u0026b\\u003e"\n');
});

test('redefining input with = compares instead (OPA), so the walkthrough unsets first', async () => {
  const { type } = await session();
  type('package repl');
  type('input = data.mock.allowed');
  assert.equal(type('input = data.mock.denied'), 'undefined\n');
  assert.equal(type('input = data.mock.allowed'), 'true\n');
  const status = json(type('data.io.k8s.image_policy.verify.status')) as { allowed: boolean };
  assert.equal(status.allowed, true);
});

test(':= replaces a rule ("re-defined"); = on a defined name is a query', async () => {
  const { type } = await session();
  assert.equal(type('x = 1'), "Rule 'x' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('x := 2'), "Rule 'x' re-defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('x'), '2\n');
  assert.equal(type('x = 2'), 'true\n');
  assert.equal(type('x = 3'), 'undefined\n');
  assert.equal(type('show'), 'package repl\n\nx := 2\n');
});

test('input can be built in package repl.input', async () => {
  const { type } = await session();
  type('package repl.input');
  assert.equal(type('spec = {"namespace": "default"}'), "Rule 'spec' defined in package repl.input. Type 'show' to see rules.\n");
  type('package repl');
  assert.equal(type('input.spec.namespace'), '"default"\n');
});

// ---------------------------------------------------------------------------------------------
// Rules, functions, packages, imports

test('rules with bodies, functions and default rules are added to the active module', async () => {
  const { type } = await session();
  assert.equal(type('default allow := false'), "Rule 'allow' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('allow if input.kind == "ImageReview"'), "Rule 'allow' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('allow'), 'false\n');
  assert.equal(type('allow with input as {"kind": "ImageReview"}'), 'true\n');
  assert.equal(type('double(x) := y if { y := x * 2 }'), "Rule 'double' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('double(21)'), '42\n');
  assert.equal(type('images contains img if { img := input.spec.containers[_].image }'), "Rule 'images' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('images with input as data.mock.denied'), '[\n  "openpolicyagent/opa:0.4.10",\n  "wordpress:4-apache"\n]\n');
});

test('Rego v0 rule syntax is accepted at the prompt (like the policies)', async () => {
  const { type } = await session();
  assert.equal(type('a[2] { true }'), "Rule 'a' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('a[x]'), '┌───┬──────┐\n│ x │ a[x] │\n├───┼──────┤\n│ 2 │ 2    │\n└───┴──────┘\n');
});

test('packages switch the active module; rules of other packages need their full path', async () => {
  const { type } = await session();
  type('package foo.bar');
  type('q := 1');
  type('package repl');
  assert.equal(type('q'), '1 error occurred: 1:1: rego_unsafe_var_error: var q is unsafe\n');
  assert.equal(type('data.foo.bar.q'), '1\n');
  type('package foo.bar');
  assert.equal(type('q'), '1\n');
  assert.equal(type('unset-package foo.bar'), '');
  assert.equal(type('show'), 'no rules defined\n');
  assert.equal(type('data.foo.bar.q'), 'undefined\n');
  assert.equal(type('unset-package nope'), 'warning: no matching package\n');
});

test('imports are added to the active module and shown sorted', async () => {
  const { type } = await session();
  assert.equal(type('import data.mock'), '');
  assert.equal(type('mock.allowed.kind'), '"ImageReview"\n');
  type('import data.io.k8s.image_policy as ip');
  type('import data.mock'); // duplicates are ignored
  assert.equal(type('show'), 'package repl\n\nimport data.io.k8s.image_policy as ip\nimport data.mock\n');
});

test('a rule that does not compile leaves the module as it was', async () => {
  const { type } = await session();
  assert.match(type('p contains x if { true }'), /^1 error occurred: 1:\d+: rego_unsafe_var_error: var x is unsafe\n$/);
  // As in OPA, the default module exists from the first rule typed, even one that failed.
  assert.equal(type('show'), 'package repl\n');
  assert.equal(type('p := 1'), "Rule 'p' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('q := p + 1'), "Rule 'q' defined in package repl. Type 'show' to see rules.\n");
  // Unsetting p would leave q unsafe: refused, both stay.
  assert.match(type('unset p'), /rego_unsafe_var_error: var p is unsafe/);
  assert.equal(type('q'), '2\n');
});

test('unset removes rules by name, warns when there is none, and checks its arguments', async () => {
  const { type } = await session();
  type('p := 1');
  type('f(x) := x');
  assert.equal(type('unset p'), '');
  assert.equal(type('p'), '1 error occurred: 1:1: rego_unsafe_var_error: var p is unsafe\n');
  assert.equal(type('unset p'), 'warning: no matching rules in current module\n');
  assert.equal(type('unset'), 'code bad arguments: unset <var>: expects exactly one argument\n');
  assert.equal(type('unset "p"'), 'code bad arguments: arguments must identify a rule\n');
  assert.equal(type('unset f'), '');
  assert.match(type('f(1)'), /^1 error occurred: 1:1: rego_type_error: undefined function f\b/);
});

// ---------------------------------------------------------------------------------------------
// Output forms

test('undefined prints `undefined` (pretty) and {} (json)', async () => {
  const { type } = await session();
  assert.equal(type('data.no.such.thing'), 'undefined\n');
  assert.equal(type('1 == 2; true'), 'undefined\n');
  assert.equal(type('json'), '');
  assert.equal(type('data.no.such.thing'), '{}\n');
});

test('queries with variables print a table of bindings (box drawn, centred header)', async () => {
  const { type } = await session();
  assert.equal(type('x = 1; y = "two"'), '┌───┬───────┐\n│ x │   y   │\n├───┼───────┤\n│ 1 │ "two" │\n└───┴───────┘\n');
  assert.equal(type('data.mock[k].spec.containers[0].image = img'), [
    '┌──────────────────────┬───────────┐',
    '│         img          │     k     │',
    '├──────────────────────┼───────────┤',
    '│ "alpine:3.5"         │ "allowed" │',
    '│ "wordpress:4-apache" │ "denied"  │',
    '└──────────────────────┴───────────┘',
    '',
  ].join('\n'));
  // No variables but several results: one column per expression.
  assert.equal(type('[1, "a"][_]'), '┌─────────────┐\n│ [1, "a"][_] │\n├─────────────┤\n│ 1           │\n│ "a"         │\n└─────────────┘\n');
});

test('several boolean expressions print one value; a false lone expression prints false', async () => {
  const { type } = await session();
  assert.equal(type('1 < 2; 2 < 3'), 'true\n');
  assert.equal(type('1 > 2'), 'false\n');
});

test('pretty-limit cuts long table cells', async () => {
  const { type } = await session();
  const out = type('data.mock[k] = v');
  for (const line of out.split('\n')) assert.ok(line.length < 110, line);
  assert.match(out, /\.\.\. │/);
  type('pretty-limit 0');
  assert.doesNotMatch(type('data.mock[k] = v'), /\.\.\. │/);
  assert.equal(type('pretty-limit x'), 'usage: pretty-limit <n>\n');
});

test('table: odd padding goes to the right of a centred header', () => {
  assert.equal(renderTable(['ab'], [['12345']]), '┌───────┐\n│  ab   │\n├───────┤\n│ 12345 │\n└───────┘\n');
});

test('json mode prints the result document with texts, locations and bindings', async () => {
  const { type } = await session();
  type('json');
  assert.deepEqual(json(type('x = 1; y > x; y = 2')), {
    result: [
      {
        expressions: [
          { value: true, text: 'x = 1', location: { row: 1, col: 1 } },
          { value: true, text: 'y > x', location: { row: 1, col: 8 } },
          { value: true, text: 'y = 2', location: { row: 1, col: 15 } },
        ],
        bindings: { x: 1, y: 2 },
      },
    ],
  });
  // Defining a rule prints nothing in json mode.
  assert.equal(type('p := 1'), '');
  type('pretty');
  assert.equal(type('p'), '1\n');
});

test('evaluation errors: one line in pretty mode, an errors document in json mode', async () => {
  const { type } = await session();
  type('strict-builtin-errors');
  assert.equal(type('1 / 0'), '1 error occurred: 1:1: eval_builtin_error: div: divide by zero\n');
  type('json');
  const doc = json(type('1 / 0')) as { errors: Array<{ code: string; message: string }> };
  assert.equal(doc.errors[0].code, 'eval_builtin_error');
  type('strict-builtin-errors');
  assert.equal(type('1 / 0'), '{}\n');
});

test('compile and parse errors are one clear line', async () => {
  const { type } = await session();
  assert.equal(type('x'), '1 error occurred: 1:1: rego_unsafe_var_error: var x is unsafe\n');
  const parse = type('x := := 1');
  assert.match(parse, /^\d errors? occurred:( |\n)1:\d+: rego_parse_error: unexpected assign token/);
  assert.match(type('count(1, 2, 3)'), /^1 error occurred: 1:1: rego_type_error: /);
});

test('print() output appears before the result', async () => {
  const { type } = await session();
  assert.equal(type('print("hello", 1)'), 'hello 1\ntrue\n');
});

// ---------------------------------------------------------------------------------------------
// Commands

test('help lists commands and topics; help input explains setting input', async () => {
  const { type } = await session();
  const help = type('help');
  for (const cmd of ['package <term>', 'import <term>', 'show', 'unset <var>', 'json', 'pretty', 'dump [path]', 'exit', 'help input']) {
    assert.ok(help.includes(cmd), `help mentions ${cmd}`);
  }
  const input = type('help input');
  assert.match(input, /package repl/);
  assert.match(input, /input = data\.mock\.allowed/);
  assert.match(input, /unset input/);
  assert.equal(type('help nope'), "unknown topic 'nope'\n");
});

test('show prints the active module as Rego', async () => {
  const { type } = await session();
  assert.equal(type('show'), 'no rules defined\n');
  type('package repl');
  assert.equal(type('show'), 'package repl\n');
  type('allow if { input.x == 1; input.y == 2 }');
  type('n := 3');
  assert.equal(type('show'), 'package repl\n\nallow if {\n  input.x == 1\n  input.y == 2\n}\n\nn := 3\n');
  assert.equal(type('show nope'), "unknown option 'nope'\n");
});

test('dump prints the stored data; dump <file> writes it', async () => {
  const rt = await seedRuntime();
  const { type } = await session(rt);
  const out = type('dump');
  assert.ok(!out.slice(0, -1).includes('\n'), 'one line');
  const data = json(out) as Record<string, unknown>;
  assert.ok('clair' in data && 'docker' in data);
  assert.deepEqual(data, json(stringifyJSON(rt.store.snapshot())));
  const dir = mkdtempSync(join(tmpdir(), 'repl-dump-'));
  try {
    const file = join(dir, 'data.json');
    assert.equal(type(`dump ${file}`), '');
    assert.deepEqual(json(readFileSync(file, 'utf8')), data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('OPA commands this shell does not implement say so', async () => {
  const { type } = await session();
  assert.match(type('metrics'), /not supported/);
  assert.match(type('trace'), /not supported/);
});

test('a line starting with a command word but reading as Rego is Rego', async () => {
  const { type } = await session();
  assert.equal(type('dump = 1'), "Rule 'dump' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('json.marshal([1])'), '"[1]"\n');
});

test('tab completion offers rule paths and imported names', async () => {
  const { s, type } = await session();
  assert.deepEqual(s.complete('data.io.k8s.image_policy.ver'), ['data.io.k8s.image_policy.verify']);
  assert.ok(s.complete('').includes('data.mock.allowed'));
  type('p := 1');
  assert.deepEqual(s.complete('data.repl.'), ['data.repl.p']);
  type('import data.mock');
  assert.deepEqual(s.complete('mo'), ['mock']);
  assert.deepEqual(s.complete('zzz'), []);
});

// ---------------------------------------------------------------------------------------------
// Multi-line input

test('needsMore: open brackets, raw strings and trailing operators continue a statement', () => {
  for (const t of ['allow if {', 'x := [1,', 'x =', 'a +', 'allow if', 'x := `raw', 'f(1,', 'x := {"a":']) assert.equal(needsMore(t), true, t);
  for (const t of ['x := 1', 'x := "{"', 'x := 1 # {', 'data.x.as', 'input', 'x := `a{`', '}', 'package repl']) assert.equal(needsMore(t), false, t);
});

test('multi-line rules are read until brackets close, with the | prompt', async () => {
  const { s, type } = await session();
  assert.equal(type('allow if {'), '');
  assert.equal(s.prompt, '| ');
  assert.equal(type('  input.kind == "ImageReview"'), '');
  assert.equal(type('}'), "Rule 'allow' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(s.prompt, '> ');
  assert.equal(type('allow with input as data.mock.allowed'), 'true\n');
  assert.equal(type('x := ['), '');
  assert.equal(type('  1,'), '');
  assert.equal(type('  2]'), "Rule 'x' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(type('x'), '[\n  1,\n  2\n]\n');
});

test('an empty line ends a multi-line statement that cannot complete (error shown)', async () => {
  const { s, type } = await session();
  assert.equal(type('x := [1,'), '');
  assert.equal(type('2'), '');
  assert.match(type(''), /^\d errors? occurred:( |\n)3:1: rego_parse_error: unexpected eof token/);
  assert.equal(s.prompt, '> ');
  s.line('y := (');
  s.reset(); // Ctrl+C
  assert.equal(s.prompt, '> ');
});

// ---------------------------------------------------------------------------------------------
// The stream loop

async function driveStreams(lines: string[], opts: { historyFile?: string; end?: boolean } = {}) {
  const rt = await seedRuntime();
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (c: Buffer) => (out += c.toString()));
  const done = runRepl(rt, { input, output, terminal: false, historyFile: opts.historyFile });
  input.write(lines.map((l) => l + '\n').join(''));
  if (opts.end !== false) input.end();
  await done;
  return out;
}

test('runRepl: prompts, continuation prompts, and resolves at end of input', async () => {
  const out = await driveStreams(['package repl', 'allow if {', 'true', '}', 'allow']);
  assert.equal(out, "> > | | Rule 'allow' defined in package repl. Type 'show' to see rules.\n> true\n> ");
});

test('runRepl: exit stops reading', async () => {
  const out = await driveStreams(['1 + 1', 'exit', '2 + 2'], { end: false });
  assert.equal(out, '> 2\n> ');
});

test('runRepl: a statement left open at end of input is evaluated', async () => {
  const out = await driveStreams(['x := [1,', '2]'].slice(0, 1));
  assert.match(out, /rego_parse_error/);
});

test('runRepl: history is saved to and extended in the history file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'repl-hist-'));
  try {
    const file = join(dir, 'history');
    writeFileSync(file, 'data.old\n');
    await driveStreams(['data.mock.allowed.kind', '', 'package repl'], { historyFile: file });
    assert.equal(readFileSync(file, 'utf8'), 'data.old\ndata.mock.allowed.kind\npackage repl\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a statement too deeply nested for the engine gets a clear message, and the shell goes on', async () => {
  const { type } = await session();
  // The compiler recurses on the left-nested + chain; V8's bare "Maximum call stack size
  // exceeded" used to be all the shell printed. Now the parser's depth limit stops it first.
  const out = type('1' + ' + 1'.repeat(5000));
  assert.match(out, /rego_parse_error: max parsing recursion depth exceeded/);
  assert.equal(out.split('\n').length, 2);
  assert.equal(type('1 + 1'), '2\n');
  // Whatever still exhausts the stack is described for a user, not with V8's text.
  assert.equal(describeError(new RangeError('Maximum call stack size exceeded')), STACK_OVERFLOW_MESSAGE);
  assert.equal(describeError(new RangeError('Invalid array length')), 'Invalid array length');
});

// ---------------------------------------------------------------------------------------------
// -w: reloads

function tempSeedCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'repl-watch-'));
  cpSync(join(root, 'policies'), join(dir, 'policies'), { recursive: true });
  cpSync(join(root, 'data'), join(dir, 'data'), { recursive: true });
  return dir;
}

/** Waits until `get()` matches, or fails after a generous limit (not a timing assertion). */
async function waitFor(get: () => string, re: RegExp, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (re.test(get())) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${what}; output so far:\n${get()}`);
}

const EXTRA_RULE = '\n# added by the test\nextra := 42\n';

test('runRepl -w: an edit is picked up; a broken edit prints the error and keeps the old answer', async () => {
  const dir = tempSeedCopy();
  const rt = await Runtime.start({ paths: [join(dir, 'policies'), join(dir, 'data')], watch: true });
  const input = new PassThrough();
  const output = new PassThrough();
  let out = '';
  output.on('data', (c: Buffer) => (out += c.toString()));
  const done = runRepl(rt, { input, output });
  try {
    input.write('data.io.k8s.image_policy.extra\n');
    await waitFor(() => out, /undefined\n/, 'undefined');
    const file = join(dir, 'policies', 'default.rego');
    const original = readFileSync(file, 'utf8');
    writeFileSync(file, original + EXTRA_RULE);
    await waitFor(() => out, /# reloaded files\n/, 'reload');
    input.write('data.io.k8s.image_policy.extra\n');
    await waitFor(() => out, /42\n/, 'the new rule');
    writeFileSync(file, original + EXTRA_RULE + 'broken := {\n');
    await waitFor(() => out, /# reload error[^]*rego_parse_error/, 'reload error');
    assert.match(out, /# reload error \(keeping the previous policies and data\): \d errors? occurred:( |\n)\S*default\.rego:\d+: rego_parse_error: /);
    out = '';
    input.write('data.io.k8s.image_policy.extra\n');
    await waitFor(() => out, /42\n/, 'the old answer');
    input.end();
    await done;
  } finally {
    input.end();
    rt.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// The real CLI with piped stdin

/** `node bin/image-enforcer.js` when the tests run from dist/, else the sibling build's main. */
function cliCommand(args: string[]): { cmd: string; argv: string[] } {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  if (main === join(root, 'dist', 'src', 'cli', 'main.js') || !existsSync(main)) {
    return { cmd: process.execPath, argv: [join(root, 'bin', 'image-enforcer.js'), ...args] };
  }
  const code = `const { main } = await import(${JSON.stringify(new URL('../src/cli/main.js', import.meta.url).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return { cmd: process.execPath, argv: ['--input-type=module', '-e', code, ...args] };
}

function startCli(args: string[], cwd: string): { child: ChildProcessWithoutNullStreams; out: () => string; err: () => string; exit: Promise<number | null> } {
  const { cmd, argv } = cliCommand(args);
  const child = spawn(cmd, argv, { cwd, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

/** Splits CLI output at the prompts: the answer to each typed line. */
function answers(out: string): string[] {
  return out.split('> ').slice(1).map((s) => s.replace(/^(\| )+/, ''));
}

test('CLI: run policies data, the seed walkthrough over piped stdin', async () => {
  const cli = startCli(['run', 'policies', 'data'], root);
  cli.child.stdin.end(
    ['data.mock', 'package repl', 'input = data.mock.allowed', 'data.io.k8s.image_policy.verify', 'unset input', 'input = data.mock.denied', 'data.io.k8s.image_policy.verify', ''].join('\n'),
  );
  const code = await cli.exit;
  assert.equal(code, 0, cli.err());
  const a = answers(cli.out());
  assert.deepEqual(Object.keys(json(a[0]) as object), ['allowed', 'denied']);
  assert.equal(a[1], '');
  assert.equal(a[2], "Rule 'input' defined in package repl. Type 'show' to see rules.\n");
  assert.deepEqual((json(a[3]) as { status: unknown }).status, { allowed: true });
  assert.equal(a[4], '');
  assert.equal(a[5], "Rule 'input' defined in package repl. Type 'show' to see rules.\n");
  const denied = json(a[6]) as { status: { allowed: boolean; reason: string } };
  assert.equal(denied.status.allowed, false);
  assert.match(denied.status.reason, /wordpress:4-apache/);
});

test('CLI: multi-line rules, errors, show, help and undefined', async () => {
  const cli = startCli(['run', 'policies', 'data'], root);
  cli.child.stdin.end(['allow if {', '  input.kind == "ImageReview"', '}', 'allow with input as data.mock.allowed', 'y', 'show', 'data.nothing', 'help', 'exit', ''].join('\n'));
  assert.equal(await cli.exit, 0, cli.err());
  const a = answers(cli.out());
  assert.equal(a[0], "Rule 'allow' defined in package repl. Type 'show' to see rules.\n");
  assert.equal(a[1], 'true\n');
  assert.equal(a[2], '1 error occurred: 1:1: rego_unsafe_var_error: var y is unsafe\n');
  assert.equal(a[3], 'package repl\n\nallow if {\n  input.kind == "ImageReview"\n}\n');
  assert.equal(a[4], 'undefined\n');
  assert.match(cli.out(), /Commands\n========\n/);
});

test('CLI: run -w reloads an edited policy; a broken edit keeps the last good state', async () => {
  const dir = tempSeedCopy();
  const cli = startCli(['run', '-w', 'policies', 'data'], dir);
  try {
    const file = join(dir, 'policies', 'default.rego');
    const original = readFileSync(file, 'utf8');
    cli.child.stdin.write('data.io.k8s.image_policy.extra\n');
    await waitFor(cli.out, /undefined\n/, 'undefined');
    writeFileSync(file, original + EXTRA_RULE);
    await waitFor(cli.out, /# reloaded files/, 'reload');
    cli.child.stdin.write('data.io.k8s.image_policy.extra\n');
    await waitFor(cli.out, /> 42\n/, 'the new answer');
    writeFileSync(file, original + 'extra := 43\nbroken if {\n');
    await waitFor(cli.out, /# reload error[^]*rego_parse_error/, 'reload error');
    cli.child.stdin.write('data.io.k8s.image_policy.extra\n');
    await waitFor(cli.out, /> 42\n[^]*> 42\n/, 'the old answer again');
    assert.doesNotMatch(cli.out(), /43/);
    cli.child.stdin.end();
    assert.equal(await cli.exit, 0, cli.err());
  } finally {
    cli.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: run -w, a data file edited to nest too deeply is a reload error (twice); the old data stays', async () => {
  const dir = tempSeedCopy();
  const file = join(dir, 'data', 'extra.yaml');
  writeFileSync(file, 'extra: 1\n');
  const cli = startCli(['run', '-w', 'policies', 'data'], dir);
  try {
    cli.child.stdin.write('data.extra\n');
    await waitFor(cli.out, /> 1\n/, 'the first answer');
    // The YAML library's second stack overflow used to abort the whole process.
    for (let round = 1; round <= 2; round++) {
      writeFileSync(file, `extra: ${'['.repeat(1000)}${']'.repeat(1000)}\n`);
      await waitFor(cli.out, new RegExp(`(# reload error[^]*){${round}}`), `reload error ${round}`);
      assert.match(cli.out(), /# reload error \(keeping the previous policies and data\): 1 error occurred: \S*extra\.yaml:1:\d+: invalid YAML: document is nested too deeply: YAML data may nest at most 200 levels/);
    }
    cli.child.stdin.write('data.extra\n');
    await waitFor(cli.out, /> 1\n[^]*> 1\n/, 'the old answer again');
    cli.child.stdin.end();
    assert.equal(await cli.exit, 0, cli.err());
  } finally {
    cli.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.after(() => shared?.close());
