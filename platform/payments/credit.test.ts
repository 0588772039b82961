import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, expectVendgateError, tempDir } from '../../testing/index.ts';
import type { FleetEvent } from '../fleet/port.ts';
import type { PaymentProvider, RefundInput, RefundResult } from '../providers/port.ts';
import type { Store } from '../store/port.ts';
import { openStore } from '../store/store.ts';
import { Catalogue, creditOf } from './catalogue.ts';
import { parsePaymentsConfig } from './config.ts';
import type { PaymentsContext } from './context.ts';
import { createRemoteOrder } from './create.ts';
import { outcomeHandlers } from './outcomes.ts';
import { sendOrderPaid } from './paid-sender.ts';
import { runDueRefunds } from './refunds.ts';

const cleanups = cleanupsAfterEach();

const machine = (over: Record<string, unknown> = {}) => ({
  machineId: 'c1',
  products: [
    { slot: 2, name: 'Water', price: 300 },
    { slot: 7, name: 'Sandwich', price: 800 },
  ],
  mode: 'pay-first',
  ...over,
});
const config = (over: Record<string, unknown> = {}) =>
  parsePaymentsConfig({
    publicBaseUrl: 'https://pay.example.com',
    catalogue: [{ gatewayId: 'g1', machines: [machine(over)] }],
  });

describe('the credit a pay-first machine sells', () => {
  it("is the machine's highest price unless a credit is configured, and none for a choose-first machine", () => {
    const of = (over: Record<string, unknown>) => {
      const m = new Catalogue(config(over)).machine('g1', 'c1');
      return m && creditOf(m);
    };
    expect(of({})).toEqual({ amount: 800, currency: 'CNY' });
    expect(of({ credit: 1000 })).toEqual({ amount: 1000, currency: 'CNY' });
    expect(of({ mode: undefined })).toBeUndefined();
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 1, maxLength: 20 }),
        (prices) => {
          const products = prices.map((price, i) => ({ slot: i + 1, name: `p${i}`, price }));
          expect(of({ products })?.amount).toBe(Math.max(...prices));
        },
      ),
    );
  });

  it('refuses a credit on a choose-first machine, or a zero credit, naming the field', () => {
    expect(() => config({ mode: 'choose-first', credit: 500 })).toThrow(
      /payments\.catalogue\.0\.machines\.0\.credit: credit is for a pay-first machine/,
    );
    expect(() => config({ credit: 0 })).toThrow(/payments\.catalogue\.0\.machines\.0\.credit/);
  });
});

/** A provider that accepts every refund and keeps what it was asked (only the call the worker makes). */
function recordingProvider() {
  const refunds: RefundInput[] = [];
  const provider = {
    name: 'wechat',
    refund: async (r: RefundInput): Promise<RefundResult> => {
      refunds.push(r);
      return { kind: 'accepted', refundId: `R${refunds.length}` };
    },
  } as unknown as PaymentProvider; // only refund is reached by the refund worker here
  return { provider, refunds };
}

async function setup() {
  const tmp = tempDir('vendgate-credit-');
  cleanups.push(tmp.cleanup);
  const store: Store = await openStore({
    backend: 'sqlite',
    sqlitePath: join(tmp.dir, 'p.db'),
    payerHashKey: Buffer.alloc(32, 1),
  });
  cleanups.push(() => store.close());
  const now = 1_000_000;
  const { provider, refunds } = recordingProvider();
  const sent: Array<{ type: string; data: unknown; commandId?: string }> = [];
  const cfg = config();
  const ctx = {
    store,
    providers: { wechat: provider },
    fleet: {
      sendCommand: async (_gw: string, type: string, data: unknown, o?: { commandId?: string }) => {
        sent.push({ type, data, ...(o?.commandId ? { commandId: o.commandId } : {}) });
      },
      resendCommand: async () => {},
    },
    config: cfg,
    catalogue: new Catalogue(cfg),
    log: silentLogger(),
    now: () => now,
  } as unknown as PaymentsContext; // the fleet fake has only the two calls the paid sender makes
  await store.orders.create({
    outTradeNo: 'credit1',
    kind: 'credit',
    gatewayId: 'g1',
    machineId: 'c1',
    slot: 0,
    amount: 800,
    currency: 'CNY',
    provider: 'wechat',
    expiresAt: now + 60_000,
    createdAt: now,
  });
  await store.orders.transition('credit1', 'created', 'paid', now, { transactionId: 'tx1', paidAt: now });
  const handlers = outcomeHandlers(ctx, { refundRequested: () => {}, closeRequested: () => {} });
  let seq = 0;
  const event = (type: string, data: unknown): FleetEvent => ({
    gatewayId: 'g1',
    seq: ++seq,
    eventId: `e${seq}`,
    type,
    ts: now,
    data,
    problem: null,
    receivedAt: now,
  });
  const deliver = (type: 'vend.succeeded' | 'refund.requested', data: unknown) =>
    store.tx((t) => handlers[type](event(type, data), t));
  return { ctx, store, refunds, sent, deliver };
}

