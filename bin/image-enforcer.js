#!/usr/bin/env node
// Entry point of the `image-enforcer` command (compiled TypeScript lives in dist/).
import { main } from '../dist/src/cli/main.js';

// A closed pipe (e.g. `image-enforcer capabilities | head`) is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

process.exitCode = await main(process.argv.slice(2));
