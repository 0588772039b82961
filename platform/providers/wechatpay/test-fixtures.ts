/**
 * Key material and signed messages for the adapter's unit tests: a merchant
 * key pair, a platform key pair with its serial, an APIv3 key, and a builder
 * for notifications signed and encrypted the way WeChat Pay sends them.
 * Used by tests only.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { encryptResource } from './aead.ts';
import { parseWechatPayConfig, type WechatPayConfig, type WechatPayConfigInput } from './config.ts';
import { responseMessage, signSha256Rsa } from './signing.ts';

export interface TestKeys {
  merchantPrivatePem: string;
  merchantPublic: KeyObject;
  platformPrivate: KeyObject;
  platformPublicPem: string;
  platformSerial: string;
  apiV3Key: string;
}

let cached: TestKeys | undefined;

export function testKeys(): TestKeys {
  if (cached) return cached;
  const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const platform = generateKeyPairSync('rsa', { modulusLength: 2048 });
  cached = {
    merchantPrivatePem: merchant.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    merchantPublic: merchant.publicKey,
    platformPrivate: platform.privateKey,
    platformPublicPem: platform.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    platformSerial: '5157F09EFDC096DE15EBE81A47057A7232F1B8E1',
    apiV3Key: '0123456789abcdefghijklmnopqrstuv',
  };
  return cached;
}

export const MCHID = '1230000109';
export const APPID = 'wxd678efh567hg6787';

export function testConfig(overrides: Partial<WechatPayConfigInput> = {}): WechatPayConfig {
  const k = testKeys();
  return parseWechatPayConfig({
    mode: 'domestic',
    baseUrl: 'http://127.0.0.1:9',
    mchid: MCHID,
    appid: APPID,
    merchantSerialNo: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C',
    merchantPrivateKey: k.merchantPrivatePem,
    apiV3Key: k.apiV3Key,
    platformKeys: { [k.platformSerial]: k.platformPublicPem },
    ...overrides,
  });
}

/** Signature headers over `body` as WeChat Pay sends them. */
export function signedHeaders(
  body: Buffer | string,
  opts: { timestampSec: number; nonce?: string; serial?: string; key?: KeyObject },
): Record<string, string> {
  const k = testKeys();
  const timestamp = String(opts.timestampSec);
  const nonce = opts.nonce ?? `n${Math.random().toString(36).slice(2)}`;
  return {
    'wechatpay-serial': opts.serial ?? k.platformSerial,
    'wechatpay-timestamp': timestamp,
    'wechatpay-nonce': nonce,
    'wechatpay-signature': signSha256Rsa(
      responseMessage(timestamp, nonce, body),
      opts.key ?? k.platformPrivate,
    ),
    'wechatpay-signature-type': 'WECHATPAY2-SHA256-RSA2048',
  };
}

/** A notification body (JSON text) whose resource encrypts `resource`. */
export function notificationBody(
  eventType: string,
  resource: unknown,
  opts: { originalType?: string; apiV3Key?: string; nonce?: string; spacing?: number } = {},
): string {
  const nonce = opts.nonce ?? 'fdasflkja484';
  const associated = opts.originalType ?? (eventType.startsWith('REFUND') ? 'refund' : 'transaction');
  const key = Buffer.from(opts.apiV3Key ?? testKeys().apiV3Key, 'utf8');
  return JSON.stringify(
    {
      id: 'EV-2018022511223320873',
      create_time: '2015-05-20T13:29:35+08:00',
      resource_type: 'encrypt-resource',
      event_type: eventType,
      summary: '支付成功',
      resource: {
        original_type: associated,
        algorithm: 'AEAD_AES_256_GCM',
        ciphertext: encryptResource(JSON.stringify(resource), key, nonce, associated),
        associated_data: associated,
        nonce,
      },
    },
    null,
    opts.spacing,
  );
}

/**
 * The decrypted payment notification example of "支付通知" API v3 (Native
 * payment), with this fixture's merchant and app.
 */
export function documentedTransaction(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    transaction_id: '1217752501201407033233368018',
    amount: { payer_total: 100, total: 100, currency: 'CNY', payer_currency: 'CNY' },
    mchid: MCHID,
    trade_state: 'SUCCESS',
    bank_type: 'CMC',
    success_time: '2018-06-08T10:34:56+08:00',
    payer: { openid: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o' },
    out_trade_no: '1217752501201407033233368018',
    appid: APPID,
    trade_state_desc: '支付成功',
    trade_type: 'NATIVE',
    attach: '自定义数据',
    scene_info: { device_id: '013467007045764' },
    ...overrides,
  };
}
