// X.509 certificates and CSRs as OPA returns them: the JSON encoding of Go's x509.Certificate /
// x509.CertificateRequest (field names, integer enums, base64 byte slices, null for empty lists).
//
// Node's X509Certificate verifies signatures but exposes only a few fields, and only as display
// strings; the structure is therefore read here with a small DER reader (structure only — every
// cryptographic operation goes through node:crypto).
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import { RObject, normalizeBigInt, type Value } from '../value.js';

export class X509Error extends Error {}

// ---------------------------------------------------------------------------------------------
// DER

export interface Tlv {
  /** The identifier octet: class bits, constructed bit and tag number (low-tag form only). */
  tag: number;
  /** Offset of the whole element and of its content within the buffer. */
  start: number;
  contentStart: number;
  end: number;
}

export function readTlv(buf: Buffer, off: number, limit = buf.length): Tlv {
  if (off + 2 > limit) throw new X509Error('x509: malformed certificate');
  const tag = buf[off];
  if ((tag & 0x1f) === 0x1f) throw new X509Error('x509: malformed certificate');
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4 || p + n > limit) throw new X509Error('x509: malformed certificate');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > limit) throw new X509Error('x509: malformed certificate');
  return { tag, start: off, contentStart: p, end: p + len };
}

export function children(buf: Buffer, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  let p = t.contentStart;
  while (p < t.end) {
    const c = readTlv(buf, p, t.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

const content = (buf: Buffer, t: Tlv) => buf.subarray(t.contentStart, t.end);
const whole = (buf: Buffer, t: Tlv) => buf.subarray(t.start, t.end);

function oidArcs(b: Buffer): number[] {
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    v = v * 128 + (b[i] & 0x7f);
    if (!(b[i] & 0x80)) {
      if (arcs.length === 0) {
        const first = v < 80 ? Math.floor(v / 40) : 2;
        arcs.push(first, v - first * 40);
      } else {
        arcs.push(v);
      }
      v = 0;
    }
  }
  return arcs;
}

const oidString = (b: Buffer) => oidArcs(b).join('.');

function bigIntOf(b: Buffer): bigint {
  if (b.length === 0) return 0n;
  let n = BigInt('0x' + b.toString('hex'));
  if (b[0] & 0x80) n -= 1n << BigInt(b.length * 8);
  return n;
}

function intValue(b: Buffer): Value {
  return normalizeBigInt(bigIntOf(b));
}

function stringValue(buf: Buffer, t: Tlv): string {
  const c = content(buf, t);
  switch (t.tag) {
    case 0x1e: {
      // BMPString: UTF-16BE.
      let s = '';
      for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode(c.readUInt16BE(i));
      return s;
    }
    case 0x1c: {
      // UniversalString: UTF-32BE.
      let s = '';
      for (let i = 0; i + 3 < c.length; i += 4) s += String.fromCodePoint(c.readUInt32BE(i));
      return s;
    }
    case 0x14: // T61String: Go reads it as Latin-1
      return c.toString('latin1');
    default:
      return c.toString('utf8');
  }
}

/** A generalized or UTC time as Go marshals time.Time (RFC 3339, UTC). */
function timeValue(buf: Buffer, t: Tlv): string {
  const s = content(buf, t).toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  let rest: string;
  if (t.tag === 0x17) {
    m = /^([0-9]{2})([0-9]{10})Z$/.exec(s);
    if (!m) throw new X509Error('x509: malformed UTCTime');
    const yy = Number(m[1]);
    year = yy >= 50 ? 1900 + yy : 2000 + yy;
    rest = m[2];
  } else {
    m = /^([0-9]{4})([0-9]{10})(\.[0-9]+)?Z$/.exec(s);
    if (!m) throw new X509Error('x509: malformed GeneralizedTime');
    year = Number(m[1]);
    rest = m[2];
  }
  const p = (i: number) => rest.slice(i, i + 2);
  return `${String(year).padStart(4, '0')}-${p(0)}-${p(2)}T${p(4)}:${p(6)}:${p(8)}Z`;
}

// ---------------------------------------------------------------------------------------------
// Names (pkix.Name)

const NAME_FIELDS: Record<string, string> = {
  '2.5.4.6': 'Country',
  '2.5.4.10': 'Organization',
  '2.5.4.11': 'OrganizationalUnit',
  '2.5.4.7': 'Locality',
  '2.5.4.8': 'Province',
  '2.5.4.9': 'StreetAddress',
  '2.5.4.17': 'PostalCode',
};

function nameValue(buf: Buffer, t: Tlv): RObject {
  const lists: Record<string, string[]> = {};
  let cn = '';
  let serial = '';
  const names: Value[] = [];
  for (const rdn of children(buf, t)) {
    for (const atv of children(buf, rdn)) {
      const [oidT, valT] = children(buf, atv);
      if (!oidT || !valT) throw new X509Error('x509: invalid RDNSequence');
      const arcs = oidArcs(content(buf, oidT));
      const oid = arcs.join('.');
      const value = stringValue(buf, valT);
      names.push(RObject.from([['Type', arcs], ['Value', value]]));
      if (oid === '2.5.4.3') cn = value;
      else if (oid === '2.5.4.5') serial = value;
      else if (NAME_FIELDS[oid]) (lists[NAME_FIELDS[oid]] ??= []).push(value);
    }
  }
  const o = new RObject();
  for (const f of ['Country', 'Organization', 'OrganizationalUnit', 'Locality', 'Province', 'StreetAddress', 'PostalCode']) {
    o.set(f, lists[f] ?? null);
  }
  o.set('SerialNumber', serial);
  o.set('CommonName', cn);
  o.set('Names', names.length ? names : null);
  o.set('ExtraNames', null);
  return o;
}

// ---------------------------------------------------------------------------------------------
// Algorithms

const SIG_ALGS: Record<string, number> = {
  '1.2.840.113549.1.1.2': 1, // MD2WithRSA
  '1.2.840.113549.1.1.4': 2, // MD5WithRSA
  '1.2.840.113549.1.1.5': 3, // SHA1WithRSA
  '1.2.840.113549.1.1.11': 4, // SHA256WithRSA
  '1.2.840.113549.1.1.12': 5, // SHA384WithRSA
  '1.2.840.113549.1.1.13': 6, // SHA512WithRSA
  '1.2.840.10040.4.3': 7, // DSAWithSHA1
  '2.16.840.1.101.3.4.3.2': 8, // DSAWithSHA256
  '1.2.840.10045.4.1': 9, // ECDSAWithSHA1
  '1.2.840.10045.4.3.2': 10, // ECDSAWithSHA256
  '1.2.840.10045.4.3.3': 11, // ECDSAWithSHA384
  '1.2.840.10045.4.3.4': 12, // ECDSAWithSHA512
  '1.3.101.112': 16, // PureEd25519
};

function signatureAlgorithm(buf: Buffer, algId: Tlv): number {
  const [oidT, params] = children(buf, algId);
  const oid = oidString(content(buf, oidT));
  if (oid === '1.2.840.113549.1.1.10') {
    // RSASSA-PSS: the hash is inside the parameters.
    const hex = params ? content(buf, params).toString('hex') : '';
    if (hex.includes('608648016503040201')) return 13;
    if (hex.includes('608648016503040202')) return 14;
    if (hex.includes('608648016503040203')) return 15;
    return 0;
  }
  return SIG_ALGS[oid] ?? 0;
}

function publicKeyInfo(buf: Buffer, spki: Tlv): { algorithm: number; key: Value; keyObject?: KeyObject } {
  const [algId] = children(buf, spki);
  const oid = oidString(content(buf, children(buf, algId)[0]));
  let keyObject: KeyObject | undefined;
  try {
    keyObject = createPublicKey({ key: whole(buf, spki), format: 'der', type: 'spki' });
  } catch {
    keyObject = undefined;
  }
  const jwk = keyObject ? (keyObject.export({ format: 'jwk' }) as Record<string, string>) : undefined;
  const b64int = (s: string) => normalizeBigInt(BigInt('0x' + (Buffer.from(s, 'base64url').toString('hex') || '0')));
  switch (oid) {
    case '1.2.840.113549.1.1.1':
    case '1.2.840.113549.1.1.10':
      return {
        algorithm: 1,
        key: jwk ? RObject.from([['N', b64int(jwk.n)], ['E', b64int(jwk.e)]]) : null,
        keyObject,
      };
    case '1.2.840.10040.4.1':
      return { algorithm: 2, key: null, keyObject };
    case '1.2.840.10045.2.1':
      return {
        algorithm: 3,
        key: jwk
          ? RObject.from([
              // Go's named curves have only unexported fields, so encoding/json prints {}.
              ['Curve', new RObject()],
              ['X', b64int(jwk.x)],
              ['Y', b64int(jwk.y)],
            ])
          : null,
        keyObject,
      };
    case '1.3.101.112':
      return { algorithm: 4, key: jwk ? Buffer.from(jwk.x, 'base64url').toString('base64') : null, keyObject };
  }
  return { algorithm: 0, key: null, keyObject };
}

// ---------------------------------------------------------------------------------------------
// Extensions

const EXT_KEY_USAGES: Record<string, number> = {
  '2.5.29.37.0': 0,
  '1.3.6.1.5.5.7.3.1': 1,
  '1.3.6.1.5.5.7.3.2': 2,
  '1.3.6.1.5.5.7.3.3': 3,
  '1.3.6.1.5.5.7.3.4': 4,
  '1.3.6.1.5.5.7.3.5': 5,
  '1.3.6.1.5.5.7.3.6': 6,
  '1.3.6.1.5.5.7.3.7': 7,
  '1.3.6.1.5.5.7.3.8': 8,
  '1.3.6.1.5.5.7.3.9': 9,
  '1.3.6.1.4.1.311.10.3.3': 10,
  '2.16.840.1.113730.4.1': 11,
  '1.3.6.1.4.1.311.2.1.22': 12,
  '1.3.6.1.4.1.311.61.1.1': 13,
};

/** Go's x509.ExtKeyUsage numbers by the names OPA accepts in parse_and_verify options. */
export const EXT_KEY_USAGE_NAMES: Record<string, number> = {
  KeyUsageAny: 0,
  KeyUsageServerAuth: 1,
  KeyUsageClientAuth: 2,
  KeyUsageCodeSigning: 3,
  KeyUsageEmailProtection: 4,
  KeyUsageIPSECEndSystem: 5,
  KeyUsageIPSECTunnel: 6,
  KeyUsageIPSECUser: 7,
  KeyUsageTimeStamping: 8,
  KeyUsageOCSPSigning: 9,
  KeyUsageMicrosoftServerGatedCrypto: 10,
  KeyUsageNetscapeServerGatedCrypto: 11,
  KeyUsageMicrosoftCommercialCodeSigning: 12,
  KeyUsageMicrosoftKernelCodeSigning: 13,
};

function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    // IPv4-mapped addresses print as IPv4 in Go.
    if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return [...b.subarray(12)].join('.');
    // Compress the longest run of zero groups (RFC 5952), as Go's net.IP.String does.
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLen && j - i >= 2) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    if (best < 0) return groups.join(':');
    return groups.slice(0, best).join(':') + '::' + groups.slice(best + bestLen).join(':');
  }
  return '?' + b.toString('hex');
}

