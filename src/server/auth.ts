// Client authentication: every endpoint except the health checks (/health, /health/live,
// /health/ready) and the admission webhook needs it, so reads and writes of data and policies,
// queries, decisions and /metrics are all restricted.
//
// --authentication=token --token-file FILE: `Authorization: Bearer <token>`. The token file holds
// one accepted token per line (blank lines and lines starting with # are ignored). The file is
// re-read when it changes, so tokens can be rotated without a restart.
//
// --authentication=tls --tls-ca-cert-file FILE: a client certificate signed by one of the CAs in
// FILE (how the Kubernetes API server usually authenticates to webhooks: client-certificate and
// client-key in the webhook's kubeconfig). The TLS handshake asks for a certificate without
// requiring one, so probes without certificates still reach the health checks; every other
// request without a verified certificate gets 401.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ApiError, ServerStartError } from './errors.js';

export interface Authenticator {
  /** Throws ApiError 401 unless the request carries accepted credentials. */
  check(req: IncomingMessage): void;
}

export function parseTokens(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  return header === undefined ? undefined : /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
}

export class TokenAuthenticator implements Authenticator {
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
  check(req: IncomingMessage): void {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) throw unauthorized('missing bearer token: send "Authorization: Bearer <token>"');
    const d = digest(token);
    let ok = false;
    for (const x of this.digests) ok = timingSafeEqual(x, d) || ok;
    if (!ok) throw unauthorized('invalid bearer token');
  }
}

/** Client certificates, verified by the TLS layer against the CAs of --tls-ca-cert-file. */
export class ClientCertAuthenticator implements Authenticator {
  check(req: IncomingMessage): void {
    const socket = req.socket as TLSSocket;
    if (socket.authorized) return;
    const presented = typeof socket.getPeerCertificate === 'function' && Object.keys(socket.getPeerCertificate()).length > 0;
    if (!presented) {
      throw new ApiError(401, 'unauthorized', 'no client certificate: this server requires one signed by a CA of its --tls-ca-cert-file');
    }
    throw new ApiError(401, 'unauthorized', `client certificate not accepted: ${describeTlsError(socket.authorizationError)}`);
  }
}

function describeTlsError(e: Error | string | null | undefined): string {
  const code = typeof e === 'string' ? e : ((e as NodeJS.ErrnoException | null)?.code ?? e?.message ?? 'not verified');
  switch (code) {
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return `it is not signed by a CA of --tls-ca-cert-file (${code})`;
    case 'CERT_HAS_EXPIRED':
      return 'it has expired (CERT_HAS_EXPIRED)';
    case 'CERT_NOT_YET_VALID':
      return 'it is not valid yet (CERT_NOT_YET_VALID)';
    default:
      return code;
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer realm="image-enforcer"' });
}
