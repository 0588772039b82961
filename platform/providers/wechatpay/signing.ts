/**
 * WeChat Pay API v3 signatures (SHA256 with RSA, PKCS#1 v1.5, base64).
 *
 * Requests ("签名生成" / Signature Generation §2-§4): the merchant signs five
 * lines, each ending in "\n", the last one too:
 *   METHOD\nURL-PATH[?QUERY]\ntimestamp\nnonce\nbody\n
 * and sends `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",
 * nonce_str="..",signature="..",timestamp="..",serial_no=".."` (the five
 * items in any order).
 *
 * Responses and notifications ("签名验证" / Signature Verification §3):
 * WeChat Pay signs `timestamp\nnonce\nbody\n` with the platform key named
 * by `Wechatpay-Serial`; the body is the raw bytes received.
 */
import { createSign, createVerify, type KeyObject, randomBytes } from 'node:crypto';

export const AUTH_SCHEMA = 'WECHATPAY2-SHA256-RSA2048';

/** The request signature string (five lines). `pathAndQuery` is the URL minus scheme and host. */
export function requestMessage(
  method: string,
  pathAndQuery: string,
  timestamp: string,
  nonce: string,
  body: string,
): string {
  return `${method.toUpperCase()}\n${pathAndQuery}\n${timestamp}\n${nonce}\n${body}\n`;
}

/** The response / notification signature string (three lines) over the raw body bytes. */
export function responseMessage(timestamp: string, nonce: string, body: Buffer | string): Buffer {
  return Buffer.concat([
    Buffer.from(`${timestamp}\n${nonce}\n`, 'utf8'),
    typeof body === 'string' ? Buffer.from(body, 'utf8') : body,
    Buffer.from('\n', 'utf8'),
  ]);
}

export function signSha256Rsa(message: string | Buffer, privateKey: KeyObject): string {
  return createSign('RSA-SHA256').update(message).sign(privateKey, 'base64');
}

/** True when `signature` (base64) is a valid SHA256-RSA signature of `message`; false for anything malformed. */
export function verifySha256Rsa(message: string | Buffer, signature: string, publicKey: KeyObject): boolean {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature)) return false;
  try {
    return createVerify('RSA-SHA256').update(message).verify(publicKey, signature, 'base64');
  } catch {
    return false;
  }
}

/** A request nonce: 32 upper-case hex characters, as in the documented example. */
export function newNonce(): string {
  return randomBytes(16).toString('hex').toUpperCase();
}

export interface AuthorizationParams {
  mchid: string;
  nonce_str: string;
  signature: string;
  timestamp: string;
  serial_no: string;
}

export function formatAuthorization(p: AuthorizationParams): string {
  return `${AUTH_SCHEMA} mchid="${p.mchid}",nonce_str="${p.nonce_str}",signature="${p.signature}",timestamp="${p.timestamp}",serial_no="${p.serial_no}"`;
}

const AUTH_ITEM = /^([a-z_]+)="([^"]*)"$/;
const AUTH_KEYS = ['mchid', 'nonce_str', 'signature', 'timestamp', 'serial_no'] as const;

/**
 * Parses an Authorization header value; undefined when it is not exactly the
 * schema followed by the five items (any order, each once).
 */
export function parseAuthorization(header: string): AuthorizationParams | undefined {
  if (!header.startsWith(`${AUTH_SCHEMA} `)) return undefined;
  const items = header.slice(AUTH_SCHEMA.length + 1).split(',');
  const out: Partial<Record<(typeof AUTH_KEYS)[number], string>> = {};
  for (const item of items) {
    const m = AUTH_ITEM.exec(item.trim());
    if (!m) return undefined;
    const key = m[1] as (typeof AUTH_KEYS)[number];
    if (!AUTH_KEYS.includes(key) || out[key] !== undefined) return undefined;
    out[key] = m[2]!;
  }
  if (AUTH_KEYS.some((k) => out[k] === undefined)) return undefined;
  return out as AuthorizationParams;
}

/** Builds the Authorization header for one request, signed with the merchant key. */
export function authorize(opts: {
  method: string;
  pathAndQuery: string;
  body: string;
  mchid: string;
  serialNo: string;
  privateKey: KeyObject;
  timestamp: number;
  nonce?: string;
}): string {
  const timestamp = String(Math.floor(opts.timestamp / 1000));
  const nonce = opts.nonce ?? newNonce();
  const signature = signSha256Rsa(
    requestMessage(opts.method, opts.pathAndQuery, timestamp, nonce, opts.body),
    opts.privateKey,
  );
  return formatAuthorization({
    mchid: opts.mchid,
    nonce_str: nonce,
    signature,
    timestamp,
    serial_no: opts.serialNo,
  });
}