function uriObject(s: string): Value {
  // Go's url.URL as encoding/json prints it.
  let scheme = '';
  let host = '';
  let path = '';
  let query = '';
  let fragment = '';
  let opaque = '';
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):(.*)$/s.exec(s);
  let rest = s;
  if (m) {
    scheme = m[1].toLowerCase();
    rest = m[2];
  }
  const hashAt = rest.indexOf('#');
  if (hashAt >= 0) {
    fragment = rest.slice(hashAt + 1);
    rest = rest.slice(0, hashAt);
  }
  const qAt = rest.indexOf('?');
  if (qAt >= 0) {
    query = rest.slice(qAt + 1);
    rest = rest.slice(0, qAt);
  }
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    host = slash >= 0 ? rest.slice(2, slash) : rest.slice(2);
    path = slash >= 0 ? rest.slice(slash) : '';
  } else if (scheme !== '' && !rest.startsWith('/')) {
    opaque = rest;
  } else {
    path = rest;
  }
  return RObject.from([
    ['Scheme', scheme],
    ['Opaque', opaque],
    ['User', null],
    ['Host', host],
    ['Path', path],
    ['RawPath', ''],
    ['OmitHost', false],
    ['ForceQuery', false],
    ['RawQuery', query],
    ['Fragment', fragment],
    ['RawFragment', ''],
  ]);
}

