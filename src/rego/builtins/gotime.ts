// Go's time layouts, durations and zones, re-implemented for the time.* builtins.
//
// OPA exposes Go's `time` package almost directly (time.Parse, Time.Format, ParseDuration,
// LoadLocation), so policies written for OPA use Go reference layouts such as
// "2006-01-02T15:04:05Z07:00". This module reproduces that behaviour, including Go's error
// texts, on top of bigint nanoseconds (int64 range, like Go's UnixNano).
//
// Zones: IANA names are resolved with the ICU data that ships with Node (Intl.DateTimeFormat).
// ICU has no zone abbreviations for many zones (Go's tzdata has e.g. "JST"); where none of a few
// English locales gives a letter abbreviation we print Go's numeric form ("+09", "+0530").

export const MIN_NS = -(2n ** 63n);
export const MAX_NS = 2n ** 63n - 1n;
const NS_PER_SEC = 1_000_000_000n;

export class GoTimeError extends Error {}

// ---------------------------------------------------------------------------------------------
// Calendar arithmetic (proleptic Gregorian, like Go)

/** Days since 1970-01-01 for a civil date; month 1-12 (already normalised), any day number. */
export function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const mp = (month + 9) % 12;
  const doy = Math.floor((153 * mp + 2) / 5);
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468 + (day - 1);
}

function civilFromDays(z: number): { year: number; month: number; day: number } {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return { year: yoe + era * 400 + (month <= 2 ? 1 : 0), month, day };
}

export function isLeap(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

export function daysIn(month: number, year: number): number {
  if (month === 2) return isLeap(year) ? 29 : 28;
  return [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
}

function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

// ---------------------------------------------------------------------------------------------
// Zones

export interface Zone {
  /** The name as given ("UTC", "America/New_York", "Local" resolved to the host zone). */
  readonly name: string;
  /** Offset from UTC in seconds at the given instant (seconds since epoch). */
  offsetAt(unixSec: number): number;
  /** Abbreviation at the instant, as Go prints for "MST". */
  abbrevAt(unixSec: number, offset: number): string;
}

export const UTC: Zone = { name: 'UTC', offsetAt: () => 0, abbrevAt: () => 'UTC' };

export function fixedZone(name: string, offset: number): Zone {
  return { name, offsetAt: () => offset, abbrevAt: () => name };
}

const zoneCache = new Map<string, Zone>();

const ABBREV_LOCALES = ['en-US', 'en-GB', 'en-AU', 'en-IN', 'ja-JP'];

function numericAbbrev(offset: number): string {
  // Go's tzdata uses "+03" / "-0330" for zones without a letter abbreviation.
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  const h = Math.floor(abs / 3600);
  const m = Math.floor((abs % 3600) / 60);
  return sign + pad(h, 2) + (m !== 0 ? pad(m, 2) : '');
}

function intlZone(name: string, ianaName: string): Zone {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: ianaName,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
    era: 'short',
  });
  const abbrevFormats = ABBREV_LOCALES.map((l) => new Intl.DateTimeFormat(l, { timeZone: ianaName, timeZoneName: 'short' }));
  return {
    name,
    offsetAt(unixSec: number): number {
      const p: Record<string, string> = {};
      for (const x of parts.formatToParts(new Date(unixSec * 1000))) p[x.type] = x.value;
      let year = Number(p.year);
      if (p.era && /^B/.test(p.era)) year = 1 - year;
      const days = daysFromCivil(year, Number(p.month), Number(p.day));
      const local = days * 86400 + Number(p.hour) * 3600 + Number(p.minute) * 60 + Number(p.second);
      return local - unixSec;
    },
    abbrevAt(unixSec: number, offset: number): string {
      const d = new Date(unixSec * 1000);
      for (const f of abbrevFormats) {
        const v = f.formatToParts(d).find((x) => x.type === 'timeZoneName')?.value ?? '';
        if (/^[A-Z]{2,5}$/.test(v) && ((v !== 'GMT' && v !== 'UTC') || offset === 0)) return v;
      }
      return numericAbbrev(offset);
    },
  };
}

