import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { cleanupsAfterEach, expectVendgateError, tempDir } from '../../../testing/index.ts';
import { parseAlipayConfig } from './config.ts';
import { loadPrivateKey, loadPublicKey } from './keys.ts';
import { AlipayProvider } from './provider.ts';
import { testKeyPair } from './testkeys.test-support.ts';

const pair = testKeyPair();
const cleanups = cleanupsAfterEach();

const bare = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');

describe('Alipay key material', () => {
  it('loads PEM, bare base64 DER (as Alipay key tools print it) and files', () => {
    expect(loadPrivateKey(pair.privatePem, 'k').asymmetricKeyType).toBe('rsa');
    expect(loadPrivateKey(bare(pair.privatePem), 'k').type).toBe('private');
    expect(loadPublicKey(bare(pair.publicPem), 'k').type).toBe('public');
    const pkcs1 = pair.privateKey.export({ type: 'pkcs1', format: 'der' }).toString('base64');
    expect(loadPrivateKey(pkcs1, 'k').type).toBe('private');
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const file = join(dir.dir, 'app.key');
    writeFileSync(file, pair.privatePem);
    expect(loadPrivateKey(file, 'k').type).toBe('private');
  });

  it('refuses short RSA keys, non-RSA keys and junk, without echoing the material', async () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const e1 = await expectVendgateError(
      () =>
        loadPrivateKey(short.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'appPrivateKey'),
      ErrorCode.AlipayConfigInvalid,
    );
    expect(e1.message).toContain('2048');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await expectVendgateError(
      () => loadPublicKey(ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'alipayPublicKey'),
      ErrorCode.AlipayConfigInvalid,
    );
    const junk = `MIIE${'A'.repeat(200)}`;
    const e3 = await expectVendgateError(
      () => loadPrivateKey(junk, 'appPrivateKey'),
      ErrorCode.AlipayConfigInvalid,
    );
    expect(e3.message).not.toContain(junk.slice(0, 40));
    const e4 = await expectVendgateError(
      () => loadPublicKey(pair.privatePem, 'alipayPublicKey'),
      ErrorCode.AlipayConfigInvalid,
    );
    expect(e4.message).not.toContain(bare(pair.privatePem).slice(0, 40));
  });
});

describe('Alipay config', () => {
  const valid = {
    gatewayUrl: 'https://openapi.alipay.com/gateway.do',
    appId: '2021000000000001',
    sellerId: '2088000000000001',
    appPrivateKey: pair.privatePem,
    alipayPublicKey: pair.publicPem,
  };

  it('fills bounded defaults for timeouts and sizes', () => {
    expect(parseAlipayConfig(valid)).toMatchObject({ requestTimeoutMs: 10_000, maxResponseBytes: 1 << 20 });
  });

  it('names the invalid fields and never their values', async () => {
    const err = await expectVendgateError(
      () => parseAlipayConfig({ ...valid, sellerId: '1234', requestTimeoutMs: 0, appPrivateKey: '' }),
      ErrorCode.AlipayConfigInvalid,
    );
    expect(err.context.fields).toEqual(
      expect.arrayContaining(['sellerId', 'requestTimeoutMs', 'appPrivateKey']),
    );
    expect(err.message).not.toContain('1234');
    await expectVendgateError(() => parseAlipayConfig({ ...valid, extra: 1 }), ErrorCode.AlipayConfigInvalid);
  });

  it('checks what the caller asks for before any request is sent', async () => {
    const provider = new AlipayProvider({ ...valid, gatewayUrl: 'http://127.0.0.1:9/gateway.do' });
    await expectVendgateError(provider.query('short'), ErrorCode.AlipayInputInvalid);
    await expectVendgateError(
      provider.create({
        outTradeNo: 'vg000001',
        amount: { amount: 350, currency: 'USD' },
        description: 'Cola',
        expiresAt: Date.now() + 60_000,
        notifyUrl: 'https://platform.example/notify',
      }),
      ErrorCode.AlipayAmountInvalid,
    );
    await expectVendgateError(provider.fetchBill('2024-02-30'), ErrorCode.AlipayInputInvalid);
    expect(provider.replyToNotification(true)).toEqual({
      status: 200,
      contentType: 'text/plain; charset=utf-8',
      body: 'success',
    });
    expect(provider.replyToNotification(false).body).toBe('fail');
  });
});
