// Builtins of OPA's "objects" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
