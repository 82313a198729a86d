// Builtins of OPA's "aggregates" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