function parseSAN(buf: Buffer, ext: Buffer, f: Map<string, Value>): void {
  const seq = readTlv(ext, 0);
  const dns: string[] = [];
  const emails: string[] = [];
  const ips: string[] = [];
  const uris: string[] = [];
  for (const g of children(ext, seq)) {
    const c = content(ext, g);
    switch (g.tag) {
      case 0x81:
        emails.push(c.toString('latin1'));
        break;
      case 0x82:
        dns.push(c.toString('latin1'));
        break;
      case 0x86:
        uris.push(c.toString('latin1'));
        break;
      case 0x87:
        ips.push(ipString(c));
        break;
    }
  }
  void buf;
  if (dns.length) f.set('DNSNames', dns);
  if (emails.length) f.set('EmailAddresses', emails);
  if (ips.length) f.set('IPAddresses', ips);
  if (uris.length) {
    f.set('URIs', uris.map(uriObject));
    f.set('URIStrings', uris);
  }
}

function parseExtension(oid: string, v: Buffer, f: Map<string, Value>, critical: boolean, unhandled: number[][]): void {
  switch (oid) {
    case '2.5.29.15': {
      // KeyUsage BIT STRING: bit i (from the most significant bit of the first byte) is 1<<i.
      const t = readTlv(v, 0);
      const c = content(v, t);
      let usage = 0;
      for (let i = 0; i < 9; i++) {
        const byte = c[1 + (i >> 3)];
        if (byte !== undefined && byte & (0x80 >> (i & 7))) usage |= 1 << i;
      }
      f.set('KeyUsage', usage);
      return;
    }
    case '2.5.29.19': {
      const seq = readTlv(v, 0);
      let isCA = false;
      let maxPathLen = -1;
      for (const c of children(v, seq)) {
        if (c.tag === 0x01) isCA = content(v, c)[0] !== 0;
        else if (c.tag === 0x02) maxPathLen = Number(bigIntOf(content(v, c)));
      }
      f.set('BasicConstraintsValid', true);
      f.set('IsCA', isCA);
      f.set('MaxPathLen', maxPathLen);
      f.set('MaxPathLenZero', maxPathLen === 0);
      return;
    }
    case '2.5.29.37': {
      const seq = readTlv(v, 0);
      const known: number[] = [];
      const unknown: number[][] = [];
      for (const c of children(v, seq)) {
        const s = oidString(content(v, c));
        if (s in EXT_KEY_USAGES) known.push(EXT_KEY_USAGES[s]);
        else unknown.push(oidArcs(content(v, c)));
      }
      if (known.length) f.set('ExtKeyUsage', known);
      if (unknown.length) f.set('UnknownExtKeyUsage', unknown);
      return;
    }
    case '2.5.29.17':
      parseSAN(v, v, f);
      return;
    case '2.5.29.14': {
      const t = readTlv(v, 0);
      f.set('SubjectKeyId', content(v, t).toString('base64'));
      return;
    }
    case '2.5.29.35': {
      const seq = readTlv(v, 0);
      for (const c of children(v, seq)) if (c.tag === 0x80) f.set('AuthorityKeyId', content(v, c).toString('base64'));
      return;
    }
    case '1.3.6.1.5.5.7.1.1': {
      const seq = readTlv(v, 0);
      const ocsp: string[] = [];
      const issuers: string[] = [];
      for (const ad of children(v, seq)) {
        const [m, loc] = children(v, ad);
        if (!m || !loc || loc.tag !== 0x86) continue;
        const method = oidString(content(v, m));
        if (method === '1.3.6.1.5.5.7.48.1') ocsp.push(content(v, loc).toString('latin1'));
        else if (method === '1.3.6.1.5.5.7.48.2') issuers.push(content(v, loc).toString('latin1'));
      }
      if (ocsp.length) f.set('OCSPServer', ocsp);
      if (issuers.length) f.set('IssuingCertificateURL', issuers);
      return;
    }
    case '2.5.29.31': {
      const seq = readTlv(v, 0);
      const points: string[] = [];
      for (const dp of children(v, seq)) {
        for (const c of children(v, dp)) {
          if (c.tag !== 0xa0) continue;
          for (const full of children(v, c)) {
            if (full.tag !== 0xa0) continue;
            for (const n of children(v, full)) if (n.tag === 0x86) points.push(content(v, n).toString('latin1'));
          }
        }
      }
      if (points.length) f.set('CRLDistributionPoints', points);
      return;
    }
    case '2.5.29.32': {
      const seq = readTlv(v, 0);
      const ids: number[][] = [];
      for (const pi of children(v, seq)) {
        const [o] = children(v, pi);
        if (o) ids.push(oidArcs(content(v, o)));
      }
      if (ids.length) {
        f.set('PolicyIdentifiers', ids);
        f.set('Policies', ids.map((a) => a.join('.')));
      }
      return;
    }
    case '2.5.29.30':
      // Name constraints are kept as a raw extension only.
      return;
  }
  if (critical) unhandled.push(oidArcs(Buffer.from([])));
}

