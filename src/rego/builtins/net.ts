// Builtins of OPA's "net" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
