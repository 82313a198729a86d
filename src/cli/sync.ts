// `image-enforcer sync`: the layer sync daemon (the original clair-layer-sync), with its flags.
// Flag parsing and the loop live in src/sync; this only adapts them to the command line.
import type { Command } from 'commander';
import { UserError } from './common.js';

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('replicate image manifests from registries, have Clair index their layers, and push both into the policy data (see sync --help)')
    .helpOption(false)
    .allowUnknownOption(true)
    .allowExcessArguments(true)
    .argument('[flags...]')
    .action(async (_flags: string[], _opts: unknown, cmd: Command) => {
      const { parseSyncFlags, runSync, SyncError, SYNC_HELP, HELP_REQUESTED } = await import('../sync/index.js');
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
      }
    });
}
