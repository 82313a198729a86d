// Go's net/url.Parse, for uri.parse and uri.is_valid: OPA returns what Go's parser makes of
// the text (scheme lower-cased, percent-escapes decoded in path and fragment, host checked),
// and Go's error messages (`parse "x": missing protocol scheme`).
//
// Go works on bytes; here strings are handled as UTF-8 bytes wherever escapes are decoded or
// produced, so that `%C3%A9` decodes to `é` and `é` in a path escapes to `%C3%A9`.
import { goQuote } from './strings.js';

export interface GoURL {
  scheme: string;
  opaque: string;
  /** userinfo is parsed and validated but not reported by uri.parse. */
  host: string;
  path: string;
  rawPath: string;
  rawQuery: string;
  fragment: string;
}

export class URLError extends Error {}

type Mode = 'path' | 'host' | 'zone' | 'userPassword' | 'fragment';

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8');

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

function unhex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return c - 0x41 + 10;
}

function isAlnum(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);
}

/** Go's shouldEscape for the modes used here. */
function shouldEscape(c: number, mode: Mode): boolean {
  if (isAlnum(c)) return false;
  const ch = String.fromCharCode(c);
  if ((mode === 'host' || mode === 'zone') && "!$&'()*+,;=:[]<>\"".includes(ch)) return false;
  if ('-_.~'.includes(ch)) return false;
  if ('$&+,/:;=?@'.includes(ch)) {
    switch (mode) {
      case 'path':
        return ch === '?';
      case 'userPassword':
        return ch === '@' || ch === '/' || ch === '?' || ch === ':';
      case 'fragment':
        return false;
      default:
        break;
    }
  }
  if (mode === 'fragment' && '!()*'.includes(ch)) return false;
  return true;
}

/** A Go string's bytes shown as Go's %q shows them. */
function quoteBytes(b: Uint8Array): string {
  return goQuote(dec.decode(b));
}

/** Go's unescape: decodes %XX, validating escapes (and host characters in host mode). */
function unescape(s: string, mode: Mode): string {
  const b = enc.encode(s);
  const out: number[] = [];
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c === 0x25) {
      if (i + 2 >= b.length || !isHex(b[i + 1]) || !isHex(b[i + 2])) {
        throw new URLError(`invalid URL escape ${quoteBytes(b.subarray(i, Math.min(i + 3, b.length)))}`);
      }
      const v = (unhex(b[i + 1]) << 4) | unhex(b[i + 2]);
      const is25 = b[i + 1] === 0x32 && b[i + 2] === 0x35;
      // RFC 3986: in a host, %-escapes are only for non-ASCII bytes (and %25 for zones).
      if (mode === 'host' && unhex(b[i + 1]) < 8 && !is25) throw new URLError(`invalid URL escape ${quoteBytes(b.subarray(i, i + 3))}`);
      if (mode === 'zone' && !is25 && v !== 0x20 && shouldEscape(v, 'host')) {
        throw new URLError(`invalid URL escape ${quoteBytes(b.subarray(i, i + 3))}`);
      }
      out.push(v);
      i += 3;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c < 0x80 && shouldEscape(c, mode)) {
      throw new URLError(`invalid character ${quoteBytes(b.subarray(i, i + 1))} in host name`);
    }
    out.push(c);
    i++;
  }
  return dec.decode(new Uint8Array(out));
}

/** Go's escape (for the path mode only: no '+' for spaces). */
function escapePath(s: string): string {
  let out = '';
  for (const c of enc.encode(s)) {
    out += shouldEscape(c, 'path') ? '%' + c.toString(16).toUpperCase().padStart(2, '0') : String.fromCharCode(c);
  }
  return out;
}

function getScheme(raw: string): [string, string] {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a)) continue;
    if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) {
      if (i === 0) return ['', raw];
      continue;
    }
    if (c === 0x3a) {
      if (i === 0) throw new URLError('missing protocol scheme');
      return [raw.slice(0, i), raw.slice(i + 1)];
    }
    return ['', raw];
  }
  return ['', raw];
}

