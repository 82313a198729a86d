// Builtins of OPA's "misc" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
