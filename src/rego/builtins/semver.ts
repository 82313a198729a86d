// Builtins of OPA's "semver" category. Registered at import time.
import { registerBuiltins } from './registry.js';

registerBuiltins();
