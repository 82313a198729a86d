// Errors of the base-document store, with OPA's storage error codes so the server can map
// them to the same HTTP statuses and bodies as OPA (not_found/conflict -> 404, invalid_patch -> 400).

export type StoreErrorKind = 'not_found' | 'conflict' | 'invalid_patch';

const CODES = {
  not_found: 'storage_not_found_error',
  conflict: 'storage_write_conflict_error',
  invalid_patch: 'storage_invalid_patch_error',
} as const;

export type StoreErrorCode = (typeof CODES)[StoreErrorKind];

export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  readonly code: StoreErrorCode;
  /** The path the error is about. */
  readonly path: readonly string[];
  /** The message without the code, e.g. "/a/b: document does not exist". */
  readonly detail: string;

  constructor(kind: StoreErrorKind, path: readonly string[], detail: string) {
    super(`${CODES[kind]}: ${detail}`);
    this.name = 'StoreError';
    this.kind = kind;
    this.code = CODES[kind];
    this.path = path;
    this.detail = detail;
  }
}

/** `/a/b%2Fc`: OPA's storage.Path string form (segments URL-escaped). */
export function formatPath(path: readonly string[]): string {
  return '/' + path.map((s) => encodeURIComponent(s)).join('/');
}

export function notFound(path: readonly string[], hint = 'document does not exist'): StoreError {
  return new StoreError('not_found', path, `${formatPath(path)}: ${hint}`);
}

export function conflict(path: readonly string[], hint?: string): StoreError {
  return new StoreError('conflict', path, hint ? `${formatPath(path)}: ${hint}` : formatPath(path));
}

export function invalidPatch(path: readonly string[], hint: string): StoreError {
  return new StoreError('invalid_patch', path, path.length ? `${formatPath(path)}: ${hint}` : hint);
}
