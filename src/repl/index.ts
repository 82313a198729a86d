// The interactive shell of `image-enforcer run` (like `opa run` without --server): reads lines
// with node:readline (history, Ctrl+C clears the line, Ctrl+L clears the screen, Ctrl+D or
// `exit` quits), hands them to a ReplSession, and with -w prints a line after each reload.
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ReloadEvent, Runtime } from '../runtime/runtime.js';
import { ReplSession } from './session.js';

export { ReplSession, describeError, PROMPT, CONTINUATION_PROMPT } from './session.js';
export type { SessionOptions, LineOutcome } from './session.js';
export { needsMore } from './lines.js';
export { prettyResults, jsonResults, renderTable, formatRegoErrors } from './present.js';

export interface ReplOptions {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** Treat the streams as a terminal (line editing, history keys). */
  terminal?: boolean;
  /** File to load history from and save it to. */
  historyFile?: string;
  /** Printed before the first prompt. */
  banner?: string;
}

const HISTORY_SIZE = 1000;

function loadHistory(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-HISTORY_SIZE);
  } catch {
    return []; // no history yet
  }
}

function saveHistory(file: string | undefined, lines: string[], output: NodeJS.WritableStream): void {
  if (!file) return;
  try {
    writeFileSync(file, lines.slice(-HISTORY_SIZE).join('\n') + (lines.length ? '\n' : ''));
  } catch (e) {
    output.write(`warning: cannot save history to ${file}: ${(e as Error).message}\n`);
  }
}

/** Runs the shell until `exit` or end of input. */
export function runRepl(runtime: Runtime, opts: ReplOptions): Promise<void> {
  const { input, output } = opts;
  const write = (s: string) => {
    output.write(s);
  };
  const session = new ReplSession(runtime, write);
  // Oldest first; readline wants newest first.
  const history = loadHistory(opts.historyFile);
  const rl = createInterface({
    input,
    output,
    terminal: opts.terminal ?? false,
    prompt: session.prompt,
    history: [...history].reverse(),
    historySize: HISTORY_SIZE,
    removeHistoryDuplicates: false,
    completer: (line: string): [string[], string] => {
      const word = /[\w.\[\]"]*$/.exec(line)?.[0] ?? '';
      return [session.complete(word), word];
    },
  });

  const onReload = (ev: ReloadEvent) => {
    write('\n' + session.reloadMessage(ev));
    rl.setPrompt(session.prompt);
    rl.prompt(true);
  };
  runtime.on('reload', onReload);

  return new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      runtime.off('reload', onReload);
      saveHistory(opts.historyFile, history, output);
      resolve();
    };

    rl.on('line', (line) => {
      if (done) return;
      if (line.trim() !== '') history.push(line);
      const outcome = session.line(line);
      if (outcome === 'exit') {
        rl.close();
        return;
      }
      rl.setPrompt(session.prompt);
      rl.prompt();
    });
    rl.on('SIGINT', () => {
      // Like OPA: Ctrl+C abandons the current (possibly multi-line) statement.
      session.reset();
      write('\n');
      rl.setPrompt(session.prompt);
      rl.prompt();
    });
    rl.on('close', () => {
      if (!done) {
        session.flush();
        if (opts.terminal) write('\n');
      }
      finish();
    });

    if (opts.banner) write(opts.banner + '\n');
    rl.prompt();
  });
}
