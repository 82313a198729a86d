// Builtins of OPA's "opa" and "tracing" categories (opa.runtime, trace). Registered at import time.
//
// The rego core does no I/O: opa.runtime() reports what the embedding program supplies through
// the `runtime` hook (environment, version, config), and trace() only returns true — the
// evaluator records the note itself when explanations are collected.
import { RObject } from '../value.js';
import { registerBuiltins } from './registry.js';

registerBuiltins(
  {
    name: 'opa.runtime',
    args: [],
    result: 'object[string,any]',
    category: 'opa',
    nondeterministic: true,
    impl: (_args, ctx) => ctx.hooks.runtime?.() ?? RObject.from([['env', new RObject()]]),
  },
  {
    name: 'trace',
    args: ['string'],
    result: 'boolean',
    category: 'tracing',
    impl: () => true,
  },
);
