// Small pieces shared by the command modules (kept apart from main.ts to avoid import cycles).
import { Option } from 'commander';

/** Thrown by commands to exit with a code after printing their own output. */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export interface CommonFlags {
  v0Compatible?: boolean;
  debug?: boolean;
}

export function regoVersionOf(flags: CommonFlags): 0 | 'auto' {
  return flags.v0Compatible ? 0 : 'auto';
}

/** An error whose message is meant for the user as is. */
export class UserError extends Error {}

/** The -f/--format option of eval, test and check. */
export function formatOption(choices: string[], def: string): Option {
  return new Option('-f, --format <format>', 'output format').choices(choices).default(def);
}
