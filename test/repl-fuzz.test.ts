// Randomised robustness tests for the interactive shell (seeded, so every run sees the same
// storms). Random lines (Rego fragments, unbalanced brackets across lines, very long lines,
// control characters, assignments to input and data, commands with junk arguments, `exit`) are
// typed into a ReplSession on the shipped policies and data. The shell must never throw, never
// print a JavaScript error or stack, answer every known-bad line with one clear error line, keep
// `show` printing valid Rego, and afterwards still evaluate `1 + 1` and `data.mock` correctly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Runtime } from '../src/runtime/runtime.js';
import { ReplSession, runRepl, PROMPT, CONTINUATION_PROMPT } from '../src/repl/index.js';
import { parseModule } from '../src/rego/parser.js';
import { stringifyJSON } from '../src/rego/value.js';
import { projectRoot } from './helpers/paths.js';

const SEED = 18_2026;
const root = projectRoot();

let shared: Runtime | undefined;
async function runtime(): Promise<Runtime> {
  shared ??= await Runtime.start({ paths: [join(root, 'policies'), join(root, 'data')] });
  return shared;
}
after(() => shared?.close());

// ---------------------------------------------------------------------------------------------
// Lines

const TOKENS = [
  'p', 'q', 'x', 'y', 'f', ':=', '=', '==', '!=', '{', '}', '[', ']', '(', ')', 'if', 'else', 'some', 'in', 'every', 'not',
  'with', 'as', 'input', 'data', 'data.io', 'data.mock.allowed', '1', '2.5', '-1', '"s"', '`raw', '`', '#', '.', ',', ';',
  '|', ':', '+', '-', '*', '/', '%', '&', 'package', 'import', 'default', 'contains', 'true', 'null', 'count(', 'print(',
  'trace(', '_', '"\\u00"', '\n',
];

/** Lines that must each get one clear error line (typed when no statement is open). */
const KNOWN_BAD = [
  'unset', 'unset a b', 'unset 1', 'unset-package', 'package "x"', 'help nope', 'show nope', 'pretty-limit x',
  'pretty-limit 99999999999999999999', 'metrics', 'unknown x', 'types', 'dump /nonexistent/dir/file', 'import nope',
  'x', ')', ']', '}', ';', 'else = 1', 'f(x) = y', '"\\u00"', 'data.x := 1', 'input.x := 1', 'p := input.', 'trace',
  '1 +' + ' 1 +'.repeat(3000) + ' 1', 'x := count(1)', 'x := 1 / "a"', 'import input.x as 1', '\u0000', '@',
  '"' + 'a'.repeat(100_000), 'q := 1 if { not q }',
];

const VALID = [
  'x := 1', 'p := 2', 'p = 3', 'input = data.mock.allowed', 'input := data.mock.denied', 'data.mock.allowed.kind',
  'package foo', 'package repl', 'package a.b["c d"]', 'package input', 'package data', 'import input.x', 'import rego.v1',
  'import future.keywords', 'f(x) := x', 'show', 'show debug', 'help', 'help input', 'json', 'pretty', 'unset input',
  'unset p', 'unset nope', 'unset-package foo', 'unset-package nope', 'dump', 'notes', 'trace notes', 'pretty-limit 5',
  'strict-builtin-errors', 'default allow := false', 'allow if input.kind == "ImageReview"', 's contains 1',
  'x := [y | y := [1, 2][_]]', 'some z in [1, 2]', 'every v in [1] { v > 0 }', '  # a comment', '', '   ',
  'data.io.k8s.image_policy.verify', 'data[k] = _', 'input := 1', 'data := 1', 'input = 5', 'input.x = 1',
];

const CONTROL = fc.string({ unit: fc.integer({ min: 0, max: 0x1f }).map((c) => String.fromCharCode(c)), maxLength: 6 });

const lineArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...TOKENS), { maxLength: 12 }).map((t) => t.join(' ')) },
  { weight: 3, arbitrary: fc.constantFrom(...VALID) },
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN_BAD) },
  { weight: 1, arbitrary: fc.constantFrom('[[[', '{', '(', 'x := [1,', '`', ']]]', 'p if {', '}', 'exit', 'EXIT', 'exit now') },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('x', '[', '"a', '1 + ', 'a.'), fc.integer({ min: 1_000, max: 20_000 })).map(([s, n]) => s.repeat(n)) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('x := ', 'input = ', ''), CONTROL).map(([a, b]) => a + b) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('package ', 'unset ', 'import ', 'help ', 'show ', 'unset-package ', 'pretty-limit '), fc.string({ maxLength: 12 })).map(([a, b]) => a + b) },
);

// ---------------------------------------------------------------------------------------------
// Checks

