/**
 * Calendar days in an IANA time zone, as Unix ms ranges: a day of sales
 * runs from one local midnight to the next, which is 23 or 25 hours long on
 * a daylight-saving change (and 24 in Asia/Shanghai, which has none).
 * Intl only: Node ships the full ICU time-zone data.
 */

export interface ZonedDay {
  /** The local date, YYYY-MM-DD. */
  date: string;
  /** Unix ms of its local midnight (inclusive). */
  start: number;
  /** Unix ms of the next local midnight (exclusive). */
  end: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

interface LocalParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function localParts(ms: number, timeZone: string): LocalParts {
  const parts: Record<string, number> = {};
  for (const p of formatter(timeZone).formatToParts(ms))
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** The zone's offset from UTC at `ms`, in ms (Asia/Shanghai: +8 h). Whole seconds: enough for any zone today. */
export function zoneOffsetMs(ms: number, timeZone: string): number {
  const p = localParts(ms, timeZone);
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** The local date of `ms` in the zone, YYYY-MM-DD. */
export function localDate(ms: number, timeZone: string): string {
  const p = localParts(ms, timeZone);
  return `${String(p.year).padStart(4, '0')}-${String(p.month).padStart(2, '0')}-${String(p.day).padStart(2, '0')}`;
}

/** Unix ms of the first instant of the local date (y, m, d) in the zone. */
function localMidnight(year: number, month: number, day: number, timeZone: string): number {
  const guess = Date.UTC(year, month - 1, day);
  // Two rounds settle it: the offset at the guess may differ from the one at the answer across a change.
  let t = guess - zoneOffsetMs(guess, timeZone);
  t = guess - zoneOffsetMs(t, timeZone);
  // A zone whose clocks skip midnight (a change at 00:00) starts that day at the first hour that exists.
  const date = `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
  if (localDate(t, timeZone) < date) t += 3_600_000;
  return t;
}

/**
 * The `count` local days ending with the one `nowMs` falls in, today first.
 */
export function recentDays(nowMs: number, count: number, timeZone: string): ZonedDay[] {
  const today = localParts(nowMs, timeZone);
  const days: ZonedDay[] = [];
  for (let i = 0; i < count; i++) {
    // Date.UTC normalises day 0 and negatives into the previous month.
    const d = new Date(Date.UTC(today.year, today.month - 1, today.day - i));
    const next = new Date(Date.UTC(today.year, today.month - 1, today.day - i + 1));
    const start = localMidnight(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), timeZone);
    const end = localMidnight(next.getUTCFullYear(), next.getUTCMonth() + 1, next.getUTCDate(), timeZone);
    days.push({ date: localDate(start, timeZone), start, end });
  }
  return days;
}
