// `image-enforcer test`: `opa test` semantics (runtime/tester.ts), with coverage (rego/coverage.ts)
// and a watch mode.
import { InvalidArgumentError, type Command } from 'commander';
import { watchPaths } from '../loader/index.js';
import { Coverage } from '../rego/coverage.js';
import { stringifyJSON } from '../rego/value.js';
import { coalesce } from '../runtime/coalesce.js';
import { loadPolicySet } from '../runtime/policy-set.js';
import { formatCoverageShortfall, formatTestReport, runTests } from '../runtime/tester.js';
import { ExitCode, UserError, formatOption, regoVersionOf } from './common.js';
import { formatErrors, userErrors } from './output.js';

interface TestCommandOptions {
  format: 'pretty' | 'json';
  verbose?: boolean;
  run?: string;
  timeout?: number;
  v0Compatible?: boolean;
  strictBuiltinErrors?: boolean;
  coverage?: boolean;
  threshold?: number;
  watch?: boolean;
}

/** One `test` run: loads the paths, runs the tests, prints the results; returns the exit code. */
async function testOnce(paths: string[], o: TestCommandOptions, run: RegExp | undefined): Promise<number> {
  const set = await loadPolicySet(paths, { regoVersion: regoVersionOf(o) });
  const coverage = o.coverage || o.threshold !== undefined ? new Coverage() : undefined;
  const results = runTests(set.policy, {
    data: set.data,
    run,
    strictBuiltinErrors: o.strictBuiltinErrors,
    timeoutMs: o.timeout ? o.timeout * 1000 : undefined,
    coverage,
  });
  const failed = results.some((r) => r.fail || r.error);
  if (coverage) {
    // As opa test: failures instead of the report, and no report when below the threshold.
    if (failed) {
      process.stderr.write(formatTestReport(results, false) + '\n');
      return 2;
    }
    const report = coverage.report();
    const threshold = o.threshold ?? 0;
    if (report.coverage < threshold) {
      process.stderr.write(formatCoverageShortfall(report, threshold, Boolean(o.verbose)) + '\n');
      return 2;
    }
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    return 0;
  }
  if (o.format === 'json') process.stdout.write(stringifyJSON(results, 2, false) + '\n');
  else process.stdout.write(formatTestReport(results, Boolean(o.verbose)) + '\n');
  return failed ? 2 : 0;
}

/**
 * `test --watch`, as `opa test -w`: runs the tests, then again after every change to the files
 * and directories given, until SIGINT or SIGTERM (exit 0). Errors in the files are printed and
 * the watch goes on.
 */
async function watchTests(paths: string[], o: TestCommandOptions, run: RegExp | undefined): Promise<void> {
  const once = async (): Promise<void> => {
    try {
      await testOnce(paths, o, run);
    } catch (e) {
      const errs = userErrors(e);
      // The watch goes on whatever went wrong: the next save may fix it.
      if (errs) process.stderr.write(formatErrors(errs) + '\n');
      else process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
    }
    process.stdout.write(`${'*'.repeat(80)}\nWatching for changes ...\n`);
  };
  // Runs never overlap (coalesce). The watch starts before the first run, so no change after the
  // first banner is missed.
  const rerun = coalesce(once);
  const watcher = watchPaths(paths, () => void rerun(), { onError: (e) => process.stderr.write(`watch: ${e.message}\n`) });
  void rerun();
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      watcher.close();
      resolve();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export function registerTestCommand(program: Command): void {
  program
    .command('test')
    .description('run Rego tests: rules named test_* (like `opa test`)')
    .argument('<paths...>', 'policy and data files or directories')
    .addOption(formatOption(['pretty', 'json'], 'pretty'))
    .option('-v, --verbose', 'report every test, not only failures')
    .option('-r, --run <regex>', 'run only tests whose data.<package>.<name> matches')
    .option('-t, --timeout <seconds>', 'time limit per test', (v) => {
      const n = Number(v.replace(/s$/, ''));
      if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
      return n;
    })
    .option('--v0-compatible', 'accept only Rego v0 syntax')
    .option('--strict-builtin-errors', 'treat builtin errors as fatal')
    .option('-c, --coverage', 'print the coverage report (JSON, as opa test --coverage) instead of the results')
    .option('--threshold <percent>', 'fail (exit 2) when coverage is below this percentage (implies --coverage)', (v) => {
      const n = Number(v);
      if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('code coverage threshold must be between 0 and 100');
      return n;
    })
    .option('-w, --watch', 'run the tests again whenever a policy or data file changes (until interrupted)')
    .action(async (paths: string[], o: TestCommandOptions) => {
      let run: RegExp | undefined;
      if (o.run) {
        try {
          run = new RegExp(o.run);
        } catch (e) {
          throw new UserError(`invalid --run pattern: ${(e as Error).message}`);
        }
      }
      if (!o.watch) {
        const code = await testOnce(paths, o, run);
        if (code !== 0) throw new ExitCode(code);
        return;
      }
      await watchTests(paths, o, run);
    });
}