function extensionsValue(buf: Buffer, list: Tlv, f: Map<string, Value>): void {
  const exts: Value[] = [];
  const unhandled: number[][] = [];
  for (const e of children(buf, list)) {
    const parts = children(buf, e);
    const oidBytes = content(buf, parts[0]);
    let critical = false;
    let valT = parts[1];
    if (parts.length === 3) {
      critical = content(buf, parts[1])[0] !== 0;
      valT = parts[2];
    }
    const v = Buffer.from(content(buf, valT));
    exts.push(RObject.from([['Id', oidArcs(oidBytes)], ['Critical', critical], ['Value', v.toString('base64')]]));
    const before = unhandled.length;
    try {
      parseExtension(oidString(oidBytes), v, f, critical, unhandled);
    } catch (e) {
      if (e instanceof X509Error) throw new X509Error('x509: malformed extension');
      throw e;
    }
    if (unhandled.length > before) unhandled[unhandled.length - 1] = oidArcs(oidBytes);
  }
  if (exts.length) f.set('Extensions', exts);
  if (unhandled.length) f.set('UnhandledCriticalExtensions', unhandled);
}

// ---------------------------------------------------------------------------------------------
// Certificates

export interface Certificate {
  der: Buffer;
  node: X509Certificate;
  value: RObject;
  /** Convenience fields for chain verification. */
  notBefore: number;
  notAfter: number;
  isCA: boolean;
  basicConstraintsValid: boolean;
  version: number;
  keyUsage: number;
  extKeyUsage: number[];
  hasUnknownEKU: boolean;
  unhandledCritical: boolean;
  maxPathLen: number;
}

