// Builtins of OPA's "crypto" category. Registered at import time.
//
// Hashing, HMAC, signature checks and key handling all use node:crypto. Certificates are
// returned in the shape OPA produces (the JSON form of Go's x509 structs), see x509.ts.
// Chain verification checks validity periods against the query's time (ctx.nowNs) unless the
// options give a CurrentTime; OPA reads the wall clock at that point, which is the same instant
// for practical purposes but would not be stable within one query.
import { createHash, createHmac, createPrivateKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { BuiltinError } from '../errors.js';
import { RObject, isArray, isSet, normalizeBigInt, type Value } from '../value.js';
import { registerBuiltins } from './registry.js';
import {
  EXT_KEY_USAGE_NAMES,
  X509Error,
  parseCertificate,
  parseCertificateRequest,
  parseCertificatesDER,
  pemBlocks,
  type Certificate,
} from './x509.js';

// ---------------------------------------------------------------------------------------------
// Base64 as Go's encoding/base64 StdEncoding (strict, padded), with Go's error text.

export function goBase64Decode(s: string, url = false): Buffer {
  const inAlphabet = url ? (c: string) => /[A-Za-z0-9_-]/.test(c) : (c: string) => /[A-Za-z0-9+/]/.test(c);
  // Go skips \r and \n anywhere in the input.
  const clean = s.replace(/[\r\n]/g, '');
  const bad = (at: number) => new BuiltinError(`illegal base64 data at input byte ${at}`);
  let i = 0;
  while (i < clean.length && inAlphabet(clean[i])) i++;
  const dataLen = i;
  if (i < clean.length && clean[i] !== '=') throw bad(i);
  let pad = 0;
  while (i < clean.length && clean[i] === '=') {
    pad++;
    i++;
  }
  const rem = dataLen % 4;
  if (pad === 0) {
    if (rem !== 0) throw bad(dataLen - rem);
  } else if (rem < 2 || rem + pad !== 4) {
    throw bad(rem < 2 ? dataLen - rem : dataLen);
  }
  if (i < clean.length) throw bad(i);
  return Buffer.from(clean.slice(0, dataLen), url ? 'base64url' : 'base64');
}

// ---------------------------------------------------------------------------------------------
// Hashes and HMAC

function hashBuiltin(name: string, alg: string) {
  return {
    name,
    args: ['string'],
    result: 'string',
    category: 'crypto',
    impl: ([x]: Value[]) => createHash(alg).update(x as string, 'utf8').digest('hex'),
  };
}

function hmacBuiltin(name: string, alg: string) {
  return {
    name,
    args: ['string', 'string'],
    result: 'string',
    category: 'crypto',
    impl: ([x, key]: Value[]) => createHmac(alg, Buffer.from(key as string, 'utf8')).update(x as string, 'utf8').digest('hex'),
  };
}

/** Constant-time comparison for equal lengths; different lengths are simply unequal (as Go's hmac.Equal). */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}

// ---------------------------------------------------------------------------------------------
// Certificates

function wrapX509<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof BuiltinError) throw e;
    if (e instanceof X509Error) throw new BuiltinError(e.message);
    if (e instanceof TypeError || e instanceof RangeError) throw new BuiltinError('x509: malformed certificate');
    throw e;
  }
}

function certsFromPem(text: string): Certificate[] {
  const { blocks } = pemBlocks(text);
  const ders: Buffer[] = [];
  for (const b of blocks) {
    if (b.type !== 'CERTIFICATE') throw new BuiltinError(`PEM block type is '${b.type}', expected CERTIFICATE`);
    ders.push(b.bytes);
  }
  return parseCertificatesDER(Buffer.concat(ders));
}

/** OPA's getX509CertsFromString: PEM, or base64 of PEM, or base64 of concatenated DER. */
function certsFromString(s: string): Certificate[] {
  return wrapX509(() => {
    if (s.startsWith('-----BEGIN')) return certsFromPem(s);
    const raw = goBase64Decode(s);
    if (raw.subarray(0, 10).toString('latin1') === '-----BEGIN') return certsFromPem(raw.toString('latin1'));
    return parseCertificatesDER(raw);
  });
}

interface VerifyOptions {
  dnsName?: string;
  currentTimeMs: number;
  keyUsages: number[];
}

