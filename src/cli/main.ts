// The `image-enforcer` command line: argument parsing, exit codes and human output.
// Each command's work lives in the layers below (runtime/, server/, repl/, sync/).
import { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parseJSONValue, parseYAMLValue } from '../loader/index.js';
import { RegoErrors, isStackOverflow } from '../rego/errors.js';
import { prepareQuery } from '../rego/index.js';
import { parseModule } from '../rego/parser.js';
import { stringifyJSON, type Value } from '../rego/value.js';
import { loadPolicySet } from '../runtime/policy-set.js';
import { ExitCode, UserError, formatOption, regoVersionOf } from './common.js';
import { formatErrors, resultSetJSON, resultSetPretty, userErrors } from './output.js';
import { registerRunCommand } from './run.js';
import { registerSyncCommand } from './sync.js';
import { registerReviewCommand } from './review.js';
import { registerTestCommand } from './test.js';
import { Coverage } from '../rego/coverage.js';
import { renderTable } from '../repl/present.js';

const STRICT_HELP = "OPA's compiler strict mode: unused imports, assignments and function arguments are errors, and Rego v0 modules get Rego v1's checks";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function readErrorText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code ?? (e as Error).message;
}

/** The segments of a --package path (`a.b`, `data.a["b-c"]`), read as a package clause is. */
function packagePath(pkg: string): string[] {
  const bad = (): UserError => new UserError(`invalid --package ${JSON.stringify(pkg)}: expected a package path such as a.b or a["b-c"]`);
  let m;
  try {
    m = parseModule(`package ${pkg.replace(/^data\./, '')}\n`, '--package');
  } catch (e) {
    if (e instanceof RegoErrors) throw bad();
    throw e;
  }
  if (m.rules.length > 0 || m.imports.length > 0) throw bad();
  return m.package.path.terms.slice(1).map((t) => (t.type === 'string' ? t.value : t.type === 'var' ? t.name : String(t.type)));
}

async function readInput(file: string): Promise<Value> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read input file ${file}: ${readErrorText(e)}`);
  }
  try {
    return /\.ya?ml$/i.test(file) ? parseYAMLValue(text) : parseJSONValue(text);
  } catch (e) {
    throw new UserError(`${file}: invalid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`);
  }
}


export function buildProgram(): Command {
  const program = new Command();
  program
    .name('image-enforcer')
    .description('Decide which container images may run on Kubernetes, with policies in Rego')
    .option('--debug', 'print stack traces for unexpected errors')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ outputError: (str, write) => write(str) });

  program
    .command('eval')
    .description('evaluate a Rego query (like `opa eval`)')
    .argument('<query>', 'the query, e.g. data.io.k8s.image_policy.verify')
    .option('-d, --data <path>', 'policy or data file or directory (repeatable; prefix:path allowed)', collect, [])
    .option('-i, --input <file>', 'input document (JSON or YAML)')
    .addOption(formatOption(['json', 'pretty'], 'json'))
    .option('--fail', 'exit 1 when the result is undefined')
    .option('--fail-defined', 'exit 1 when the result is defined')
    .option('--v0-compatible', 'accept only Rego v0 syntax (policies written for OPA before 1.0)')
    .option('--strict-builtin-errors', 'treat builtin errors as fatal')
    .option('--package <path>', 'package whose rules the query may name without data. prefix')
    .option('--coverage', 'also report which lines of the policies the evaluation reached (as opa eval --coverage)')
    .option('-S, --strict', STRICT_HELP)
    .action(async (query: string, o) => {
      const set = await loadPolicySet(o.data, { regoVersion: regoVersionOf(o), strict: o.strict === true });
      const input = o.input ? await readInput(o.input) : undefined;
      const pkg = o.package === undefined ? undefined : packagePath(String(o.package));
      const coverage = o.coverage ? new Coverage() : undefined;
      coverage?.instrument(set.policy);
      const q = prepareQuery(set.policy, query, { package: pkg });
      const { results } = q.eval({
        input,
        data: set.data,
        strictBuiltinErrors: o.strictBuiltinErrors,
        hooks: { print: (msg) => process.stderr.write(msg + '\n') },
      });
      if (o.format === 'pretty') {
        let text = resultSetPretty(results);
        if (coverage) text += '\n' + renderTable([], [['Overall Coverage', coverage.report().coverage.toFixed(2)]]).replace(/\n$/, '');
        process.stdout.write(text + '\n');
      } else {
        const out = resultSetJSON(results) as Record<string, unknown>;
        if (coverage) out.coverage = coverage.report();
        process.stdout.write(stringifyJSON(out, 2, false) + '\n');
      }
      if (o.fail && results.length === 0) throw new ExitCode(1);
      if (o.failDefined && results.length > 0) throw new ExitCode(1);
    });

  registerTestCommand(program);

  program
    .command('check')
    .description('parse and compile policies, reporting every error (like `opa check`)')
    .argument('<paths...>', 'policy files or directories')
    .addOption(formatOption(['pretty', 'json'], 'pretty'))
    .option('--v0-compatible', 'accept only Rego v0 syntax')
    .option('-S, --strict', STRICT_HELP)
    .action(async (paths: string[], o) => {
      try {
        await loadPolicySet(paths, { regoVersion: regoVersionOf(o), strict: o.strict === true });
      } catch (e) {
        const errs = userErrors(e);
        if (!errs) throw e;
        if (o.format === 'json') process.stdout.write(stringifyJSON({ errors: errs }, 2, false) + '\n');
        else process.stderr.write(formatErrors(errs) + '\n');
        throw new ExitCode(1);
      }
    });

  program
    .command('capabilities')
    .description("print the builtins and language features this engine supports, in OPA's capabilities JSON format")
    .action(async () => {
      const { capabilities } = await import('../rego/capabilities.js');
      process.stdout.write(JSON.stringify(capabilities(), null, 2) + '\n');
    });

  registerRunCommand(program);
  registerSyncCommand(program);
  registerReviewCommand(program);
  return program;
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof ExitCode) return e.code;
    const ce = e as { code?: string; exitCode?: number };
    if (typeof ce.code === 'string' && ce.code.startsWith('commander.')) {
      // --help and --version exit 0; usage errors were already printed.
      return ce.exitCode ?? 1;
    }
    const errs = userErrors(e);
    if (errs) {
      process.stderr.write(formatErrors(errs) + '\n');
      return 1;
    }
    if (e instanceof UserError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    if (argv.includes('--debug')) process.stderr.write(((e as Error).stack ?? String(e)) + '\n');
    else if (isStackOverflow(e)) {
      // The engine recurses on nested terms; a policy or query nested past the stack gets a
      // message a user can act on instead of V8's bare text.
      process.stderr.write('error: a policy, query or document is nested too deeply to compile or evaluate (the JavaScript stack ran out); split deeply nested expressions into smaller rules\n');
    } else process.stderr.write(`error: ${(e as Error).message ?? String(e)} (run with --debug for details)\n`);
    return 1;
  }
}