/** JavaScript failures leaking out instead of a message meant for a user. */
const UNEXPECTED = /TypeError|ReferenceError|is not a function|Cannot read propert|undefined \(reading|^Maximum call stack|\[object Object\]|\n\s+at \S+ \(|\bat file:\/\//m;

/** How every error line the shell prints starts. */
const CLEAR_ERROR = /^(\d+ errors? occurred:|code bad arguments: |warning: |usage: |unknown (topic|option) |the '[^']+' command of OPA's shell is not supported|full tracing is not supported|error: |cannot write )/;

function session(rt: Runtime) {
  let out = '';
  const s = new ReplSession(rt, (t) => {
    out += t;
  });
  const type = (line: string): { out: string; exit: boolean } => {
    out = '';
    const r = s.line(line);
    return { out, exit: r === 'exit' };
  };
  return { s, type };
}

/** data.mock as a fresh shell prints it (compared as normalised JSON). */
const mockJSON = async () => stringifyJSON(JSON.parse(session(await runtime()).type('data.mock').out));

test('random lines never break the shell; known-bad lines get one clear error; 1 + 1 and data.mock still work', async () => {
  const rt = await runtime();
  const mock = await mockJSON();
  fc.assert(
    fc.property(fc.array(lineArb, { minLength: 1, maxLength: 25 }), (lines) => {
      const { s, type } = session(rt);
      for (const line of lines) {
        const wasBuffering = s.buffering;
        const r = type(line); // must not throw
        assert.doesNotMatch(r.out, UNEXPECTED, `line ${JSON.stringify(line.slice(0, 80))} printed a JavaScript failure`);
        assert.ok(s.prompt === PROMPT || s.prompt === CONTINUATION_PROMPT);
        if (r.out !== '') assert.ok(r.out.endsWith('\n'), `output without a final newline: ${JSON.stringify(r.out.slice(-80))}`);
        if (!wasBuffering && KNOWN_BAD.includes(line)) {
          assert.ok(!r.exit);
          assert.match(r.out, CLEAR_ERROR, `no clear error for ${JSON.stringify(line.slice(0, 80))}: ${JSON.stringify(r.out.slice(0, 200))}`);
          const first = r.out.split('\n')[0];
          const n = /^(\d+) errors? occurred:/.exec(first)?.[1];
          // One line, or "N errors occurred:" and then one line per error (type errors add
          // tab-indented have/want lines, as OPA prints them).
          const expectedLines = n && first.endsWith(':') ? Number(n) + 1 : 1;
          const lines = r.out.trimEnd().split('\n').filter((l) => !l.startsWith('\t'));
          assert.equal(lines.length, expectedLines, `not one error line: ${JSON.stringify(r.out.slice(0, 300))}`);
        }
      }
      // `show` prints the active module, which must read back as Rego.
      s.reset();
      const shown = type('show').out;
      if (shown !== 'no rules defined\n') {
        assert.doesNotThrow(() => parseModule(shown, 'show', { regoVersion: 1 }), `show printed Rego that does not parse:\n${shown}`);
      }
      // After the storm: a fresh statement, pretty output, and the usual answers.
      type('pretty');
      type('pretty-limit 80');
      assert.equal(type('1 + 1').out, '2\n');
      assert.equal(stringifyJSON(JSON.parse(type('data.mock').out)), mock);
    }),
    { seed: SEED, numRuns: 120, includeErrorInReport: true },
  );
});

test('a statement left open swallows commands until it closes or an empty line ends it (as in OPA)', async () => {
  const { s, type } = session(await runtime());
  assert.equal(type('x := [1,').out, '');
  assert.equal(s.prompt, CONTINUATION_PROMPT);
  assert.equal(type('exit').out, ''); // part of the statement, not the command
  assert.match(type('').out, /^\d+ errors? occurred:[^]*rego_parse_error/);
  assert.equal(s.prompt, PROMPT);
  assert.equal(type('1 + 1').out, '2\n');
});

// ---------------------------------------------------------------------------------------------
// The stream loop: exit in the middle of a storm

test('runRepl: random lines with exit in the middle stop at exit; nothing after it is evaluated', async () => {
  const rt = await runtime();
  await fc.assert(
    fc.asyncProperty(fc.array(lineArb.filter((l) => !/^\s*exit\b/i.test(l)), { maxLength: 10 }), fc.array(lineArb, { maxLength: 5 }), async (before, afterExit) => {
      const input = new PassThrough();
      const output = new PassThrough();
      let out = '';
      output.on('data', (c: Buffer) => (out += c.toString()));
      const done = runRepl(rt, { input, output });
      // An empty line first ends whatever the storm left open; exit is then a command.
      input.write([...before, '', 'exit', '"after-exit-marker"', ...afterExit, ''].join('\n'));
      await done; // resolves at exit even though the input stays open
      input.end();
      assert.doesNotMatch(out, /after-exit-marker/);
      assert.doesNotMatch(out, UNEXPECTED);
    }),
    { seed: SEED, numRuns: 40, includeErrorInReport: true },
  );
});

// ---------------------------------------------------------------------------------------------
// The real CLI with a storm on stdin

/** The CLI built next to this test (dist/ when run by npm test, else this build's main). */
function cliArgv(args: string[]): string[] {
  const main = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  if (main === join(root, 'dist', 'src', 'cli', 'main.js') || !existsSync(main)) return [join(root, 'bin', 'image-enforcer.js'), ...args];
  const code = `const { main } = await import(${JSON.stringify(new URL('../src/cli/main.js', import.meta.url).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return ['--input-type=module', '-e', code, ...args];
}

test('CLI: run with a storm of random lines on stdin still answers afterwards and exits 0 at end of input', async () => {
  const storm = fc.sample(fc.array(lineArb.filter((l) => !/^\s*exit\b/i.test(l) && !l.startsWith('dump')), { minLength: 40, maxLength: 40 }), { seed: SEED, numRuns: 1 })[0];
  const child = spawn(process.execPath, cliArgv(['run', 'policies', 'data']), { cwd: root, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  child.stdin.end([...storm, '', 'pretty', '"marker"', '1 + 1', 'data.mock.allowed.spec.namespace', ''].join('\n'));
  assert.equal(await exit, 0, err);
  assert.equal(err, '');
  assert.doesNotMatch(out, UNEXPECTED);
  const tail = out.slice(out.lastIndexOf('"marker"'));
  assert.match(tail, /^"marker"\n> 2\n> "production"\n> $/);
});
