// Errors the server answers with: an HTTP status and OPA's error body
// {"code", "message"[, "errors"]} (see protocols.md §3.1). Handlers throw ApiError; the dispatcher
// turns it (and any other failure) into a response, so no request can crash the process.
import type { Location } from '../rego/ast.js';
import { RegoError, RegoErrors } from '../rego/errors.js';
import { StoreError } from '../store/index.js';

export type ApiErrorCode =
  | 'internal_error'
  | 'evaluation_error'
  | 'unauthorized'
  | 'invalid_parameter'
  | 'invalid_operation'
  | 'resource_not_found'
  | 'resource_conflict'
  | 'undefined_document';

export interface ErrorDetail {
  code: string;
  message: string;
  location?: Location;
}

export interface ErrorBody {
  code: ApiErrorCode;
  message: string;
  errors?: ErrorDetail[];
}

/**
 * The server cannot start as configured (a bad flag, an unreadable certificate or token file, a
 * port in use): the CLI reports the message alone, as a user error.
 */
export class ServerStartError extends Error {
  override name = 'ServerStartError';
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode,
    message: string,
    readonly errors?: ErrorDetail[],
    /** Extra response headers (e.g. WWW-Authenticate, Allow). */
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): ErrorBody {
    return this.errors?.length ? { code: this.code, message: this.message, errors: this.errors } : { code: this.code, message: this.message };
  }
}

export const badRequest = (message: string, errors?: ErrorDetail[]): ApiError => new ApiError(400, 'invalid_parameter', message, errors);

/** OPA's messages for Rego errors at each stage. */
export const MSG_COMPILE_MODULE = 'error(s) occurred while compiling module(s)';
export const MSG_PARSE_QUERY = 'error(s) occurred while parsing query';
export const MSG_COMPILE_QUERY = 'error(s) occurred while compiling query';
export const MSG_EVAL = 'error(s) occurred while evaluating query';

export function regoErrorDetails(e: RegoError | RegoErrors): ErrorDetail[] {
  const list = e instanceof RegoErrors ? e.errors : [e];
  return list.map((x) => x.toJSON());
}

/** A parse/compile error of a query: 400 with the parser's or compiler's errors. */
export function queryError(e: RegoError | RegoErrors): ApiError {
  const details = regoErrorDetails(e);
  const parse = details.every((d) => d.code === 'rego_parse_error');
  return badRequest(parse ? MSG_PARSE_QUERY : MSG_COMPILE_QUERY, details);
}

/** Maps a store error the way OPA's writer does: not found and conflicts 404, bad patches 400. */
export function storeError(e: StoreError): ApiError {
  switch (e.kind) {
    case 'not_found':
      return new ApiError(404, 'resource_not_found', e.message);
    case 'conflict':
      return new ApiError(404, 'resource_conflict', e.message);
    case 'invalid_patch':
      return new ApiError(400, 'invalid_parameter', e.message);
  }
}
