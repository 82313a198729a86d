// The decision log: one JSON line per policy decision (Data API reads, v0 webhook calls and the
// default decision), in the spirit of OPA's console decision logger. Every line carries the
// decision id (also returned to v1 clients), the path, the input, the result (or the error) and
// the time taken.
import { randomUUID } from 'node:crypto';
import type { Value } from '../rego/value.js';
import { stringifyJSON } from '../rego/value.js';
import type { ErrorBody } from './errors.js';
import type { LineSink } from './log.js';

export interface Decision {
  decisionId: string;
  /** The data path, e.g. "io/k8s/image_policy/verify". */
  path: string;
  input?: Value;
  result?: Value;
  error?: ErrorBody;
  requestedBy: string;
  evalNs: bigint;
  handlerNs: bigint;
}

export class DecisionLogger {
  constructor(
    private readonly sink: LineSink,
    private readonly labels: Record<string, string>,
  ) {}

  newId(): string {
    return randomUUID();
  }

  log(d: Decision): void {
    const line = {
      level: 'info',
      msg: 'Decision Log',
      decision_id: d.decisionId,
      labels: this.labels,
      path: d.path,
      input: d.input,
      result: d.result,
      error: d.error,
      requested_by: d.requestedBy,
      timestamp: new Date().toISOString(),
      metrics: {
        timer_rego_query_eval_ns: d.evalNs,
        timer_server_handler_ns: d.handlerNs,
      },
      duration_ms: Number(d.handlerNs) / 1e6,
      type: 'openpolicyagent.org/decision_logs',
    };
    try {
      this.sink.write(stringifyJSON(line, 0, false) + '\n');
    } catch {
      // A closed stdout must not fail the decision that was already made.
    }
  }
}
