import { AlipaySdk } from 'alipay-sdk';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../core/log.ts';
import { AlipayGateway } from './gateway.ts';
import { contentToSign, rsa2Sign, rsa2Verify } from './sign.ts';
import { testKeyPair } from './testkeys.test-support.ts';

const app = testKeyPair();
const other = testKeyPair();

describe('RSA2 content to sign', () => {
  it('sorts by name and joins k=v& with raw values, as in the documented example (opendocs.alipay.com/common/02kf5q, 自行实现签名)', () => {
    const params = {
      app_id: '2014072300007148',
      method: 'alipay.mobile.public.menu.add',
      charset: 'GBK',
      sign_type: 'RSA2',
      timestamp: '2014-07-24 03:07:50',
      biz_content: '{"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"}]}',
      version: '1.0',
    };
    expect(contentToSign(params)).toBe(
      'app_id=2014072300007148&biz_content={"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"}]}' +
        '&charset=GBK&method=alipay.mobile.public.menu.add&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0',
    );
  });

  it('drops empty values and the excluded names (sign, sign_type for notifications)', () => {
    expect(
      contentToSign({ b: '2', a: '1', empty: '', sign: 'x', sign_type: 'RSA2' }, ['sign', 'sign_type']),
    ).toBe('a=1&b=2');
  });

  it('signs exactly as the official alipay-sdk does for the same request', () => {
    const sdk = new AlipaySdk({ appId: '2021000000000001', privateKey: app.privatePem, keyType: 'PKCS8' });
    const query = sdk.sdkExecute('alipay.trade.precreate', {
      notifyUrl: 'https://platform.example/notify/alipay',
      bizContent: { out_trade_no: 'vg000001', total_amount: '3.50', subject: '可乐 330 ml' },
    });
    const fromSdk = Object.fromEntries(new URLSearchParams(query));
    const { sign, ...unsigned } = fromSdk;
    expect(rsa2Sign(contentToSign(unsigned), app.privateKey)).toBe(sign);
    // And our gateway sends the same public parameters, plus the optional format=JSON the SDK leaves out.
    const ours = new AlipayGateway({
      gatewayUrl: 'http://127.0.0.1:1/gateway.do',
      appId: '2021000000000001',
      appPrivateKey: app.privateKey,
      alipayPublicKey: app.publicKey,
      timeoutMs: 1000,
      maxResponseBytes: 4096,
      log: silentLogger(),
    }).signedParams(
      'alipay.trade.precreate',
      { out_trade_no: 'vg000001', total_amount: '3.50', subject: '可乐 330 ml' },
      'https://platform.example/notify/alipay',
    );
    const { format, ...rest } = ours;
    expect(format).toBe('JSON');
    expect({ ...rest, timestamp: '', sign: '' }).toEqual({ ...fromSdk, timestamp: '', sign: '' });
  });

  it('verifies its own signatures and nothing else: another key, another content, a non-base64 signature', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.string({ minLength: 1, unit: 'grapheme' }),
        (content, extra) => {
          const sig = rsa2Sign(content, app.privateKey);
          expect(rsa2Verify(content, sig, app.publicKey)).toBe(true);
          expect(rsa2Verify(content + extra, sig, app.publicKey)).toBe(false);
          expect(rsa2Verify(content, sig, other.publicKey)).toBe(false);
        },
      ),
      { numRuns: 30 },
    );
    expect(rsa2Verify('x', 'not base64!', app.publicKey)).toBe(false);
    expect(rsa2Verify('x', '', app.publicKey)).toBe(false);
  });
});
