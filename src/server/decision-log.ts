// The decision log: one JSON line per policy decision (Data API reads, v0 webhook calls and the
// default decision), in the spirit of OPA's console decision logger. Every line carries the
// decision id (also returned to v1 clients), the path, the input, the result (or the error) and
// the time taken.
import { randomUUID } from 'node:crypto';
import type { Value } from '../rego/value.js';
import { formatNumber, stringifyJSON } from '../rego/value.js';
import type { ErrorBody } from './errors.js';
import type { LineSink } from './log.js';

export interface Decision {
  decisionId: string;
  /** The data path, e.g. "io/k8s/image_policy/verify". */
  path: string;
  input?: Value;
  result?: Value;
  /** Paths the mask policy erased or replaced (log-policy.ts). */
  erased?: string[];
  masked?: string[];
  error?: ErrorBody;
  requestedBy: string;
  evalNs: bigint;
  handlerNs: bigint;
}

export class DecisionLogger {
  /** The labels never change: serialised once. */
  private readonly labelsJSON: string;
  private lastMs = NaN;
  private lastTimestamp = '';

  constructor(
    private readonly sink: LineSink,
    labels: Record<string, string>,
  ) {
    this.labelsJSON = stringifyJSON(labels, 0, false);
  }

  newId(): string {
    return randomUUID();
  }

  /**
   * One line per decision, written on the request path: the envelope's field names and order are
   * fixed, so it is written out directly and only the documents (input, result, error) go through
   * the generic serialiser. The output is what stringifyJSON(line, 0, false) gives for the same
   * line as an object (test/server-decision-log.test.ts holds the two side by side).
   */
  log(d: Decision): void {
    const q = JSON.stringify;
    let line = `{"level":"info","msg":"Decision Log","decision_id":${q(d.decisionId)},"labels":${this.labelsJSON},"path":${q(d.path)}`;
    if (d.input !== undefined) line += `,"input":${stringifyJSON(d.input, 0, false)}`;
    if (d.result !== undefined) line += `,"result":${stringifyJSON(d.result, 0, false)}`;
    if (d.erased) line += `,"erased":${stringifyJSON(d.erased, 0, false)}`;
    if (d.masked) line += `,"masked":${stringifyJSON(d.masked, 0, false)}`;
    if (d.error !== undefined) line += `,"error":${stringifyJSON(d.error, 0, false)}`;
    line +=
      `,"requested_by":${q(d.requestedBy)},"timestamp":"${this.timestamp()}"` +
      `,"metrics":{"timer_rego_query_eval_ns":${formatNumber(d.evalNs)},"timer_server_handler_ns":${formatNumber(d.handlerNs)}}` +
      `,"duration_ms":${formatNumber(Number(d.handlerNs) / 1e6)},"type":"openpolicyagent.org/decision_logs"}\n`;
    try {
      this.sink.write(line);
    } catch {
      // A closed stdout must not fail the decision that was already made.
    }
  }

  /** Now as ISO 8601; busy servers log many decisions per millisecond, so it is formatted once per millisecond. */
  private timestamp(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastTimestamp = new Date(ms).toISOString();
    }
    return this.lastTimestamp;
  }
}