/** Go's x509 chain check for OPA's layout: certs[0] is the root, the last is the leaf. */
function verifyChain(certs: Certificate[], opts: VerifyOptions): Certificate[] | undefined {
  if (certs.length < 2) return undefined;
  const root = certs[0];
  const intermediates = certs.slice(1, -1);
  const leaf = certs[certs.length - 1];
  if (opts.dnsName !== undefined && opts.dnsName !== '' && !hostMatches(leaf, opts.dnsName)) return undefined;

  const validAt = (c: Certificate) =>
    opts.currentTimeMs >= c.notBefore && opts.currentTimeMs <= c.notAfter && !c.unhandledCritical;
  const canSign = (parent: Certificate) =>
    !((parent.version === 3 && !parent.basicConstraintsValid) || (parent.basicConstraintsValid && !parent.isCA)) &&
    !(parent.keyUsage !== 0 && (parent.keyUsage & (1 << 5)) === 0);
  const signedBy = (child: Certificate, parent: Certificate) => {
    try {
      return child.node.checkIssued(parent.node) && canSign(parent) && child.node.verify(parent.node.publicKey);
    } catch {
      return false;
    }
  };
  const ekuOk = (chain: Certificate[]) => {
    const wanted = opts.keyUsages.length === 0 ? [1] : opts.keyUsages;
    if (wanted.includes(0)) return true;
    for (const c of chain) {
      if (c.extKeyUsage.length === 0 && !c.hasUnknownEKU) continue;
      if (c.extKeyUsage.includes(0)) continue;
      if (!wanted.some((u) => c.extKeyUsage.includes(u))) return false;
    }
    return true;
  };

  if (!validAt(leaf)) return undefined;
  // Depth-first search for a path leaf -> intermediates* -> root.
  const search = (chain: Certificate[]): Certificate[] | undefined => {
    const cur = chain[chain.length - 1];
    if (signedBy(cur, root) && validAt(root)) {
      const full = [...chain, root];
      if (pathLenOk(full) && ekuOk(full)) return full;
    }
    if (chain.length > 10) return undefined;
    for (const c of intermediates) {
      if (chain.includes(c) || !validAt(c) || !c.isCA || !c.basicConstraintsValid) continue;
      if (signedBy(cur, c)) {
        const r = search([...chain, c]);
        if (r) return r;
      }
    }
    return undefined;
  };
  return search([leaf]);
}

function pathLenOk(chain: Certificate[]): boolean {
  // chain[0] is the leaf; a CA at index i has i-1 intermediates below it.
  for (let i = 1; i < chain.length; i++) {
    const c = chain[i];
    if (c.basicConstraintsValid && c.maxPathLen >= 0 && i - 1 > c.maxPathLen) return false;
  }
  return true;
}

function hostMatches(c: Certificate, host: string): boolean {
  try {
    // Like Go: only SANs count (never the subject CN) and "*" must be a whole left-most label.
    if (/^[0-9.]+$/.test(host) || host.includes(':')) return c.node.checkIP(host.replace(/^\[|\]$/g, '')) !== undefined;
    return c.node.checkHost(host, { subject: 'never', partialWildcards: false }) !== undefined;
  } catch {
    return false;
  }
}

