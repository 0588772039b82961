import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../../../testing/index.ts';
import { domesticAllBill, yuan } from './bills.ts';
import { phonePage } from './phone-page.ts';
import { RETRY_SCHEDULE_MS, WechatPaySandbox } from './sandbox.ts';

const cleanups = cleanupsAfterEach();
const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('the WeChat Pay sandbox', () => {
  it('retries on the documented schedule, 24 h 4 min in all', () => {
    // 支付通知 §2: "15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m".
    expect(RETRY_SCHEDULE_MS).toHaveLength(15);
    expect(RETRY_SCHEDULE_MS.reduce((a, b) => a + b, 0)).toBe((24 * 60 + 4) * 60_000);
  });

  it('refuses an unsigned request with the documented error body, itself signed', async () => {
    const sandbox = new WechatPaySandbox({
      mode: 'domestic',
      mchid: '1230000109',
      appid: 'wxd678efh567hg6787',
      merchantSerialNo: 'ABC',
      merchantPublicKeyPem: merchant.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      apiV3Key: 'k'.repeat(32),
    });
    const url = await sandbox.listen();
    cleanups.push(() => sandbox.close());
    const res = await fetch(`${url}/v3/pay/transactions/out-trade-no/abc123?mchid=1230000109`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'SIGN_ERROR' });
    expect(res.headers.get('wechatpay-serial')).toBe(sandbox.platformSerial);
    expect(res.headers.get('wechatpay-signature')).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it('writes bill amounts in yuan and a summary that adds up', () => {
    expect(yuan(1)).toBe('0.01');
    expect(yuan(350)).toBe('3.50');
    expect(yuan(350, 'JPY')).toBe('350');
    const base = {
      appid: 'wx',
      mchid: '1',
      transactionId: '42',
      outTradeNo: 'o1',
      openid: 'x',
      description: 'd',
      total: 350,
      currency: 'CNY',
      payerTotal: 350,
      payerCurrency: 'CNY',
      at: Date.parse('2024-05-01T12:00:00+08:00'),
    };
    const text = domesticAllBill([
      { kind: 'payment', ...base },
      { kind: 'refund', ...base, refundId: '50', outRefundNo: 'r1', refund: 100, refundStatus: 'SUCCESS' },
    ]);
    const lines = text.trimEnd().split('\r\n');
    expect(lines[1]).toMatch(/^`2024-05-01 12:00:00,`wx,`1,`0,`,`42,`o1,/);
    expect(lines.at(-1)).toBe('`2,`3.50,`1.00,`0.00,`0.01500,`3.50,`1.00');
  });

  it('shows the order on the phone page, escaped', () => {
    const page = phonePage({
      codeUrl: 'weixin://x',
      description: '<b>Cola</b>',
      total: 350,
      currency: 'CNY',
      state: 'NOTPAY',
    });
    expect(page).toContain('&#60;b&#62;Cola');
    expect(page).toContain('CNY 3.50');
    expect(phonePage(undefined)).toContain('No such payment code');
  });
});
