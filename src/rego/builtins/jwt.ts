// Builtins of OPA's "tokens" / "tokensign" categories (io.jwt.*). Registered at import time.
//
// Builtins are synchronous, so signing and verification use node:crypto directly (jose's API is
// asynchronous). Key input follows OPA: a PEM certificate, a PEM public key, or a JWK / JWK set.
import {
  X509Certificate,
  constants,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { BuiltinError } from '../errors.js';
import { RObject, parseJSON, stringifyJSON, type Value } from '../value.js';
import { constantTimeEqual, goBase64Decode } from './crypto.js';
import { pemBlocks } from './x509.js';
import { registerBuiltins } from './registry.js';

const ALGORITHMS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA']);

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

// ---------------------------------------------------------------------------------------------
// Encoding

/** OPA's base64url.decode: padding optional (RFC 7515 appendix C). */
function base64UrlDecode(s: string): Buffer {
  if (!s.endsWith('=')) {
    switch (s.length % 4) {
      case 2:
        s += '==';
        break;
      case 3:
        s += '=';
        break;
      case 1:
        throw new BuiltinError(`illegal base64url string: ${s}`);
    }
  }
  return goBase64Decode(s, true);
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

interface Token {
  header: string;
  payload: string;
  signature: string;
}

function splitToken(jwt: string): Token {
  if (!jwt.includes('.')) throw new BuiltinError('encoded JWT had no period separators');
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new BuiltinError(`encoded JWT must have 3 sections, found ${parts.length}`);
  return { header: parts[0], payload: parts[1], signature: parts[2] };
}

function jsonObject(text: string): RObject {
  let v: Value;
  try {
    v = parseJSON(text);
  } catch (e) {
    throw new BuiltinError(`invalid JSON: ${(e as Error).message}`);
  }
  if (!(v instanceof RObject)) throw new BuiltinError('decoded JSON type was not an Object');
  return v;
}

function decodeHeader(t: Token): RObject {
  let raw: Buffer;
  try {
    raw = base64UrlDecode(t.header);
  } catch (e) {
    throw new BuiltinError(`JWT header had invalid encoding: ${(e as Error).message}`);
  }
  let h: RObject;
  try {
    h = jsonObject(raw.toString('utf8'));
  } catch (e) {
    throw new BuiltinError(`bad JWT header: ${(e as Error).message}`);
  }
  // A JWE (encrypted token) carries "enc"; OPA does not support those.
  if (h.has('enc')) throw new BuiltinError('JWT is a JWE object, which is not supported');
  return h;
}

function decodePayloadText(t: Token): string {
  try {
    return base64UrlDecode(t.payload).toString('utf8');
  } catch (e) {
    throw new BuiltinError(`JWT payload had invalid encoding: ${(e as Error).message}`);
  }
}

function decodeSignature(t: Token): Buffer {
  return base64UrlDecode(t.signature);
}

// ---------------------------------------------------------------------------------------------
// Header fields

interface Header {
  alg: string;
  kid: string;
  typ: string;
  cty: string;
  crit?: Set<string>;
  unknown: string[];
}

function parseHeader(h: RObject): Header {
  const out: Header = { alg: '', kid: '', typ: '', cty: '', unknown: [] };
  for (const [k, v] of h.entries()) {
    switch (k) {
      case 'alg':
      case 'kid':
      case 'typ':
      case 'cty':
        if (typeof v !== 'string') throw new BuiltinError(`${k}: must be a string`);
        out[k] = v;
        break;
      case 'crit': {
        if (!Array.isArray(v)) throw new BuiltinError('crit: must be a list');
        out.crit = new Set();
        for (const e of v) {
          if (typeof e !== 'string') break;
          out.crit.add(e);
        }
        if (out.crit.size === 0) throw new BuiltinError('crit: must be a nonempty list');
        break;
      }
      default:
        out.unknown.push(String(k));
    }
  }
  return out;
}

function headerValid(h: Header): boolean {
  if (h.alg === '') return false;
  // RFC 7515 4.1.11: a critical parameter we do not understand makes the JWS invalid.
  return !h.unknown.some((u) => h.crit?.has(u));
}

// ---------------------------------------------------------------------------------------------
// Keys

interface VerificationKey {
  key: KeyObject;
  alg: string;
  kid: string;
}

function jwkToKey(jwk: Record<string, unknown>, wantPrivate: boolean): KeyObject {
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new Error('missing "k" field');
    return createSecretKey(Buffer.from(jwk.k, 'base64url'));
  }
  if (typeof jwk.kty !== 'string') throw new Error('missing "kty" field');
  if (!['RSA', 'EC', 'OKP'].includes(jwk.kty)) throw new Error(`unsupported key type "${jwk.kty}"`);
  const k = jwk as JsonWebKey;
  return wantPrivate ? createPrivateKey({ key: k, format: 'jwk' }) : createPublicKey({ key: k, format: 'jwk' });
}

function parseJwkSet(text: string, wantPrivate: boolean): Array<{ key: KeyObject; alg: string; kid: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error((e as Error).message);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('invalid JWK: not an object');
  const obj = parsed as Record<string, unknown>;
  const list = Array.isArray(obj.keys) ? (obj.keys as unknown[]) : [obj];
  return list.map((j) => {
    if (typeof j !== 'object' || j === null) throw new Error('invalid JWK: not an object');
    const r = j as Record<string, unknown>;
    return {
      key: jwkToKey(r, wantPrivate),
      alg: typeof r.alg === 'string' ? r.alg : '',
      kid: typeof r.kid === 'string' ? r.kid : '',
    };
  });
}

/** OPA's getKeysFromCertOrJWK. */
function keysFromCertOrJwk(text: string): VerificationKey[] {
  const { blocks, rest } = pemBlocks(text);
  if (blocks.length > 0) {
    if (blocks.length > 1 || rest !== '') throw new BuiltinError('extra data after a PEM certificate block');
    const b = blocks[0];
    if (b.type === 'CERTIFICATE') {
      try {
        return [{ key: new X509Certificate(b.bytes).publicKey, alg: '', kid: '' }];
      } catch (e) {
        throw new BuiltinError(`failed to parse a PEM certificate: ${(e as Error).message}`);
      }
    }
    if (b.type === 'PUBLIC KEY') {
      try {
        return [{ key: createPublicKey({ key: b.bytes, format: 'der', type: 'spki' }), alg: '', kid: '' }];
      } catch (e) {
        throw new BuiltinError(`failed to parse a PEM public key: ${(e as Error).message}`);
      }
    }
    throw new BuiltinError('failed to extract a Key from the PEM certificate');
  }
  let keys;
  try {
    keys = parseJwkSet(text, false);
  } catch (e) {
    throw new BuiltinError(`failed to parse a JWK key (set): ${(e as Error).message}`);
  }
  // Keys that name an algorithm we do not know are skipped.
  return keys.filter((k) => k.alg === '' || ALGORITHMS.has(k.alg));
}

/** Verifies a JWS signature for `alg` with `key`; false for any mismatch (wrong key type too). */
function verifySignature(key: KeyObject, alg: string, input: Buffer, sig: Buffer): boolean {
  try {
    const family = alg.slice(0, 2);
    const hash = HASH[alg.slice(2)];
    if (alg === 'EdDSA') {
      return key.type === 'public' && key.asymmetricKeyType === 'ed25519' && cryptoVerify(null, input, key, sig);
    }
    if (!hash) return false;
    if (family === 'HS') {
      if (key.type !== 'secret') return false;
      const mac = createHmac(hash, key.export()).update(input).digest();
      return constantTimeEqual(mac, sig);
    }
    if (key.type !== 'public') return false;
    switch (family) {
      case 'RS':
        return key.asymmetricKeyType === 'rsa' && cryptoVerify(hash, input, key, sig);
      case 'PS':
        return (
          (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') &&
          cryptoVerify(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)
        );
      case 'ES':
        return key.asymmetricKeyType === 'ec' && cryptoVerify(hash, input, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    return false;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// io.jwt.verify_*

function verifyWithKeys(jwt: string, certificate: string, alg: string): boolean {
  const t = splitToken(jwt);
  const keys = keysFromCertOrJwk(certificate);
  const sig = decodeSignature(t);
  const header = parseHeader(decodeHeader(t));
  const input = Buffer.from(t.header + '.' + t.payload, 'utf8');
  // A key whose kid matches the token's is the only one tried.
  if (header.kid !== '') {
    const k = keys.find((x) => x.kid === header.kid);
    if (k) return verifySignature(k.key, alg, input, sig);
  }
  for (const k of keys) {
    if (k.alg !== '' && k.alg !== header.alg) continue;
    if (verifySignature(k.key, alg, input, sig)) return true;
  }
  return false;
}

function verifyHmac(jwt: string, secret: string, alg: string): boolean {
  const t = splitToken(jwt);
  const mac = createHmac(HASH[alg.slice(2)], Buffer.from(secret, 'utf8')).update(t.header + '.' + t.payload, 'utf8').digest();
  return constantTimeEqual(decodeSignature(t), mac);
}

function verifyBuiltin(alg: string) {
  const hs = alg.startsWith('HS');
  return {
    name: `io.jwt.verify_${alg.toLowerCase()}`,
    args: ['string', 'string'],
    result: 'boolean',
    category: 'tokens',
    impl: ([jwt, key]: Value[]) => (hs ? verifyHmac(jwt as string, key as string, alg) : verifyWithKeys(jwt as string, key as string, alg)),
  };
}

// ---------------------------------------------------------------------------------------------
// io.jwt.decode / decode_verify

function decodeToken(jwt: string): Value {
  const t = splitToken(jwt);
  const header = decodeHeader(t);
  let payloadText = decodePayloadText(t);
  const cty = header.get('cty');
  if (cty === 'JWT') {
    // A nested token; jwt.io quotes it, so quotes are trimmed before decoding it.
    payloadText = payloadText.replace(/^["']+|["']+$/g, '');
    return decodeToken(payloadText);
  }
  const payload = jsonObject(payloadText);
  let sig: Buffer;
  try {
    sig = decodeSignature(t);
  } catch (e) {
    throw new BuiltinError(`JWT signature had invalid encoding: ${(e as Error).message}`);
  }
  return [header, payload, sig.toString('hex')];
}

interface Constraints {
  secret: string;
  alg: string;
  iss: string;
  aud: string;
  keys?: VerificationKey[];
  time: number;
}

function timeFromValue(v: Value): number {
  if (typeof v !== 'number' && typeof v !== 'bigint') throw new BuiltinError('token time constraint: must be a number');
  const t = Number(v);
  if (t < 0) throw new BuiltinError('token time constraint: must not be negative');
  return t;
}

function parseConstraints(o: RObject, nowNs: bigint): Constraints {
  const c: Constraints = { secret: '', alg: '', iss: '', aud: '', time: -1 };
  for (const [k, v] of o.entries()) {
    switch (k) {
      case 'cert':
        if (typeof v !== 'string') throw new BuiltinError('cert constraint: must be a string');
        c.keys = keysFromCertOrJwk(v);
        break;
      case 'secret':
      case 'alg':
      case 'iss':
      case 'aud':
        if (typeof v !== 'string') throw new BuiltinError(`${k} constraint: must be a string`);
        c[k] = v;
        break;
      case 'time':
        c.time = timeFromValue(v);
        break;
      default:
        throw new BuiltinError(`unknown token validation constraint: ${String(k)}`);
    }
  }
  if (c.time === -1) c.time = timeFromValue(nowNs);
  const n = (c.keys ? 1 : 0) + (c.secret !== '' ? 1 : 0);
  if (n > 1) throw new BuiltinError('duplicate key constraints');
  if (n < 1) throw new BuiltinError('no key constraint');
  return c;
}

function constraintsVerify(c: Constraints, header: Header, t: Token, sig: Buffer): boolean {
  const input = Buffer.from(t.header + '.' + t.payload, 'utf8');
  if (c.keys) {
    if (header.kid !== '') {
      const k = c.keys.find((x) => x.kid === header.kid);
      if (k) return verifySignature(k.key, header.alg, input, sig);
    }
    return c.keys.some((k) => (k.alg === '' || k.alg === header.alg) && verifySignature(k.key, header.alg, input, sig));
  }
  return verifySignature(createSecretKey(Buffer.from(c.secret, 'utf8')), header.alg, input, sig);
}

function validAudience(aud: Value, want: string): boolean {
  if (typeof aud === 'string') return aud === want;
  if (!Array.isArray(aud)) return false;
  return aud.some((e) => typeof e === 'string' && e === want);
}

function decodeVerify(jwt: string, constraints: RObject, nowNs: bigint): Value {
  const unverified: Value = [false, new RObject(), new RObject()];
  const c = parseConstraints(constraints, nowNs);
  let token = jwt;
  let headerObj: RObject;
  let payloadText: string;
  for (let depth = 0; ; depth++) {
    if (depth > 32) throw new BuiltinError('JWT nesting too deep');
    const t = splitToken(token);
    headerObj = decodeHeader(t);
    const header = parseHeader(headerObj);
    if (!headerValid(header)) return unverified;
    if (c.alg !== '' && c.alg !== header.alg) return unverified;
    const sig = decodeSignature(t);
    if (!constraintsVerify(c, header, t, sig)) return unverified;
    payloadText = decodePayloadText(t);
    if (header.cty.toLowerCase() === 'jwt') {
      token = payloadText;
      continue;
    }
    break;
  }
  const payload = jsonObject(payloadText);

  if (c.iss !== '') {
    const iss = payload.get('iss');
    if (typeof iss !== 'string' || iss !== c.iss) return unverified;
  }
  const aud = payload.get('aud');
  if (aud !== undefined) {
    if (!validAudience(aud, c.aud)) return unverified;
  } else if (c.aud !== '') {
    return unverified;
  }
  // exp and nbf are in seconds; the time constraint is in nanoseconds.
  const nowSec = c.time / 1e9;
  const exp = payload.get('exp');
  if (exp !== undefined) {
    if (typeof exp !== 'number' && typeof exp !== 'bigint') throw new BuiltinError('exp value must be a number');
    if (nowSec >= exp) return unverified;
  }
  const nbf = payload.get('nbf');
  if (nbf !== undefined) {
    if (typeof nbf !== 'number' && typeof nbf !== 'bigint') throw new BuiltinError('nbf value must be a number');
    if (nowSec < nbf) return unverified;
  }
  return [true, headerObj, payload];
}

// ---------------------------------------------------------------------------------------------
// io.jwt.encode_sign / encode_sign_raw

function signWith(key: KeyObject, alg: string, input: Buffer): Buffer {
  const hash = HASH[alg.slice(2)];
  const family = alg.slice(0, 2);
  const mismatch = () => new BuiltinError(`failed to sign payload: key type ${key.asymmetricKeyType ?? key.type} cannot be used with ${alg}`);
  if (alg === 'EdDSA') {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') throw mismatch();
    return cryptoSign(null, input, key);
  }
  if (family === 'HS') {
    if (key.type !== 'secret') throw mismatch();
    return createHmac(hash, key.export()).update(input).digest();
  }
  if (key.type !== 'private') throw mismatch();
  switch (family) {
    case 'RS':
      if (key.asymmetricKeyType !== 'rsa') throw mismatch();
      return cryptoSign(hash, input, key);
    case 'PS':
      if (key.asymmetricKeyType !== 'rsa') throw mismatch();
      return cryptoSign(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
    case 'ES':
      if (key.asymmetricKeyType !== 'ec') throw mismatch();
      return cryptoSign(hash, input, { key, dsaEncoding: 'ieee-p1363' });
  }
  throw mismatch();
}

function isJSON(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function encodeSign(headers: string, payload: string, jwkSrc: string): string {
  let keys;
  try {
    keys = parseJwkSet(jwkSrc, true);
  } catch (e) {
    throw new BuiltinError(`failed to parse JWK: ${(e as Error).message}`);
  }
  if (keys.length === 0) throw new BuiltinError('no keys found in JWK set');
  let h: unknown;
  try {
    h = JSON.parse(headers);
  } catch (e) {
    throw new BuiltinError(`missing or invalid 'alg' header: ${(e as Error).message}`);
  }
  const hr = typeof h === 'object' && h !== null ? (h as Record<string, unknown>) : {};
  const alg = hr.alg;
  if (typeof alg !== 'string') throw new BuiltinError(`missing or invalid 'alg' header: "alg" not found`);
  if (!ALGORITHMS.has(alg)) throw new BuiltinError(`unknown JWS algorithm: ${alg}`);
  const typ = hr.typ;
  if ((typeof typ !== 'string' || typ === 'JWT') && !isJSON(payload)) throw new BuiltinError('type is JWT but payload is not JSON');
  const input = b64url(headers) + '.' + b64url(payload);
  const sig = signWith(keys[0].key, alg, Buffer.from(input, 'utf8'));
  return input + '.' + b64url(sig);
}

registerBuiltins(
  {
    name: 'io.jwt.decode',
    args: ['string'],
    result: 'array[object[any,any],object[any,any],string]',
    category: 'tokens',
    impl: ([jwt]) => decodeToken(jwt as string),
  },
  ...['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'HS256', 'HS384', 'HS512'].map(verifyBuiltin),
  {
    name: 'io.jwt.decode_verify',
    args: ['string', 'object[string,any]'],
    result: 'array[boolean,object[any,any],object[any,any]]',
    category: 'tokens',
    nondeterministic: true,
    impl: ([jwt, c], ctx) => decodeVerify(jwt as string, c as RObject, ctx.nowNs),
  },
  {
    name: 'io.jwt.encode_sign_raw',
    args: ['string', 'string', 'string'],
    result: 'string',
    category: 'tokensign',
    nondeterministic: true,
    impl: ([h, p, k]) => encodeSign(h as string, p as string, k as string),
  },
  {
    name: 'io.jwt.encode_sign',
    args: ['object[string,any]', 'object[string,any]', 'object[string,any]'],
    result: 'string',
    category: 'tokensign',
    nondeterministic: true,
    impl: ([h, p, k]) => encodeSign(stringifyJSON(h), stringifyJSON(p), stringifyJSON(k)),
  },
);
