// Builtins of OPA's "numbers" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