function hostZoneName(): string {
  try {
    return new Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
}

/**
 * Go's time.LoadLocation as OPA calls it: "" and "UTC" are UTC, "Local" is the process's zone,
 * anything else an IANA name (case-sensitive, as on Go's file-based tzdata).
 */
export function loadLocation(name: string): Zone {
  if (name === '' || name === 'UTC') return UTC;
  const cached = zoneCache.get(name);
  if (cached) return cached;
  let zone: Zone;
  if (name === 'Local') {
    const host = hostZoneName();
    zone = host === 'UTC' || host === 'Etc/UTC' ? { ...UTC, name: 'Local' } : intlZone('Local', host);
  } else {
    if (name.includes('..') || name.startsWith('/') || name.includes('\\')) throw new GoTimeError('time: invalid location name');
    let resolved: string;
    try {
      resolved = new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
    } catch {
      throw new GoTimeError('unknown time zone ' + name);
    }
    // ICU accepts names case-insensitively and offsets like "+01:00"; Go does neither.
    if (/^[+-]/.test(name) || (resolved.toLowerCase() === name.toLowerCase() && resolved !== name)) {
      throw new GoTimeError('unknown time zone ' + name);
    }
    zone = resolved === 'UTC' || resolved === 'Etc/UTC' ? { ...UTC, name } : intlZone(name, name);
  }
  if (zoneCache.size > 1000) zoneCache.clear();
  zoneCache.set(name, zone);
  return zone;
}

// ---------------------------------------------------------------------------------------------
// Broken-down time

export interface Broken {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  minute: number;
  second: number;
  nsec: number;
  weekday: number; // 0 = Sunday
  yday: number; // 1-366
  offset: number; // seconds east of UTC
  abbrev: string;
}

export function breakDown(ns: bigint, zone: Zone): Broken {
  const sec = floorDiv(ns, NS_PER_SEC);
  const nsec = Number(ns - sec * NS_PER_SEC);
  const unixSec = Number(sec);
  const offset = zone.offsetAt(unixSec);
  const local = unixSec + offset;
  const days = Math.floor(local / 86400);
  let rem = local - days * 86400;
  const { year, month, day } = civilFromDays(days);
  const hour = Math.floor(rem / 3600);
  rem -= hour * 3600;
  const minute = Math.floor(rem / 60);
  const second = rem - minute * 60;
  const weekday = (((days + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
  const yday = days - daysFromCivil(year, 1, 1) + 1;
  return { year, month, day, hour, minute, second, nsec, weekday, yday, offset, abbrev: zone.abbrevAt(unixSec, offset) };
}

/**
 * Go's time.Date in UTC: normalises month and day overflow and returns nanoseconds since the
 * epoch (possibly outside int64; callers range-check). Only UTC is needed: OPA's add_date works
 * on a plain number (UTC) and time.Parse defaults to UTC.
 */
export function dateToNs(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  nsec: number,
): bigint {
  const m0 = month - 1;
  year += Math.floor(m0 / 12);
  month = (((m0 % 12) + 12) % 12) + 1;
  if (!Number.isSafeInteger(year) || Math.abs(year) > 1e12 || !Number.isSafeInteger(day)) {
    throw new GoTimeError('time outside of valid range');
  }
  const days = BigInt(daysFromCivil(year, month, 1)) + BigInt(day - 1);
  const wall = days * 86400n + BigInt(hour) * 3600n + BigInt(minute) * 60n + BigInt(second);
  return wall * NS_PER_SEC + BigInt(nsec);
}

// ---------------------------------------------------------------------------------------------
// Layouts

export const NAMED_LAYOUTS: Record<string, string> = {
  ANSIC: 'Mon Jan _2 15:04:05 2006',
  UnixDate: 'Mon Jan _2 15:04:05 MST 2006',
  RubyDate: 'Mon Jan 02 15:04:05 -0700 2006',
  RFC822: '02 Jan 06 15:04 MST',
  RFC822Z: '02 Jan 06 15:04 -0700',
  RFC850: 'Monday, 02-Jan-06 15:04:05 MST',
  RFC1123: 'Mon, 02 Jan 2006 15:04:05 MST',
  RFC1123Z: 'Mon, 02 Jan 2006 15:04:05 -0700',
  RFC3339: '2006-01-02T15:04:05Z07:00',
  RFC3339Nano: '2006-01-02T15:04:05.999999999Z07:00',
};

type Std =
  | 'none'
  | 'longMonth'
  | 'month'
  | 'numMonth'
  | 'zeroMonth'
  | 'longWeekDay'
  | 'weekDay'
  | 'day'
  | 'underDay'
  | 'zeroDay'
  | 'underYearDay'
  | 'zeroYearDay'
  | 'hour'
  | 'hour12'
  | 'zeroHour12'
  | 'minute'
  | 'zeroMinute'
  | 'second'
  | 'zeroSecond'
  | 'longYear'
  | 'year'
  | 'PM'
  | 'pm'
  | 'TZ'
  | 'ISO8601TZ'
  | 'ISO8601SecondsTZ'
  | 'ISO8601ShortTZ'
  | 'ISO8601ColonTZ'
  | 'ISO8601ColonSecondsTZ'
  | 'numTZ'
  | 'numSecondsTz'
  | 'numShortTZ'
  | 'numColonTZ'
  | 'numColonSecondsTZ'
  | 'fracSecond0'
  | 'fracSecond9';

interface Chunk {
  prefix: string;
  std: Std;
  /** The layout text of the element, for error messages. */
  text: string;
  /** Digits of a fractional second element. */
  digits: number;
  /** '.' or ',' for fractional seconds. */
  sep: string;
  suffix: string;
}

const isDigitAt = (s: string, i: number) => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

/** Go's nextStdChunk: the literal prefix, the first layout element, and the rest. */
function nextChunk(layout: string): Chunk {
  const mk = (i: number, std: Std, len: number, digits = 0, sep = ''): Chunk => ({
    prefix: layout.slice(0, i),
    std,
    text: layout.slice(i, i + len),
    digits,
    sep,
    suffix: layout.slice(i + len),
  });
  for (let i = 0; i < layout.length; i++) {
    const c = layout[i];
    switch (c) {
      case 'J':
        if (layout.startsWith('Jan', i)) return layout.startsWith('January', i) ? mk(i, 'longMonth', 7) : mk(i, 'month', 3);
        break;
      case 'M':
        if (layout.startsWith('Mon', i)) return layout.startsWith('Monday', i) ? mk(i, 'longWeekDay', 6) : mk(i, 'weekDay', 3);
        if (layout.startsWith('MST', i)) return mk(i, 'TZ', 3);
        break;
      case '0':
        if (layout.length >= i + 2 && layout[i + 1] >= '1' && layout[i + 1] <= '6') {
          const std: Std[] = ['zeroMonth', 'zeroDay', 'zeroHour12', 'zeroMinute', 'zeroSecond', 'year'];
          return mk(i, std[layout.charCodeAt(i + 1) - 49], 2);
        }
        if (layout.startsWith('002', i)) return mk(i, 'zeroYearDay', 3);
        break;
      case '1':
        if (layout.startsWith('15', i)) return mk(i, 'hour', 2);
        return mk(i, 'numMonth', 1);
      case '2':
        if (layout.startsWith('2006', i)) return mk(i, 'longYear', 4);
        return mk(i, 'day', 1);
      case '_':
        if (layout[i + 1] === '2') {
          // "_2006" is a literal "_" followed by the long year.
          if (layout.startsWith('_2006', i)) return { ...mk(i + 1, 'longYear', 4) };
          return mk(i, 'underDay', 2);
        }
        if (layout.startsWith('__2', i)) return mk(i, 'underYearDay', 3);
        break;
      case '3':
        return mk(i, 'hour12', 1);
      case '4':
        return mk(i, 'minute', 1);
      case '5':
        return mk(i, 'second', 1);
      case 'P':
        if (layout[i + 1] === 'M') return mk(i, 'PM', 2);
        break;
      case 'p':
        if (layout[i + 1] === 'm') return mk(i, 'pm', 2);
        break;
      case '-':
        if (layout.startsWith('-070000', i)) return mk(i, 'numSecondsTz', 7);
        if (layout.startsWith('-07:00:00', i)) return mk(i, 'numColonSecondsTZ', 9);
        if (layout.startsWith('-0700', i)) return mk(i, 'numTZ', 5);
        if (layout.startsWith('-07:00', i)) return mk(i, 'numColonTZ', 6);
        if (layout.startsWith('-07', i)) return mk(i, 'numShortTZ', 3);
        break;
      case 'Z':
        if (layout.startsWith('Z070000', i)) return mk(i, 'ISO8601SecondsTZ', 7);
        if (layout.startsWith('Z07:00:00', i)) return mk(i, 'ISO8601ColonSecondsTZ', 9);
        if (layout.startsWith('Z0700', i)) return mk(i, 'ISO8601TZ', 5);
        if (layout.startsWith('Z07:00', i)) return mk(i, 'ISO8601ColonTZ', 6);
        if (layout.startsWith('Z07', i)) return mk(i, 'ISO8601ShortTZ', 3);
        break;
      case '.':
      case ',':
        if (i + 1 < layout.length && (layout[i + 1] === '0' || layout[i + 1] === '9')) {
          const ch = layout[i + 1];
          let j = i + 1;
          while (j < layout.length && layout[j] === ch) j++;
          // Only a fractional second if the run of 0s or 9s is not followed by another digit.
          if (!isDigitAt(layout, j)) {
            return mk(i, ch === '0' ? 'fracSecond0' : 'fracSecond9', j - i, j - (i + 1), c);
          }
        }
        break;
    }
  }
  return { prefix: layout, std: 'none', text: '', digits: 0, sep: '', suffix: '' };
}

const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const SHORT_DAYS = LONG_DAYS.map((d) => d.slice(0, 3));
const LONG_MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const SHORT_MONTHS = LONG_MONTHS.map((m) => m.slice(0, 3));

export function weekdayName(n: number): string {
  return LONG_DAYS[n];
}

function pad(n: number, width: number, ch = '0'): string {
  const neg = n < 0;
  const s = String(Math.abs(n)).padStart(width, ch);
  return neg ? '-' + s : s;
}

function formatOffset(offset: number, std: Std): string {
  // Minutes/seconds of the offset, as Go's appendFormat does.
  let zone = Math.trunc(offset / 60);
  let absoffset = offset;
  let out = '';
  if (zone < 0) {
    out += '-';
    zone = -zone;
    absoffset = -absoffset;
  } else {
    out += '+';
  }
  out += pad(Math.trunc(zone / 60), 2);
  if (std === 'ISO8601ColonTZ' || std === 'numColonTZ' || std === 'ISO8601ColonSecondsTZ' || std === 'numColonSecondsTZ') {
    out += ':';
  }
  if (std !== 'numShortTZ' && std !== 'ISO8601ShortTZ') out += pad(zone % 60, 2);
  if (std === 'ISO8601SecondsTZ' || std === 'numSecondsTz' || std === 'numColonSecondsTZ' || std === 'ISO8601ColonSecondsTZ') {
    if (std === 'numColonSecondsTZ' || std === 'ISO8601ColonSecondsTZ') out += ':';
    out += pad(absoffset % 60, 2);
  }
  return out;
}

/** Go's Time.Format. */
export function formatTime(b: Broken, layout: string): string {
  let out = '';
  while (layout !== '') {
    const ch = nextChunk(layout);
    out += ch.prefix;
    if (ch.std === 'none') break;
    layout = ch.suffix;
    switch (ch.std) {
      case 'year':
        out += pad(Math.abs(b.year % 100), 2);
        break;
      case 'longYear':
        out += pad(b.year, 4);
        break;
      case 'month':
        out += SHORT_MONTHS[b.month - 1];
        break;
      case 'longMonth':
        out += LONG_MONTHS[b.month - 1];
        break;
      case 'numMonth':
        out += String(b.month);
        break;
      case 'zeroMonth':
        out += pad(b.month, 2);
        break;
      case 'weekDay':
        out += SHORT_DAYS[b.weekday];
        break;
      case 'longWeekDay':
        out += LONG_DAYS[b.weekday];
        break;
      case 'day':
        out += String(b.day);
        break;
      case 'underDay':
        out += pad(b.day, 2, ' ');
        break;
      case 'zeroDay':
        out += pad(b.day, 2);
        break;
      case 'underYearDay':
        out += pad(b.yday, 3, ' ');
        break;
      case 'zeroYearDay':
        out += pad(b.yday, 3);
        break;
      case 'hour':
        out += pad(b.hour, 2);
        break;
      case 'hour12':
        out += String(b.hour % 12 === 0 ? 12 : b.hour % 12);
        break;
      case 'zeroHour12':
        out += pad(b.hour % 12 === 0 ? 12 : b.hour % 12, 2);
        break;
      case 'minute':
        out += String(b.minute);
        break;
      case 'zeroMinute':
        out += pad(b.minute, 2);
        break;
      case 'second':
        out += String(b.second);
        break;
      case 'zeroSecond':
        out += pad(b.second, 2);
        break;
      case 'PM':
        out += b.hour >= 12 ? 'PM' : 'AM';
        break;
      case 'pm':
        out += b.hour >= 12 ? 'pm' : 'am';
        break;
      case 'ISO8601TZ':
      case 'ISO8601ColonTZ':
      case 'ISO8601SecondsTZ':
      case 'ISO8601ShortTZ':
      case 'ISO8601ColonSecondsTZ':
        if (b.offset === 0) {
          out += 'Z';
          break;
        }
        out += formatOffset(b.offset, ch.std);
        break;
      case 'numTZ':
      case 'numColonTZ':
      case 'numSecondsTz':
      case 'numShortTZ':
      case 'numColonSecondsTZ':
        out += formatOffset(b.offset, ch.std);
        break;
      case 'TZ':
        if (b.abbrev !== '') {
          out += b.abbrev;
        } else {
          const z = Math.trunc(b.offset / 60);
          out += (z < 0 ? '-' : '+') + pad(Math.trunc(Math.abs(z) / 60), 2) + pad(Math.abs(z) % 60, 2);
        }
        break;
      case 'fracSecond0': {
        out += ch.sep + pad(b.nsec, 9).slice(0, ch.digits);
        break;
      }
      case 'fracSecond9': {
        if (b.nsec === 0) break;
        const digits = pad(b.nsec, 9).slice(0, Math.min(ch.digits, 9)).replace(/0+$/, '');
        if (digits !== '') out += ch.sep + digits;
        break;
      }
    }
  }
  return out;
}

/** Go's unexported time.quote: double quotes, \x escapes for bytes outside printable ASCII. */
export function goQuote(s: string): string {
  let out = '"';
  for (const c of s) {
    const cp = c.codePointAt(0)!;
    if (cp >= 0x80 || cp < 0x20) {
      for (const byte of Buffer.from(c, 'utf8')) out += '\\x' + byte.toString(16).padStart(2, '0');
    } else {
      if (c === '"' || c === '\\') out += '\\';
      out += c;
    }
  }
  return out + '"';
}

function parseError(layout: string, value: string, layoutElem: string, valueElem: string, message = ''): GoTimeError {
  if (message === '') {
    return new GoTimeError(
      `parsing time ${goQuote(value)} as ${goQuote(layout)}: cannot parse ${goQuote(valueElem)} as ${goQuote(layoutElem)}`,
    );
  }
  return new GoTimeError(`parsing time ${goQuote(value)}${message}`);
}

class Bad extends Error {}

/** Go's getnum: one or two digits (exactly two if fixed). */
function getnum(s: string, fixed: boolean): [number, string] {
  if (!isDigitAt(s, 0)) throw new Bad();
  if (!isDigitAt(s, 1)) {
    if (fixed) throw new Bad();
    return [s.charCodeAt(0) - 48, s.slice(1)];
  }
  return [(s.charCodeAt(0) - 48) * 10 + (s.charCodeAt(1) - 48), s.slice(2)];
}

function getnum3(s: string, fixed: boolean): [number, string] {
  let n = 0;
  let i = 0;
  for (; i < 3 && isDigitAt(s, i); i++) n = n * 10 + s.charCodeAt(i) - 48;
  if (i === 0 || (fixed && i !== 3)) throw new Bad();
  return [n, s.slice(i)];
}

/** Go's skip: literal layout text must match; a space matches one or more spaces. */
function skip(value: string, prefix: string): string {
  while (prefix.length > 0) {
    if (prefix[0] === ' ') {
      if (value.length > 0 && value[0] !== ' ') throw new Bad();
      prefix = prefix.replace(/^ +/, '');
      value = value.replace(/^ +/, '');
      continue;
    }
    if (value.length === 0 || value[0] !== prefix[0]) throw new Bad();
    prefix = prefix.slice(1);
    value = value.slice(1);
  }
  return value;
}

function lookup(table: string[], value: string): [number, string] {
  for (let i = 0; i < table.length; i++) {
    const v = table[i];
    if (value.length >= v.length && value.slice(0, v.length).toLowerCase() === v.toLowerCase()) {
      return [i, value.slice(v.length)];
    }
  }
  throw new Bad();
}

function parseNanoseconds(value: string, nbytes: number): [number, string | null] {
  if (value[0] !== '.' && value[0] !== ',') throw new Bad();
  if (nbytes > 10) {
    value = value.slice(0, 10);
    nbytes = 10;
  }
  const digits = value.slice(1, nbytes);
  if (!/^[0-9]*$/.test(digits) || digits === '') throw new Bad();
  let ns = Number(digits);
  for (let i = 0; i < 10 - nbytes; i++) ns *= 10;
  return [ns, null];
}

/** Go's parseTimeZone: how many bytes of value look like a zone abbreviation (0 if none). */
function parseTimeZone(value: string): number {
  if (value.length < 3) return 0;
  if (value.length >= 4 && (value.slice(0, 4) === 'ChST' || value.slice(0, 4) === 'MeST')) return 4;
  if (value.slice(0, 3) === 'GMT') return parseGMT(value);
  if (value[0] === '+' || value[0] === '-') return parseSignedOffset(value);
  let nUpper = 0;
  for (; nUpper < 6 && nUpper < value.length; nUpper++) {
    const c = value[nUpper];
    if (c < 'A' || c > 'Z') break;
  }
  switch (nUpper) {
    case 0:
    case 1:
    case 2:
    case 6:
      return 0;
    case 5:
      return value[4] === 'T' ? 5 : 0;
    case 4:
      return value[3] === 'T' || value.slice(0, 4) === 'WITA' ? 4 : 0;
    case 3:
      return 3;
  }
  return 0;
}

function parseGMT(value: string): number {
  const rest = value.slice(3);
  if (rest.length === 0) return 3;
  return 3 + parseSignedOffset(rest);
}

function parseSignedOffset(value: string): number {
  const sign = value[0];
  if (sign !== '-' && sign !== '+') return 0;
  const m = /^[0-9]+/.exec(value.slice(1));
  if (!m) return 0;
  const x = Number(m[0]);
  if (x > 23) return 0;
  return 1 + m[0].length;
}

/** Go's time.Parse (default location UTC; the host's Local zone is treated as UTC here). */
export function parseTime(layout: string, value: string): bigint {
  const alayout = layout;
  const avalue = value;
  let rangeErr = '';
  let amSet = false;
  let pmSet = false;
  let year = 0;
  let month = -1;
  let day = -1;
  let yday = -1;
  let hour = 0;
  let min = 0;
  let sec = 0;
  let nsec = 0;
  let zoneOffset: number | null = null;
  let zoneName = '';
  let utc = false;

  for (;;) {
    const ch = nextChunk(layout);
    const stdstr = ch.text;
    try {
      value = skip(value, ch.prefix);
    } catch {
      throw parseError(alayout, avalue, ch.prefix, value);
    }
    if (ch.std === 'none') {
      if (value.length !== 0) throw parseError(alayout, avalue, '', value, ': extra text: ' + goQuote(value));
      break;
    }
    layout = ch.suffix;
    const hold = value;
    try {
      switch (ch.std) {
        case 'year': {
          if (value.length < 2) throw new Bad();
          const p = value.slice(0, 2);
          if (!/^[0-9]{2}$/.test(p)) throw new Bad();
          value = value.slice(2);
          year = Number(p);
          year += year >= 69 ? 1900 : 2000;
          break;
        }
        case 'longYear': {
          if (value.length < 4 || !isDigitAt(value, 0)) throw new Bad();
          const p = value.slice(0, 4);
          if (!/^[0-9]{4}$/.test(p)) throw new Bad();
          value = value.slice(4);
          year = Number(p);
          break;
        }
        case 'month':
          [month, value] = lookup(SHORT_MONTHS, value);
          month++;
          break;
        case 'longMonth':
          [month, value] = lookup(LONG_MONTHS, value);
          month++;
          break;
        case 'numMonth':
        case 'zeroMonth':
          [month, value] = getnum(value, ch.std === 'zeroMonth');
          if (month <= 0 || month > 12) rangeErr = 'month';
          break;
        case 'weekDay':
          [, value] = lookup(SHORT_DAYS, value);
          break;
        case 'longWeekDay':
          [, value] = lookup(LONG_DAYS, value);
          break;
        case 'day':
        case 'underDay':
        case 'zeroDay':
          if (ch.std === 'underDay' && value[0] === ' ') value = value.slice(1);
          [day, value] = getnum(value, ch.std === 'zeroDay');
          // Any one- or two-digit day is accepted here; validated against the month below.
          break;
        case 'underYearDay':
        case 'zeroYearDay':
          for (let i = 0; i < 2; i++) {
            if (ch.std === 'underYearDay' && value[0] === ' ') value = value.slice(1);
          }
          // Any one- to three-digit day of the year; validated after parsing.
          [yday, value] = getnum3(value, ch.std === 'zeroYearDay');
          break;
        case 'hour':
          [hour, value] = getnum(value, false);
          if (hour < 0 || hour >= 24) rangeErr = 'hour';
          break;
        case 'hour12':
        case 'zeroHour12':
          [hour, value] = getnum(value, ch.std === 'zeroHour12');
          if (hour < 0 || hour > 12) rangeErr = 'hour';
          break;
        case 'minute':
        case 'zeroMinute':
          [min, value] = getnum(value, ch.std === 'zeroMinute');
          if (min < 0 || min >= 60) rangeErr = 'minute';
          break;
        case 'second':
        case 'zeroSecond': {
          [sec, value] = getnum(value, ch.std === 'zeroSecond');
          if (sec < 0 || sec >= 60) {
            rangeErr = 'second';
            break;
          }
          // A fractional second in the value but not in the layout is accepted.
          if (value.length >= 2 && (value[0] === '.' || value[0] === ',') && isDigitAt(value, 1)) {
            const next = nextChunk(layout);
            if (next.std === 'fracSecond0' || next.std === 'fracSecond9') break;
            let n = 2;
            while (n < value.length && isDigitAt(value, n)) n++;
            [nsec] = parseNanoseconds(value, n);
            value = value.slice(n);
          }
          break;
        }
        case 'PM':
        case 'pm': {
          // The layout's case decides the accepted case: "PM" takes PM/AM, "pm" takes pm/am.
          if (value.length < 2) throw new Bad();
          const p = value.slice(0, 2);
          value = value.slice(2);
          const upper = ch.std === 'PM';
          if (p === (upper ? 'PM' : 'pm')) pmSet = true;
          else if (p === (upper ? 'AM' : 'am')) amSet = true;
          else throw new Bad();
          break;
        }
        case 'ISO8601TZ':
        case 'ISO8601ColonTZ':
        case 'ISO8601SecondsTZ':
        case 'ISO8601ShortTZ':
        case 'ISO8601ColonSecondsTZ':
        case 'numTZ':
        case 'numShortTZ':
        case 'numColonTZ':
        case 'numSecondsTz':
        case 'numColonSecondsTZ': {
          if (ch.std.startsWith('ISO') && value.length >= 1 && value[0] === 'Z') {
            value = value.slice(1);
            utc = true;
            break;
          }
          let sign: string;
          let hh: string;
          let mm = '00';
          let ss = '00';
          const kind = ch.std;
          if (kind === 'ISO8601ColonTZ' || kind === 'numColonTZ') {
            if (value.length < 6 || value[3] !== ':') throw new Bad();
            [sign, hh, mm] = [value[0], value.slice(1, 3), value.slice(4, 6)];
            value = value.slice(6);
          } else if (kind === 'numShortTZ' || kind === 'ISO8601ShortTZ') {
            if (value.length < 3) throw new Bad();
            [sign, hh] = [value[0], value.slice(1, 3)];
            value = value.slice(3);
          } else if (kind === 'ISO8601ColonSecondsTZ' || kind === 'numColonSecondsTZ') {
            if (value.length < 9 || value[3] !== ':' || value[6] !== ':') throw new Bad();
            [sign, hh, mm, ss] = [value[0], value.slice(1, 3), value.slice(4, 6), value.slice(7, 9)];
            value = value.slice(9);
          } else if (kind === 'ISO8601SecondsTZ' || kind === 'numSecondsTz') {
            if (value.length < 7) throw new Bad();
            [sign, hh, mm, ss] = [value[0], value.slice(1, 3), value.slice(3, 5), value.slice(5, 7)];
            value = value.slice(7);
          } else {
            if (value.length < 5) throw new Bad();
            [sign, hh, mm] = [value[0], value.slice(1, 3), value.slice(3, 5)];
            value = value.slice(5);
          }
          const [hr] = getnum(hh, true);
          const [mn] = getnum(mm, true);
          const [sc] = getnum(ss, true);
          // Go uses > rather than >= because some offsets have 24 hours.
          if (hr > 24) rangeErr = 'time zone offset hour';
          if (mn > 60) rangeErr = 'time zone offset minute';
          if (sc > 60) rangeErr = 'time zone offset second';
          let off = (hr * 60 + mn) * 60 + sc;
          if (sign === '-') off = -off;
          else if (sign !== '+') throw new Bad();
          zoneOffset = off;
          break;
        }
        case 'TZ': {
          if (value.length >= 3 && value.slice(0, 3) === 'UTC') {
            utc = true;
            value = value.slice(3);
            break;
          }
          const n = parseTimeZone(value);
          if (n === 0) throw new Bad();
          zoneName = value.slice(0, n);
          value = value.slice(n);
          break;
        }
        case 'fracSecond0': {
          const ndigit = 1 + ch.digits;
          if (value.length < ndigit) throw new Bad();
          [nsec] = parseNanoseconds(value, ndigit);
          value = value.slice(ndigit);
          break;
        }
        case 'fracSecond9': {
          if (value.length < 2 || (value[0] !== '.' && value[0] !== ',') || !isDigitAt(value, 1)) break;
          let i = 0;
          while (i + 1 < value.length && isDigitAt(value, i + 1)) i++;
          [nsec] = parseNanoseconds(value, 1 + i);
          value = value.slice(1 + i);
          break;
        }
      }
    } catch (e) {
      if (e instanceof Bad) throw parseError(alayout, avalue, stdstr, hold);
      throw e;
    }
    if (rangeErr !== '') throw parseError(alayout, avalue, stdstr, value, ': ' + rangeErr + ' out of range');
  }
  if (pmSet && hour < 12) hour += 12;
  else if (amSet && hour === 12) hour = 0;

  if (yday >= 0) {
    let d = 0;
    let m = 0;
    if (isLeap(year)) {
      if (yday === 31 + 29) {
        m = 2;
        d = 29;
      } else if (yday > 31 + 29) {
        yday--;
      }
    }
    if (yday < 1 || yday > 365) throw parseError(alayout, avalue, '', value, ': day-of-year out of range');
    if (m === 0) {
      const before = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365];
      m = Math.floor((yday - 1) / 31) + 1;
      if (before[m] < yday) m++;
      d = yday - before[m - 1];
    }
    // A month or day seen in the value must agree with the day of the year.
    if (month >= 0 && month !== m) throw parseError(alayout, avalue, '', value, ': day-of-year does not match month');
    month = m;
    if (day >= 0 && day !== d) throw parseError(alayout, avalue, '', value, ': day-of-year does not match day');
    day = d;
  } else {
    if (month < 0) month = 1;
    if (day < 0) day = 1;
  }
  if (day < 1 || day > daysIn(month, year)) throw parseError(alayout, avalue, '', value, ': day out of range');

  let ns: bigint;
  if (utc) {
    ns = dateToNs(year, month, day, hour, min, sec, nsec);
  } else if (zoneOffset !== null) {
    ns = dateToNs(year, month, day, hour, min, sec, nsec) - BigInt(zoneOffset) * NS_PER_SEC;
  } else if (zoneName !== '') {
    // Go: an abbreviation it cannot place gets offset 0, except "GMT+h".
    let offset = 0;
    if (zoneName.length > 3 && zoneName.slice(0, 3) === 'GMT') offset = Number(zoneName.slice(3)) * 3600;
    ns = dateToNs(year, month, day, hour, min, sec, nsec) - BigInt(offset) * NS_PER_SEC;
  } else {
    ns = dateToNs(year, month, day, hour, min, sec, nsec);
  }
  return ns;
}

// ---------------------------------------------------------------------------------------------
// Durations

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1000n,
  'µs': 1000n, // U+00B5 micro sign
  'μs': 1000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: NS_PER_SEC,
  m: 60n * NS_PER_SEC,
  h: 3600n * NS_PER_SEC,
};

const LIMIT = 1n << 63n;

/** Go's time.ParseDuration, to bigint nanoseconds. */
export function parseDuration(orig: string): bigint {
  const invalid = () => new GoTimeError('time: invalid duration ' + goQuote(orig));
  let s = orig;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || (s[0] >= '0' && s[0] <= '9'))) throw invalid();
    // Leading integer.
    let i = 0;
    let v = 0n;
    while (i < s.length && s[i] >= '0' && s[i] <= '9') {
      v = v * 10n + BigInt(s.charCodeAt(i) - 48);
      if (v > LIMIT) throw invalid();
      i++;
    }
    const pre = i > 0;
    s = s.slice(i);
    let post = false;
    let f = 0n;
    let scale = 1;
    if (s !== '' && s[0] === '.') {
      s = s.slice(1);
      let j = 0;
      let overflow = false;
      while (j < s.length && s[j] >= '0' && s[j] <= '9') {
        if (!overflow) {
          const next = f * 10n + BigInt(s.charCodeAt(j) - 48);
          if (next >= LIMIT) overflow = true;
          else {
            f = next;
            scale *= 10;
          }
        }
        j++;
      }
      post = j > 0;
      s = s.slice(j);
    }
    if (!pre && !post) throw invalid();
    let k = 0;
    while (k < s.length && s[k] !== '.' && !(s[k] >= '0' && s[k] <= '9')) k++;
    if (k === 0) throw new GoTimeError('time: missing unit in duration ' + goQuote(orig));
    const u = s.slice(0, k);
    s = s.slice(k);
    const unit = UNITS[u];
    if (unit === undefined) throw new GoTimeError('time: unknown unit ' + goQuote(u) + ' in duration ' + goQuote(orig));
    if (v > LIMIT / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // Go computes this in float64: float64(f) * (float64(unit) / scale).
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > LIMIT) throw invalid();
    }
    d += v;
    if (d > LIMIT) throw invalid();
  }
  if (neg) return -d;
  if (d > LIMIT - 1n) throw invalid();
  return d;
}
