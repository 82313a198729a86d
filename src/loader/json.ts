// The exact JSON parser lives with the values (src/rego/json.ts) so that every layer, from the
// engine up, parses JSON the same way; re-exported here for the loader's users.
export { parseJSONValue, parseJSONExact, JSONSyntaxError } from '../rego/json.js';
