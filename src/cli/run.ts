// `image-enforcer run`: the interactive shell (default) or, with --server, the policy server.
// Both run on a Runtime (src/runtime/runtime.ts) that loads the paths and, with -w, reloads them.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Runtime } from '../runtime/runtime.js';
import type { ServerOptions } from '../server/index.js';
import { UserError, regoVersionOf } from './common.js';

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

/** Whole seconds, 0 to an hour (OPA's --shutdown-*-period flags take seconds). */
function seconds(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 3600) throw new InvalidArgumentError(`${what} must be a whole number of seconds from 0 to 3600`);
    return n;
  };
}

/** Parses durations like 500ms, 5s, 2m, or a bare number of seconds. */
export function parseDurationMs(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`invalid duration "${v}" (examples: 500ms, 5s, 1m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000);
  // These are time limits for one request: beyond an hour (or beyond what a number holds, for a
  // long string of digits) they would limit nothing.
  if (!(ms <= MAX_LIMIT_MS)) throw new InvalidArgumentError(`duration "${v}" is too long: at most 1h`);
  return ms;
}

const MAX_LIMIT_MS = 3_600_000;

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('load policies and data, then open the interactive shell or (with --server) serve OPA\'s REST API')
    .argument('[paths...]', 'policy and data files or directories (prefix:path allowed)', [])
    .option('-s, --server', 'start the policy server instead of the shell')
    .option('-a, --addr <host:port>', 'address the server listens on', ':8181')
    .option('--diagnostic-addr <host:port>', 'also serve /health and /metrics here, over HTTP and without credentials (for probes and Prometheus)')
    .option('-w, --watch', 'reload files when they change')
    .option('--tls-cert-file <file>', 'serve HTTPS with this certificate (PEM); reloaded when it changes')
    .option('--tls-private-key-file <file>', 'private key (PEM) for --tls-cert-file')
    .addOption(new Option('--authentication <mode>', 'client authentication').choices(['off', 'token', 'tls']).default('off'))
    .option('--token-file <file>', 'file with the accepted bearer tokens, one per line (with --authentication=token)')
    .addOption(new Option('--authorization <mode>', 'request authorization: basic lets the policy data.system.authz.allow decide').choices(['off', 'basic']).default('off'))
    .option('--tls-ca-cert-file <file>', 'CA certificates (PEM) that sign accepted client certificates (with --authentication=tls); reloaded when it changes')
    .option('--max-body-size <bytes>', 'largest request body accepted', positiveInt('--max-body-size'), 8 * 1024 * 1024)
    .option('--eval-timeout <duration>', 'time limit for one policy evaluation', parseDurationMs, 5000)
    .addOption(new Option('--decision-log <target>', 'where decision log lines go').choices(['stdout', 'stderr', 'off']).default('stdout'))
    .addOption(
      new Option('--admission-failure-mode <mode>', 'admission webhook (/v1/admit) answer when the policy cannot be evaluated: deny, or allow with an audit annotation')
        .choices(['deny', 'allow'])
        .default('deny'),
    )
    .option('--admission-timeout <duration>', 'admission webhook evaluation limit; keep it below the webhook timeoutSeconds', parseDurationMs, 9000)
    .option('--shutdown-wait-period <seconds>', 'on SIGTERM, keep serving this long (readiness failing) before closing the port, while Kubernetes takes the pod out of its Services', seconds('--shutdown-wait-period'), 0)
    .option('--shutdown-grace-period <seconds>', 'then wait this long for requests in flight before dropping connections', seconds('--shutdown-grace-period'), 10)
    .option('--sync-config <file>', 'also run the layer sync in this process with this configuration (YAML)')
    .option('--allow-net <hosts>', 'let http.send reach these hosts (comma-separated); off by default')
    .option('--ignore <pattern>', 'file name pattern to skip when loading (repeatable)', (v: string, p: string[]) => [...p, v], [])
    .option('--history <file>', 'shell history file')
    .option('--v0-compatible', 'accept only Rego v0 syntax (policies written for OPA before 1.0)')
    .action(async (paths: string[], o) => {
      const runtime = await Runtime.start({
        paths,
        watch: Boolean(o.watch),
        regoVersion: regoVersionOf(o),
        ignore: o.ignore,
        disabledBuiltins: o.allowNet ? undefined : new Set(['http.send']),
      });
      if (o.server) {
        const opts: ServerOptions = {
          addr: o.addr,
          diagnosticAddr: o.diagnosticAddr,
          tlsCertFile: o.tlsCertFile,
          tlsPrivateKeyFile: o.tlsPrivateKeyFile,
          authentication: o.authentication,
          tokenFile: o.tokenFile,
          tlsCaCertFile: o.tlsCaCertFile,
          authorization: o.authorization,
          maxBodyBytes: o.maxBodySize,
          evalTimeoutMs: o.evalTimeout,
          decisionLog: o.decisionLog,
          syncConfig: o.syncConfig,
          shutdownWaitMs: o.shutdownWaitPeriod * 1000,
          shutdownTimeoutMs: o.shutdownGracePeriod * 1000,
          admissionFailureMode: o.admissionFailureMode,
          admissionTimeoutMs: o.admissionTimeout,
          allowNet: o.allowNet ? String(o.allowNet).split(',').map((h: string) => h.trim()).filter(Boolean) : undefined,
        };
        // Loaded on demand so that `eval` and `test` start fast.
        const { runServer, ServerStartError } = await import('../server/index.js');
        try {
          await runServer(runtime, opts);
        } catch (e) {
          // Flags, files and ports the user can fix: their message alone, no "--debug" hint.
          if (e instanceof ServerStartError) throw new UserError(e.message);
          const { SyncError } = await import('../sync/index.js');
          if (e instanceof SyncError) throw new UserError(`--sync-config: ${e.message} (${e.hint})`);
          throw e;
        }
      } else {
        const { runRepl } = await import('../repl/index.js');
        await runRepl(runtime, {
          input: process.stdin,
          output: process.stdout,
          terminal: Boolean(process.stdin.isTTY),
          historyFile: o.history,
        });
      }
      runtime.close();
    });
}
