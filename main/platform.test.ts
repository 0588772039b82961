import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { expectVendgateError } from '../testing/index.ts';
import { platformOptionsFrom, resolveEnvRefs } from './platform.ts';

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

describe('the platform config file', () => {
  it('takes env:NAME values from the environment, and names an unset variable without a value', () => {
    expect(resolveEnvRefs({ a: ['env:X', 'plain'], b: { c: 'env:X' } }, { X: 'secret' })).toEqual({
      a: ['secret', 'plain'],
      b: { c: 'secret' },
    });
    expect(() => resolveEnvRefs({ store: { key: 'env:NOPE' } }, {})).toThrow(
      /store\.key: environment variable NOPE is not set/,
    );
  });

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

  it('refuses a config with no provider, and a payments section without a public URL', async () => {
    const env = { TEST_PAYER_KEY: 'a2V5', TEST_SIGNING_KEY: 'k' };
    await expectVendgateError(
      Promise.resolve().then(() =>
        platformOptionsFrom({ ...base, providers: {} }, silentLogger(), '/tmp', env),
      ),
      ErrorCode.ConfigInvalid,
    );
    await expectVendgateError(
      Promise.resolve().then(() =>
        platformOptionsFrom({ ...base, providers: {}, payments: {} }, silentLogger(), '/tmp', env),
      ),
      ErrorCode.PlatformConfigInvalid,
    );
  });
});