const CERT_FIELD_ORDER: Array<[string, Value]> = [
  ['Raw', ''],
  ['RawTBSCertificate', ''],
  ['RawSubjectPublicKeyInfo', ''],
  ['RawSubject', ''],
  ['RawIssuer', ''],
  ['Signature', ''],
  ['SignatureAlgorithm', 0],
  ['PublicKeyAlgorithm', 0],
  ['PublicKey', null],
  ['Version', 0],
  ['SerialNumber', 0],
  ['Issuer', null],
  ['Subject', null],
  ['NotBefore', ''],
  ['NotAfter', ''],
  ['KeyUsage', 0],
  ['Extensions', null],
  ['ExtraExtensions', null],
  ['UnhandledCriticalExtensions', null],
  ['ExtKeyUsage', null],
  ['UnknownExtKeyUsage', null],
  ['BasicConstraintsValid', false],
  ['IsCA', false],
  ['MaxPathLen', 0],
  ['MaxPathLenZero', false],
  ['SubjectKeyId', null],
  ['AuthorityKeyId', null],
  ['OCSPServer', null],
  ['IssuingCertificateURL', null],
  ['DNSNames', null],
  ['EmailAddresses', null],
  ['IPAddresses', null],
  ['URIs', null],
  ['PermittedDNSDomainsCritical', false],
  ['PermittedDNSDomains', null],
  ['ExcludedDNSDomains', null],
  ['PermittedIPRanges', null],
  ['ExcludedIPRanges', null],
  ['PermittedEmailAddresses', null],
  ['ExcludedEmailAddresses', null],
  ['PermittedURIDomains', null],
  ['ExcludedURIDomains', null],
  ['CRLDistributionPoints', null],
  ['PolicyIdentifiers', null],
  ['Policies', null],
  ['InhibitAnyPolicy', 0],
  ['InhibitAnyPolicyZero', false],
  ['InhibitPolicyMapping', 0],
  ['InhibitPolicyMappingZero', false],
  ['RequireExplicitPolicy', 0],
  ['RequireExplicitPolicyZero', false],
  ['PolicyMappings', null],
  ['URIStrings', null],
];

