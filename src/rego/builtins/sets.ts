// Builtins of OPA's "sets" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
