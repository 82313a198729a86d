// Builtins of OPA's "strings" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
