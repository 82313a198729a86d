// json.verify_schema and json.match_schema (OPA's "object" category). Registered at import time.
//
// Validation uses ajv (drafts 4, 6, 7, 2019-09 and 2020-12, chosen by `$schema`); results are
// reshaped into what OPA (which uses gojsonschema) returns:
//   json.verify_schema(s)      -> [true, null] | [false, "jsonschema: <reason>"]
//   json.match_schema(doc, s)  -> [ok, [{error, type, field, desc}, ...]]
// with gojsonschema's error types ("invalid_type", "required", ...), field paths ("(root)",
// "a.0.b") and descriptions. Known differences: errors are listed in ajv's order (mostly the
// same, parent errors such as anyOf/allOf are moved next to their children as gojsonschema
// does), remote `$ref`s are never fetched (the rego core has no network access), and `pattern`
// uses RE2 syntax like OPA.
import { createRequire } from 'node:module';
import type { Ajv as AjvInstance, ErrorObject, Options, ValidateFunction } from 'ajv';
import { RE2JS } from 're2js';
import { BuiltinError } from '../errors.js';
import { RObject, RSet, type Value } from '../value.js';
import { registerBuiltins } from './registry.js';

const require = createRequire(import.meta.url);
type AjvCtor = new (opts: Options) => AjvInstance;
type FormatsPlugin = (ajv: AjvInstance, formats?: string[]) => AjvInstance;

type Draft = 'draft-04' | 'draft-06' | 'draft-07' | '2019-09' | '2020-12';

/** Formats gojsonschema checks; others are ignored, as OPA ignores them. */
const CHECKED_FORMATS = [
  'date-time',
  'date',
  'time',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'uri',
  'uri-reference',
  'uri-template',
  'uuid',
  'regex',
  'json-pointer',
  'relative-json-pointer',
];

class InvalidPatternError extends Error {}

/** ajv's regular-expression hook: compile with RE2 (Go's regexp dialect), search unanchored. */
function re2Engine(pattern: string): { test: (s: string) => boolean } {
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch {
    throw new InvalidPatternError(pattern);
  }
  return { test: (s: string) => re.matcher(s).find() };
}

const instances = new Map<Draft, AjvInstance>();

function ajvFor(draft: Draft): AjvInstance {
  let ajv = instances.get(draft);
  if (ajv) return ajv;
  const opts: Options = {
    allErrors: true,
    verbose: true,
    strict: false,
    logger: false,
    validateFormats: true,
    code: { regExp: re2Engine as unknown as NonNullable<Options['code']>['regExp'] },
  };
  switch (draft) {
    case 'draft-04':
      ajv = new (require('ajv-draft-04') as { default: AjvCtor }).default(opts);
      break;
    case '2019-09':
      ajv = new (require('ajv/dist/2019') as { Ajv2019: AjvCtor }).Ajv2019(opts);
      break;
    case '2020-12':
      ajv = new (require('ajv/dist/2020') as { Ajv2020: AjvCtor }).Ajv2020(opts);
      break;
    default:
      ajv = new (require('ajv') as { Ajv: AjvCtor }).Ajv(opts);
      if (draft === 'draft-06') ajv.addMetaSchema(require('ajv/dist/refs/json-schema-draft-06.json') as object);
  }
  (require('ajv-formats') as { default: FormatsPlugin }).default(ajv, CHECKED_FORMATS);
  instances.set(draft, ajv);
  return ajv;
}

function draftOf(schema: unknown): Draft {
  if (schema !== null && typeof schema === 'object' && !Array.isArray(schema)) {
    const s = schema as Record<string, unknown>;
    const uri = typeof s.$schema === 'string' ? s.$schema : '';
    if (uri.includes('draft-04')) return 'draft-04';
    if (uri.includes('draft-06')) return 'draft-06';
    if (uri.includes('draft-07')) return 'draft-07';
    if (uri.includes('2019-09')) return '2019-09';
    if (uri.includes('2020-12')) return '2020-12';
    // Without $schema gojsonschema accepts every draft's keywords; draft-04's boolean
    // exclusiveMinimum/Maximum only parse as draft-04.
    if (uri === '' && usesDraft4Bounds(s, 0)) return 'draft-04';
  }
  return 'draft-07';
}

