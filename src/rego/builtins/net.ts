// Builtins of OPA's "net" category. Registered at import time.
//
// Addresses follow Go's net package, which OPA uses: every address lives in one 128-bit space
// where IPv4 a.b.c.d is the IPv4-mapped address ::ffff:a.b.c.d. A network "contains" an address
// only when both are IPv4(-mapped) or both are not, which is what Go's IPNet.Contains does after
// its To4() normalisation. Parsing is strict like Go's netip: no leading zeros in IPv4 fields,
// no zones, at most four hex digits per IPv6 group.
import { BuiltinError } from '../errors.js';
import { RObject, RSet, type Value } from '../value.js';
import { registerBuiltins, typeError, type BuiltinContext } from './registry.js';

const V4_MAPPED = 0xffffn << 32n; // ::ffff:0.0.0.0
const ALL_ONES = (1n << 128n) - 1n;

/** Most addresses net.cidr_expand will produce; OPA has no limit but would run for hours. */
export const CIDR_EXPAND_LIMIT = 1 << 18;

export interface Net {
  /** Network number (host bits cleared), in the unified 128-bit space. */
  num: bigint;
  /** Prefix length in the unified space (an IPv4 /24 is 120). */
  prefix: number;
}

function isV4Mapped(a: bigint): boolean {
  return a >> 32n === 0xffffn;
}

function hostMask(prefix: number): bigint {
  return prefix >= 128 ? 0n : (1n << BigInt(128 - prefix)) - 1n;
}

function parseIPv4Bits(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let out = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out = out * 256 + n;
  }
  return out;
}

function parseIPv6Bits(input: string): bigint | undefined {
  let s = input;
  const groups: number[] = [];
  let ellipsis = -1;
  if (s.startsWith('::')) {
    ellipsis = 0;
    s = s.slice(2);
    if (s === '') return 0n;
  }
  while (s.length > 0) {
    let off = 0;
    while (off < s.length && /[0-9a-fA-F]/.test(s[off])) {
      off++;
      if (off > 4) return undefined;
    }
    if (off < s.length && s[off] === '.') {
      // Embedded IPv4 must fill the last two groups.
      if (ellipsis < 0 && groups.length !== 6) return undefined;
      if (groups.length + 2 > 8) return undefined;
      const v4 = parseIPv4Bits(s);
      if (v4 === undefined) return undefined;
      groups.push(v4 >>> 16, v4 & 0xffff);
      s = '';
      break;
    }
    if (off === 0) return undefined;
    groups.push(parseInt(s.slice(0, off), 16));
    s = s.slice(off);
    if (s.length === 0) break;
    if (s[0] !== ':' || s.length === 1) return undefined;
    s = s.slice(1);
    if (s[0] === ':') {
      if (ellipsis >= 0) return undefined;
      ellipsis = groups.length;
      s = s.slice(1);
      if (s.length === 0) break;
    }
    if (groups.length === 8) return undefined;
  }
  if (groups.length < 8) {
    if (ellipsis < 0) return undefined;
    groups.splice(ellipsis, 0, ...new Array<number>(8 - groups.length).fill(0));
  } else if (ellipsis >= 0) {
    return undefined; // "::" must stand for at least one group
  }
  let out = 0n;
  for (const g of groups) out = (out << 16n) | BigInt(g);
  return out;
}

/** Parses an IP address like Go's net.ParseIP; `v4` tells whether it was written as IPv4. */
export function parseIP(s: string): { addr: bigint; v4: boolean } | undefined {
  if (s.includes(':')) {
    if (s.includes('%')) return undefined;
    const a = parseIPv6Bits(s);
    return a === undefined ? undefined : { addr: a, v4: false };
  }
  const v4 = parseIPv4Bits(s);
  return v4 === undefined ? undefined : { addr: V4_MAPPED | BigInt(v4), v4: true };
}

/** Parses a CIDR like Go's net.ParseCIDR; undefined when invalid. */
export function parseCIDR(s: string): Net | undefined {
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (!ip || !/^[0-9]+$/.test(bits)) return undefined;
  const n = bits.length > 8 ? Infinity : Number(bits);
  const max = ip.v4 ? 32 : 128;
  if (n > max) return undefined;
  const prefix = ip.v4 ? 96 + n : n;
  return { num: ip.addr & ~hostMask(prefix) & ALL_ONES, prefix };
}

