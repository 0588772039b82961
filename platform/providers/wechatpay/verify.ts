/**
 * Checks the `Wechatpay-*` signature headers of a response or a
 * notification before anything of its body is parsed (Signature
 * Verification §2-§3): the serial must name a configured platform key, the
 * timestamp must be within the allowed skew (5 minutes by default: replays
 * of an old message fail here), and the signature must be valid over
 * `timestamp\nnonce\nbody\n` of the raw bytes.
 */
import type { KeyObject } from 'node:crypto';
import { ErrorCode, type ErrorCodeValue } from '../../../core/errors.ts';
import { responseMessage, verifySha256Rsa } from './signing.ts';

export interface SignatureHeaders {
  serial: string;
  signature: string;
  timestamp: string;
  nonce: string;
}

export type SignatureCheck = { ok: true } | { ok: false; code: ErrorCodeValue; reason: string };

/** Header lookup that ignores case (Node lower-cases, fetch's Headers too; a hand-built map may not). */
export function header(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  name: string,
): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() === lower) return Array.isArray(v) ? v[0] : v;
  }
  return undefined;
}

/** Reads the four signature headers; undefined names the first one missing. */
export function signatureHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): SignatureHeaders | { missing: string } {
  const serial = header(headers, 'Wechatpay-Serial');
  if (!serial) return { missing: 'Wechatpay-Serial' };
  const signature = header(headers, 'Wechatpay-Signature');
  if (!signature) return { missing: 'Wechatpay-Signature' };
  const timestamp = header(headers, 'Wechatpay-Timestamp');
  if (!timestamp) return { missing: 'Wechatpay-Timestamp' };
  const nonce = header(headers, 'Wechatpay-Nonce');
  if (!nonce) return { missing: 'Wechatpay-Nonce' };
  return { serial, signature, timestamp, nonce };
}

export function checkSignature(opts: {
  headers: SignatureHeaders;
  /** What was signed after `timestamp\nnonce\n`: the raw body (or, for a Global statement, its SHA1). */
  signed: Buffer | string;
  platformKeys: ReadonlyMap<string, KeyObject>;
  nowMs: number;
  maxSkewSeconds: number;
}): SignatureCheck {
  const { headers: h } = opts;
  const key = opts.platformKeys.get(h.serial);
  if (!key) {
    return {
      ok: false,
      code: ErrorCode.WechatUnknownSerial,
      reason: `unknown platform key serial ${h.serial}`,
    };
  }
  if (!/^[0-9]{1,12}$/.test(h.timestamp)) {
    return {
      ok: false,
      code: ErrorCode.WechatSignatureInvalid,
      reason: 'Wechatpay-Timestamp is not a number',
    };
  }
  const skew = Math.abs(opts.nowMs / 1000 - Number(h.timestamp));
  if (skew > opts.maxSkewSeconds) {
    return {
      ok: false,
      code: ErrorCode.WechatTimestampStale,
      reason: `Wechatpay-Timestamp is ${Math.round(skew)} s off (at most ${opts.maxSkewSeconds} s)`,
    };
  }
  if (!verifySha256Rsa(responseMessage(h.timestamp, h.nonce, opts.signed), h.signature, key)) {
    return {
      ok: false,
      code: ErrorCode.WechatSignatureInvalid,
      reason: 'Wechatpay-Signature does not verify',
    };
  }
  return { ok: true };
}
