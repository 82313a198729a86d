// Authorization by policy (--authorization=basic), as OPA does it: after authentication, every
// request (except the open routes: health checks and the admission webhook) is allowed only when
// `data.system.authz.allow` is true for an input describing it:
//
//   path                 URL path segments, decoded: ["v1", "data", "docker", "layers"]
//   method               "GET", "POST", ...
//   params               query parameters, each a list of values: {"pretty": [""]}
//   headers              request headers by their canonical name, each a list of values
//   body                 the parsed body of POST /, POST /v0/data/... and POST /v1/data/...
//   identity             the bearer token (with --authentication=token)
//   client_certificates  the verified client certificate chain (with --authentication=tls)
//
// So each client can be given only what it needs: the API server's token the webhook decision,
// the sync's token its writes under data.docker and data.clair. `allow` may also be an object
// {"allowed": false, "reason": "..."}: the reason is then the 401's message.
import type { IncomingMessage } from 'node:http';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { RObject, fromJSON, isObject, type Value } from '../rego/value.js';
import type { Runtime } from '../runtime/runtime.js';
import { bearerToken } from './auth.js';
import { ApiError } from './errors.js';
import { evaluateSystemPolicy, type SystemPolicyOptions } from './system-policy.js';

const QUERY = 'data.system.authz.allow';

export interface AuthzRequest {
  req: IncomingMessage;
  /** The URL path without the query, still percent-encoded. */
  pathname: string;
  method: string;
  query: URLSearchParams;
  /** The parsed body, for the requests OPA reads it for (see expectsBody). */
  body?: Value;
}

export class Authorizer {
  constructor(
    private readonly runtime: Runtime,
    private readonly o: SystemPolicyOptions & { authentication: 'off' | 'token' | 'tls' },
  ) {}

  /** Throws ApiError 401 unless the policy allows the request (500 when it is undefined). */
  check(r: AuthzRequest): void {
    const input = this.input(r);
    let decision: Value | undefined;
    try {
      decision = evaluateSystemPolicy(this.runtime, QUERY, input, this.o);
    } catch (e) {
      throw new ApiError(500, 'internal_error', `authorization policy failed: ${(e as Error)?.message ?? String(e)}`);
    }
    if (decision === undefined) throw new ApiError(500, 'internal_error', `authorization policy missing or undefined: define ${QUERY}`);
    if (decision === true) return;
    if (isObject(decision)) {
      if (decision.get('allowed') === true) return;
      const reason = decision.get('reason');
      if (typeof reason === 'string') throw new ApiError(401, 'unauthorized', reason);
    }
    throw new ApiError(401, 'unauthorized', 'request rejected by administrative policy');
  }

  private input(r: AuthzRequest): Value {
    const input = new RObject();
    input.set('path', urlPathSegments(r.pathname));
    input.set('method', r.method.toUpperCase());
    const params = new RObject();
    for (const key of new Set(r.query.keys())) params.set(key, r.query.getAll(key));
    input.set('params', params);
    const headers = new RObject();
    for (const [name, values] of Object.entries(r.req.headersDistinct)) if (values) headers.set(canonicalHeader(name), values);
    input.set('headers', headers);
    if (r.body !== undefined) input.set('body', r.body);
    if (this.o.authentication === 'token') {
      const token = bearerToken(r.req.headers.authorization);
      if (token) input.set('identity', token);
    }
    if (this.o.authentication === 'tls') {
      const chain = peerChain(r.req.socket as TLSSocket);
      if (chain.length > 0) input.set('client_certificates', fromJSON(chain));
    }
    return input;
  }
}

/** True for the requests whose body OPA puts into the authorization input. */
export function expectsBody(method: string, pathname: string): boolean {
  if (method !== 'POST') return false;
  return pathname === '/' || /^\/v[01]\/data(\/|$)/.test(pathname);
}

/** "/v1/data/a%2Fb" -> ["v1", "data", "a/b"] (as OPA's authorizer splits it, so "/" is [""]). */
function urlPathSegments(pathname: string): string[] {
  return pathname
    .slice(1)
    .split('/')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
}

/** "content-type" -> "Content-Type", the form OPA's (Go's) header map uses. */
function canonicalHeader(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

/** The verified client certificate and its issuers, leaf first, as plain JSON. */
function peerChain(socket: TLSSocket): unknown[] {
  if (!socket.authorized || typeof socket.getPeerCertificate !== 'function') return [];
  const out: unknown[] = [];
  const seen = new Set<string>();
  for (let c: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true); c && Object.keys(c).length > 0 && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    out.push({
      subject: { ...c.subject },
      issuer: { ...c.issuer },
      subject_alt_names: c.subjectaltname ? c.subjectaltname.split(', ') : [],
      serial_number: c.serialNumber,
      not_before: new Date(c.valid_from).toISOString(),
      not_after: new Date(c.valid_to).toISOString(),
      fingerprint_sha256: c.fingerprint256,
    });
  }
  return out;
}
