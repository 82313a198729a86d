// Errors raised while loading policy and data files.
//
// Every error names the file it is about (and the row/column when known), so the CLI can print
// one actionable line per problem. Loading collects all problems before failing, like OPA.
import { RegoError } from '../rego/errors.js';

export type LoadErrorKind =
  | 'read' // the file or directory could not be read (missing, permissions, symlink loop)
  | 'syntax' // bad JSON or YAML
  | 'type' // data that must be an object is not
  | 'merge' // two files put different values at one key
  | 'unrecognized' // an explicitly named file is neither Rego, JSON nor YAML
  | 'unsupported' // e.g. bundle tarballs, non-file URLs
  | 'options'; // bad loader options (e.g. a malformed --ignore pattern)

export class LoadError extends Error {
  readonly kind: LoadErrorKind;
  readonly file: string;
  readonly row?: number;
  readonly col?: number;
  /** The message without the file prefix. */
  readonly detail: string;

  constructor(kind: LoadErrorKind, file: string, detail: string, row?: number, col?: number) {
    super(row !== undefined ? `${file}:${row}:${col ?? 1}: ${detail}` : file ? `${file}: ${detail}` : detail);
    this.name = 'LoadError';
    this.kind = kind;
    this.file = file;
    this.detail = detail;
    this.row = row;
    this.col = col;
  }
}

/** All problems found while loading; parse errors of Rego files keep their RegoError form. */
export class LoadErrors extends Error {
  readonly errors: Array<LoadError | RegoError>;
  constructor(errors: Array<LoadError | RegoError>) {
    super(
      errors.length === 1
        ? `1 error occurred during loading: ${errors[0].message}`
        : `${errors.length} errors occurred during loading:\n${errors.map((e) => e.message).join('\n')}`,
    );
    this.name = 'LoadErrors';
    this.errors = errors;
  }
}