/** Parses one DER certificate. */
export function parseCertificate(der: Buffer): Certificate {
  let node: X509Certificate;
  try {
    node = new X509Certificate(der);
  } catch {
    throw new X509Error('x509: malformed certificate');
  }
  der = Buffer.from(node.raw);
  const f = new Map<string, Value>(CERT_FIELD_ORDER);
  const cert = readTlv(der, 0);
  const [tbs, sigAlg, sig] = children(der, cert);
  const tbsParts = children(der, tbs);
  let i = 0;
  let version = 1;
  if (tbsParts[0].tag === 0xa0) {
    version = Number(bigIntOf(content(der, children(der, tbsParts[0])[0]))) + 1;
    i++;
  }
  const serial = tbsParts[i++];
  i++; // inner signature algorithm
  const issuer = tbsParts[i++];
  const validity = tbsParts[i++];
  const subject = tbsParts[i++];
  const spki = tbsParts[i++];
  const [nb, na] = children(der, validity);
  f.set('Raw', der.toString('base64'));
  f.set('RawTBSCertificate', whole(der, tbs).toString('base64'));
  f.set('RawSubjectPublicKeyInfo', whole(der, spki).toString('base64'));
  f.set('RawSubject', whole(der, subject).toString('base64'));
  f.set('RawIssuer', whole(der, issuer).toString('base64'));
  const sigBits = content(der, sig);
  f.set('Signature', sigBits.subarray(1).toString('base64'));
  f.set('SignatureAlgorithm', signatureAlgorithm(der, sigAlg));
  const pk = publicKeyInfo(der, spki);
  f.set('PublicKeyAlgorithm', pk.algorithm);
  f.set('PublicKey', pk.key);
  f.set('Version', version);
  f.set('SerialNumber', intValue(content(der, serial)));
  f.set('Issuer', nameValue(der, issuer));
  f.set('Subject', nameValue(der, subject));
  const notBefore = timeValue(der, nb);
  const notAfter = timeValue(der, na);
  f.set('NotBefore', notBefore);
  f.set('NotAfter', notAfter);
  for (; i < tbsParts.length; i++) {
    const p = tbsParts[i];
    if (p.tag === 0xa3) extensionsValue(der, children(der, p)[0], f);
  }
  const value = new RObject();
  for (const [k, v] of f) value.set(k, v);
  const eku = f.get('ExtKeyUsage');
  return {
    der,
    node,
    value,
    notBefore: Date.parse(notBefore),
    notAfter: Date.parse(notAfter),
    isCA: f.get('IsCA') === true,
    basicConstraintsValid: f.get('BasicConstraintsValid') === true,
    version,
    keyUsage: f.get('KeyUsage') as number,
    extKeyUsage: Array.isArray(eku) ? (eku as number[]) : [],
    hasUnknownEKU: f.get('UnknownExtKeyUsage') !== null,
    unhandledCritical: f.get('UnhandledCriticalExtensions') !== null,
    maxPathLen: f.get('MaxPathLen') as number,
  };
}

