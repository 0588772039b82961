/**
 * The sandbox's own implementation of Alipay's wire details, written
 * independently of the platform adapter so that a bug there cannot hide in
 * shared code: RSA2 content-to-sign (sorted `k=v&...`, empty values and
 * the excluded names dropped; opendocs.alipay.com/common/02kf5q), form
 * encoding, and the gateway's JSON answer, which escapes `/` as `\/` the
 * way Alipay's serializer does (so a client that re-serializes before
 * verifying fails, as it would against Alipay).
 */
import { createSign, createVerify, type KeyObject } from 'node:crypto';

export function signContent(params: Record<string, string>, without: string[]): string {
  const keys = Object.keys(params).filter(
    (k) => !without.includes(k) && params[k] !== undefined && params[k] !== '',
  );
  keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return keys.map((k) => `${k}=${params[k]}`).join('&');
}

export function sign(content: string, key: KeyObject): string {
  const s = createSign('sha256');
  s.update(Buffer.from(content, 'utf8'));
  return s.sign(key).toString('base64');
}

export function verify(content: string, signature: string, key: KeyObject): boolean {
  try {
    const v = createVerify('sha256');
    v.update(Buffer.from(content, 'utf8'));
    return v.verify(key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

/** Parses a query string or form body; a repeated name or a malformed escape is an error. */
export function parseParams(text: string, into: Record<string, string>): string | undefined {
  for (const part of text.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const dec = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    let k: string;
    let v: string;
    try {
      k = dec(i < 0 ? part : part.slice(0, i));
      v = i < 0 ? '' : dec(part.slice(i + 1));
    } catch {
      return 'malformed form encoding';
    }
    if (k in into) return `parameter ${k} given twice`;
    into[k] = v;
  }
  return undefined;
}

export function formBody(params: Record<string, string>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) u.append(k, v);
  return u.toString();
}

/** `{"<key>":<value>,"sign":"..."}` with the value serialized once and signed as those exact characters. */
export function signedAnswer(key: string, value: Record<string, unknown>, alipayKey: KeyObject): string {
  const text = JSON.stringify(value).replace(/\//g, '\\/');
  return `{"${key}":${text},"sign":"${sign(text, alipayKey)}"}`;
}

/** Beijing time "yyyy-MM-dd HH:mm:ss" (UTC+8). */
export function beijing(ms: number): string {
  return new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** The Beijing calendar day (YYYY-MM-DD) of an instant. */
export function beijingDay(ms: number): string {
  return beijing(ms).slice(0, 10);
}

/** Unix ms of a Beijing "yyyy-MM-dd HH:mm:ss", NaN when malformed. */
export function fromBeijing(text: string): number {
  if (!/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(text)) return Number.NaN;
  return Date.parse(`${text.replace(' ', 'T')}+08:00`);
}

/** "3.50" <-> 350, with the sandbox's own integer arithmetic. */
export function parseYuan(text: string): number | undefined {
  const m = /^(\d{1,12})(?:\.(\d{1,2}))?$/.exec(text);
  if (!m || (m[1]!.length > 1 && m[1]!.startsWith('0'))) return undefined;
  return Number.parseInt(m[1]!, 10) * 100 + Number.parseInt((m[2] ?? '0').padEnd(2, '0'), 10);
}

export function yuan(fen: number, signed = false): string {
  const neg = fen < 0;
  const a = Math.abs(fen);
  return `${neg && signed ? '-' : ''}${Math.trunc(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}
