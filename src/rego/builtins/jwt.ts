// Builtins of OPA's "jwt" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
