// Builtins of OPA's "regex" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
