// Errors a user can hit while parsing, compiling or evaluating Rego.
// Codes and message wording follow OPA so that tooling built for OPA keeps working.
import type { Location } from './ast.js';

export type RegoErrorCode =
  | 'rego_parse_error'
  | 'rego_compile_error'
  | 'rego_type_error'
  | 'rego_unsafe_var_error'
  | 'rego_recursion_error'
  | 'eval_conflict_error'
  | 'eval_type_error'
  | 'eval_builtin_error'
  | 'eval_with_merge_error'
  | 'eval_cancel_error'
  | 'eval_internal_error';

export class RegoError extends Error {
  readonly code: RegoErrorCode;
  readonly location?: Location;
  /** The message without code and location, as OPA puts it in `errors[].message`. */
  readonly detail: string;

  constructor(code: RegoErrorCode, detail: string, location?: Location) {
    super(formatError(code, detail, location));
    this.name = 'RegoError';
    this.code = code;
    this.detail = detail;
    this.location = location;
  }

  toJSON(): { code: string; message: string; location?: Location } {
    return this.location
      ? { code: this.code, message: this.detail, location: this.location }
      : { code: this.code, message: this.detail };
  }
}

/** Several errors found at once (the parser and compiler report all they can, like OPA). */
export class RegoErrors extends Error {
  readonly errors: RegoError[];
  constructor(errors: RegoError[]) {
    super(
      errors.length === 1
        ? errors[0].message
        : `${errors.length} errors occurred:\n${errors.map((e) => e.message).join('\n')}`,
    );
    this.name = 'RegoErrors';
    this.errors = errors;
  }
  get code(): RegoErrorCode {
    return this.errors[0].code;
  }
}

/**
 * Two different values where one is allowed: from the rules of a complete rule, or from the
 * definitions of a function called with the same arguments. Worded as OPA words them.
 */
export function outputConflict(kind: 'complete' | 'func', location?: Location): RegoError {
  const detail = kind === 'func' ? 'functions must not produce multiple outputs for same inputs' : 'complete rules must not produce multiple outputs';
  return new RegoError('eval_conflict_error', detail, location);
}

/**
 * V8's "Maximum call stack size exceeded". The parser limits nesting, but what it accepts can
 * still exhaust a small stack in the compiler or evaluator; callers turn it into a message.
 */
export function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

/** The error that ends an evaluation past its deadline (OPA's wording). */
export function evalCancelled(): RegoError {
  return new RegoError('eval_cancel_error', 'caller cancelled query execution');
}

export function formatError(code: string, detail: string, location?: Location): string {
  return location ? `${location.file}:${location.row}:${location.col}: ${code}: ${detail}` : `${code}: ${detail}`;
}

/** Thrown by builtin implementations; the evaluator adds the builtin's name and location. */
export class BuiltinError extends Error {
  readonly code: 'eval_type_error' | 'eval_builtin_error';
  constructor(message: string, code: 'eval_type_error' | 'eval_builtin_error' = 'eval_builtin_error') {
    super(message);
    this.name = 'BuiltinError';
    this.code = code;
  }
}

/** Raised by builtins that must stop evaluation even when builtin errors are non-strict. */
export class HaltError extends Error {
  readonly inner: RegoError;
  constructor(inner: RegoError) {
    super(inner.message);
    this.name = 'HaltError';
    this.inner = inner;
  }
}

export function flattenErrors(e: unknown): RegoError[] {
  if (e instanceof RegoErrors) return e.errors;
  if (e instanceof RegoError) return [e];
  if (e instanceof HaltError) return [e.inner];
  throw e;
}
