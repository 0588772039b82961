/**
 * Alipay writes times as "yyyy-MM-dd HH:mm:ss" in Beijing time (UTC+8, no
 * daylight saving): the request `timestamp`, `notify_time`, `gmt_payment`,
 * `send_pay_date` and the bill's 完成时间 (opendocs.alipay.com/common/02kf5q,
 * public request parameters).
 */
const BEIJING_OFFSET_MS = 8 * 3600_000;
const STAMP = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/;

export function formatBeijing(ms: number): string {
  const d = new Date(ms + BEIJING_OFFSET_MS);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** Unix ms of a Beijing "yyyy-MM-dd HH:mm:ss", or undefined when it is not one (including 2024-02-30). */
export function parseBeijing(text: string): number | undefined {
  const m = STAMP.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  if (formatBeijing(utc - BEIJING_OFFSET_MS) !== text) return undefined;
  return utc - BEIJING_OFFSET_MS;
}

/** Whether `day` is a real calendar day written YYYY-MM-DD. */
export function isCalendarDay(day: string): boolean {
  return parseBeijing(`${day} 00:00:00`) !== undefined;
}
