/**
 * The WeChat Pay adapter against the WeChat Pay sandbox process over
 * loopback: real signatures both ways, encrypted notifications with retries,
 * refunds, bills, and a sandbox that fails on demand.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import {
  spawnWechatSandbox,
  type WechatSandboxProcess,
} from '../../firmware-sim/providers/wechatpay/spawn.ts';
import type { NotificationVerdict } from '../../platform/providers/port.ts';
import { WechatPayProvider } from '../../platform/providers/wechatpay/index.ts';
import { expectVendgateError, waitUntil } from '../../testing/index.ts';

const MCHID = '1230000109';
const APPID = 'wxd678efh567hg6787';
const SERIAL = '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C';

interface Receiver {
  url: string;
  verdicts: NotificationVerdict[];
  /** Answer 500 to this many deliveries first (so the sandbox retries). */
  failNext: number;
  close(): Promise<void>;
}

async function startReceiver(provider: () => WechatPayProvider): Promise<Receiver> {
  const r: Receiver = { url: '', verdicts: [], failNext: 0, close: async () => {} };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const verdict = provider().verifyNotification({
      headers: req.headers as Record<string, string>,
      body: Buffer.concat(chunks),
    });
    let received = verdict.kind !== 'rejected';
    if (received && r.failNext > 0) {
      r.failNext -= 1;
      received = false;
    } else r.verdicts.push(verdict);
    const reply = provider().replyToNotification(received);
    res.writeHead(reply.status, { 'Content-Type': reply.contentType }).end(reply.body);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/notify/wechat`;
  r.close = () => new Promise<void>((ok) => server.close(() => ok()));
  return r;
}

function beijingToday(): string {
  return new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 10);
}

function orderNo(): string {
  return `vg${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
}

const merchant = generateKeyPairSync('rsa', { modulusLength: 2048 });
const merchantPem = merchant.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const merchantPublicPem = merchant.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const apiV3Key = randomBytes(16).toString('hex');

function providerFor(
  sandbox: WechatSandboxProcess,
  extra: Record<string, unknown> = {},
  refundNotifyUrl?: string,
) {
  return new WechatPayProvider({
    config: {
      baseUrl: sandbox.url,
      mchid: MCHID,
      appid: APPID,
      merchantSerialNo: SERIAL,
      merchantPrivateKey: merchantPem,
      apiV3Key,
      platformKeys: { [sandbox.platformSerial]: sandbox.platformPublicKeyPem },
      timeoutMs: 1500,
      ...extra,
    },
    refundNotifyUrl,
  });
}

describe('WeChat Pay adapter against the sandbox (domestic Native)', () => {
  let sandbox: WechatSandboxProcess;
  let provider: WechatPayProvider;
  let receiver: Receiver;

  beforeAll(async () => {
    sandbox = await spawnWechatSandbox({
      mode: 'domestic',
      mchid: MCHID,
      appid: APPID,
      merchantSerialNo: SERIAL,
      merchantPublicKeyPem: merchantPublicPem,
      apiV3Key,
      retryScale: 0.001,
    });
    receiver = await startReceiver(() => provider);
    provider = providerFor(sandbox, {}, receiver.url);
  });
  afterAll(async () => {
    await receiver?.close();
    await sandbox?.stop();
  });

  async function created(amount = 350) {
    const outTradeNo = orderNo();
    const { qrContent } = await provider.create({
      outTradeNo,
      amount: { amount, currency: 'CNY' },
      description: 'Cola 330 ml at m1',
      expiresAt: Date.now() + 5 * 60_000,
      notifyUrl: receiver.url,
    });
    return { outTradeNo, qrContent };
  }

  const verdictFor = (outTradeNo: string) => () =>
    receiver.verdicts.some((v) => v.kind === 'paid' && v.payment.outTradeNo === outTradeNo);

  it('creates an order, the phone pays, the notification verifies as paid with the amount, and query agrees', async () => {
    const { outTradeNo, qrContent } = await created(350);
    expect(qrContent).toMatch(/^weixin:\/\/wxpay\/bizpayurl\?pr=/);
    expect(await provider.query(outTradeNo)).toEqual({ kind: 'pending' });
    const page = await (
      await fetch(`${sandbox.url}/sandbox/phone?code=${encodeURIComponent(qrContent)}`)
    ).text();
    expect(page).toContain('Cola 330 ml at m1');
    expect(page).toContain('CNY 3.50');
    const paid = await sandbox.pay(qrContent);
    expect(paid.ok).toBe(true);
    await waitUntil(verdictFor(outTradeNo), { what: 'a verified paid notification' });
    const v = receiver.verdicts.find((x) => x.kind === 'paid' && x.payment.outTradeNo === outTradeNo);
    expect(v?.kind === 'paid' && v.payment).toMatchObject({
      outTradeNo,
      transactionId: paid.transactionId,
      amount: { amount: 350, currency: 'CNY' },
    });
    expect(v?.kind === 'paid' && v.payment.payerId).toMatch(/^oSandbox/);
    const q = await provider.query(outTradeNo);
    expect(q.kind).toBe('paid');
    expect(q.kind === 'paid' && q.payment.amount).toEqual({ amount: 350, currency: 'CNY' });
    // Closing an order that turned out paid answers ORDERPAID.
    expect(await provider.close(outTradeNo)).toEqual({ kind: 'already-paid' });
  });

  it('closes an unpaid order, after which the phone cannot pay it', async () => {
    const { outTradeNo, qrContent } = await created(200);
    expect(await provider.close(outTradeNo)).toEqual({ kind: 'closed' });
    expect(await provider.query(outTradeNo)).toEqual({ kind: 'closed' });
    expect((await sandbox.pay(qrContent)).ok).toBe(false);
    expect(await provider.close('vgneverexisted')).toEqual({ kind: 'not-found' });
    expect(await provider.query('vgneverexisted')).toEqual({ kind: 'not-found' });
  });

  it('leaves an abandoned payment pending', async () => {
    const { outTradeNo, qrContent } = await created(100);
    expect((await sandbox.abandon(qrContent)).ok).toBe(true);
    expect(await provider.query(outTradeNo)).toEqual({ kind: 'pending' });
  });

  it('delivers a duplicate notification when the phone pays twice; both verify', async () => {
    const { outTradeNo, qrContent } = await created(300);
    await sandbox.pay(qrContent, 2);
    await waitUntil(
      () =>
        receiver.verdicts.filter((v) => v.kind === 'paid' && v.payment.outTradeNo === outTradeNo).length ===
        2,
      { what: 'two verified notifications' },
    );
  });

  it('retries a notification the platform did not acknowledge, on the documented schedule', async () => {
    const { outTradeNo, qrContent } = await created(120);
    receiver.failNext = 2;
    await sandbox.pay(qrContent);
    await waitUntil(verdictFor(outTradeNo), { what: 'the notification after two failures' });
    const attempts = (await sandbox.deliveries()).filter((d) => d.outTradeNo === outTradeNo);
    expect(attempts.map((d) => [d.attempt, d.status])).toEqual([
      [0, 500],
      [1, 500],
      [2, 204],
    ]);
  });

  it('refunds once for two requests with the same refund number, and the refund notification verifies', async () => {
    const { outTradeNo, qrContent } = await created(500);
    await sandbox.pay(qrContent);
    await waitUntil(verdictFor(outTradeNo), { what: 'paid' });
    const input = {
      outTradeNo,
      outRefundNo: `r${outTradeNo}`,
      amount: { amount: 500, currency: 'CNY' },
      total: { amount: 500, currency: 'CNY' },
      reason: 'vend failed',
    };
    const first = await provider.refund(input);
    expect(first.kind).toBe('accepted');
    const second = await provider.refund(input);
    expect(second).toEqual({
      kind: 'already-refunded',
      refundId: first.kind === 'accepted' ? first.refundId : '',
    });
    await waitUntil(
      () =>
        receiver.verdicts.some(
          (v) => v.kind === 'refund' && v.outRefundNo === input.outRefundNo && v.status === 'success',
        ),
      { what: 'a verified refund notification' },
    );
    expect((await provider.query(outTradeNo)).kind).toBe('refunded');
    const bill = await provider.fetchBill(beijingToday());
    expect(bill.rows.filter((r) => r.kind === 'refund' && r.outTradeNo === outTradeNo)).toHaveLength(1);
  });

  it('asks after a refund: processing at first, then succeeded, and not-found for a number never sent', async () => {
    const { outTradeNo, qrContent } = await created(300);
    await sandbox.pay(qrContent);
    await waitUntil(verdictFor(outTradeNo), { what: 'paid' });
    expect(await provider.queryRefund(outTradeNo, `r${outTradeNo}`)).toEqual({ kind: 'not-found' });
    const accepted = await provider.refund({
      outTradeNo,
      outRefundNo: `r${outTradeNo}`,
      amount: { amount: 300, currency: 'CNY' },
      total: { amount: 300, currency: 'CNY' },
      reason: 'vend failed',
    });
    expect(accepted.kind).toBe('accepted');
    const refundId = accepted.kind === 'accepted' ? accepted.refundId : '';
    expect(['processing', 'succeeded']).toContain(
      (await provider.queryRefund(outTradeNo, `r${outTradeNo}`)).kind,
    );
    await waitUntil(
      async () => (await provider.queryRefund(outTradeNo, `r${outTradeNo}`)).kind === 'succeeded',
      {
        what: 'the refund to succeed',
      },
    );
    expect(await provider.queryRefund(outTradeNo, `r${outTradeNo}`)).toEqual({ kind: 'succeeded', refundId });
  });

  it('refuses a refund of an unpaid order and one above the total', async () => {
    const { outTradeNo } = await created(100);
    const r = await provider.refund({
      outTradeNo,
      outRefundNo: `r${outTradeNo}`,
      amount: { amount: 100, currency: 'CNY' },
      total: { amount: 100, currency: 'CNY' },
      reason: 'x',
    });
    expect(r.kind).toBe('refused');
    await expectVendgateError(
      provider.refund({
        outTradeNo,
        outRefundNo: 'r2',
        amount: { amount: 200, currency: 'CNY' },
        total: { amount: 100, currency: 'CNY' },
        reason: 'x',
      }),
      ErrorCode.ProviderAmountInvalid,
    );
  });

  it('fetches the day bill, checks its hash and parses it into what happened', async () => {
    const { outTradeNo, qrContent } = await created(450);
    await sandbox.pay(qrContent);
    await waitUntil(verdictFor(outTradeNo), { what: 'paid' });
    const bill = await provider.fetchBill(beijingToday());
    expect(bill.provider).toBe('wechat');
    const row = bill.rows.find((r) => r.outTradeNo === outTradeNo);
    expect(row).toMatchObject({ kind: 'payment', amount: { amount: 450, currency: 'CNY' } });
    const q = await provider.query(outTradeNo);
    expect(q.kind === 'paid' && q.payment.transactionId).toBe(row?.transactionId);
    // Every paid order of this run is in the bill.
    const paidNos = new Set(
      receiver.verdicts.flatMap((v) => (v.kind === 'paid' ? [v.payment.outTradeNo] : [])),
    );
    const billNos = new Set(bill.rows.filter((r) => r.kind === 'payment').map((r) => r.outTradeNo));
    for (const no of paidNos) expect(billNos.has(no)).toBe(true);
    expect(await provider.fetchBill('2001-01-01')).toEqual({
      provider: 'wechat',
      day: '2001-01-01',
      rows: [],
    });
  });

  it('gives retryable errors when the sandbox answers 5xx or not at all', async () => {
    await sandbox.fault('5xx', 1);
    const e1 = await expectVendgateError(provider.query('vgfault0001'), ErrorCode.ProviderUnavailable);
    expect(e1.context.retryable).toBe(true);
    await sandbox.fault('timeout', 1);
    const e2 = await expectVendgateError(provider.query('vgfault0002'), ErrorCode.ProviderTimeout);
    expect(e2.context.retryable).toBe(true);
    expect(await provider.query('vgfault0003')).toEqual({ kind: 'not-found' });
  });

  it('rejects every answer signed by a platform key it was not configured with', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const wrong = providerFor(sandbox, { platformKeys: { OTHERSERIAL: other.toString() } });
    await expectVendgateError(wrong.query('vgunknown01'), ErrorCode.WechatUnknownSerial);
    const forged = providerFor(sandbox, { platformKeys: { [sandbox.platformSerial]: other.toString() } });
    await expectVendgateError(forged.query('vgunknown01'), ErrorCode.WechatSignatureInvalid);
  });

  it('is refused by the sandbox when it signs with a key WeChat does not know', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    });
    const p = providerFor(sandbox, { merchantPrivateKey: stranger.toString() });
    const e = await expectVendgateError(p.query('vgsigned001'), ErrorCode.ProviderRefused);
    expect(e.context.providerCode).toBe('SIGN_ERROR');
  });
});

