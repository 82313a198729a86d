// Policies over the decision log, as OPA has them: `data.system.log.drop` (true: the decision is
// not logged) and `data.system.log.mask` (what to erase or replace in the logged input and
// result, see log-mask.ts). Both are evaluated with the decision log event as input. When
// neither is defined (the usual case) a decision costs one lookup per policy generation.
//
// As in OPA, a drop or mask policy that fails leaves the decision out of the log (and logs the
// error): logging it unmasked could leak what the mask was written to hide.
import { hasRulesAt } from '../rego/data-conflicts.js';
import { RObject, fromJSON, type Value } from '../rego/value.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Decision } from './decision-log.js';
import { applyMask, parseMaskRules } from './log-mask.js';
import type { JsonLogger } from './log.js';
import { evaluateSystemPolicy, type SystemPolicyOptions } from './system-policy.js';

const DROP = ['system', 'log', 'drop'];
const MASK = ['system', 'log', 'mask'];

export interface LogPolicyOptions extends SystemPolicyOptions {
  runtime: Runtime;
  logger: JsonLogger;
  /** The decision log's labels, part of the event the policies see. */
  labels: Record<string, string>;
}

export class DecisionLogPolicy {
  private generation = -1;
  private dropRules = false;
  private maskRules = false;

  constructor(private readonly o: LogPolicyOptions) {}

  /** The decision as it should be logged, or undefined when it must not be logged. */
  apply(d: Decision): Decision | undefined {
    this.refreshRules();
    const store = this.o.runtime.store;
    const drop = this.dropRules || store.read(DROP) !== undefined;
    const mask = this.maskRules || store.read(MASK) !== undefined;
    if (!drop && !mask) return d;
    const event = this.event(d);
    let policy = 'data.system.log.drop';
    try {
      if (drop && this.evaluate(policy, event) === true) return undefined;
      if (!mask) return d;
      policy = 'data.system.log.mask';
      const rules = this.evaluate(policy, event);
      return rules === undefined ? d : { ...d, ...applyMask(d, parseMaskRules(rules)) };
    } catch (e) {
      this.o.logger.error('decision log policy failed: the decision is not logged', {
        decision_id: d.decisionId,
        policy,
        error: (e as Error)?.message ?? String(e),
      });
      return undefined;
    }
  }

  /** Where rules are is worked out once per policy generation. */
  private refreshRules(): void {
    if (this.generation === this.o.runtime.generation) return;
    const rules = this.o.runtime.rulePaths();
    this.dropRules = hasRulesAt(rules, DROP);
    this.maskRules = hasRulesAt(rules, MASK);
    this.generation = this.o.runtime.generation;
  }

  private evaluate(query: string, input: Value): Value | undefined {
    return evaluateSystemPolicy(this.o.runtime, query, input, this.o);
  }

  /** The decision log event as OPA's policies see it (its JSON field names). */
  private event(d: Decision): Value {
    const e = new RObject();
    e.set('decision_id', d.decisionId);
    e.set('labels', RObject.from(Object.entries(this.o.labels)));
    e.set('path', d.path);
    if (d.input !== undefined) e.set('input', d.input);
    if (d.result !== undefined) e.set('result', d.result);
    if (d.error !== undefined) e.set('error', fromJSON(d.error));
    e.set('requested_by', d.requestedBy);
    e.set('timestamp', new Date().toISOString());
    return e;
  }
}
