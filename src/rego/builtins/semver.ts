// Builtins of OPA's "semver" category. Registered at import time.
//
// Parsing follows OPA (not the npm `semver` package): an optional leading "v" is accepted,
// major/minor/patch are base-10 int64 values, and pre-release/build identifiers are
// dot-separated runs of [0-9A-Za-z-].
import { BuiltinError } from '../errors.js';
import { registerBuiltins, type BuiltinDef } from './registry.js';

export interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  pre: string;
  build: string;
}

const IDENTS = /^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$/;
const INT64_MAX = 2n ** 63n - 1n;

function cut(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

/** Go's strconv.ParseInt(s, 10, 64). */
function parseInt64(s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  return v > INT64_MAX || v < -INT64_MAX - 1n ? undefined : v;
}

export function parseSemVer(version: string): SemVer | undefined {
  let v = version.startsWith('v') ? version.slice(1) : version;
  let build: string;
  let pre: string;
  [v, build] = cut(v, '+');
  if (build !== '' && !IDENTS.test(build)) return undefined;
  [v, pre] = cut(v, '-');
  if (pre !== '' && !IDENTS.test(pre)) return undefined;
  const parts = v.split('.');
  if (parts.length !== 3) return undefined;
  const [major, minor, patch] = parts.map(parseInt64);
  if (major === undefined || minor === undefined || patch === undefined) return undefined;
  return { major, minor, patch, pre, build };
}

function cmp<T>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** SemVer 2.0.0 precedence; build metadata is ignored. */
export function compareSemVer(a: SemVer, b: SemVer): number {
  const c = cmp(a.major, b.major) || cmp(a.minor, b.minor) || cmp(a.patch, b.patch);
  if (c !== 0) return c;
  if (a.pre === b.pre) return 0;
  if (a.pre === '') return 1;
  if (b.pre === '') return -1;
  const xs = a.pre.split('.');
  const ys = b.pre.split('.');
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = xs[i];
    const y = ys[i];
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn && !yn) return -1;
    if (!xn && yn) return 1;
    const d = xn ? cmp(BigInt(x), BigInt(y)) : cmp(x, y);
    if (d !== 0) return d;
  }
  return cmp(xs.length, ys.length);
}

const cat = 'semver';
const defs: BuiltinDef[] = [
  {
    name: 'semver.is_valid',
    args: ['any'],
    result: 'boolean',
    category: cat,
    impl: ([v]) => typeof v === 'string' && parseSemVer(v) !== undefined,
  },
  {
    name: 'semver.compare',
    args: ['string', 'string'],
    result: 'number',
    category: cat,
    impl: ([a, b]) => {
      const x = parseSemVer(a as string);
      if (!x) throw new BuiltinError(`operand 1: string ${a as string} is not a valid SemVer`);
      const y = parseSemVer(b as string);
      if (!y) throw new BuiltinError(`operand 2: string ${b as string} is not a valid SemVer`);
      return compareSemVer(x, y);
    },
  },
];

registerBuiltins(...defs);
