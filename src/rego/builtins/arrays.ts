// Builtins of OPA's "arrays" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
