import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ReplayGuard, verifyWechatNotification, wechatNotificationReply } from './notification.ts';
import {
  APPID,
  documentedTransaction,
  MCHID,
  notificationBody,
  signedHeaders,
  testConfig,
  testKeys,
} from './test-fixtures.ts';

const NOW = 1_700_000_000_000;
const nowSec = NOW / 1000;
const cfg = testConfig();

function verify(
  body: string | Buffer,
  headers: Record<string, string>,
  config = cfg,
  guard = new ReplayGuard(600_000),
) {
  return verifyWechatNotification(
    { headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body) },
    config,
    NOW,
    guard,
  );
}

describe('WeChat Pay notification verification', () => {
  it('accepts the documented payment notification as paid, with the amount and payer id', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    const v = verify(body, signedHeaders(body, { timestampSec: nowSec }));
    expect(v).toEqual({
      kind: 'paid',
      payment: {
        outTradeNo: '1217752501201407033233368018',
        transactionId: '1217752501201407033233368018',
        amount: { amount: 100, currency: 'CNY' },
        payerId: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
        paidAt: Date.parse('2018-06-08T10:34:56+08:00'),
      },
    });
  });

  it('reads header names in any case', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    const h = Object.fromEntries(
      Object.entries(signedHeaders(body, { timestampSec: nowSec })).map(([k, v]) => [k.toUpperCase(), v]),
    );
    expect(verify(body, h).kind).toBe('paid');
  });

  it('treats a verified transaction that is not SUCCESS as not paid', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction({ trade_state: 'NOTPAY' }));
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec }))).toEqual({
      kind: 'not-paid',
      outTradeNo: '1217752501201407033233368018',
    });
  });

  it('maps refund notifications to refund verdicts', () => {
    const refund = {
      mchid: MCHID,
      out_trade_no: 'order-000001',
      transaction_id: '4200000000000000000000000001',
      out_refund_no: 'refund-000001',
      refund_id: '50000000382019052709732678859',
      refund_status: 'SUCCESS',
      success_time: '2018-06-08T10:34:56+08:00',
      user_received_account: '招商银行信用卡0403',
      amount: { total: 999, refund: 999, payer_total: 999, payer_refund: 999 },
    };
    for (const [event, status, expected] of [
      ['REFUND.SUCCESS', 'SUCCESS', 'success'],
      ['REFUND.CLOSED', 'CLOSED', 'closed'],
      ['REFUND.ABNORMAL', 'ABNORMAL', 'abnormal'],
    ] as const) {
      const body = notificationBody(event, { ...refund, refund_status: status });
      expect(verify(body, signedHeaders(body, { timestampSec: nowSec }))).toEqual({
        kind: 'refund',
        outTradeNo: 'order-000001',
        outRefundNo: 'refund-000001',
        status: expected,
      });
    }
  });

  it('rejects a forged signature (another key)', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    const forger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const v = verify(body, signedHeaders(body, { timestampSec: nowSec, key: forger }));
    expect(v).toEqual({ kind: 'rejected', reason: 'Wechatpay-Signature does not verify' });
  });

  it('rejects a stale timestamp and one from the future', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec - 301 })).kind).toBe('rejected');
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec + 301 })).kind).toBe('rejected');
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec - 299 })).kind).toBe('paid');
  });

  it('rejects an exact replay of an accepted notification while it is still fresh', () => {
    const guard = new ReplayGuard(600_000);
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    const headers = signedHeaders(body, { timestampSec: nowSec });
    expect(verify(body, headers, cfg, guard).kind).toBe('paid');
    const again = verify(body, headers, cfg, guard);
    expect(again.kind).toBe('rejected');
    // A genuine retry is signed anew and passes.
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec }), cfg, guard).kind).toBe('paid');
  });

  it('rejects the same JSON re-serialized with other whitespace (signature is over the raw bytes)', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    const headers = signedHeaders(body, { timestampSec: nowSec });
    const reserialized = JSON.stringify(JSON.parse(body), null, 2);
    expect(verify(reserialized, headers).kind).toBe('rejected');
  });

  it('rejects a truncated body', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    const headers = signedHeaders(body, { timestampSec: nowSec });
    expect(verify(body.slice(0, body.length - 10), headers).kind).toBe('rejected');
  });

  it('rejects an unknown platform serial and missing headers', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction());
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec, serial: 'DEADBEEF' }))).toEqual({
      kind: 'rejected',
      reason: 'unknown platform key serial DEADBEEF',
    });
    const { 'wechatpay-nonce': _n, ...noNonce } = signedHeaders(body, { timestampSec: nowSec });
    expect(verify(body, noNonce)).toEqual({ kind: 'rejected', reason: 'missing header Wechatpay-Nonce' });
  });

  it('rejects a correctly signed notification for another merchant or app', () => {
    for (const other of [{ mchid: '1900000001' }, { appid: 'wx0000000000000000' }]) {
      const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction(other));
      const v = verify(body, signedHeaders(body, { timestampSec: nowSec }));
      expect(v.kind).toBe('rejected');
    }
  });

  it('rejects a resource encrypted with another APIv3 key, and an unknown event', () => {
    const body = notificationBody('TRANSACTION.SUCCESS', documentedTransaction(), {
      apiV3Key: 'x'.repeat(32),
    });
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec }))).toEqual({
      kind: 'rejected',
      reason: 'resource does not decrypt with the APIv3 key',
    });
    const other = notificationBody('PROFITSHARING.SUCCESS', documentedTransaction());
    expect(verify(other, signedHeaders(other, { timestampSec: nowSec })).kind).toBe('rejected');
  });

  it('rejects a verified payment in a currency other than the merchant prices in', () => {
    const body = notificationBody(
      'TRANSACTION.SUCCESS',
      documentedTransaction({
        amount: { total: 100, currency: 'USD', payer_total: 700, payer_currency: 'CNY' },
      }),
    );
    expect(verify(body, signedHeaders(body, { timestampSec: nowSec })).kind).toBe('rejected');
  });

  it('maps a Global payment: paid on the merchant-currency total, the CNY wallet amount and rate beside it', () => {
    const global = testConfig({ mode: 'global', currency: 'EUR', merchantCategoryCode: '5814' });
    const body = notificationBody(
      'TRANSACTION.SUCCESS',
      documentedTransaction({
        amount: {
          total: 350,
          currency: 'EUR',
          payer_total: 2749,
          payer_currency: 'CNY',
          exchange_rate: { type: 'USERPAYMENT_RATE', rate: 785312345 },
        },
      }),
    );
    const v = verify(body, signedHeaders(body, { timestampSec: nowSec }), global);
    expect(v.kind === 'paid' && v.payment).toMatchObject({
      amount: { amount: 350, currency: 'EUR' },
      payer: { amount: { amount: 2749, currency: 'CNY' }, exchangeRate: '7.85312345' },
    });
  });

  it('answers 204 when received and the documented FAIL body otherwise', () => {
    expect(wechatNotificationReply(true)).toEqual({ status: 204, contentType: 'application/json', body: '' });
    const fail = wechatNotificationReply(false);
    expect(fail.status).toBeGreaterThanOrEqual(400);
    expect(JSON.parse(fail.body)).toEqual({ code: 'FAIL', message: '失败' });
  });

  it('uses the fixture ids of the documented example', () => {
    expect(APPID).toBe('wxd678efh567hg6787');
    expect(testKeys().apiV3Key).toHaveLength(32);
  });
});
