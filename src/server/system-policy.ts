// The server's own policies (data.system.authz.allow, data.system.log.drop and .mask): a fixed
// query evaluated against the current policy and data, with the server's builtin hooks and its
// evaluation time limit.
import type { BuiltinHooks } from '../rego/builtins/registry.js';
import type { Value } from '../rego/value.js';
import type { Runtime } from '../runtime/runtime.js';

export interface SystemPolicyOptions {
  hooks: BuiltinHooks;
  evalTimeoutMs: number;
}

/** The value of `query` for `input`, or undefined; throws what evaluation throws. */
export function evaluateSystemPolicy(runtime: Runtime, query: string, input: Value, o: SystemPolicyOptions): Value | undefined {
  return runtime.prepare(query).evalValue({
    input,
    data: runtime.store.snapshot(),
    hooks: o.hooks,
    deadline: Date.now() + o.evalTimeoutMs,
  });
}
