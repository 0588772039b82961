import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError, tempDir } from '../../../testing/index.ts';
import { parseWechatPayConfig } from './config.ts';
import { testKeys } from './test-fixtures.ts';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function raw(overrides: Record<string, unknown> = {}) {
  const k = testKeys();
  return {
    mchid: '1230000109',
    appid: 'wxd678efh567hg6787',
    merchantSerialNo: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C',
    merchantPrivateKey: k.merchantPrivatePem,
    apiV3Key: k.apiV3Key,
    platformKeys: { [k.platformSerial]: k.platformPublicPem },
    ...overrides,
  };
}

describe('WeChat Pay config', () => {
  it('resolves PEM text into keys with the documented defaults', () => {
    const c = parseWechatPayConfig(raw());
    expect(c.mode).toBe('domestic');
    expect(c.baseUrl).toBe('https://api.mch.weixin.qq.com');
    expect(c.currency).toBe('CNY');
    expect(c.maxClockSkewSeconds).toBe(300);
    expect(c.platformKeys.size).toBe(1);
    expect(c.merchantPrivateKey.type).toBe('private');
  });

  it('reads key material from files', () => {
    const t = tempDir();
    cleanups.push(t.cleanup);
    const k = testKeys();
    writeFileSync(join(t.dir, 'key.pem'), k.merchantPrivatePem);
    writeFileSync(join(t.dir, 'platform.pem'), k.platformPublicPem);
    writeFileSync(join(t.dir, 'apiv3'), `${k.apiV3Key}\n`);
    const c = parseWechatPayConfig(
      raw({
        merchantPrivateKey: join(t.dir, 'key.pem'),
        apiV3Key: { path: join(t.dir, 'apiv3') },
        platformKeys: { ABC: join(t.dir, 'platform.pem') },
      }),
    );
    expect(c.apiV3Key.toString()).toBe(k.apiV3Key);
  });

  it('needs a merchant category code and allows other currencies in global mode', async () => {
    await expectVendgateError(
      () => parseWechatPayConfig(raw({ mode: 'global', currency: 'EUR' })),
      ErrorCode.ProviderConfigInvalid,
    );
    const c = parseWechatPayConfig(raw({ mode: 'global', currency: 'EUR', merchantCategoryCode: '5814' }));
    expect(c.baseUrl).toBe('https://apihk.mch.weixin.qq.com');
    await expectVendgateError(
      () => parseWechatPayConfig(raw({ currency: 'EUR' })),
      ErrorCode.ProviderConfigInvalid,
    );
  });

  it('names the bad field and never echoes a secret', async () => {
    const secret = 'short-secret-value';
    const e1 = await expectVendgateError(
      () => parseWechatPayConfig(raw({ apiV3Key: secret })),
      ErrorCode.ProviderConfigInvalid,
    );
    expect(e1.message).toContain('apiV3Key');
    expect(JSON.stringify(e1)).not.toContain(secret);
    const bogusPem = '-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----';
    const e2 = await expectVendgateError(
      () => parseWechatPayConfig(raw({ merchantPrivateKey: bogusPem })),
      ErrorCode.ProviderConfigInvalid,
    );
    expect(e2.message).toContain('merchantPrivateKey');
    expect(JSON.stringify(e2)).not.toContain('c2VjcmV0');
    const e3 = await expectVendgateError(
      () => parseWechatPayConfig(raw({ mchid: 'abc' })),
      ErrorCode.ProviderConfigInvalid,
    );
    expect(e3.message).toContain('mchid');
    await expectVendgateError(
      () => parseWechatPayConfig(raw({ merchantPrivateKey: '/no/such/file' })),
      ErrorCode.ProviderConfigInvalid,
    );
  });
});
