/**
 * The WeChat Pay adapter's configuration: a zod schema for what an operator
 * writes (ids, URLs, key material as PEM text or file paths), and its
 * resolution into key objects. Errors name the field and what is wrong with
 * it, never the value: most of these fields are secrets.
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';

/** Where each mode's API lives (WeChat Pay API v3 / WeChat Pay Global API v3). */
export const DEFAULT_BASE_URL = {
  domestic: 'https://api.mch.weixin.qq.com',
  global: 'https://apihk.mch.weixin.qq.com',
} as const;

/** PEM text, or a path to a file holding it. */
const PemOrPath = z.string().min(1, 'a PEM text or a path to a PEM file');

export const WechatPayConfigSchema = z
  .object({
    /** `domestic`: WeChat Pay API v3 in CNY. `global`: WeChat Pay Global v3, priced in the merchant's currency. */
    mode: z.enum(['domestic', 'global']).default('domestic'),
    baseUrl: z.url().optional(),
    mchid: z.string().regex(/^[0-9]{1,32}$/, 'the numeric merchant id (mchid)'),
    appid: z.string().regex(/^[A-Za-z0-9_]{1,32}$/, 'the app id bound to the merchant (appid)'),
    /** The serial number of the merchant API certificate (`serial_no` in Authorization). */
    merchantSerialNo: z.string().regex(/^[0-9A-Fa-f]{8,64}$/, 'the merchant certificate serial (hex)'),
    merchantPrivateKey: PemOrPath,
    /** The 32-byte APIv3 key that encrypts notification resources: the key itself, or `{ path }`. */
    apiV3Key: z.union([z.string(), z.object({ path: z.string().min(1) }).strict()]),
    /** WeChat Pay platform keys by serial (`Wechatpay-Serial`): a public key or certificate, PEM or path. */
    platformKeys: z.record(z.string().regex(/^[0-9A-Za-z_]{1,64}$/, 'a platform key serial'), PemOrPath),
    /** The merchant's ISO 4217 pricing currency; CNY for domestic. */
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/)
      .optional(),
    /** Global only: the merchant category code (MCC) every order carries. */
    merchantCategoryCode: z
      .string()
      .regex(/^[0-9]{4}$/)
      .optional(),
    timeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    maxResponseBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(1024 * 1024),
    maxBillBytes: z
      .number()
      .int()
      .min(1024)
      .max(512 * 1024 * 1024)
      .default(64 * 1024 * 1024),
    /** Reject signed responses and notifications whose timestamp is further off than this (5 min). */
    maxClockSkewSeconds: z.number().int().min(1).max(3600).default(300),
  })
  .strict();

export type WechatPayConfigInput = z.input<typeof WechatPayConfigSchema>;

/** The resolved configuration the adapter runs on. */
export interface WechatPayConfig {
  mode: 'domestic' | 'global';
  baseUrl: string;
  mchid: string;
  appid: string;
  merchantSerialNo: string;
  merchantPrivateKey: KeyObject;
  apiV3Key: Buffer;
  platformKeys: ReadonlyMap<string, KeyObject>;
  currency: string;
  merchantCategoryCode: string | undefined;
  timeoutMs: number;
  maxResponseBytes: number;
  maxBillBytes: number;
  maxClockSkewSeconds: number;
}

function invalid(field: string, what: string): VendgateError {
  return new VendgateError(ErrorCode.ProviderConfigInvalid, `wechatpay config: ${field} ${what}`, {
    field,
  });
}

function readPem(value: string, field: string): string {
  if (value.includes('-----BEGIN')) return value;
  try {
    return readFileSync(value, 'utf8');
  } catch (err) {
    throw invalid(field, `is neither PEM text nor a readable file (${(err as NodeJS.ErrnoException).code})`);
  }
}

function privateKeyFrom(value: string, field: string): KeyObject {
  const pem = readPem(value, field);
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    return key;
  } catch {
    throw invalid(field, 'is not an RSA private key in PEM form');
  }
}

function publicKeyFrom(value: string, field: string): KeyObject {
  const pem = readPem(value, field);
  try {
    const key = pem.includes('CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    return key;
  } catch {
    throw invalid(field, 'is not an RSA public key or certificate in PEM form');
  }
}

function apiV3KeyFrom(value: string | { path: string }): Buffer {
  let text: string;
  if (typeof value === 'string') text = value;
  else {
    try {
      text = readFileSync(value.path, 'utf8').trim();
    } catch (err) {
      throw invalid('apiV3Key.path', `is not a readable file (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  const key = Buffer.from(text, 'utf8');
  // APIv3 key: "微信支付使用的密钥key长度为32个字节" (notification decryption, rfc5116 AEAD_AES_256_GCM).
  if (key.length !== 32) throw invalid('apiV3Key', `must be exactly 32 bytes (it has ${key.length})`);
  return key;
}

/** Validates and resolves a WeChat Pay configuration; throws ProviderConfigInvalid naming the field. */
export function parseWechatPayConfig(raw: unknown): WechatPayConfig {
  const r = WechatPayConfigSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || '(root)';
    throw invalid(field, issue.message);
  }
  const c = r.data;
  const currency = c.currency ?? 'CNY';
  if (c.mode === 'domestic' && currency !== 'CNY') {
    throw invalid('currency', 'must be CNY in domestic mode (use mode "global" for other currencies)');
  }
  if (c.mode === 'global' && !c.merchantCategoryCode) {
    throw invalid('merchantCategoryCode', 'is required in global mode');
  }
  const platformKeys = new Map<string, KeyObject>();
  for (const [serial, value] of Object.entries(c.platformKeys)) {
    platformKeys.set(serial, publicKeyFrom(value, `platformKeys.${serial}`));
  }
  if (platformKeys.size === 0) throw invalid('platformKeys', 'must name at least one platform key');
  return {
    mode: c.mode,
    baseUrl: (c.baseUrl ?? DEFAULT_BASE_URL[c.mode]).replace(/\/+$/, ''),
    mchid: c.mchid,
    appid: c.appid,
    merchantSerialNo: c.merchantSerialNo,
    merchantPrivateKey: privateKeyFrom(c.merchantPrivateKey, 'merchantPrivateKey'),
    apiV3Key: apiV3KeyFrom(c.apiV3Key),
    platformKeys,
    currency,
    merchantCategoryCode: c.merchantCategoryCode,
    timeoutMs: c.timeoutMs,
    maxResponseBytes: c.maxResponseBytes,
    maxBillBytes: c.maxBillBytes,
    maxClockSkewSeconds: c.maxClockSkewSeconds,
  };
}
