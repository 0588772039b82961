/**
 * RSA2 = SHA256withRSA (PKCS#1 v1.5) over the "content to sign": the
 * parameters sorted by name (byte order), those with an empty value
 * dropped, joined as `k=v&k=v` with the raw (decoded) values
 * (opendocs.alipay.com/common/02kf5q, 自行实现签名; the same rule minus
 * `sign` and `sign_type` for asynchronous notifications,
 * opendocs.alipay.com/common/02mse7, 异步通知验签).
 */
import { createSign, createVerify, type KeyObject } from 'node:crypto';

export function contentToSign(
  params: Readonly<Record<string, string>>,
  exclude: readonly string[] = [],
): string {
  return Object.keys(params)
    .filter((k) => !exclude.includes(k) && params[k] !== '')
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((k) => `${k}=${params[k]}`)
    .join('&');
}

export function rsa2Sign(content: string, key: KeyObject): string {
  return createSign('RSA-SHA256').update(content, 'utf8').sign(key, 'base64');
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** False for anything but a valid signature of `content` (including a signature that is not base64). */
export function rsa2Verify(content: string, signature: string, key: KeyObject): boolean {
  if (!BASE64.test(signature) || signature.length % 4 !== 0) return false;
  try {
    return createVerify('RSA-SHA256').update(content, 'utf8').verify(key, signature, 'base64');
  } catch {
    return false;
  }
}
