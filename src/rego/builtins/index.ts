// Imports every builtin category so that the table is complete.
import './comparison.js';
import './numbers.js';
import './aggregates.js';
import './arrays.js';
import './sets.js';
import './objects.js';
import './types.js';
import './conversions.js';
import './strings.js';
import './regex.js';
import './glob.js';
import './encoding.js';
import './units.js';
import './semver.js';
import './time.js';
import './crypto.js';
import './jwt.js';
import './net.js';
import './graph.js';
import './uuid.js';
import './misc.js';
import './http.js';
import './schema.js';
import './bits.js';
import './extra.js';

export { getBuiltin, allBuiltins, checkOperands, registerBuiltins } from './registry.js';
export type { BuiltinDef, BuiltinContext, BuiltinHooks, TypeSpec } from './registry.js';