function extractVerifyOptions(o: RObject, nowNs: bigint): VerifyOptions {
  const opts: VerifyOptions = { currentTimeMs: Number(nowNs / 1_000_000n), keyUsages: [] };
  for (const [k, v] of o.entries()) {
    if (typeof k !== 'string') continue;
    switch (k) {
      case 'DNSName':
        if (typeof v !== 'string') throw new BuiltinError("'DNSName' should be a string");
        opts.dnsName = v;
        break;
      case 'CurrentTime':
        if (typeof v !== 'number' && typeof v !== 'bigint') throw new BuiltinError("'CurrentTime' should be a number");
        if (typeof v === 'number' && !Number.isInteger(v)) throw new BuiltinError("'CurrentTime' should be a valid int64 number");
        if (BigInt(v) < -(2n ** 63n) || BigInt(v) >= 2n ** 63n) {
          throw new BuiltinError("'CurrentTime' should be a valid int64 number");
        }
        opts.currentTimeMs = Number(BigInt(v) / 1_000_000n);
        break;
      case 'MaxConstraintComparisons':
        if (typeof v !== 'number' && typeof v !== 'bigint') throw new BuiltinError("'MaxConstraintComparisons' should be a number");
        if (typeof v === 'number' && !Number.isInteger(v)) throw new BuiltinError("'MaxConstraintComparisons' should be a valid number");
        break;
      case 'KeyUsages': {
        let items: Value[];
        if (isArray(v)) items = v;
        else if (isSet(v)) items = v.values();
        else throw new BuiltinError("'KeyUsages' should be an Array or Set");
        const invalid: string[] = [];
        for (const it of items) {
          if (typeof it !== 'string') continue;
          if (it in EXT_KEY_USAGE_NAMES) opts.keyUsages.push(EXT_KEY_USAGE_NAMES[it]);
          else invalid.push(it);
        }
        if (invalid.length) throw new BuiltinError(`invalid entries for 'KeyUsages' found: [${invalid.join(' ')}]`);
        break;
      }
      default:
        throw new BuiltinError('invalid key option');
    }
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// Private keys

const b64uInt = (s: string | undefined): Value =>
  normalizeBigInt(BigInt('0x' + (s ? Buffer.from(s, 'base64url').toString('hex') || '0' : '0')));

/** The JSON form of Go's *rsa.PrivateKey / *ecdsa.PrivateKey / ed25519.PrivateKey. */
function goPrivateKeyValue(key: KeyObject): Value {
  const jwk = key.export({ format: 'jwk' }) as Record<string, string>;
  switch (jwk.kty) {
    case 'RSA':
      return RObject.from([
        ['N', b64uInt(jwk.n)],
        ['E', b64uInt(jwk.e)],
        ['D', b64uInt(jwk.d)],
        ['Primes', [b64uInt(jwk.p), b64uInt(jwk.q)]],
        [
          'Precomputed',
          RObject.from([
            ['Dp', b64uInt(jwk.dp)],
            ['Dq', b64uInt(jwk.dq)],
            ['Qinv', b64uInt(jwk.qi)],
            ['CRTValues', []],
          ]),
        ],
      ]);
    case 'EC':
      return RObject.from([
        // Go's named curves have only unexported fields, so encoding/json prints {}.
        ['Curve', new RObject()],
        ['X', b64uInt(jwk.x)],
        ['Y', b64uInt(jwk.y)],
        ['D', b64uInt(jwk.d)],
      ]);
    case 'OKP':
      return Buffer.concat([Buffer.from(jwk.d, 'base64url'), Buffer.from(jwk.x, 'base64url')]).toString('base64');
  }
  return null;
}

function parsePrivateKeyBlock(type: string, bytes: Buffer): KeyObject | undefined {
  const kinds: Record<string, 'pkcs1' | 'pkcs8' | 'sec1'> = {
    'RSA PRIVATE KEY': 'pkcs1',
    'PRIVATE KEY': 'pkcs8',
    'EC PRIVATE KEY': 'sec1',
  };
  const kind = kinds[type];
  if (!kind) return undefined;
  try {
    return createPrivateKey({ key: bytes, format: 'der', type: kind });
  } catch {
    const what = kind === 'pkcs1' ? 'x509: failed to parse RSA private key' : kind === 'sec1' ? 'x509: failed to parse EC private key' : 'x509: failed to parse private key';
    throw new BuiltinError(what);
  }
}

/** OPA's getPrivateKeysFromPEMData: every private key block (base64 of PEM accepted). */
function privateKeysFromPem(data: string): KeyObject[] {
  try {
    data = goBase64Decode(data).toString('latin1');
  } catch {
    // not base64: use as is
  }
  const keys: KeyObject[] = [];
  for (const b of pemBlocks(data).blocks) {
    const k = parsePrivateKeyBlock(b.type, b.bytes);
    if (k) keys.push(k);
  }
  return keys;
}

function keyPair(certIn: string, keyIn: string): Value {
  const begin = '-----BEGIN ';
  let certText = certIn;
  let keyText = keyIn;
  if (!certText.startsWith(begin)) certText = goBase64Decode(certText).toString('latin1');
  if (!keyText.startsWith(begin)) keyText = goBase64Decode(keyText).toString('latin1');
  if (!certText.startsWith(begin)) {
    certText = `-----BEGIN CERTIFICATE-----\n${Buffer.from(certText, 'latin1').toString('base64')}\n-----END CERTIFICATE-----\n`;
  }
  if (!keyText.startsWith('-----BEGIN')) {
    keyText = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(keyText, 'latin1').toString('base64')}\n-----END PRIVATE KEY-----\n`;
  }
  const certBlocks = pemBlocks(certText).blocks.filter((b) => b.type === 'CERTIFICATE');
  if (certBlocks.length === 0) throw new BuiltinError('tls: failed to find any PEM data in certificate input');
  const keyBlocks = pemBlocks(keyText).blocks.filter((b) => b.type === 'PRIVATE KEY' || b.type.endsWith(' PRIVATE KEY'));
  if (keyBlocks.length === 0) throw new BuiltinError('tls: failed to find any PEM data in key input');
  const leaf = wrapX509(() => parseCertificate(certBlocks[0].bytes));
  let key: KeyObject | undefined;
  try {
    key = parsePrivateKeyBlock(keyBlocks[0].type, keyBlocks[0].bytes);
  } catch {
    key = undefined;
  }
  if (!key) throw new BuiltinError('tls: failed to parse private key');
  const pubOfKey = JSON.stringify(publicJwk(key));
  const pubOfCert = JSON.stringify(publicJwk(leaf.node.publicKey));
  if (pubOfKey !== pubOfCert) throw new BuiltinError('tls: private key does not match public key');
  return RObject.from([
    ['Certificate', certBlocks.map((b) => b.bytes.toString('base64'))],
    ['PrivateKey', goPrivateKeyValue(key)],
    ['SupportedSignatureAlgorithms', null],
    ['OCSPStaple', null],
    ['SignedCertificateTimestamps', null],
    ['Leaf', leaf.value],
  ]);
}

function publicJwk(k: KeyObject): Record<string, string> {
  const jwk = k.export({ format: 'jwk' }) as Record<string, string>;
  const pub: Record<string, string> = {};
  for (const f of ['kty', 'n', 'e', 'crv', 'x', 'y']) if (jwk[f] !== undefined) pub[f] = jwk[f];
  return pub;
}

function jwkValue(k: KeyObject): Value {
  const jwk = k.export({ format: 'jwk' }) as Record<string, string>;
  const o = new RObject();
  for (const [f, v] of Object.entries(jwk)) o.set(f, v);
  return o;
}

registerBuiltins(
  hashBuiltin('crypto.md5', 'md5'),
  hashBuiltin('crypto.sha1', 'sha1'),
  hashBuiltin('crypto.sha256', 'sha256'),
  hmacBuiltin('crypto.hmac.md5', 'md5'),
  hmacBuiltin('crypto.hmac.sha1', 'sha1'),
  hmacBuiltin('crypto.hmac.sha256', 'sha256'),
  hmacBuiltin('crypto.hmac.sha512', 'sha512'),
  {
    name: 'crypto.hmac.equal',
    args: ['string', 'string'],
    result: 'boolean',
    category: 'crypto',
    impl: ([a, b]) => constantTimeEqual(Buffer.from(a as string, 'utf8'), Buffer.from(b as string, 'utf8')),
  },
  {
    name: 'crypto.x509.parse_certificates',
    args: ['string'],
    result: 'array[object[string,any]]',
    category: 'crypto',
    impl: ([s]) => certsFromString(s as string).map((c) => c.value),
  },
  {
    name: 'crypto.x509.parse_and_verify_certificates',
    args: ['string'],
    result: 'array[boolean,array[object[string,any]]]',
    category: 'crypto',
    impl: ([s], ctx) => {
      let certs: Certificate[];
      try {
        certs = certsFromString(s as string);
      } catch {
        return [false, []];
      }
      const chain = verifyChain(certs, { currentTimeMs: Number(ctx.nowNs / 1_000_000n), keyUsages: [] });
      return chain ? [true, chain.map((c) => c.value)] : [false, []];
    },
  },
  {
    name: 'crypto.x509.parse_and_verify_certificates_with_options',
    args: ['string', 'object[string,any]'],
    result: 'array[boolean,array[object[string,any]]]',
    category: 'crypto',
    impl: ([s, o], ctx) => {
      let certs: Certificate[];
      try {
        certs = certsFromString(s as string);
      } catch {
        return [false, []];
      }
      const opts = extractVerifyOptions(o as RObject, ctx.nowNs);
      const chain = verifyChain(certs, opts);
      return chain ? [true, chain.map((c) => c.value)] : [false, []];
    },
  },
  {
    name: 'crypto.x509.parse_certificate_request',
    args: ['string'],
    result: 'object[string,any]',
    category: 'crypto',
    impl: ([s]) => {
      let text = s as string;
      let der: Buffer;
      if (!text.startsWith('-----BEGIN CERTIFICATE REQUEST-----')) der = goBase64Decode(text);
      else der = Buffer.from(text, 'latin1');
      text = der.toString('latin1');
      const { blocks } = pemBlocks(text);
      if (blocks.length > 0) {
        if (blocks[0].type !== 'CERTIFICATE REQUEST') throw new BuiltinError('invalid PEM-encoded certificate signing request');
        der = blocks[0].bytes;
      }
      return wrapX509(() => parseCertificateRequest(der));
    },
  },
  {
    name: 'crypto.x509.parse_keypair',
    args: ['string', 'string'],
    result: 'object[string,any]',
    category: 'crypto',
    impl: ([c, k]) => keyPair(c as string, k as string),
  },
  {
    name: 'crypto.x509.parse_rsa_private_key',
    args: ['string'],
    result: 'object[string,any]',
    category: 'crypto',
    impl: ([s]) => {
      let text = s as string;
      if (text === '') throw new BuiltinError('input PEM data was empty');
      if (!text.startsWith('-----BEGIN')) text = goBase64Decode(text).toString('latin1');
      const keys = privateKeysFromPem(text);
      if (keys.length === 0) return null;
      return jwkValue(keys[0]);
    },
  },
  {
    name: 'crypto.parse_private_keys',
    args: ['string'],
    result: 'array[object[string,any]]',
    category: 'crypto',
    impl: ([s]) => {
      if (s === '') return null;
      return privateKeysFromPem(s as string).map(goPrivateKeyValue);
    },
  },
);

