// Builtins of OPA's "uuid" category (uuid.rfc4122, uuid.parse). Registered at import time.
import { getRandomValues } from 'node:crypto';
import { RObject, canonicalKey, normalizeBigInt, type Value } from '../value.js';
import { registerBuiltins, type BuiltinContext } from './registry.js';

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A random version 4 UUID, the same for the same key within one query. */
function rfc4122(key: Value, ctx: BuiltinContext): string {
  const cacheKey = 'uuid.rfc4122:' + canonicalKey(key);
  const cached = ctx.queryCache.get(cacheKey);
  if (typeof cached === 'string') return cached;
  const b = getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = hex(b);
  const out = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  ctx.queryCache.set(cacheKey, out);
  return out;
}

/** Parses the textual forms Go's google/uuid accepts; undefined when invalid. */
export function parseUUIDBytes(s: string): Uint8Array | undefined {
  let body: string;
  if (s.length === 36) body = s;
  else if (s.length === 45 && s.slice(0, 9).toLowerCase() === 'urn:uuid:') body = s.slice(9);
  else if (s.length === 38 && s[0] === '{' && s[37] === '}') body = s.slice(1, 37);
  else if (s.length === 32) body = s.slice(0, 8) + '-' + s.slice(8, 12) + '-' + s.slice(12, 16) + '-' + s.slice(16, 20) + '-' + s.slice(20);
  else return undefined;
  if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(body)) return undefined;
  const h = body.replace(/-/g, '');
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) out[i] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}

function variantName(b8: number): string {
  if ((b8 & 0xc0) === 0x80) return 'RFC4122';
  if ((b8 & 0xe0) === 0xc0) return 'Microsoft';
  if ((b8 & 0xe0) === 0xe0) return 'Future';
  return 'Reserved';
}

function macVariables(first: number): string {
  if ((first & 0b11) === 0b11) return 'local:multicast';
  if ((first & 0b01) === 0b01) return 'global:multicast';
  if ((first & 0b10) === 0b10) return 'local:unicast';
  return 'global:unicast';
}

const DOMAINS = ['Person', 'Group', 'Org'];
/** 100ns intervals between the Gregorian reform (1582-10-15) and the Unix epoch. */
const GREGORIAN_OFFSET = 122192928000000000n;

/** uuid.parse: version and variant for every UUID, plus time/node/clock fields for v1 and v2. */
export function parseUUID(s: string): RObject | undefined {
  const b = parseUUIDBytes(s);
  if (!b) return undefined;
  const version = b[6] >> 4;
  const out = new RObject();
  out.set('version', version);
  out.set('variant', variantName(b[8]));
  if (version === 1 || version === 2) {
    const be = (i: number, n: number) => {
      let x = 0n;
      for (let k = 0; k < n; k++) x = (x << 8n) | BigInt(b[i + k]);
      return x;
    };
    const t = be(0, 4) | (be(4, 2) << 32n) | ((be(6, 2) & 0xfffn) << 48n);
    out.set('time', normalizeBigInt((t - GREGORIAN_OFFSET) * 100n));
    out.set('nodeid', Array.from(b.slice(10), (x) => x.toString(16).padStart(2, '0')).join('-'));
    out.set('macvariables', macVariables(b[10]));
    out.set('clocksequence', ((b[8] << 8) | b[9]) & 0x3fff);
    if (version === 2) {
      out.set('id', Number(be(0, 4)));
      out.set('domain', b[9] < DOMAINS.length ? DOMAINS[b[9]] : `Domain${b[9]}`);
    }
  }
  return out;
}

registerBuiltins(
  {
    name: 'uuid.rfc4122',
    args: ['string'],
    result: 'string',
    category: 'uuid',
    nondeterministic: true,
    impl: ([k], ctx) => rfc4122(k, ctx),
  },
  {
    name: 'uuid.parse',
    args: ['string'],
    result: 'object[string,any]',
    category: 'uuid',
    impl: ([s]) => parseUUID(s as string),
  },
);
