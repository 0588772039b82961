/**
 * MQTT topic filter matching (MQTT 3.1.1 section 4.7): `+` matches one level,
 * `#` (last) matches the rest including the parent level, and wildcards at the
 * first level never match topics that start with `$`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

/**
 * True when every topic that `inner` can match is also matched by `outer`, so
 * a subscription to `inner` stays inside what `outer` allows.
 */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const n = inner.split('/');
  if (inner.startsWith('$') && (o[0] === '+' || o[0] === '#')) return false;
  for (let i = 0; i < o.length; i++) {
    const level = o[i];
    if (level === '#') return true;
    const sub = n[i];
    if (sub === undefined) return false;
    if (sub === '#') return false;
    if (level === '+') continue;
    if (sub === '+' || sub !== level) return false;
  }
  return o.length === n.length;
}
