// Builtins of OPA's "http" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
