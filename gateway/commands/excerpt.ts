/**
 * A bounded excerpt of a value that came off the wire (a topic, a reason
 * quoting a field), for an event or a log line: at most `max` UTF-16 units
 * in all, the head of the value and how long it really was. A value this
 * short is returned as it is. Never splits a surrogate pair.
 */
export function excerpt(value: string, max: number): string {
  if (value.length <= max) return value;
  const suffix = `...(${value.length} chars)`;
  const room = Math.max(0, max - suffix.length);
  return `${headOf(value, room)}${suffix}`.slice(0, max);
}

/** The first `n` UTF-16 units of `s`, one fewer when the last would be half a surrogate pair. */
function headOf(s: string, n: number): string {
  if (n <= 0) return '';
  const last = s.charCodeAt(n - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? n - 1 : n);
}
