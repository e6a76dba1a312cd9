/**
 * Cell readers: each returns the canonical value, or undefined when the cell does not read as one.
 * They run for every cell of a million-line file, hence the hand-written fast paths before any regex.
 */

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

export function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

/** The number written by `count` ASCII digits at `from`, or -1. */
function digitsAt(s: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) {
    const d = s.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value;
}

/** YYYY-MM-DD (also YYYY/MM/DD or YYYYMMDD) → "YYYY-MM-DD", if it is a real calendar date. */
export function readDate(raw: string): string | undefined {
  const separated = raw.length === 10;
  if (separated) {
    const separator = raw.charCodeAt(4);
    if ((separator !== 45 && separator !== 47) || raw.charCodeAt(7) !== separator) return undefined;
  } else if (raw.length !== 8) return undefined;
  const year = digitsAt(raw, 0, 4);
  const month = digitsAt(raw, separated ? 5 : 4, 2);
  const day = digitsAt(raw, separated ? 8 : 6, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (separated && raw.charCodeAt(4) === 45) return raw;
  const pad = (n: number, width: number) => String(n).padStart(width, "0");
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

const DAY_MS = 86_400_000;

/** Days since 1970-01-01 of a "YYYY-MM-DD" date (Hinnant's days_from_civil: no Date, no allocation). */
export function dayNumber(date: string): number {
  const month = digitsAt(date, 5, 2);
  const year = digitsAt(date, 0, 4) - (month <= 2 ? 1 : 0);
  const era = Math.floor(year / 400);
  const yearOfEra = year - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + digitsAt(date, 8, 2) - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** "YYYY-MM-DD" of a day number (see dayNumber). */
export function dateOfDay(day: number): string {
  let date = recentDates.get(day);
  if (date === undefined) {
    date = new Date(day * DAY_MS).toISOString().slice(0, 10);
    if (recentDates.size > 4096) recentDates.clear();
    recentDates.set(day, date);
  }
  return date;
}

// Claims cluster on a few hundred days; formatting a Date is the slow part.
const recentDates = new Map<number, string>();

// Dollars with up to 2 decimals, "." or "," as decimal mark, optional sign, "$" and space-grouped thousands.
const AMOUNT = /^([-+])?\s*\$?\s*(\d{1,3}(?:[ \u00a0\u202f]\d{3})+|\d+)(?:[.,](\d{1,2}))?\s*\$?$/;

/** "86,50", "86.50", "1 234,5 $", "-12" → cents as an exact integer (no floating point on the way). */
export function readAmountCents(raw: string): number | undefined {
  const plain = plainAmountCents(raw);
  if (plain !== undefined) return plain;
  const m = AMOUNT.exec(raw);
  if (!m) return undefined;
  const dollars = (m[2] as string).replace(/\D/g, "");
  const cents = Number(dollars) * 100 + Number((m[3] ?? "").padEnd(2, "0"));
  if (!Number.isSafeInteger(cents)) return undefined;
  return m[1] === "-" && cents !== 0 ? -cents : cents;
}

/** The common "-1234,50" shape without a regex; undefined for anything else. */
function plainAmountCents(raw: string): number | undefined {
  const negative = raw.charCodeAt(0) === 45;
  let i = negative ? 1 : 0;
  let cents = 0;
  const intStart = i;
  for (; i < raw.length; i++) {
    const d = raw.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    cents = cents * 10 + d;
  }
  if (i === intStart || i - intStart > 13) return undefined;
  cents *= 100;
  if (i < raw.length) {
    const mark = raw.charCodeAt(i);
    const decimals = raw.length - i - 1;
    if ((mark !== 44 && mark !== 46) || decimals < 1 || decimals > 2) return undefined;
    const fraction = digitsAt(raw, i + 1, decimals);
    if (fraction < 0) return undefined;
    cents += decimals === 1 ? fraction * 10 : fraction;
  }
  return negative && cents !== 0 ? -cents : cents;
}

/** A whole number ≥ 1. */
export function readUnits(raw: string): number | undefined {
  if (raw.length === 0 || raw.length > 9) return undefined;
  const units = digitsAt(raw, 0, raw.length);
  return units >= 1 ? units : undefined;
}

const TIME = /^(\d{1,2})(?:[:hH]?(\d{2}))$/;

/** "8:05", "08:05", "8h05", "0805" → "08:05". */
export function readTime(raw: string): string | undefined {
  if (raw.length === 5 && raw.charCodeAt(2) === 58) {
    const hours = digitsAt(raw, 0, 2);
    const minutes = digitsAt(raw, 3, 2);
    return hours >= 0 && hours <= 23 && minutes >= 0 && minutes <= 59 ? raw : undefined;
  }
  const m = TIME.exec(raw);
  if (!m) return undefined;
  const hours = Number(m[1]);
  const minutes = Number(m[2]);
  if (hours > 23 || minutes > 59) return undefined;
  return `${String(hours).padStart(2, "0")}:${m[2]}`;
}

/** True when `raw` has no lowercase letter, space or list separator (it needs no normalizing). */
function isPlainToken(raw: string): boolean {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 32 || (c >= 97 && c <= 122) || c === 44 || c === 59 || c === 124) return false;
  }
  return true;
}

/** "AM;URG", "AM URG", "am, urg" → ["AM", "URG"]. */
export function readContextCodes(raw: string): string[] {
  if (raw === "") return [];
  if (isPlainToken(raw)) return [raw];
  return raw
    .toUpperCase()
    .split(/[\s;,|]+/)
    .filter(Boolean);
}

/** "trem 8506 2512" → "TREM85062512": the card prints the NAM in groups of four. */
export const readNam = (raw: string): string =>
  isPlainToken(raw) ? raw : raw.replace(/\s+/g, "").toUpperCase();

/** Today's local date as "YYYY-MM-DD". */
export function localToday(now = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
