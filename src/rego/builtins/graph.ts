// Builtins of OPA's "graph" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
