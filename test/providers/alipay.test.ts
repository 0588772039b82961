/**
 * The Alipay adapter against the Alipay sandbox in its own process, over
 * loopback HTTP: precreate -> the phone pays -> the notification verifies
 * as paid, query, close before and after payment, a refund repeated with
 * the same out_request_no, the day's bill, notification retries, faults;
 * and the official alipay-sdk talking to the same sandbox, which checks the
 * sandbox's wire format against Alipay's own client.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlipaySdk } from 'alipay-sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { type AlipaySandboxProcess, spawnAlipaySandbox } from '../../firmware-sim/providers/alipay/spawn.ts';
import { AlipayProvider } from '../../platform/providers/alipay/index.ts';
import { formatBeijing } from '../../platform/providers/alipay/time.ts';
import type { NotificationVerdict } from '../../platform/providers/port.ts';
import { cleanupsAfterEach, expectVendgateError, waitUntil } from '../../testing/index.ts';

const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const appPrivatePem = app.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const appPublicPem = app.publicKey.export({ type: 'spki', format: 'pem' }).toString();

interface Received {
  outTradeNo: string;
  params: Record<string, string>;
  verdict: NotificationVerdict;
  replied: string;
}

let sandbox: AlipaySandboxProcess;
let notifyServer: Server;
let notifyUrl: string;
let provider: AlipayProvider;
const received: Received[] = [];
const failFirst = new Map<string, number>();
const orders = new Map<string, number>();
let seq = 0;
const cleanups = cleanupsAfterEach();

function newOrder(fen: number): string {
  const no = `vg${Date.now().toString(36)}${(++seq).toString().padStart(4, '0')}`;
  orders.set(no, fen);
  return no;
}

async function create(fen: number): Promise<{ no: string; qr: string }> {
  const no = newOrder(fen);
  const { qrContent } = await provider.create({
    outTradeNo: no,
    amount: { amount: fen, currency: 'CNY' },
    description: `Cola 330 ml at m1 (${no})`,
    expiresAt: Date.now() + 5 * 60_000,
    notifyUrl,
  });
  return { no, qr: qrContent };
}

const verdictsFor = (no: string) => received.filter((r) => r.outTradeNo === no);

beforeAll(async () => {
  notifyServer = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const verdict = provider.verifyNotification({ headers, body });
      const params = Object.fromEntries(new URLSearchParams(body.toString('latin1')));
      const outTradeNo = params.out_trade_no ?? '';
      const fails = failFirst.get(outTradeNo) ?? 0;
      const ok = verdict.kind !== 'rejected' && fails <= 0;
      if (fails > 0) failFirst.set(outTradeNo, fails - 1);
      const reply = provider.replyToNotification(ok);
      received.push({ outTradeNo, params, verdict, replied: reply.body });
      res.writeHead(reply.status, { 'content-type': reply.contentType }).end(reply.body);
    });
  });
  await new Promise<void>((r) => notifyServer.listen(0, '127.0.0.1', r));
  notifyUrl = `http://127.0.0.1:${(notifyServer.address() as AddressInfo).port}/notify/alipay`;
  sandbox = await spawnAlipaySandbox({
    appPublicKey: appPublicPem,
    appId: '2021000000000042',
    sellerId: '2088000000000042',
    retryScale: 0.001,
    billsSameDay: true,
  });
  provider = new AlipayProvider(
    {
      gatewayUrl: sandbox.gatewayUrl,
      appId: '2021000000000042',
      sellerId: '2088000000000042',
      appPrivateKey: appPrivatePem,
      alipayPublicKey: sandbox.alipayPublicKey,
      requestTimeoutMs: 1500,
    },
    {
      expectedOrder: (no) => {
        const fen = orders.get(no);
        return fen === undefined ? undefined : { amount: { amount: fen, currency: 'CNY' } };
      },
    },
  );
});

afterAll(async () => {
  await sandbox?.stop();
  await new Promise<void>((r) => (notifyServer ? notifyServer.close(() => r()) : r()));
});

describe('the Alipay adapter against the sandbox', () => {
  it('creates a payment, the phone pays, the notification verifies as paid with its amount, and query agrees', async () => {
    const { no, qr } = await create(350);
    expect(qr).toMatch(/^https:\/\/qr\.alipay\.com\/\w+$/);
    expect(await provider.query(no)).toEqual({ kind: 'pending' }); // not scanned: ACQ.TRADE_NOT_EXIST
    await sandbox.phone.scan(qr);
    expect(await provider.query(no)).toEqual({ kind: 'pending' }); // WAIT_BUYER_PAY
    const paid = await sandbox.phone.pay(qr, '2088102534368455');
    expect(paid.ok).toBe(true);
    await waitUntil(() => verdictsFor(no).length > 0, { what: 'the paid notification' });
    const [first] = verdictsFor(no);
    expect(first!.replied).toBe('success');
    expect(first!.verdict).toMatchObject({
      kind: 'paid',
      payment: { outTradeNo: no, transactionId: paid.tradeNo, amount: { amount: 350, currency: 'CNY' } },
    });
    if (first!.verdict.kind === 'paid') expect(first!.verdict.payment.payerId).toBe('2088102534368455');
    const state = await provider.query(no);
    expect(state).toMatchObject({
      kind: 'paid',
      payment: { transactionId: paid.tradeNo, amount: { amount: 350 } },
    });
  });

  it('closes an unscanned order as not-found, a scanned one as closed, and a paid one as already-paid', async () => {
    const unscanned = await create(100);
    expect(await provider.close(unscanned.no)).toEqual({ kind: 'not-found' });

    const scanned = await create(100);
    await sandbox.phone.abandon(scanned.qr);
    expect(await provider.close(scanned.no)).toEqual({ kind: 'closed' });
    expect(await provider.query(scanned.no)).toEqual({ kind: 'closed' });
    expect(await provider.close(scanned.no)).toEqual({ kind: 'closed' });

    const paid = await create(100);
    await sandbox.phone.pay(paid.qr);
    expect(await provider.close(paid.no)).toEqual({ kind: 'already-paid' });
  });

  it('refunds once when the same refund number is sent twice', async () => {
    const { no, qr } = await create(500);
    await sandbox.phone.pay(qr);
    const input = {
      outTradeNo: no,
      outRefundNo: `${no}r1`,
      amount: { amount: 200, currency: 'CNY' },
      total: { amount: 500, currency: 'CNY' },
      reason: 'vend failed',
    };
    const first = await provider.refund(input);
    const again = await provider.refund(input);
    expect(first.kind).toBe('accepted');
    expect(again.kind).toBe('already-refunded');
    if (first.kind === 'accepted' && again.kind === 'already-refunded')
      expect(again.refundId).toBe(first.refundId);
    expect(sandbox.events.filter((e) => e.event === 'refunded' && e.outTradeNo === no)).toHaveLength(1);
    await waitUntil(() => verdictsFor(no).some((r) => r.verdict.kind === 'refund'), {
      what: 'the refund notification',
    });
    expect(verdictsFor(no).find((r) => r.verdict.kind === 'refund')!.verdict).toEqual({
      kind: 'refund',
      outTradeNo: no,
      outRefundNo: `${no}r1`,
      status: 'success',
    });
    const refusal = await provider.refund({
      ...input,
      outRefundNo: `${no}r2`,
      amount: { amount: 400, currency: 'CNY' },
    });
    expect(refusal).toMatchObject({ kind: 'refused', code: 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL' });
  });

  it('asks after a refund with fastpay.refund.query: succeeded once made, not-found before, for an unknown trade too', async () => {
    const { no, qr } = await create(400);
    await sandbox.phone.pay(qr);
    expect(await provider.queryRefund(no, `${no}q1`)).toEqual({ kind: 'not-found' });
    const r = await provider.refund({
      outTradeNo: no,
      outRefundNo: `${no}q1`,
      amount: { amount: 100, currency: 'CNY' },
      total: { amount: 400, currency: 'CNY' },
      reason: 'vend failed',
    });
    expect(r.kind).toBe('accepted');
    expect(await provider.queryRefund(no, `${no}q1`)).toEqual({
      kind: 'succeeded',
      refundId: r.kind === 'accepted' ? r.refundId : '',
    });
    expect(await provider.queryRefund('no-such-trade-0001', 'no-such-refund')).toEqual({ kind: 'not-found' });
  });

  it('reports a fully refunded trade as refunded', async () => {
    const { no, qr } = await create(300);
    await sandbox.phone.pay(qr);
    const full = { amount: 300, currency: 'CNY' };
    await provider.refund({
      outTradeNo: no,
      outRefundNo: `${no}f`,
      amount: full,
      total: full,
      reason: 'jam',
    });
    expect(await provider.query(no)).toMatchObject({ kind: 'refunded', payment: { amount: full } });
  });

  it("fetches today's bill and it matches the payments and refunds that happened", async () => {
    const { no, qr } = await create(420);
    const paid = await sandbox.phone.pay(qr);
    const total = { amount: 420, currency: 'CNY' };
    await provider.refund({
      outTradeNo: no,
      outRefundNo: `${no}b`,
      amount: { amount: 20, currency: 'CNY' },
      total,
      reason: 'partly',
    });
    const day = formatBeijing(Date.now()).slice(0, 10);
    const bill = await provider.fetchBill(day);
    expect(bill.provider).toBe('alipay');
    expect(bill.day).toBe(day);
    const mine = bill.rows.filter((r) => r.outTradeNo === no);
    expect(mine).toEqual([
      expect.objectContaining({ kind: 'payment', transactionId: paid.tradeNo, amount: total }),
      expect.objectContaining({
        kind: 'refund',
        transactionId: paid.tradeNo,
        amount: { amount: 20, currency: 'CNY' },
        outRefundNo: `${no}b`,
      }),
    ]);
    // Every paid order of this run is in the bill once as a payment.
    const paidOrders = new Set(
      sandbox.events.filter((e) => e.event === 'paid').map((e) => e.outTradeNo as string),
    );
    expect(new Set(bill.rows.filter((r) => r.kind === 'payment').map((r) => r.outTradeNo))).toEqual(
      paidOrders,
    );
  });

  it('refuses a bill the sandbox corrupted: a bad CRC, an unknown row, a footer that disagrees', async () => {
    const day = formatBeijing(Date.now()).slice(0, 10);
    for (const bill of ['crc', 'unknown-row', 'footer-total'] as const) {
      await sandbox.fault('none', 0, bill);
      await expectVendgateError(provider.fetchBill(day), ErrorCode.AlipayBillInvalid);
    }
    await sandbox.fault('none', 0, 'none');
    await expectVendgateError(
      provider.fetchBill(formatBeijing(Date.now() + 86_400_000).slice(0, 10)),
      ErrorCode.AlipayBillUnavailable,
    );
  });

  it('retries a notification answered "fail" with the same notify_id until it is answered "success"', async () => {
    const { no, qr } = await create(250);
    failFirst.set(no, 2);
    await sandbox.phone.pay(qr);
    await waitUntil(() => verdictsFor(no).some((r) => r.replied === 'success'), {
      what: 'the third delivery',
      timeoutMs: 10_000,
    });
    const got = verdictsFor(no);
    expect(got.map((r) => r.replied)).toEqual(['fail', 'fail', 'success']);
    expect(new Set(got.map((r) => r.params.notify_id)).size).toBe(1);
    expect(got.every((r) => r.verdict.kind === 'paid')).toBe(true);
    const deliveries = (await sandbox.deliveries()).filter((d) => d.outTradeNo === no);
    expect(deliveries.map((d) => d.attempt)).toEqual([1, 2, 3]);
  });

  it('delivers a duplicate notification when the phone pays twice, and both verify as the same payment', async () => {
    const { no, qr } = await create(120);
    await sandbox.phone.payTwice(qr);
    await waitUntil(() => verdictsFor(no).length >= 2, { what: 'two deliveries' });
    const [a, b] = verdictsFor(no);
    expect(a!.params.notify_id).toBe(b!.params.notify_id);
    expect(a!.verdict).toEqual(b!.verdict);
    expect(a!.verdict.kind).toBe('paid');
  });

  it('rejects a notification for an order the platform does not expect', async () => {
    const { no, qr } = await create(130);
    orders.set(no, 131); // the platform priced it differently: the amount must not be taken
    await sandbox.phone.pay(qr);
    await waitUntil(() => verdictsFor(no).length > 0, { what: 'the notification' });
    expect(verdictsFor(no)[0]!.verdict).toEqual({
      kind: 'rejected',
      reason: 'total_amount differs from the order amount',
    });
    expect(verdictsFor(no)[0]!.replied).toBe('fail');
  });

  it('gives retryable errors when the sandbox answers 5xx, asks to retry, or does not answer at all', async () => {
    const no = newOrder(100);
    await sandbox.fault('http-503', 1);
    const e503 = await expectVendgateError(provider.query(no), ErrorCode.AlipayUnavailable);
    expect(e503.context.retryable).toBe(true);
    await sandbox.fault('system-error', 1);
    const busy = await expectVendgateError(provider.query(no), ErrorCode.AlipayUnavailable);
    expect(busy.context.retryable).toBe(true);
    await sandbox.fault('timeout', 1);
    const slow = await expectVendgateError(provider.query(no), ErrorCode.AlipayTimeout);
    expect(slow.context.retryable).toBe(true);
    await sandbox.fault('bad-signature', 1);
    await expectVendgateError(provider.query(no), ErrorCode.AlipayResponseSignatureInvalid);
    expect(await provider.query(no)).toEqual({ kind: 'pending' });
  });

  it('refuses an adapter with another app key: the sandbox answers isv.invalid-signature', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const stranger = new AlipayProvider({
      gatewayUrl: sandbox.gatewayUrl,
      appId: '2021000000000042',
      sellerId: '2088000000000042',
      appPrivateKey: other.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      alipayPublicKey: sandbox.alipayPublicKey,
    });
    const err = await expectVendgateError(stranger.query(newOrder(100)), ErrorCode.AlipayBusinessError);
    expect(err.context.subCode).toBe('isv.invalid-signature');
  });
});

describe('the official alipay-sdk against the sandbox', () => {
  it('precreates and queries with response signature validation, and accepts the sandbox notifications', async () => {
    // The SDK writes `timestamp` in the host's local time zone; Alipay expects Beijing time.
    const tz = process.env.TZ;
    process.env.TZ = 'Asia/Shanghai';
    cleanups.push(() => {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    });
    const sdk = new AlipaySdk({
      appId: '2021000000000042',
      privateKey: appPrivatePem,
      keyType: 'PKCS8',
      alipayPublicKey: sandbox.alipayPublicKey,
      gateway: sandbox.gatewayUrl,
      timeout: 3000,
    });
    const no = newOrder(990);
    const created = await sdk.exec(
      'alipay.trade.precreate',
      { notify_url: notifyUrl, bizContent: { out_trade_no: no, total_amount: '9.90', subject: 'SDK check' } },
      { validateSign: true },
    );
    expect(created).toMatchObject({ code: '10000' });
    expect(created.qrCode).toMatch(/^https:\/\/qr\.alipay\.com\//);
    const notYet = await sdk.exec(
      'alipay.trade.query',
      { bizContent: { out_trade_no: no } },
      { validateSign: true },
    );
    expect(notYet.subCode).toBe('ACQ.TRADE_NOT_EXIST');
    await sandbox.phone.pay(created.qrCode as string);
    await waitUntil(() => verdictsFor(no).length > 0, { what: 'the notification' });
    expect(sdk.checkNotifySignV2(verdictsFor(no)[0]!.params)).toBe(true);
    expect(sdk.checkNotifySignV2({ ...verdictsFor(no)[0]!.params, total_amount: '0.01' })).toBe(false);
    expect(verdictsFor(no)[0]!.verdict.kind).toBe('paid');
  });
});
