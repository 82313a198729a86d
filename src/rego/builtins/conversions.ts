// Builtins of OPA's "conversions" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
