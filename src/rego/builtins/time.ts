// Builtins of OPA's "time" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
