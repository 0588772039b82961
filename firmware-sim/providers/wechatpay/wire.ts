/**
 * The sandbox's own implementation of the WeChat Pay API v3 wire
 * cryptography, written apart from the platform adapter so a bug there
 * cannot hide in shared code:
 *
 * - the merchant's Authorization header (签名生成): five lines
 *   METHOD\nPATH?QUERY\ntimestamp\nnonce\nbody\n, SHA256-RSA, base64;
 * - WeChat Pay's signature on answers and notifications (签名验证):
 *   timestamp\nnonce\nbody\n with the platform key, in the Wechatpay-*
 *   headers;
 * - AEAD_AES_256_GCM encryption of notification resources (回调报文解密):
 *   APIv3 key, 12-byte nonce, associated data, tag appended.
 */
import { createCipheriv, createSign, createVerify, type KeyObject, randomBytes } from 'node:crypto';

export interface ParsedAuthorization {
  mchid: string;
  nonce: string;
  signature: string;
  timestamp: string;
  serial: string;
}

/** Parses `WECHATPAY2-SHA256-RSA2048 k="v",...`; null when it is anything else. */
export function parseAuthorizationHeader(value: string | undefined): ParsedAuthorization | null {
  if (!value) return null;
  const m = /^WECHATPAY2-SHA256-RSA2048 (.*)$/.exec(value);
  if (!m) return null;
  const fields = new Map<string, string>();
  for (const part of m[1]!.split(',')) {
    const kv = /^\s*(mchid|nonce_str|signature|timestamp|serial_no)="([^"]*)"\s*$/.exec(part);
    if (!kv || fields.has(kv[1]!)) return null;
    fields.set(kv[1]!, kv[2]!);
  }
  if (fields.size !== 5) return null;
  return {
    mchid: fields.get('mchid')!,
    nonce: fields.get('nonce_str')!,
    signature: fields.get('signature')!,
    timestamp: fields.get('timestamp')!,
    serial: fields.get('serial_no')!,
  };
}

/** Verifies a merchant request signature. */
export function verifyMerchantSignature(
  auth: ParsedAuthorization,
  method: string,
  pathAndQuery: string,
  body: Buffer,
  merchantPublicKey: KeyObject,
): boolean {
  const message = Buffer.concat([
    Buffer.from(`${method}\n${pathAndQuery}\n${auth.timestamp}\n${auth.nonce}\n`),
    body,
    Buffer.from('\n'),
  ]);
  try {
    return createVerify('sha256WithRSAEncryption')
      .update(message)
      .verify(merchantPublicKey, auth.signature, 'base64');
  } catch {
    return false;
  }
}

/** The Wechatpay-* headers for an answer or notification whose signed part is `signed`. */
export function platformSignatureHeaders(
  signed: Buffer,
  platformKey: KeyObject,
  serial: string,
  nowMs: number,
): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1000));
  const nonce = randomBytes(16).toString('hex');
  const signature = createSign('sha256WithRSAEncryption')
    .update(Buffer.concat([Buffer.from(`${timestamp}\n${nonce}\n`), signed, Buffer.from('\n')]))
    .sign(platformKey)
    .toString('base64');
  return {
    'Wechatpay-Nonce': nonce,
    'Wechatpay-Signature': signature,
    'Wechatpay-Timestamp': timestamp,
    'Wechatpay-Serial': serial,
    'Wechatpay-Signature-Type': 'WECHATPAY2-SHA256-RSA2048',
  };
}

export interface EncryptedResource {
  original_type: string;
  algorithm: 'AEAD_AES_256_GCM';
  ciphertext: string;
  associated_data: string;
  nonce: string;
}

/** Encrypts a notification resource with the APIv3 key (ciphertext || 16-byte tag, base64). */
export function encryptNotificationResource(
  plaintext: string,
  apiV3Key: Buffer,
  originalType: string,
): EncryptedResource {
  // A 12-character nonce of letters and digits, like the documented "fdasflkja484".
  const nonce = randomBytes(9).toString('base64').replace(/[+/]/g, 'x').slice(0, 12);
  const gcm = createCipheriv('aes-256-gcm', apiV3Key, Buffer.from(nonce, 'ascii'));
  gcm.setAAD(Buffer.from(originalType, 'utf8'));
  const sealed = Buffer.concat([gcm.update(Buffer.from(plaintext, 'utf8')), gcm.final(), gcm.getAuthTag()]);
  return {
    original_type: originalType,
    algorithm: 'AEAD_AES_256_GCM',
    ciphertext: sealed.toString('base64'),
    associated_data: originalType,
    nonce,
  };
}

/** RFC 3339 in Beijing time, as WeChat writes times ("2018-06-08T10:34:56+08:00"). */
export function beijingTimestamp(ms: number): string {
  const d = new Date(Math.floor(ms / 1000) * 1000 + 8 * 3_600_000);
  return `${d.toISOString().slice(0, 19)}+08:00`;
}

/** "yyyy-MM-dd HH:mm:ss" in Beijing time, as the bills write times. */
export function beijingBillTime(ms: number): string {
  const d = new Date(ms + 8 * 3_600_000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 19)}`;
}

/** The Beijing calendar day of an instant, "yyyy-MM-dd". */
export function beijingDay(ms: number): string {
  return new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);
}
