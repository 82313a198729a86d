// Structured logs: one JSON object per line. Server logs (start, stop, reloads, errors) and the
// decision log (one line per policy decision) are separate streams with separate targets.
import { stringifyJSON } from '../rego/value.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Where lines go: anything with a write(string) method (process.stderr, a test's collector). */
export interface LineSink {
  write(line: string): unknown;
}

export class JsonLogger {
  constructor(
    private readonly sink: LineSink | undefined,
    private readonly minLevel: LogLevel = 'info',
  ) {}

  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    if (!this.sink || ORDER[level] < ORDER[this.minLevel]) return;
    const line = { level, msg, time: new Date().toISOString(), ...fields };
    try {
      this.sink.write(stringifyJSON(line, 0, false) + '\n');
    } catch {
      // A broken log pipe must not take the server down.
    }
  }

  info(msg: string, fields?: Record<string, unknown>): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.log('error', msg, fields);
  }
}
