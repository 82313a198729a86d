// Builtins of OPA's "units" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
