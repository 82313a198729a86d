// Builtins of OPA's "glob" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
