// Builtins of OPA's "schema" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
