import { createPublicKey } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { NotificationVerdict } from '../port.ts';
import { encodeForm } from './form.ts';
import { type NotificationCheck, verifyAlipayNotification } from './notification.ts';
import { contentToSign, rsa2Sign } from './sign.ts';
import { testKeyPair } from './testkeys.test-support.ts';
import { parseBeijing } from './time.ts';

const FORM = { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' };

/**
 * A real trade_status_sync notification signed by Alipay's production key,
 * published with that key in the official Node SDK's test suite
 * (github.com/alipay/alipay-sdk-nodejs-all, test/alipay.test.ts,
 * "verify sign should delete sign_type"); fund_bill_list as the form
 * carries it, a JSON string. Field meanings: opendocs.alipay.com/open/270/105902.
 */
const ALIPAY_KEY_2019 = createPublicKey({
  key: Buffer.from(
    'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqObrdC7hrgAVM98tK0nv3hSQRGGKT4lBsQjHiGjeYZjOPIPHR5knm2jnnz/YGIXIofVHkA/tAlBAd5DrY7YpvI4tP5EONLtZKC2ghBMx7McI2wRD0xiqzxOQr1FuhZGJ8/AUokBzJrzY+aGX2xcOrxFYRlFilvVLTXg4LWjR1tdPkO6+i7wQZAIVMClPkwVRZEbaERRHlKqTzv2gGv5rDU8gRoe1LeaN+6BlbTqHWkQcNCUNrA8C6l17XAXGKDsm/9TFWwO8EPHHHCaQdjtV5/FdcWIt+L8SR1ss7EXTjYDFtxcKVv9rEoY1lX8T4mX+GbXfZHraG5NCF1+XioL5JwIDAQAB',
    'base64',
  ),
  format: 'der',
  type: 'spki',
});
const WORKED: Record<string, string> = {
  gmt_create: '2019-08-15 15:56:22',
  charset: 'utf-8',
  seller_email: 'z97-yuquerevenue@service.aliyun.com',
  subject: '语雀空间 500人规模',
  sign: 'QfTb8tqE1BMhS5qAnXtvsF3/jBkEvu9q9en0pdbBUDDjvKycZhQb7h8GDs4FKfi049PynaNuatxSgLb/nLWZpXyyh0LEWdK2S6Ri7nPwrVgOs08zugLO20vOQz44y3ti2Ncm8/wZts1Fr2gZ7pShnVX3d1B50hbsXnObT1r/U8ONNQjWXd0HIul4TG+Q3fm3svmSvFEy0WnzuhcyHPX5Gm4ELNctL6Qd5YniGJFNcc7kopHYtI/XD9YCKCH6Ct02rzUs9i11C9CsadtZn+WhxF26Dqt9sGEFajkJ8cxUTLi8+VCpLHsgPE8P0y095uQcDdK0YjCh4x7wVSov+lrmOQ==',
  buyer_id: '2088102534368455',
  invoice_amount: '0.10',
  notify_id: '2019081500222155624068450559358070',
  fund_bill_list: '[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]',
  notify_type: 'trade_status_sync',
  trade_status: 'TRADE_SUCCESS',
  receipt_amount: '0.10',
  buyer_pay_amount: '0.10',
  sign_type: 'RSA2',
  app_id: '2019073166072302',
  seller_id: '2088531891668739',
  gmt_payment: '2019-08-15 15:56:24',
  notify_time: '2019-08-15 15:56:25',
  version: '1.0',
  out_trade_no: '20190815155618536-564-57',
  total_amount: '0.10',
  trade_no: '2019081522001468450512505578',
  auth_app_id: '2019073166072302',
  buyer_logon_id: 'xud***@126.com',
  point_amount: '0.00',
};
const WORKED_CHECK: NotificationCheck = {
  appId: '2019073166072302',
  sellerId: '2088531891668739',
  alipayPublicKey: ALIPAY_KEY_2019,
  maxAgeMs: 26 * 3600_000,
  maxSkewMs: 300_000,
  now: parseBeijing('2019-08-15 15:56:26')!,
  maxBodyBytes: 65536,
};

const alipay = testKeyPair();
const stranger = testKeyPair();
const NOW = parseBeijing('2024-05-01 12:00:05')!;
const CHECK: NotificationCheck = {
  appId: '2021000000000001',
  sellerId: '2088000000000001',
  alipayPublicKey: alipay.publicKey,
  maxAgeMs: 26 * 3600_000,
  maxSkewMs: 300_000,
  now: NOW,
  maxBodyBytes: 65536,
};

function notification(over: Record<string, string> = {}, key = alipay): Record<string, string> {
  const p: Record<string, string> = {
    app_id: '2021000000000001',
    seller_id: '2088000000000001',
    notify_type: 'trade_status_sync',
    notify_id: '2024050100222120000000000000000001',
    notify_time: '2024-05-01 12:00:00',
    charset: 'utf-8',
    version: '1.0',
    sign_type: 'RSA2',
    out_trade_no: 'vg000001',
    trade_no: '2024050122001400000000000001',
    trade_status: 'TRADE_SUCCESS',
    total_amount: '3.50',
    gmt_payment: '2024-05-01 11:59:58',
    buyer_id: '2088102534368455',
    subject: '可乐 330 ml',
    fund_bill_list: '[{"amount":"3.50","fundChannel":"ALIPAYACCOUNT"}]',
    ...over,
  };
  delete p.sign;
  p.sign = rsa2Sign(contentToSign(p, ['sign', 'sign_type']), key.privateKey);
  return p;
}

const verify = (
  body: string | Buffer,
  check: NotificationCheck = CHECK,
  headers: Record<string, string> = FORM,
) => verifyAlipayNotification({ headers, body: Buffer.isBuffer(body) ? body : Buffer.from(body) }, check);

const rejected = (v: NotificationVerdict) => v.kind === 'rejected';

describe('Alipay notifications', () => {
  it('verifies the published, Alipay-signed example as paid 0.10 yuan by its buyer', () => {
    expect(verify(encodeForm(WORKED), WORKED_CHECK)).toEqual({
      kind: 'paid',
      payment: {
        outTradeNo: '20190815155618536-564-57',
        transactionId: '2019081522001468450512505578',
        amount: { amount: 10, currency: 'CNY' },
        payerId: '2088102534368455',
        paidAt: Date.UTC(2019, 7, 15, 7, 56, 24),
      },
    });
  });

  it('rejects the published example with its JSON field re-serialized (other whitespace)', () => {
    const reserialized = {
      ...WORKED,
      fund_bill_list: '[{"amount": "0.10", "fundChannel": "ALIPAYACCOUNT"}]',
    };
    expect(verify(encodeForm(reserialized), WORKED_CHECK)).toMatchObject({ kind: 'rejected' });
  });

  it('rejects the published example when any one value is altered', () => {
    const names = Object.keys(WORKED).filter((k) => k !== 'sign' && k !== 'sign_type');
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.string({ minLength: 1, maxLength: 3 }), (name, extra) => {
        expect(rejected(verify(encodeForm({ ...WORKED, [name]: WORKED[name] + extra }), WORKED_CHECK))).toBe(
          true,
        );
      }),
      { numRuns: 40 },
    );
  });

  it('rejects every truncation of a valid body', () => {
    const body = encodeForm(notification());
    expect(verify(body).kind).toBe('paid');
    for (let n = 0; n < body.length; n += 7) expect(rejected(verify(body.slice(0, n)))).toBe(true);
  });

  it('rejects a notification signed by another key (forged, or a key we were not given)', () => {
    expect(verify(encodeForm(notification({}, stranger)))).toEqual({
      kind: 'rejected',
      reason: 'the signature is not Alipay (forged, altered or truncated)',
    });
  });

  it('rejects a genuine notification for another app or another merchant', () => {
    expect(verify(encodeForm(notification({ app_id: '2021000000000999' })))).toEqual({
      kind: 'rejected',
      reason: 'app_id is another app',
    });
    expect(verify(encodeForm(notification({ seller_id: '2088000000000999' })))).toEqual({
      kind: 'rejected',
      reason: 'seller_id is another merchant',
    });
  });

  it('rejects stale and future notify_time', () => {
    expect(verify(encodeForm(notification()), { ...CHECK, now: NOW + 27 * 3600_000 })).toMatchObject({
      kind: 'rejected',
      reason: expect.stringContaining('stale'),
    });
    expect(verify(encodeForm(notification({ notify_time: '2024-05-01 12:30:00' })))).toMatchObject({
      kind: 'rejected',
      reason: 'notify_time is in the future',
    });
  });

  it('gives the same verdict for a replayed notification (dedupe is by transaction id upstream)', () => {
    const body = encodeForm(notification());
    expect(verify(body)).toEqual(verify(body));
  });

  it('checks out_trade_no and total_amount against the expected order', () => {
    const lookup = (no: string) =>
      no === 'vg000001' ? { amount: { amount: 350, currency: 'CNY' } } : undefined;
    expect(verify(encodeForm(notification()), { ...CHECK, expectedOrder: lookup }).kind).toBe('paid');
    expect(
      verify(encodeForm(notification({ total_amount: '0.01' })), { ...CHECK, expectedOrder: lookup }),
    ).toEqual({
      kind: 'rejected',
      reason: 'total_amount differs from the order amount',
    });
    expect(
      verify(encodeForm(notification({ out_trade_no: 'vg999999' })), { ...CHECK, expectedOrder: lookup }),
    ).toEqual({
      kind: 'rejected',
      reason: 'out_trade_no is no order of ours',
    });
  });

  it('treats only TRADE_SUCCESS and TRADE_FINISHED as paid', () => {
    expect(verify(encodeForm(notification({ trade_status: 'TRADE_FINISHED' }))).kind).toBe('paid');
    expect(verify(encodeForm(notification({ trade_status: 'WAIT_BUYER_PAY', gmt_payment: '' })))).toEqual({
      kind: 'not-paid',
      outTradeNo: 'vg000001',
    });
    expect(verify(encodeForm(notification({ trade_status: 'TRADE_CLOSED' }))).kind).toBe('not-paid');
    expect(verify(encodeForm(notification({ trade_status: 'TRADE_PENDING' }))).kind).toBe('rejected');
  });

  it('reads a refund notification (out_biz_no, refund_fee) as a refund', () => {
    const refund = notification({
      trade_status: 'TRADE_CLOSED',
      refund_fee: '3.50',
      out_biz_no: 'vg000001r1',
    });
    expect(verify(encodeForm(refund))).toEqual({
      kind: 'refund',
      outTradeNo: 'vg000001',
      outRefundNo: 'vg000001r1',
      status: 'success',
    });
  });

  it('rejects what is not a well-formed RSA2 form post', () => {
    const good = notification();
    expect(verify(encodeForm(good), CHECK, { 'content-type': 'application/json' }).kind).toBe('rejected');
    expect(verify(encodeForm({ ...good, sign_type: 'RSA' })).kind).toBe('rejected');
    expect(verify(`${encodeForm(good)}&total_amount=0.01`)).toEqual({
      kind: 'rejected',
      reason: 'malformed form body: field "total_amount" appears twice',
    });
    expect(verify(Buffer.from(`${encodeForm(good)}&x=\u00ff`, 'latin1')).kind).toBe('rejected');
    expect(verify('').kind).toBe('rejected');
    expect(verify('x'.repeat(70_000)).kind).toBe('rejected');
  });

  it('never calls anything paid unless the signed amount is the one reported', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000_000 }), (fen) => {
        const amount = `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
        const v = verify(encodeForm(notification({ total_amount: amount })));
        expect(v.kind === 'paid' && v.payment.amount.amount).toBe(fen);
      }),
      { numRuns: 30 },
    );
  });
});
