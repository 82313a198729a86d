#!/usr/bin/env node
// Entry point of the `image-enforcer` command (compiled TypeScript lives in dist/).
import { main } from '../dist/src/cli/main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