const refundAsked = (amount: number) => ({
  orderId: 'credit1',
  refund: { amount, currency: 'CNY' },
  code: ErrorCode.PayFirstCreditUnspent,
  reason: 'unspent',
});

describe('a credit order (pay first, then choose)', () => {
  it('is sent to its gateway as one signed credit.paid carrying the credit, not as order.paid', async () => {
    const { ctx, store, sent } = await setup();
    const order = await store.orders.get('credit1');
    expect(await sendOrderPaid(ctx, order!)).toBe('sent');
    expect(sent).toEqual([
      {
        type: 'credit.paid',
        commandId: 'paid-credit1',
        data: {
          orderId: 'credit1',
          machineId: 'c1',
          credit: { amount: 800, currency: 'CNY' },
          provider: 'wechat',
          expiresAt: 1_000_000 + ctx.config.dispenseWindowMs,
        },
      },
    ]);
  });

  it('is never sold as a product on a pay-first machine', async () => {
    const { ctx } = await setup();
    await expectVendgateError(
      createRemoteOrder(ctx, { gatewayId: 'g1', machineId: 'c1', slot: 2, provider: 'wechat' }),
      ErrorCode.PlatformMachineUnknown,
    );
  });

  it('ends dispensed with the vended item and amount, then refunds exactly the rest once as a partial refund', async () => {
    const { ctx, store, refunds, deliver } = await setup();
    await deliver('vend.succeeded', {
      orderId: 'credit1',
      machineId: 'c1',
      slot: 2,
      price: { amount: 300, currency: 'CNY' },
    });
    expect(await store.orders.get('credit1')).toMatchObject({
      state: 'dispensed',
      slot: 2,
      vendedAmount: 300,
    });
    await deliver('refund.requested', refundAsked(500));
    // A second ask (another event) finds the order refunding already.
    await deliver('refund.requested', refundAsked(500));
    expect(await store.refunds.forOrder('credit1')).toEqual([
      expect.objectContaining({ outRefundNo: 'rccredit1', amount: 500, currency: 'CNY' }),
    ]);
    await runDueRefunds(ctx);
    await runDueRefunds(ctx);
    expect(refunds).toEqual([
      expect.objectContaining({
        outRefundNo: 'rccredit1',
        amount: { amount: 500, currency: 'CNY' },
        total: { amount: 800, currency: 'CNY' },
      }),
    ]);
    expect(await store.orders.get('credit1')).toMatchObject({ state: 'refunded', vendedAmount: 300 });
  });

  it('refunds the whole credit when nothing was vended', async () => {
    const { ctx, store, refunds, deliver } = await setup();
    await deliver('refund.requested', refundAsked(800));
    await runDueRefunds(ctx);
    expect(refunds.map((r) => [r.amount.amount, r.total.amount])).toEqual([[800, 800]]);
    expect(await store.orders.get('credit1')).toMatchObject({ state: 'refunded', vendedAmount: null });
  });

  it('never refunds more than the unspent credit: the order goes to an operator instead', async () => {
    const { ctx, store, refunds, deliver } = await setup();
    await deliver('refund.requested', refundAsked(900));
    await runDueRefunds(ctx);
    expect(refunds).toEqual([]);
    expect(await store.refunds.forOrder('credit1')).toEqual([]);
    expect(await store.orders.get('credit1')).toMatchObject({ state: 'unresolved' });
  });
});