function formatV4(a: bigint): string {
  const n = Number(a & 0xffffffffn);
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Formats an address as Go's IP.String does (IPv4-mapped addresses print as IPv4). */
export function formatIP(a: bigint): string {
  if (isV4Mapped(a)) return formatV4(a);
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((a >> BigInt(i * 16)) & 0xffffn));
  // The longest run (first on ties) of two or more zero groups becomes "::" (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return hex(g.slice(0, bestStart)) + '::' + hex(g.slice(bestStart + bestLen));
}

/** Formats a network as Go's IPNet.String does. */
export function formatNet(n: Net): string {
  if (isV4Mapped(n.num) && n.prefix >= 96) return `${formatV4(n.num)}/${n.prefix - 96}`;
  return `${formatIP(n.num)}/${n.prefix}`;
}

function netContains(n: Net, a: bigint): boolean {
  if (isV4Mapped(n.num) !== isV4Mapped(a)) return false;
  return (a & ~hostMask(n.prefix) & ALL_ONES) === n.num;
}

function lastAddr(n: Net): bigint {
  return n.num | hostMask(n.prefix);
}

function mustCIDR(s: string): Net {
  const n = parseCIDR(s);
  if (!n) throw new BuiltinError(`invalid CIDR address: ${s}`);
  return n;
}

/** net.cidr_contains: is the IP or CIDR `b` inside CIDR `a`? */
export function cidrContains(a: string, b: string): boolean {
  const net = mustCIDR(a);
  const ip = parseIP(b);
  if (ip) return netContains(net, ip.addr);
  const inner = parseCIDR(b);
  if (!inner) throw new BuiltinError(`not a valid textual representation of an IP address or CIDR: ${b}`);
  return netContains(net, inner.num) && netContains(net, lastAddr(inner));
}

function cidrIntersects(a: string, b: string): boolean {
  const x = mustCIDR(a);
  const y = mustCIDR(b);
  return netContains(x, y.num) || netContains(y, x.num);
}

function cidrExpand(s: string): RSet {
  const n = mustCIDR(s);
  const count = 1n << BigInt(128 - n.prefix);
  if (count > BigInt(CIDR_EXPAND_LIMIT)) {
    throw new BuiltinError(
      `${s} has ${count} addresses, more than the ${CIDR_EXPAND_LIMIT} net.cidr_expand generates`,
    );
  }
  const out = new RSet();
  for (let a = n.num, i = 0n; i < count; i++, a++) out.add(formatIP(a));
  return out;
}

// --- net.cidr_merge -------------------------------------------------------------------------

interface Range {
  first: bigint;
  last: bigint;
  /** Text of the original network when the range was not merged with another. */
  text?: string;
}

function mergeEntry(v: Value): Range {
  if (typeof v !== 'string') throw new BuiltinError('element must be string');
  const ip = parseIP(v);
  if (!ip) {
    const n = parseCIDR(v);
    if (!n) throw new BuiltinError(`invalid CIDR address: ${v}`);
    return { first: n.num, last: lastAddr(n), text: formatNet(n) };
  }
  if (!ip.v4 && !isV4Mapped(ip.addr)) throw new BuiltinError('IPv6 invalid: needs prefix length');
  // Go gives a bare IPv4 address its classful default mask (A: /8, B: /16, C: /24) and keeps
  // the host bits in the printed network, e.g. "192.0.2.112/24". Classes D and E have no
  // default mask in Go (OPA then prints garbage); we treat them as single addresses.
  const first8 = Number((ip.addr >> 24n) & 0xffn);
  const bits = first8 < 0x80 ? 8 : first8 < 0xc0 ? 16 : first8 < 0xe0 ? 24 : 32;
  const prefix = 96 + bits;
  const num = ip.addr & ~hostMask(prefix) & ALL_ONES;
  return { first: num, last: num | hostMask(prefix), text: `${formatV4(ip.addr)}/${bits}` };
}

function previous(a: bigint): bigint {
  return a === 0n || a === V4_MAPPED ? a : a - 1n;
}

/** Splits [first, last] into the fewest CIDR blocks. */
function rangeToNets(first: bigint, last: bigint): Net[] {
  const out: Net[] = [];
  let cur = first;
  while (cur <= last) {
    let size = cur === 0n ? 1n << 128n : cur & -cur;
    while (cur + size - 1n > last) size >>= 1n;
    out.push({ num: cur, prefix: 128 - (size.toString(2).length - 1) });
    cur += size;
  }
  return out;
}

