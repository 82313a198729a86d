// Randomised robustness tests for the command line (seeded). `eval`, `test`, `check` and `run`
// are spawned with junk flags, junk queries and missing or broken files. Whatever the arguments,
// the process must end by itself with an exit code (no signal, no abort); a non-zero exit must
// come with a clear message on stderr and never a stack trace (unless --debug asks for one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { projectRoot } from './helpers/paths.js';

const SEED = 18_2026;
const root = projectRoot();

/** The CLI built next to this test: bin/image-enforcer.js from dist/, else this build's main. */
function cliArgv(args: string[]): string[] {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  if (main === join(root, 'dist', 'src', 'cli', 'main.js') || !existsSync(main)) return [join(root, 'bin', 'image-enforcer.js'), ...args];
  const code = `const { main } = await import(${JSON.stringify(new URL('../src/cli/main.js', import.meta.url).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return ['--input-type=module', '-e', code, ...args];
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  killed: boolean;
}

/** Runs the CLI with stdin at end of file; kills it after a generous limit (a hang is a failure). */
function cli(args: string[], cwd: string, nodeFlags: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeFlags, ...cliArgv(args)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ie-cli-fuzz-'));
  const files: Record<string, string | Buffer> = {
    'ok.rego': 'package ok\n\np := 1\n\ntest_p if p == 1\n',
    'failing_test.rego': 'package t\n\ntest_no if false\n',
    'bad.rego': 'package bad\n\np if {\n',
    'unsafe.rego': 'package u\n\np if x > 1\n',
    'chain.rego': `package chain\n\np := 1${' + 1'.repeat(5000)}\n`,
    'chain400.rego': `package chain\n\np := 1${' + 1'.repeat(400)}\n`,
    'deep.rego': `package deep\n\np := ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
    'trunc.json': '{"a": ',
    'list.json': '[1, 2]',
    'deep.json': `{"a": ${'['.repeat(1500)}${']'.repeat(1500)}}`,
    'deep.yaml': `a: ${'['.repeat(1000)}${']'.repeat(1000)}\n`,
    'multi.yaml': 'a: 1\n---\nb: 2\n',
    'bomb.yaml': 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n',
    'binary.json': Buffer.from([0, 0xff, 0xfe, 0x7b, 0x80]),
    'empty.json': '',
    'input.json': '{"user": "alice"}',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  mkdirSync(join(dir, 'adir.json'));
  writeFileSync(join(dir, 'adir.json', 'inner.json'), '{"inner": true}');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const FILES = [
  'ok.rego', 'failing_test.rego', 'bad.rego', 'unsafe.rego', 'chain.rego', 'deep.rego', 'trunc.json', 'list.json', 'deep.json',
  'deep.yaml', 'multi.yaml', 'bomb.yaml', 'binary.json', 'empty.json', 'input.json', 'adir.json', 'missing.json', '', '.',
  '/dev/null', 'file://', 'x:ok.rego', 'a.b:trunc.json', 'http://example.com/p.rego', '\u00e9\u{1F600}.rego',
];

const QUERIES = [
  'data', 'data.ok.p', '1 + 1', 'x := 1', '', ')', '1 +', 'x', 'input.user', '"unterminated', `1${' + 1'.repeat(3000)}`,
  `${'['.repeat(3000)}${']'.repeat(3000)}`, 'json.unmarshal("[[[[")', 'data[', '\u0001', '--', '-', 'a:b', 'yaml.unmarshal("a: [")',
];

const FLAGS = [
  '--nope', '-x', '--format', '--format=xml', '--format=json', '--format=pretty', '-f', 'yaml', '--fail', '--fail-defined',
  '--v0-compatible', '--strict-builtin-errors', '--package', '...', '--package=1', '-v', '--run', '[', '--run=ok', '-t', '-5',
  '--timeout=abc', '--timeout=1', '--ignore', '[', '--ignore=*.json', '-w', '--history', '/nonexistent/dir/h', '--', '-',
];

const cmdArb = fc.constantFrom('eval', 'test', 'check', 'run');
const partArb = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constantFrom('-d', '-i', '--data', '--input', ''), fc.constantFrom(...FILES)).map(([f, p]) => (f ? [f, p] : [p])) },
  { weight: 2, arbitrary: fc.constantFrom(...QUERIES).map((q) => [q]) },
  { weight: 2, arbitrary: fc.constantFrom(...FLAGS).map((f) => [f]) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }).map((s) => [s.replace(/\u0000/g, '')]) }, // argv cannot hold NUL
);
const caseArb = fc.tuple(cmdArb, fc.array(partArb, { maxLength: 5 })).map(([cmd, parts]) => [cmd, ...parts.flat()]);

