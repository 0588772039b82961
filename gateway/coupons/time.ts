import type { TimeWindow } from '../../contract/coupons.ts';

/** Local calendar facts about an instant in one IANA time zone. */
export interface LocalTime {
  /** Local date, `YYYY-MM-DD`. */
  day: string;
  /** ISO weekday, 1 = Monday ... 7 = Sunday. */
  weekday: number;
  /** Minutes since local midnight, 0-1439. */
  minute: number;
}

const WEEKDAY: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };
const formatters = new Map<string, Intl.DateTimeFormat>();
// Local facts change at most once a minute (every zone offset is whole minutes).
const cache = new Map<string, { minuteStart: number; local: LocalTime }>();

function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

export function localTime(epochMs: number, tz: string): LocalTime {
  const minuteStart = Math.floor(epochMs / 60_000) * 60_000;
  const hit = cache.get(tz);
  if (hit && hit.minuteStart === minuteStart) return hit.local;
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(minuteStart)) parts[p.type] = p.value;
  const local: LocalTime = {
    day: `${parts.year}-${parts.month}-${parts.day}`,
    weekday: WEEKDAY[parts.weekday ?? ''] ?? 0,
    minute: Number(parts.hour) * 60 + Number(parts.minute),
  };
  if (cache.size > 256) cache.clear();
  cache.set(tz, { minuteStart, local });
  return local;
}

function minutes(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/**
 * Is the local time inside one of the windows? `from` is inclusive, `to`
 * exclusive; a window whose `to` is not after `from` spans midnight and
 * belongs to the day it opens on. No windows means always open.
 */
export function inWindows(local: LocalTime, windows: readonly TimeWindow[]): boolean {
  if (windows.length === 0) return true;
  const yesterday = local.weekday === 1 ? 7 : local.weekday - 1;
  for (const w of windows) {
    const from = minutes(w.from);
    const to = minutes(w.to);
    if (from < to) {
      if (w.days.includes(local.weekday) && local.minute >= from && local.minute < to) return true;
    } else {
      if (w.days.includes(local.weekday) && local.minute >= from) return true;
      if (w.days.includes(yesterday) && local.minute < to) return true;
    }
  }
  return false;
}

/** A readable summary for refusal reasons, e.g. `Mon-Fri 11:00-14:00 Asia/Shanghai`. */
export function describeWindows(windows: readonly TimeWindow[], tz: string): string {
  const names = ['', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  return `${windows.map((w) => `${w.days.map((d) => names[d]).join(',')} ${w.from}-${w.to}`).join('; ')} (${tz})`;
}