/** Whether a schema (at any depth) uses draft-04's boolean exclusiveMinimum/Maximum. */
function usesDraft4Bounds(x: unknown, depth: number): boolean {
  if (depth > 64 || x === null || typeof x !== 'object') return false;
  if (Array.isArray(x)) return x.some((y) => usesDraft4Bounds(y, depth + 1));
  const o = x as Record<string, unknown>;
  if (typeof o.exclusiveMinimum === 'boolean' || typeof o.exclusiveMaximum === 'boolean') return true;
  return Object.values(o).some((y) => usesDraft4Bounds(y, depth + 1));
}

// ---------------------------------------------------------------------------------------------
// Converting operands

/** Rego value -> plain JSON for ajv (numbers as JS numbers, sets as arrays). */
function toPlain(v: Value): unknown {
  if (v === null || typeof v !== 'object') return typeof v === 'bigint' ? Number(v) : v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof RSet) return v.values().map(toPlain);
  const out: Record<string, unknown> = {};
  for (const [k, x] of v.entries()) out[typeof k === 'string' ? k : JSON.stringify(toPlain(k))] = toPlain(x);
  return out;
}

function loadOperand(v: Value): unknown {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v) as unknown;
    } catch {
      throw new BuiltinError('invalid JSON string');
    }
  }
  if (v instanceof RObject || Array.isArray(v)) return toPlain(v);
  throw new BuiltinError('wrong type, expected string or object');
}

// ---------------------------------------------------------------------------------------------
// Compiling, with a small cache keyed by the schema text

type Compiled = { validate: ValidateFunction } | { error: string };
const compiled = new Map<string, Compiled>();
const CACHE_LIMIT = 256;

function compile(schema: unknown): Compiled {
  const draft = draftOf(schema);
  const key = draft + '\u0000' + JSON.stringify(schema);
  const hit = compiled.get(key);
  if (hit) return hit;
  const ajv = ajvFor(draft);
  schema = withKnownMetaSchema(ajv, schema);
  let result: Compiled;
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    result = { error: 'schema must be an object or a boolean' };
  } else {
    try {
      result = ajv.validateSchema(schema as object)
        ? { validate: ajv.compile(schema as object) }
        : { error: describeSchemaErrors(schema, ajv.errors ?? []) };
    } catch (e) {
      result = { error: e instanceof InvalidPatternError ? 'pattern must be a valid regex' : (e as Error).message };
    } finally {
      // A schema with an id is registered under it; forget it so the next schema may reuse it.
      const id = (schema as Record<string, unknown>).$id ?? (schema as Record<string, unknown>).id;
      if (typeof id === 'string') ajv.removeSchema(id);
    }
  }
  if (compiled.size >= CACHE_LIMIT) compiled.clear();
  compiled.set(key, result);
  return result;
}