/** JavaScript failures leaking out instead of a message meant for a user. */
const UNEXPECTED = /TypeError|ReferenceError|is not a function|Cannot read propert|undefined \(reading|Maximum call stack|\[object Object\]|\n\s+at \S+|\(run with --debug for details\)/;

function check(args: string[], r: Run): void {
  const what = `image-enforcer ${args.map((a) => JSON.stringify(a.length > 60 ? a.slice(0, 60) + '…' : a)).join(' ')}`;
  assert.equal(r.killed, false, `${what} did not finish within 30 s`);
  assert.equal(r.signal, null, `${what} ended by signal ${r.signal} (a crash or abort):\n${r.stderr.slice(-2000)}`);
  assert.equal(typeof r.code, 'number');
  assert.doesNotMatch(r.stderr, /FATAL ERROR|Aborted|node::/, `${what}: the process aborted:\n${r.stderr.slice(-2000)}`);
  if (args.includes('--debug')) return;
  assert.doesNotMatch(r.stderr, UNEXPECTED, `${what}: not a clear message:\n${r.stderr.slice(0, 2000)}`);
  if (r.code !== 0) assert.ok(r.stderr.trim() !== '' || r.stdout.trim() !== '', `${what}: exit ${r.code} without any message`);
  // A failed `test` run (exit 2) reports on stdout; any other failure says why on stderr.
  if (r.code !== 0 && r.code !== 2 && !args.includes('check')) assert.ok(r.stderr.trim() !== '', `${what}: exit ${r.code} with nothing on stderr`);
}

/** Runs cases a few at a time (each is a separate process). */
async function runAll(cases: string[][]): Promise<void> {
  const queue = [...cases];
  const failures: string[] = [];
  const worker = async () => {
    for (let args = queue.shift(); args; args = queue.shift()) {
      const t0 = Date.now();
      const r = await cli(args, dir);
      if (process.env.FUZZ_TRACE) process.stderr.write(`${Date.now() - t0} ms ${r.code} ${JSON.stringify(args).slice(0, 200)}\n`);
      try {
        check(args, r);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  assert.deepEqual(failures, []);
}

test('random junk arguments: an exit code, and a clear message (never a stack trace) when it is not 0', async () => {
  const cases = fc.sample(caseArb, { seed: SEED, numRuns: 32 });
  await runAll(cases);
});

test('deliberate bad inputs: each fails with a clear one-line reason', async () => {
  const cases: Array<{ args: string[]; stderr: RegExp; node?: string[] }> = [
    // A long operator chain nests as deep as brackets do: past the limit it is a parse error.
    { args: ['eval', '-d', 'chain.rego', 'data.chain.p'], stderr: /^chain\.rego:3:\d+: rego_parse_error: max parsing recursion depth exceeded/ },
    { args: ['check', 'chain.rego'], stderr: /^chain\.rego:3:\d+: rego_parse_error: max parsing recursion depth exceeded/ },
    { args: ['eval', `1${' + 1'.repeat(5000)}`], stderr: /^query:1:\d+: rego_parse_error: max parsing recursion depth exceeded/ },
    // What the parser lets through can still exhaust a small stack: a message, not V8's text.
    { args: ['eval', '-d', 'chain400.rego', 'data.chain.p'], node: ['--stack-size=200'], stderr: /^error: a policy, query or document is nested too deeply to compile or evaluate/ },
    { args: ['eval', '-d', 'deep.rego', 'data.deep.p'], stderr: /deep\.rego:3:\d+: rego_parse_error: max parsing recursion depth exceeded/ },
    { args: ['eval', '-d', 'deep.yaml', 'data'], stderr: /deep\.yaml:1:\d+: load_error: invalid YAML: document is nested too deeply: YAML data may nest at most 200 levels/ },
    { args: ['eval', '-i', 'deep.yaml', 'input'], stderr: /^error: deep\.yaml: invalid YAML: document is nested too deeply/ },
    { args: ['eval', '-d', 'deep.json', 'data'], stderr: /deep\.json:1:\d+: load_error: invalid JSON: exceeded max depth of 1000/ },
    { args: ['eval', '-d', 'bomb.yaml', 'data'], stderr: /load_error: bomb\.yaml: invalid YAML: Excessive alias count/ },
    { args: ['eval', '-i', 'adir.json', 'input'], stderr: /^error: cannot read input file adir\.json: is a directory$/m },
    { args: ['eval', '-i', 'missing.json', 'input'], stderr: /^error: cannot read input file missing\.json: no such file or directory$/m },
    { args: ['eval', '-d', 'file://', 'data'], stderr: /^load_error: file:\/\/: empty path$/m },
    { args: ['test', 'missing.rego'], stderr: /missing\.rego: no such file or directory/ },
    { args: ['check', 'bad.rego', 'unsafe.rego'], stderr: /bad\.rego:\d+:\d+: rego_parse_error[^]*|unsafe/ },
    { args: ['run', 'trunc.json'], stderr: /trunc\.json:1:7: load_error: invalid JSON/ },
    { args: ['run', '--ignore', '[', 'ok.rego'], stderr: /bad ignore pattern "\[": unclosed \[/ },
  ];
  const failures: string[] = [];
  await Promise.all(
    cases.map(async ({ args, stderr, node }) => {
      const r = await cli(args, dir, node);
      try {
        check(args, r);
        assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
        assert.match(r.stderr, stderr, `${args.join(' ').slice(0, 80)}: ${r.stderr.slice(0, 500)}`);
      } catch (e) {
        failures.push((e as Error).message);
      }
    }),
  );
  assert.deepEqual(failures, []);
});

test('--debug prints the stack of an unexpected error', async () => {
  // A stack too small for the compiler makes an error the CLI does not expect.
  const r = await cli(['eval', '--debug', '-d', 'chain400.rego', 'data.chain.p'], dir, ['--stack-size=200']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^RangeError: Maximum call stack size exceeded\n\s+at /);
});
