// Builtins of OPA's "crypto" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
