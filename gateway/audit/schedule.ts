/**
 * When the next scheduled DEX read falls: the first instant after `now`
 * that is `startAt` local time (in the site's IANA time zone) plus a whole
 * number of intervals. Computed from the wall clock each time, so a clock
 * correction or a DST change moves the next read with it.
 */

/** The offset of `timeZone` from UTC at `atMs`, ms (positive east of Greenwich). */
export function zoneOffsetMs(atMs: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(atMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  const local = Date.UTC(
    get('year'),
    get('month') - 1,
    get('day'),
    get('hour'),
    get('minute'),
    get('second'),
  );
  return local - Math.floor(atMs / 1000) * 1000;
}

/** startAt local time on the local day `dayOffset` days from the one `nowMs` falls in, as a UTC instant. */
function anchorOn(nowMs: number, dayOffset: number, h: number, m: number, timeZone: string): number {
  const local = new Date(nowMs + zoneOffsetMs(nowMs, timeZone));
  const wanted = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate() + dayOffset, h, m);
  // The offset that applies at that local time, found from a first guess (exact except inside a DST gap).
  const guess = wanted - zoneOffsetMs(wanted, timeZone);
  return wanted - zoneOffsetMs(guess, timeZone);
}

/**
 * The next read strictly after `nowMs`, or undefined when `intervalMs` is 0
 * (on demand only). Each local day starts its series again at `startAt`, so
 * a daily read stays at the same local time across a DST change.
 */
export function nextReadAt(
  nowMs: number,
  intervalMs: number,
  startAt: string,
  timeZone: string,
): number | undefined {
  if (intervalMs <= 0) return undefined;
  const [h, m] = startAt.split(':').map(Number) as [number, number];
  const anchors = [-1, 0, 1, 2].map((d) => anchorOn(nowMs, d, h, m, timeZone));
  let best: number | undefined;
  for (let d = 0; d < anchors.length - 1; d++) {
    const from = anchors[d]!;
    const until = anchors[d + 1]!;
    // The first slot of this day's series after now, if it falls before the next day's anchor.
    const k = nowMs < from ? 0 : Math.floor((nowMs - from) / intervalMs) + 1;
    const slot = from + k * intervalMs;
    if (slot < until && (best === undefined || slot < best)) best = slot;
  }
  return best ?? anchors[anchors.length - 1];
}