export function cidrMerge(items: Value[]): RSet {
  const ranges = items.map(mergeEntry);
  ranges.sort((a, b) => (a.last < b.last ? -1 : a.last > b.last ? 1 : a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  for (let i = ranges.length - 1; i > 0; i--) {
    if (previous(ranges[i].first) <= ranges[i - 1].last) {
      const first = ranges[i - 1].first < ranges[i].first ? ranges[i - 1].first : ranges[i].first;
      ranges.splice(i - 1, 2, { first, last: ranges[i].last });
    }
  }
  const out = new RSet();
  for (const r of ranges) {
    if (r.text !== undefined) out.add(r.text);
    else for (const n of rangeToNets(r.first, r.last)) out.add(formatNet(n));
  }
  return out;
}

// --- net.cidr_contains_matches ---------------------------------------------------------------

function matchTerm(operand: number, x: Value): Value {
  if (typeof x === 'string') return x;
  if (Array.isArray(x) && x.length > 0) return x[0];
  throw new BuiltinError(`operand ${operand}: element must be string or non-empty array`);
}

/** Calls fn(cidr, key) for every element of a contains_matches operand. */
function eachMatchOperand(operand: number, v: Value, fn: (cidr: Value, key: Value) => void): void {
  if (typeof v === 'string') fn(v, v);
  else if (Array.isArray(v)) v.forEach((x, i) => fn(matchTerm(operand, x), i));
  else if (v instanceof RSet) for (const x of v.values()) fn(matchTerm(operand, x), x);
  else if (v instanceof RObject) for (const [k, x] of v.entries()) fn(matchTerm(operand, x), k);
}

function cidrContainsMatches(a: Value, b: Value): RSet {
  const out = new RSet();
  eachMatchOperand(1, a, (c1, k1) => {
    eachMatchOperand(2, b, (c2, k2) => {
      // OPA reuses cidr_contains here, which names every non-string "operand 1".
      if (typeof c1 !== 'string') throw typeError(1, 'string', c1);
      if (typeof c2 !== 'string') throw typeError(1, 'string', c2);
      if (cidrContains(c1, c2)) out.add([k1, k2]);
    });
  });
  return out;
}

// --- net.lookup_ip_addr ---------------------------------------------------------------------

/** Resolves through the embedding program's hook, once per name within a query (as OPA caches). */
function lookupIPAddr(name: string, ctx: BuiltinContext): RSet {
  const key = 'net.lookup_ip_addr:' + name;
  const cached = ctx.queryCache.get(key);
  if (cached instanceof RSet) return cached;
  const hook = ctx.hooks.lookupIPAddr;
  if (!hook) throw new BuiltinError('network access disabled');
  const out = RSet.from(hook(name));
  ctx.queryCache.set(key, out);
  return out;
}

const MATCH_OPERAND = 'string|array[string|array[any]]|set[string|array[any]]|object[string,string|array[any]]';

registerBuiltins(
  {
    name: 'net.cidr_contains',
    args: ['string', 'string'],
    result: 'boolean',
    category: 'net',
    impl: ([a, b]) => cidrContains(a as string, b as string),
  },
  {
    name: 'net.cidr_overlap',
    args: ['string', 'string'],
    result: 'boolean',
    category: 'net',
    deprecated: true,
    impl: ([a, b]) => cidrContains(a as string, b as string),
  },
  {
    name: 'net.cidr_intersects',
    args: ['string', 'string'],
    result: 'boolean',
    category: 'net',
    impl: ([a, b]) => cidrIntersects(a as string, b as string),
  },
  {
    name: 'net.cidr_contains_matches',
    args: [MATCH_OPERAND, MATCH_OPERAND],
    result: 'set[array<any,any>]',
    category: 'net',
    impl: ([a, b]) => cidrContainsMatches(a, b),
  },
  {
    name: 'net.cidr_expand',
    args: ['string'],
    result: 'set[string]',
    category: 'net',
    impl: ([s]) => cidrExpand(s as string),
  },
  {
    name: 'net.cidr_merge',
    args: ['array[string]|set[string]'],
    result: 'set[string]',
    category: 'net',
    impl: ([v]) => cidrMerge(Array.isArray(v) ? v : (v as RSet).values()),
  },
  {
    name: 'net.cidr_is_valid',
    args: ['string'],
    result: 'boolean',
    category: 'net',
    impl: ([s]) => parseCIDR(s as string) !== undefined,
  },
  {
    name: 'net.lookup_ip_addr',
    args: ['string'],
    result: 'set[string]',
    category: 'net',
    nondeterministic: true,
    impl: ([s], ctx) => lookupIPAddr(s as string, ctx),
  },
);
