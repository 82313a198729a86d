// Builtins of OPA's "uuid" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