/** A `$schema` ajv does not know (a custom meta-schema) is dropped: the draft's own applies. */
function withKnownMetaSchema(ajv: AjvInstance, schema: unknown): unknown {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema;
  const uri = (schema as Record<string, unknown>).$schema;
  if (uri === undefined) return schema;
  let known = false;
  try {
    known = typeof uri === 'string' && ajv.getSchema(uri.replace(/#$/, '')) !== undefined;
  } catch {
    known = false;
  }
  if (known) return schema;
  const copy = { ...(schema as Record<string, unknown>) };
  delete copy.$schema;
  return copy;
}

const PRIMITIVE_TYPES = '[array boolean integer number null object string]';

/** Turns ajv's meta-schema errors into one gojsonschema-style message. */
function describeSchemaErrors(schema: unknown, errors: ErrorObject[]): string {
  const typeErr = errors.find((e) => /(^|\/)type(\/[0-9]+)?$/.test(e.instancePath));
  if (typeErr) {
    return `has a primitive type that is NOT VALID -- given: /${String(pointerGet(schema, typeErr.instancePath))}/ Expected valid values are:${PRIMITIVE_TYPES}`;
  }
  const e = errors[0];
  if (!e) return 'invalid schema';
  const key = e.instancePath.split('/').pop() || '(root)';
  if (e.keyword === 'type') return `${key} must be of type ${String(e.params.type)}`;
  if (e.keyword === 'minimum' && e.params.limit === 0) return `${key} must be greater than or equal to 0`;
  if (e.keyword === 'uniqueItems') return `${key} items must be unique`;
  if (e.keyword === 'format' && e.params.format === 'regex') return `${key} must be a valid regex`;
  return `${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`;
}

function pointerGet(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const seg of pointer.split('/').slice(1)) {
    const k = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------
// Mapping ajv errors to gojsonschema's shape

interface SchemaError {
  type: string;
  field: string;
  desc: string;
  schemaPath: string;
  instancePath: string;
}

function fieldOf(instancePath: string): string {
  if (instancePath === '') return '(root)';
  return instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .join('.');
}

/**
 * gojsonschema prints limits as big.Float with %v: the shortest digits in %g form, which for
 * big.Float switches to exponent notation below 1e-4 and from 1e6 up (e.g. "1e+06").
 */
export function goLimit(n: unknown): string {
  if (typeof n !== 'number' || !Number.isFinite(n)) return String(n);
  if (n === 0) return '0';
  const [mant, expStr] = n.toExponential().split('e');
  const exp = Number(expStr);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(n);
}

function jsonTypeOf(x: unknown): string {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'number') return Number.isInteger(x) ? 'integer' : 'number';
  return typeof x;
}

function goJSON(x: unknown): string {
  return JSON.stringify(x).replace(/[<>&]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

function mapError(e: ErrorObject): SchemaError {
  const field = fieldOf(e.instancePath);
  const p = e.params as Record<string, unknown>;
  const mk = (type: string, desc: string, at = e.instancePath): SchemaError => ({
    type,
    field: fieldOf(at),
    desc,
    schemaPath: e.schemaPath,
    instancePath: at,
  });
  switch (e.keyword) {
    case 'type': {
      const types = Array.isArray(p.type) ? (p.type as string[]) : String(p.type).split(',');
      const expected = types.length === 1 ? types[0] : `[${types.join(',')}]`;
      return mk('invalid_type', `Invalid type. Expected: ${expected}, given: ${jsonTypeOf(e.data)}`);
    }
    case 'required':
      return mk('required', `${String(p.missingProperty)} is required`);
    case 'enum': {
      const allowed = Array.isArray(e.schema) ? (e.schema as unknown[]).map(goJSON) : [];
      return mk('enum', `${field} must be one of the following: ${allowed.length ? allowed.join(', ') : '(none)'}`);
    }
    case 'const':
      return mk('const', `${field} does not match: ${goJSON(e.schema)}`);
    case 'minLength':
      return mk('string_gte', `String length must be greater than or equal to ${String(p.limit)}`);
    case 'maxLength':
      return mk('string_lte', `String length must be less than or equal to ${String(p.limit)}`);
    case 'pattern':
      return mk('pattern', `Does not match pattern '${String(p.pattern)}'`);
    case 'format':
      return mk('format', `Does not match format '${String(p.format)}'`);
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum': {
      const lim = goLimit(p.limit);
      switch (p.comparison) {
        case '>=':
          return mk('number_gte', `Must be greater than or equal to ${lim}`);
        case '>':
          return mk('number_gt', `Must be greater than ${lim}`);
        case '<=':
          return mk('number_lte', `Must be less than or equal to ${lim}`);
        default:
          return mk('number_lt', `Must be less than ${lim}`);
      }
    }
    case 'multipleOf':
      return mk('multiple_of', `Must be a multiple of ${goLimit(p.multipleOf)}`);
    case 'minItems':
      return mk('array_min_items', `Array must have at least ${String(p.limit)} items`);
    case 'maxItems':
      return mk('array_max_items', `Array must have at most ${String(p.limit)} items`);
    case 'uniqueItems': {
      const i = Number(p.i);
      const j = Number(p.j);
      return mk('unique', `array items[${Math.min(i, j)},${Math.max(i, j)}] must be unique`);
    }
    case 'contains':
      return mk('contains', 'At least one of the items must match');
    case 'minProperties':
      return mk('array_min_properties', `Must have at least ${String(p.limit)} properties`);
    case 'maxProperties':
      return mk('array_max_properties', `Must have at most ${String(p.limit)} properties`);
    case 'additionalProperties':
      return mk('additional_property_not_allowed', `Additional property ${String(p.additionalProperty)} is not allowed`);
    case 'unevaluatedProperties':
      return mk('additional_property_not_allowed', `Additional property ${String(p.unevaluatedProperty)} is not allowed`);
    case 'propertyNames':
      return mk('invalid_property_name', `Property name of "${String(p.propertyName)}" does not match`);
    case 'dependencies':
    case 'dependentRequired':
      return mk('missing_dependency', `Has a dependency on ${String(p.missingProperty)}`);
    case 'anyOf':
      return mk('number_any_of', 'Must validate at least one schema (anyOf)');
    case 'oneOf':
      return mk('number_one_of', 'Must validate one and only one schema (oneOf)');
    case 'not':
      return mk('number_not', 'Must not validate the schema (not)');
    case 'if':
      return p.failingKeyword === 'else'
        ? mk('condition_else', 'Must validate "else" as "if" was not valid')
        : mk('condition_then', 'Must validate "then" as "if" was valid');
    case 'false schema':
      return mk('false', 'False always fails validation');
    case 'additionalItems':
    case 'unevaluatedItems':
    case 'items':
      return mk('array_no_additional_items', 'No additional items allowed on array');
    default:
      return mk(e.keyword, e.message ?? 'is invalid');
  }
}

/** Schema-path prefix under which a "parent" error's sub-errors are reported by ajv. */
function childPrefix(e: ErrorObject): string | undefined {
  switch (e.keyword) {
    case 'anyOf':
    case 'oneOf':
    case 'propertyNames':
      return e.schemaPath + '/';
    case 'if': {
      const base = e.schemaPath.slice(0, -'/if'.length);
      return `${base}/${String((e.params as Record<string, unknown>).failingKeyword)}/`;
    }
    default:
      return undefined;
  }
}

/** Number of instance-path segments consumed by the schema path below an applicator. */
function dataDepth(segments: string[]): number {
  let depth = 0;
  for (let i = 0; i < segments.length - 1; i++) {
    const s = segments[i];
    switch (s) {
      case 'properties':
      case 'patternProperties':
      case 'prefixItems':
        depth++;
        i++;
        break;
      case 'items':
        depth++;
        if (/^[0-9]+$/.test(segments[i + 1] ?? '') && i + 2 < segments.length) i++;
        break;
      case 'additionalProperties':
      case 'unevaluatedProperties':
      case 'additionalItems':
      case 'unevaluatedItems':
      case 'contains':
        depth++;
        break;
      case 'allOf':
      case 'anyOf':
      case 'oneOf':
      case 'dependencies':
      case 'dependentSchemas':
      case 'definitions':
      case '$defs':
        i++;
        break;
    }
  }
  return depth;
}

/** Reorders/filters ajv's flat error list the way gojsonschema nests its results. */
function shapeErrors(errors: ErrorObject[]): SchemaError[] {
  const out: SchemaError[] = [];
  for (const e of errors) {
    const mapped = mapError(e);
    const prefix = childPrefix(e);
    if (prefix === undefined) {
      out.push(mapped);
      continue;
    }
    let start = out.length;
    while (start > 0 && out[start - 1].schemaPath.startsWith(prefix)) start--;
    const children = out.splice(start);
    let keep = children;
    if (e.keyword === 'anyOf' || e.keyword === 'oneOf') {
      if ((e.params as Record<string, unknown>).passingSchemas) keep = [];
      else {
        // gojsonschema keeps only the closest branch: the one with the fewest errors.
        const branches = new Map<string, SchemaError[]>();
        for (const c of children) {
          const b = c.schemaPath.slice(prefix.length).split('/')[0];
          branches.set(b, [...(branches.get(b) ?? []), c]);
        }
        keep = [...branches.values()].reduce<SchemaError[] | undefined>(
          (best, cur) => (best === undefined || cur.length < best.length ? cur : best),
          undefined,
        ) ?? [];
      }
    }
    out.push(mapped, ...keep);
  }
  return withAllOfErrors(out);
}

/** gojsonschema reports a failed allOf after its sub-errors; ajv reports only the sub-errors. */
function withAllOfErrors(errors: SchemaError[]): SchemaError[] {
  const lastIndex = new Map<string, { at: number; instancePath: string; depth: number }>();
  errors.forEach((e, idx) => {
    const segs = e.schemaPath.replace(/^#\/?/, '').split('/');
    segs.forEach((s, k) => {
      if (s !== 'allOf' || k + 1 >= segs.length) return;
      const prefix = segs.slice(0, k + 1).join('/');
      const consumed = dataDepth(segs.slice(k + 2));
      const parts = e.instancePath.split('/');
      const instancePath = parts.slice(0, Math.max(1, parts.length - consumed)).join('/');
      lastIndex.set(prefix, { at: idx, instancePath, depth: k });
    });
  });
  if (lastIndex.size === 0) return errors;
  const inserts = [...lastIndex.entries()].sort((a, b) => a[1].at - b[1].at || b[1].depth - a[1].depth);
  const out = [...errors];
  for (const [prefix, info] of inserts.reverse()) {
    out.splice(info.at + 1, 0, {
      type: 'number_all_of',
      field: fieldOf(info.instancePath),
      desc: 'Must validate all the schemas (allOf)',
      schemaPath: '#/' + prefix,
      instancePath: info.instancePath,
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The builtins

export function verifySchema(schema: Value): Value[] {
  let plain: unknown;
  try {
    plain = loadOperand(schema);
  } catch (e) {
    return [false, 'jsonschema: ' + (e as Error).message];
  }
  const c = compile(plain);
  return 'error' in c ? [false, 'jsonschema: ' + c.error] : [true, null];
}

export function matchSchema(document: Value, schema: Value): Value[] {
  const doc = loadOperand(document);
  const c = compile(loadOperand(schema));
  if ('error' in c) throw new BuiltinError(c.error);
  if (c.validate(doc)) return [true, []];
  const errors = shapeErrors(c.validate.errors ?? []).map((e) =>
    RObject.from([
      ['error', `${e.field}: ${e.desc}`],
      ['type', e.type],
      ['field', e.field],
      ['desc', e.desc],
    ]),
  );
  return [false, errors];
}

const DOC = 'string|object[any,any]';

registerBuiltins(
  {
    name: 'json.verify_schema',
    args: [DOC],
    result: 'array<boolean,string|null>',
    category: 'object',
    impl: ([s]) => verifySchema(s),
  },
  {
    name: 'json.match_schema',
    args: [DOC, DOC],
    result: 'array<boolean,array[object{error:string,type:string,field:string,desc:string}]>',
    category: 'object',
    impl: ([d, s]) => matchSchema(d, s),
  },
);
