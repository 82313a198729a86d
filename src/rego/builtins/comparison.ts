// Builtins of OPA's "comparison" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
