// image-enforcer as a library: the Rego engine, a running policy runtime, the policy server and
// the admission handler. The command line (src/cli) is built on exactly these.
export * from './rego/index.js';
export { fromJSON, toJSON, parseJSON, stringifyJSON, RObject, RSet } from './rego/value.js';
export type { Value } from './rego/value.js';
export { Runtime } from './runtime/runtime.js';
export type { RuntimeOptions } from './runtime/runtime.js';
export { loadPolicySet } from './runtime/policy-set.js';
export { runTests } from './runtime/tester.js';
export { createServer, runServer } from './server/index.js';
export type { ServerOptions, ServerHandle } from './server/index.js';
export { admit } from './kube/admission.js';
export { parseImageReference } from './kube/reference.js';
