// Builtins of OPA's "types" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
