// Builtins of OPA's "encoding" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
