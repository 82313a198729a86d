// `image-enforcer sync`: the layer sync daemon (the original clair-layer-sync), with its flags.
// Flag parsing and the loop live in src/sync; this only adapts them to the command line.
import type { Command } from 'commander';
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import { UserError } from './common.js';

/** GET /metrics (Prometheus text) on `addr`; any other request is a 404. */
async function serveMetrics(addr: string, registry: Registry): Promise<Server> {
  const { parseAddr, listen, ServerStartError } = await import('../server/index.js');
  const { host, port } = parseAddr(addr, '--metrics-addr');
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('the sync serves GET /metrics only\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  try {
    await listen(server, host, port, `--metrics-addr ${addr}`);
  } catch (e) {
    throw e instanceof ServerStartError ? new UserError(e.message) : e;
  }
  return server;
}

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('replicate image manifests from registries, have Clair index their layers, and push both into the policy data (see sync --help)')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[flags...]')
    .action(async (_flags: string[], _opts: unknown, cmd: Command) => {
      const { parseSyncFlags, runSync, createSyncMetrics, SyncError, SYNC_HELP, HELP_REQUESTED } = await import('../sync/index.js');
      let options;
      try {
        options = parseSyncFlags(cmd.args, process.env);
      } catch (e) {
        if (e instanceof SyncError && e.message === HELP_REQUESTED) {
          process.stdout.write(SYNC_HELP.endsWith('\n') ? SYNC_HELP : SYNC_HELP + '\n');
          return;
        }
        if (e instanceof SyncError) throw new UserError(`${e.message} (${e.hint})`);
        throw e;
      }
      // --metrics-addr: Prometheus metrics of this process (alert on the last successful cycle).
      const metricsServer = options.metricsAddr ? await serveMetrics(options.metricsAddr, (options.metrics = createSyncMetrics()).registry) : undefined;
      // SIGTERM/SIGINT stop the loop between steps; data already pushed stays.
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      try {
        await runSync(options, stop.signal);
      } catch (e) {
        if (e instanceof SyncError) throw new UserError(`${e.message} (${e.hint})`);
        throw e;
      } finally {
        process.off('SIGTERM', onSignal);
        process.off('SIGINT', onSignal);
        metricsServer?.close();
      }
    });
}