/** Splits concatenated DER certificates (Go's x509.ParseCertificates). */
export function parseCertificatesDER(der: Buffer): Certificate[] {
  const out: Certificate[] = [];
  let p = 0;
  while (p < der.length) {
    const t = readTlv(der, p);
    out.push(parseCertificate(der.subarray(t.start, t.end)));
    p = t.end;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PEM

export interface PemBlock {
  type: string;
  bytes: Buffer;
}

/**
 * All PEM blocks in the text, plus whatever follows the last block. Text around blocks is
 * skipped, as Go's pem.Decode does. The scan is linear: END markers are located once up front, so
 * inputs with many unterminated BEGIN lines cannot make it quadratic.
 */
export function pemBlocks(text: string): { blocks: PemBlock[]; rest: string } {
  const BEGIN = '-----BEGIN ';
  const END = '-----END ';
  const ends: number[] = [];
  for (let i = text.indexOf(END); i >= 0; i = text.indexOf(END, i + 1)) ends.push(i);
  const nextEnd = (after: number): number => {
    let lo = 0;
    let hi = ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid] < after) lo = mid + 1;
      else hi = mid;
    }
    return lo < ends.length ? ends[lo] : -1;
  };
  const blocks: PemBlock[] = [];
  let last = 0;
  let pos = 0;
  for (;;) {
    const b = text.indexOf(BEGIN, pos);
    if (b < 0) break;
    pos = b + 1;
    const typeEnd = text.indexOf('-----', b + BEGIN.length);
    if (typeEnd < 0) break;
    const type = text.slice(b + BEGIN.length, typeEnd);
    let bodyStart = typeEnd + 5;
    if (/[\r\n]/.test(type)) continue;
    if (text[bodyStart] === '\r') bodyStart++;
    if (text[bodyStart] !== '\n') continue;
    bodyStart++;
    const e = nextEnd(bodyStart - 1);
    if (e < 0) break;
    const trailer = END + type + '-----';
    if (!text.startsWith(trailer, e)) continue;
    let after = e + trailer.length;
    while (text[after] === ' ' || text[after] === '\t') after++;
    if (text[after] === '\r') after++;
    if (text[after] === '\n') after++;
    else if (after < text.length) continue; // the END line must end the line
    const body = text
      .slice(bodyStart, e)
      .split(/\r?\n/)
      .filter((l) => !/^[A-Za-z0-9-]+:/.test(l))
      .join('')
      .replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) continue;
    blocks.push({ type, bytes: Buffer.from(body, 'base64') });
    last = after;
    pos = after;
  }
  return { blocks, rest: text.slice(last) };
}

// ---------------------------------------------------------------------------------------------
// CSRs

const CSR_FIELD_ORDER: Array<[string, Value]> = [
  ['Raw', ''],
  ['RawTBSCertificateRequest', ''],
  ['RawSubjectPublicKeyInfo', ''],
  ['RawSubject', ''],
  ['Version', 0],
  ['Signature', ''],
  ['SignatureAlgorithm', 0],
  ['PublicKeyAlgorithm', 0],
  ['PublicKey', null],
  ['Subject', null],
  ['Attributes', null],
  ['Extensions', null],
  ['ExtraExtensions', null],
  ['DNSNames', null],
  ['EmailAddresses', null],
  ['IPAddresses', null],
  ['URIs', null],
];

export function parseCertificateRequest(der: Buffer): RObject {
  try {
    const f = new Map<string, Value>(CSR_FIELD_ORDER);
    const csr = readTlv(der, 0);
    if (csr.end !== der.length) throw new X509Error('x509: trailing data');
    const [info, sigAlg, sig] = children(der, csr);
    const [ver, subject, spki, attrs] = children(der, info);
    f.set('Raw', der.toString('base64'));
    f.set('RawTBSCertificateRequest', whole(der, info).toString('base64'));
    f.set('RawSubjectPublicKeyInfo', whole(der, spki).toString('base64'));
    f.set('RawSubject', whole(der, subject).toString('base64'));
    f.set('Version', Number(bigIntOf(content(der, ver))));
    f.set('Signature', content(der, sig).subarray(1).toString('base64'));
    f.set('SignatureAlgorithm', signatureAlgorithm(der, sigAlg));
    const pk = publicKeyInfo(der, spki);
    f.set('PublicKeyAlgorithm', pk.algorithm);
    f.set('PublicKey', pk.key);
    f.set('Subject', nameValue(der, subject));
    if (attrs && attrs.tag === 0xa0) {
      for (const a of children(der, attrs)) {
        const [oidT, set] = children(der, a);
        if (oidString(content(der, oidT)) !== '1.2.840.113549.1.9.14') continue;
        const [exts] = children(der, set);
        if (exts) extensionsValue(der, exts, f);
      }
    }
    f.delete('URIStrings');
    f.delete('UnhandledCriticalExtensions');
    for (const k of ['KeyUsage', 'BasicConstraintsValid', 'IsCA', 'MaxPathLen', 'MaxPathLenZero', 'ExtKeyUsage', 'UnknownExtKeyUsage', 'SubjectKeyId', 'AuthorityKeyId', 'OCSPServer', 'IssuingCertificateURL', 'CRLDistributionPoints', 'PolicyIdentifiers', 'Policies']) {
      f.delete(k);
    }
    const o = new RObject();
    for (const [k, v] of f) o.set(k, v);
    return o;
  } catch (e) {
    if (e instanceof X509Error || e instanceof TypeError || e instanceof RangeError) {
      throw new X509Error('asn1: structure error: tags don\'t match');
    }
    throw e;
  }
}
