/**
 * application/x-www-form-urlencoded, strictly (WHATWG URL standard,
 * application/x-www-form-urlencoded parsing): `+` is a space, `%XX` bytes are
 * UTF-8 (Alipay posts notifications with `charset=utf-8`). Unlike
 * URLSearchParams, a malformed escape, invalid UTF-8 or a repeated name is
 * an error instead of a silent replacement: the signature covers the
 * decoded values, so an ambiguous body must never verify.
 */
export type FormDecodeResult = { ok: true; params: Record<string, string> } | { ok: false; reason: string };

export function decodeForm(body: string): FormDecodeResult {
  const params: Record<string, string> = Object.create(null);
  if (body === '') return { ok: true, params };
  for (const [i, pair] of body.split('&').entries()) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? '' : pair.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replaceAll('+', ' '));
      value = decodeURIComponent(rawValue.replaceAll('+', ' '));
    } catch {
      return { ok: false, reason: `field ${i + 1}: malformed percent-encoding or invalid UTF-8` };
    }
    if (name === '') return { ok: false, reason: `field ${i + 1}: empty name` };
    if (Object.hasOwn(params, name))
      return { ok: false, reason: `field "${name.slice(0, 40)}" appears twice` };
    params[name] = value;
  }
  return { ok: true, params };
}

/** The inverse: what a form POST body carries. */
export function encodeForm(params: Readonly<Record<string, string>>): string {
  return Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}