describe('WeChat Pay Global adapter against the sandbox (EUR priced, CNY wallet)', () => {
  let sandbox: WechatSandboxProcess;
  let provider: WechatPayProvider;
  let receiver: Receiver;

  beforeAll(async () => {
    sandbox = await spawnWechatSandbox({
      mode: 'global',
      mchid: MCHID,
      appid: APPID,
      merchantSerialNo: SERIAL,
      merchantPublicKeyPem: merchantPublicPem,
      apiV3Key,
      currency: 'EUR',
      payerCurrency: 'CNY',
      exchangeRate: 785000000,
      retryScale: 0.001,
    });
    receiver = await startReceiver(() => provider);
    provider = providerFor(
      sandbox,
      { mode: 'global', currency: 'EUR', merchantCategoryCode: '5814' },
      receiver.url,
    );
  });
  afterAll(async () => {
    await receiver?.close();
    await sandbox?.stop();
  });

  it('pays in EUR, reports the CNY wallet amount and rate, refunds and reconciles from the statement', async () => {
    const outTradeNo = orderNo();
    const { qrContent } = await provider.create({
      outTradeNo,
      amount: { amount: 350, currency: 'EUR' },
      description: 'Cola 330 ml at m1',
      expiresAt: Date.now() + 5 * 60_000,
      notifyUrl: receiver.url,
    });
    await sandbox.pay(qrContent);
    await waitUntil(() => receiver.verdicts.some((v) => v.kind === 'paid'), { what: 'paid' });
    const v = receiver.verdicts.find((x) => x.kind === 'paid');
    expect(v?.kind === 'paid' && v.payment).toMatchObject({
      outTradeNo,
      amount: { amount: 350, currency: 'EUR' },
      payer: { amount: { amount: 2748, currency: 'CNY' }, exchangeRate: '7.85' },
    });
    const q = await provider.query(outTradeNo);
    expect(q.kind === 'paid' && q.payment.payer?.amount).toEqual({ amount: 2748, currency: 'CNY' });
    await expectVendgateError(
      provider.create({
        outTradeNo: orderNo(),
        amount: { amount: 1, currency: 'CNY' },
        description: 'x',
        expiresAt: Date.now() + 60_000,
        notifyUrl: receiver.url,
      }),
      ErrorCode.WechatCurrencyUnsupported,
    );
    const refund = {
      outTradeNo,
      outRefundNo: `r${outTradeNo}`,
      amount: { amount: 150, currency: 'EUR' },
      total: { amount: 350, currency: 'EUR' },
      reason: 'vend failed',
    };
    expect((await provider.refund(refund)).kind).toBe('accepted');
    expect((await provider.refund(refund)).kind).toBe('already-refunded');
    const bill = await provider.fetchBill(beijingToday());
    expect(bill.rows.filter((r) => r.outTradeNo === outTradeNo).map((r) => [r.kind, r.amount])).toEqual([
      ['payment', { amount: 350, currency: 'EUR' }],
      ['refund', { amount: 150, currency: 'EUR' }],
    ]);
  });
});
