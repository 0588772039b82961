/**
 * Faults of the payments plane on real processes: the provider sandboxes
 * answering 5xx or never answering (create, query, close, refund),
 * notifications that never arrive, and notifications the platform must
 * refuse or refund (unknown order, another merchant, another amount or
 * currency). Nothing paid is lost, nothing is doubled, and every refusal is
 * logged with its reason.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { spawnAlipaySandbox } from '../firmware-sim/providers/alipay/spawn.ts';
import { closeOrder } from '../platform/payments/closes.ts';
import { AlipayProvider } from '../platform/providers/alipay/index.ts';
import { WechatPayProvider } from '../platform/providers/wechatpay/index.ts';
import type { PlatformService } from '../platform/service.ts';
import { tempDir, waitUntil } from '../testing/index.ts';
import {
  capturingLog,
  freePort,
  platformConfig,
  type Sandboxes,
  startPlatformInProcess,
  startSandboxes,
} from './platform-payments-harness.ts';
import { useRig } from './support/rig.ts';

const DEAD_NOTIFY = 'http://127.0.0.1:9/notify/lost';

describe('payments under provider faults and bad notifications', () => {
  const h = useRig({ slotBoards: 1, platform: false });
  let sandboxes: Sandboxes;
  let platform: PlatformService;
  let wechat: WechatPayProvider;
  const captured = capturingLog();
  const tmp = tempDir('vendgate-platform-faults-');

  beforeAll(async () => {
    sandboxes = await startSandboxes();
    const port = await freePort();
    platform = await startPlatformInProcess(
      platformConfig({
        dir: tmp.dir,
        brokerUrl: h.brokerUrl,
        signingKey: h.keys.privateKey,
        sandboxes,
        port,
        gatewayId: h.gatewayId,
      }),
      captured.log,
    );
    // The test's own client of the sandbox: orders the platform does not create itself.
    wechat = new WechatPayProvider({ config: sandboxes.providers.wechat });
  }, 60_000);
  afterAll(async () => {
    await platform?.stop();
    await sandboxes?.stop();
    tmp.cleanup();
  });

  const order = (no: string) => platform.store.orders.get(no);
  const stateIs = (no: string, state: string) => async () => (await order(no))?.state === state;
  const orderNo = () => `vt${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  const paidCommands = async (no: string) =>
    (await platform.store.commands.list({ gatewayId: h.gatewayId })).filter((c) => c.payload.includes(no));
  const buy = (slot: number, provider: 'wechat' | 'alipay' = 'wechat') =>
    fetch(`${platform.url}/m/${h.gatewayId}/m1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slot, provider }),
    });
  /** An order the platform stores, created at the sandbox by the test with the given amount and notify URL. */
  const plantOrder = async (o: {
    amount?: number;
    currency?: string;
    paidAmount?: number;
    notifyUrl: string;
    expiresInMs?: number;
  }) => {
    const no = orderNo();
    const now = Date.now();
    await platform.store.orders.create({
      outTradeNo: no,
      gatewayId: h.gatewayId,
      machineId: 'm1',
      slot: 5,
      amount: o.amount ?? 350,
      currency: o.currency ?? 'CNY',
      provider: 'wechat',
      expiresAt: now + (o.expiresInMs ?? 45_000),
      createdAt: now,
    });
    const { qrContent } = await wechat.create({
      outTradeNo: no,
      amount: { amount: o.paidAmount ?? o.amount ?? 350, currency: 'CNY' },
      description: 'Green Tea at Lobby m1',
      expiresAt: now + 10 * 60_000,
      notifyUrl: o.notifyUrl,
    });
    return { no, qrContent };
  };
  const logged = (msg: string) => captured.lines.filter((l) => l.msg === msg);

  it('answers a create the provider fails with 5xx or a timeout with a retryable error, then creates the next one', async () => {
    await sandboxes.wechat.fault('5xx', 1);
    const r5 = await buy(1);
    expect(r5.status).toBeGreaterThanOrEqual(500);
    const b5 = (await r5.json()) as { code: number };
    expect([ErrorCode.ProviderUnavailable, ErrorCode.ProviderTimeout]).toContain(b5.code);
    await sandboxes.wechat.fault('timeout', 1);
    const rt = await buy(1);
    expect(rt.status).toBeGreaterThanOrEqual(500);
    expect((await rt.json()) as { code: number }).toMatchObject({ code: ErrorCode.ProviderTimeout });
    const ok = await buy(1);
    expect(ok.status).toBe(200);
    // The failed attempts left `created` rows only (never paid, closed by the poller once expired).
    const created = await platform.store.orders.listByState('created');
    expect(created.length).toBeGreaterThanOrEqual(3);
  });

  it('dispenses once a payment whose notification never arrives, found by the poller through query 5xx answers', async () => {
    const { no, qrContent } = await plantOrder({ notifyUrl: DEAD_NOTIFY });
    await sandboxes.wechat.fault('5xx', 2);
    const paid = await sandboxes.wechat.pay(qrContent);
    expect(paid.ok).toBe(true);
    await waitUntil(stateIs(no, 'dispensed'), { timeoutMs: 20_000, what: 'dispensed via the poller' });
    expect((await order(no))?.transactionId).toBe(paid.transactionId);
    expect(await paidCommands(no)).toHaveLength(1);
    expect(h.gw.ledger.get(no)?.state).toBe('dispensed');
  });

  it('retries a close the provider fails, and refunds instead of dispensing when the close finds it paid', async () => {
    const { no, qrContent } = await plantOrder({ notifyUrl: DEAD_NOTIFY, expiresInMs: 10 * 60_000 });
    await sandboxes.wechat.pay(qrContent);
    await sandboxes.wechat.fault('5xx', 1);
    expect(await closeOrder(platform.payments.ctx, no, 'test close')).toBe('failed');
    expect((await order(no))?.state).toBe('created');
    expect(await closeOrder(platform.payments.ctx, no, 'test close')).toBe('refunding');
    await waitUntil(stateIs(no, 'refunded'), { timeoutMs: 15_000, what: 'refunded after the close' });
    expect(await paidCommands(no)).toHaveLength(0);
    expect(h.gw.ledger.get(no)).toBeUndefined();
    expect((await wechat.query(no)).kind).toBe('refunded');
  });

  it('closes an unpaid order at the provider, which then cannot be paid', async () => {
    const { no, qrContent } = await plantOrder({ notifyUrl: DEAD_NOTIFY, expiresInMs: 10 * 60_000 });
    expect(await closeOrder(platform.payments.ctx, no, 'test close')).toBe('closed');
    expect((await order(no))?.state).toBe('closed');
    expect((await sandboxes.wechat.pay(qrContent)).ok).toBe(false);
  });

  it('retries a refund the provider times out on with the same out_refund_no, and refunds once', async () => {
    h.boards[0]!.fault({ fault: 'jam', slot: 6, count: 1 });
    const created = (await (await buy(6)).json()) as { outTradeNo: string; qrContent: string };
    const no = created.outTradeNo;
    await sandboxes.wechat.pay(created.qrContent);
    await sandboxes.wechat.fault('timeout', 2);
    await waitUntil(stateIs(no, 'refunded'), { timeoutMs: 30_000, what: 'refunded after timeouts' });
    const [refund, ...more] = await platform.store.refunds.forOrder(no);
    expect(more).toHaveLength(0);
    expect(refund).toMatchObject({ outRefundNo: `rf${no}`, amount: 350 });
    expect(refund!.attempts).toBeGreaterThanOrEqual(3);
    const bill = await wechat.fetchBill(new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10));
    expect(bill.rows.filter((r) => r.kind === 'refund' && r.outTradeNo === no)).toHaveLength(1);
    expect(logged('refund not answered; retrying').length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a notification for an order that is not ours, logs why, and dispenses nothing', async () => {
    const no = orderNo();
    const { qrContent } = await wechat.create({
      outTradeNo: no,
      amount: { amount: 350, currency: 'CNY' },
      description: 'not ours',
      expiresAt: Date.now() + 10 * 60_000,
      notifyUrl: `${platform.url}/notify/wechat`,
    });
    await sandboxes.wechat.pay(qrContent);
    await waitUntil(
      async () => (await sandboxes.wechat.deliveries()).filter((d) => d.outTradeNo === no).length >= 2,
      { timeoutMs: 15_000, what: 'the sandbox retrying a refused notification' },
    );
    const deliveries = (await sandboxes.wechat.deliveries()).filter((d) => d.outTradeNo === no);
    expect(deliveries.every((d) => d.status !== 200 && d.status !== 204)).toBe(true);
    expect(await order(no)).toBeUndefined();
    expect(await paidCommands(no)).toHaveLength(0);
    expect(logged('a paid payment for no order of ours: refused').some((l) => l.outTradeNo === no)).toBe(
      true,
    );
  });

  it('refunds, never dispenses, a payment whose amount or currency differs from the order', async () => {
    const amount = await plantOrder({
      amount: 300,
      paidAmount: 350,
      notifyUrl: `${platform.url}/notify/wechat`,
    });
    const currency = await plantOrder({ currency: 'HKD', notifyUrl: `${platform.url}/notify/wechat` });
    await sandboxes.wechat.pay(amount.qrContent);
    await sandboxes.wechat.pay(currency.qrContent);
    for (const { no } of [amount, currency]) {
      await waitUntil(stateIs(no, 'refunded'), { timeoutMs: 15_000, what: `mismatch ${no} refunded` });
      expect(await paidCommands(no)).toHaveLength(0);
      expect(h.gw.ledger.get(no)).toBeUndefined();
      const [refund] = await platform.store.refunds.forOrder(no);
      expect(refund).toMatchObject({ amount: 350, currency: 'CNY' });
    }
    expect((await order(amount.no))?.reason).toContain('paid CNY 350 but the order is CNY 300');
    expect((await order(currency.no))?.reason).toContain('but the order is HKD 350');
  });

  it("refuses a notification signed by another merchant's provider, with the reason logged", async () => {
    const other = await spawnAlipaySandbox({
      appPublicKey: String(
        (await import('node:crypto'))
          .createPublicKey(String(sandboxes.providers.alipay.appPrivateKey))
          .export({ type: 'spki', format: 'pem' }),
      ),
      appId: '2021000000000099',
      sellerId: '2088000000000099',
      retryScale: 0.001,
    });
    try {
      const theirs = new AlipayProvider({
        ...(sandboxes.providers.alipay as ConstructorParameters<typeof AlipayProvider>[0]),
        gatewayUrl: other.gatewayUrl,
        appId: '2021000000000099',
        sellerId: '2088000000000099',
        alipayPublicKey: other.alipayPublicKey,
      });
      const { no } = await plantOrder({ notifyUrl: DEAD_NOTIFY });
      const { qrContent } = await theirs.create({
        outTradeNo: no,
        amount: { amount: 350, currency: 'CNY' },
        description: 'another merchant',
        expiresAt: Date.now() + 10 * 60_000,
        notifyUrl: `${platform.url}/notify/alipay`,
      });
      await other.phone.pay(qrContent);
      await waitUntil(async () => (await other.deliveries()).some((d) => d.outTradeNo === no), {
        timeoutMs: 15_000,
        what: 'a delivery from the other merchant',
      });
      expect((await other.deliveries()).filter((d) => d.outTradeNo === no).every((d) => !d.received)).toBe(
        true,
      );
      expect((await order(no))?.state).toBe('created');
      expect(
        logged('notification rejected').some((l) => l.provider === 'alipay' && typeof l.reason === 'string'),
      ).toBe(true);
    } finally {
      await other.stop();
    }
  });

  it('lists the transaction of the order that is not ours in the day reconciliation', async () => {
    const day = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const report = (await (
      await fetch(`${platform.url}/api/reconcile/${day}`, { method: 'POST' })
    ).json()) as {
      mismatches: Array<{ kind: string; outTradeNo: string; provider: string }>;
    };
    const unknown = report.mismatches.filter(
      (m) => m.kind === 'unknown-transaction' && m.provider === 'wechat',
    );
    expect(unknown.length).toBeGreaterThanOrEqual(1);
    expect(report.mismatches.filter((m) => m.kind === 'refunded-twice')).toEqual([]);
  });

  it('never logs a payer id or a key', () => {
    const text = captured.text();
    expect(text).not.toMatch(/oSandbox/);
    expect(text).not.toContain('PRIVATE KEY');
  });
});
