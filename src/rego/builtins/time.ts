// Builtins of OPA's "time" category. Registered at import time.
//
// Nanosecond timestamps are int64 in OPA; here they are bigint internally and come back as
// numbers only when they are safe integers (normalizeBigInt), so no precision is lost.
//
// Zones: "" and "UTC" are UTC; "Local" is the zone of the process (as OPA does; in our
// containers that is UTC); anything else is an IANA name resolved through Node's ICU data.
import { BuiltinError } from '../errors.js';
import { normalizeBigInt, typeName, type Value } from '../value.js';
import {
  GoTimeError,
  MAX_NS,
  MIN_NS,
  NAMED_LAYOUTS,
  UTC,
  breakDown,
  dateToNs,
  daysIn,
  formatTime,
  loadLocation,
  parseDuration,
  parseTime,
  weekdayName,
  type Zone,
} from './gotime.js';
import { registerBuiltins } from './registry.js';

const TZ_ARG = 'number|array[number,string]';

function builtinError(e: unknown): never {
  if (e instanceof GoTimeError) throw new BuiltinError(e.message);
  throw e;
}

function safeNs(ns: bigint): Value {
  if (ns < MIN_NS || ns > MAX_NS) throw new BuiltinError('time outside of valid range');
  return normalizeBigInt(ns);
}

/** A number operand as an exact int64, as OPA's tzTime does (non-integers are "too big"). */
function nsOf(v: Value): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'number' && Number.isInteger(v)) n = BigInt(v);
  else throw new BuiltinError('timestamp too big');
  if (n < MIN_NS || n > MAX_NS) throw new BuiltinError('timestamp too big');
  return n;
}

interface ZonedTime {
  ns: bigint;
  zone: Zone;
  layout: string;
}

/** The calendar fields of a time operand (a number, or [ns, tz]) in its zone. */
function brokenDown(a: Value): ReturnType<typeof breakDown> {
  const t = tzTime(a);
  return breakDown(t.ns, t.zone);
}

/** OPA's tzTime: a number (UTC) or [ns, tz] or [ns, tz, layout]. Errors name operand 1, as OPA's do. */
function tzTime(a: Value): ZonedTime {
  const shape = 'either number (ns) or [number (ns), string (tz)]';
  if (typeof a === 'number' || typeof a === 'bigint') return { ns: nsOf(a), zone: UTC, layout: '' };
  if (!Array.isArray(a)) throw new BuiltinError(`operand 1 must be ${shape} but got ${typeName(a)}`, 'eval_type_error');
  if (a.length === 0) throw new BuiltinError(`operand 1 must be ${shape} but got array`, 'eval_type_error');
  const n = a[0];
  if (typeof n !== 'number' && typeof n !== 'bigint') {
    throw new BuiltinError(`operand 1 must be number but got ${typeName(n)}`, 'eval_type_error');
  }
  let zone = UTC;
  let layout = '';
  if (a.length > 1) {
    const tz = a[1];
    if (typeof tz !== 'string') throw new BuiltinError(`operand 1 must be string but got ${typeName(tz)}`, 'eval_type_error');
    try {
      zone = loadLocation(tz);
    } catch (e) {
      builtinError(e);
    }
  }
  if (a.length > 2) {
    const l = a[2];
    if (typeof l !== 'string') throw new BuiltinError(`operand 1 must be string but got ${typeName(l)}`, 'eval_type_error');
    layout = l;
  }
  return { ns: nsOf(n), zone, layout };
}

/** OPA's IntOperand: an integer that fits Go's int. */
function intOperand(v: Value, pos: number): number {
  if (typeof v === 'bigint') {
    if (v >= MIN_NS && v <= MAX_NS) return Number(v);
  } else if (typeof v === 'number' && Number.isInteger(v)) {
    return v;
  }
  throw new BuiltinError(`operand ${pos} must be integer number but got floating-point number`, 'eval_type_error');
}