function validOptionalPort(port: string): boolean {
  if (port === '') return true;
  if (port[0] !== ':') return false;
  return /^[0-9]*$/.test(port.slice(1));
}

function parseHost(host: string): string {
  if (host.startsWith('[')) {
    const i = host.lastIndexOf(']');
    if (i < 0) throw new URLError("missing ']' in host");
    const colonPort = host.slice(i + 1);
    if (!validOptionalPort(colonPort)) throw new URLError(`invalid port ${goQuote(colonPort)} after host`);
    // An IPv6 zone (`[fe80::1%25en0]`) may hold characters a host may not.
    const zone = host.slice(0, i).indexOf('%25');
    if (zone >= 0) {
      return unescape(host.slice(0, zone), 'host') + unescape(host.slice(zone, i), 'zone') + unescape(host.slice(i), 'host');
    }
  } else {
    const i = host.lastIndexOf(':');
    if (i !== -1) {
      const colonPort = host.slice(i);
      if (!validOptionalPort(colonPort)) throw new URLError(`invalid port ${goQuote(colonPort)} after host`);
    }
  }
  return unescape(host, 'host');
}

const USERINFO_OK = /^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/;

function parseAuthority(authority: string): string {
  const i = authority.lastIndexOf('@');
  const host = parseHost(i < 0 ? authority : authority.slice(i + 1));
  if (i < 0) return host;
  const userinfo = authority.slice(0, i);
  if (!USERINFO_OK.test(userinfo)) throw new URLError('net/url: invalid userinfo');
  const colon = userinfo.indexOf(':');
  if (colon < 0) unescape(userinfo, 'userPassword');
  else {
    unescape(userinfo.slice(0, colon), 'userPassword');
    unescape(userinfo.slice(colon + 1), 'userPassword');
  }
  return host;
}

function parseNoFragment(raw: string): GoURL {
  // Go rejects ASCII control characters anywhere in the URL.
  if (/[\x00-\x1f\x7f]/.test(raw)) throw new URLError('net/url: invalid control character in URL');
  const u: GoURL = { scheme: '', opaque: '', host: '', path: '', rawPath: '', rawQuery: '', fragment: '' };
  if (raw === '*') {
    u.path = '*';
    return u;
  }
  let [scheme, rest] = getScheme(raw);
  u.scheme = scheme.toLowerCase();
  if (rest.endsWith('?') && rest.split('?').length === 2) {
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      u.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (u.scheme !== '') {
      u.opaque = rest;
      return u;
    }
    const segment = rest.split('/', 1)[0];
    if (segment.includes(':')) throw new URLError('first path segment in URL cannot contain colon');
  }
  if ((u.scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    u.host = parseAuthority(authority);
  }
  u.path = unescape(rest, 'path');
  u.rawPath = escapePath(u.path) === rest ? '' : rest;
  return u;
}

/** Go's url.Parse; throws URLError with Go's message (`parse "<url>": <reason>`). */
export function parseGoURL(raw: string): GoURL {
  const hash = raw.indexOf('#');
  const noFrag = hash < 0 ? raw : raw.slice(0, hash);
  let u: GoURL;
  try {
    u = parseNoFragment(noFrag);
  } catch (e) {
    if (e instanceof URLError) throw new URLError(`parse ${goQuote(noFrag)}: ${e.message}`);
    throw e;
  }
  if (hash >= 0) {
    try {
      u.fragment = unescape(raw.slice(hash + 1), 'fragment');
    } catch (e) {
      if (e instanceof URLError) throw new URLError(`parse ${goQuote(raw)}: ${e.message}`);
      throw e;
    }
  }
  return u;
}

/** Go's URL.Hostname() and URL.Port(). */
export function splitHostPort(hostPort: string): { hostname: string; port: string } {
  let host = hostPort;
  let port = '';
  const colon = host.lastIndexOf(':');
  if (colon !== -1 && validOptionalPort(host.slice(colon))) {
    port = host.slice(colon + 1);
    host = host.slice(0, colon);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return { hostname: host, port };
}
