// Public surface of the loader layer.
export { load, splitPrefix, cleanPath, DATA_EXTENSIONS, REGO_EXTENSION } from './loader.js';
export type { LoadOptions, LoadResult, LoadedModule, ParseModuleFn, RegoVersionOption } from './loader.js';
export { LoadError, LoadErrors } from './errors.js';
export type { LoadErrorKind } from './errors.js';
export { parseJSONValue, parseJSONExact, JSONSyntaxError } from './json.js';
export { parseYAMLValue, YAMLDataError, MAX_YAML_DEPTH, yamlNestedDeeperThan } from './yaml.js';
export { globMatch, compileGlob, GlobPatternError } from './glob.js';
export { formatDataPath } from './merge.js';
export { watchPaths } from './watch.js';
export type { Watcher, WatchOptions } from './watch.js';