registerBuiltins(
  {
    name: 'time.now_ns',
    args: [],
    result: 'number',
    category: 'time',
    nondeterministic: true,
    impl: (_args, ctx) => normalizeBigInt(ctx.nowNs),
  },
  {
    name: 'time.parse_ns',
    args: ['string', 'string'],
    result: 'number',
    category: 'time',
    impl: ([layout, value]) => {
      const l = layout as string;
      try {
        return safeNs(parseTime(NAMED_LAYOUTS[l] ?? l, value as string));
      } catch (e) {
        return builtinError(e);
      }
    },
  },
  {
    name: 'time.parse_rfc3339_ns',
    args: ['string'],
    result: 'number',
    category: 'time',
    impl: ([value]) => {
      try {
        return safeNs(parseTime(NAMED_LAYOUTS.RFC3339, value as string));
      } catch (e) {
        return builtinError(e);
      }
    },
  },
  {
    name: 'time.parse_duration_ns',
    args: ['string'],
    result: 'number',
    category: 'time',
    impl: ([d]) => {
      try {
        return normalizeBigInt(parseDuration(d as string));
      } catch (e) {
        return builtinError(e);
      }
    },
  },
  {
    name: 'time.format',
    args: ['number|array[number,string]|array[number,string,string]'],
    result: 'string',
    category: 'time',
    impl: ([x]) => {
      const t = tzTime(x);
      let layout = t.layout;
      if (layout === '') layout = NAMED_LAYOUTS.RFC3339Nano;
      else layout = NAMED_LAYOUTS[layout] ?? layout;
      return formatTime(breakDown(t.ns, t.zone), layout);
    },
  },
  {
    name: 'time.date',
    args: [TZ_ARG],
    result: 'array[number,number,number]',
    category: 'time',
    impl: ([x]) => {
      const b = brokenDown(x);
      return [b.year, b.month, b.day];
    },
  },
  {
    name: 'time.clock',
    args: [TZ_ARG],
    result: 'array[number,number,number]',
    category: 'time',
    impl: ([x]) => {
      const b = brokenDown(x);
      return [b.hour, b.minute, b.second];
    },
  },
  {
    name: 'time.weekday',
    args: [TZ_ARG],
    result: 'string',
    category: 'time',
    impl: ([x]) => weekdayName(brokenDown(x).weekday),
  },
  {
    name: 'time.add_date',
    args: ['number', 'number', 'number', 'number'],
    result: 'number',
    category: 'time',
    impl: ([ns, years, months, days]) => {
      const t = tzTime(ns);
      const y = intOperand(years, 2);
      const m = intOperand(months, 3);
      const d = intOperand(days, 4);
      const b = breakDown(t.ns, t.zone);
      try {
        return safeNs(dateToNs(b.year + y, b.month + m, b.day + d, b.hour, b.minute, b.second, b.nsec));
      } catch (e) {
        return builtinError(e);
      }
    },
  },
  {
    name: 'time.diff',
    args: [TZ_ARG, TZ_ARG],
    result: 'array[number,number,number,number,number,number]',
    category: 'time',
    impl: ([x, y]) => {
      const t1 = tzTime(x);
      const t2 = tzTime(y);
      // Both are read in the first operand's zone; then the earlier one is subtracted.
      const zone = t1.zone;
      let a = t1.ns;
      let b = t2.ns;
      if (a > b) [a, b] = [b, a];
      const p = breakDown(a, zone);
      const q = breakDown(b, zone);
      let year = q.year - p.year;
      let month = q.month - p.month;
      let day = q.day - p.day;
      let hour = q.hour - p.hour;
      let min = q.minute - p.minute;
      let sec = q.second - p.second;
      if (sec < 0) {
        sec += 60;
        min--;
      }
      if (min < 0) {
        min += 60;
        hour--;
      }
      if (hour < 0) {
        hour += 24;
        day--;
      }
      if (day < 0) {
        day += daysIn(p.month, p.year);
        month--;
      }
      if (month < 0) {
        month += 12;
        year--;
      }
      return [year, month, day, hour, min, sec];
    },
  },
);
