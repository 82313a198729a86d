// Bearer token authentication (--authentication=token --token-file FILE).
//
// The token file holds one accepted token per line (blank lines and lines starting with # are
// ignored). Every endpoint except the health checks (/health, /health/live, /health/ready) needs
// `Authorization: Bearer <token>`; so reads and writes of data and policies, queries, decisions
// and /metrics are all restricted. The file is re-read when it changes, so tokens can be rotated
// without a restart.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ApiError, ServerStartError } from './errors.js';

export function parseTokens(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class TokenAuthenticator {
  private digests: Buffer[] = [];
  private first = '';

  constructor(tokens: string[]) {
    this.set(tokens);
  }

  static fromFile(file: string): TokenAuthenticator {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ServerStartError(`cannot read --token-file ${file}: ${(e as Error).message}`);
    }
    const tokens = parseTokens(text);
    if (tokens.length === 0) throw new ServerStartError(`--token-file ${file} holds no tokens (one token per line)`);
    return new TokenAuthenticator(tokens);
  }

  set(tokens: string[]): void {
    // Compare fixed-size digests in constant time: neither token length nor content leaks.
    this.digests = tokens.map(digest);
    this.first = tokens[0] ?? '';
  }

  /** A token this server accepts (for in-process clients such as the sync loop). */
  anyToken(): string {
    return this.first;
  }

  /** Throws 401 unless the Authorization header carries an accepted bearer token. */
  check(header: string | undefined): void {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw unauthorized('missing bearer token: send "Authorization: Bearer <token>"');
    const d = digest(m[1]);
    let ok = false;
    for (const x of this.digests) ok = timingSafeEqual(x, d) || ok;
    if (!ok) throw unauthorized('invalid bearer token');
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer realm="image-enforcer"' });
}
