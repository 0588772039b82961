import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { expectVendgateError } from '../testing/index.ts';
import { platformOptionsFrom } from './platform.ts';

const base = {
  store: { payerHashKey: 'env:TEST_PAYER_KEY' },
  broker: { url: 'mqtt://127.0.0.1:1883' },
  signing: { keys: [{ keyId: 'default', privateKey: 'env:TEST_SIGNING_KEY' }] },
  providers: {
    alipay: {
      gatewayUrl: 'http://127.0.0.1:1/gateway.do',
      appId: '2021000000000042',
      sellerId: '2088000000000042',
      appPrivateKey: 'env:TEST_ALIPAY_KEY',
      alipayPublicKey: 'env:TEST_ALIPAY_PUBLIC',
    },
  },
  payments: { publicBaseUrl: 'https://pay.example.com/' },
};

describe('the platform composition root', () => {
  it('refuses a config breaking its schema, naming the fields and never the secrets', async () => {
    const env = { TEST_PAYER_KEY: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=', TEST_SIGNING_KEY: 'top-secret-seed' };
    let message = '';
    try {
      platformOptionsFrom(
        { ...base, broker: { url: 'http://nope' }, providers: {} },
        silentLogger(),
        '/tmp',
        env,
      );
    } catch (err) {
      message = (err as Error).message;
      await expectVendgateError(Promise.reject(err), ErrorCode.ConfigInvalid);
    }
    expect(message).toContain('broker.url');
    expect(message).not.toContain('top-secret-seed');
  });

  it('refuses a payments section without a public URL, and a payer hash key shorter than 16 bytes', async () => {
    const env = {
      TEST_PAYER_KEY: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ=',
      TEST_SIGNING_KEY: 'k',
      TEST_ALIPAY_KEY: 'x',
      TEST_ALIPAY_PUBLIC: 'y',
    };
    await expectVendgateError(
      Promise.resolve().then(() =>
        platformOptionsFrom({ ...base, payments: {} }, silentLogger(), '/tmp', env),
      ),
      ErrorCode.PlatformConfigInvalid,
    );
    const err = await expectVendgateError(
      Promise.resolve().then(() =>
        platformOptionsFrom(base, silentLogger(), '/tmp', { ...env, TEST_PAYER_KEY: 'a2V5' }),
      ),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('store.payerHashKey is 3 bytes');
  });
});
