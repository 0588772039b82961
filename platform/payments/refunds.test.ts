import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, tempDir } from '../../testing/index.ts';
import type { PaymentProvider, RefundResult, RefundStatus } from '../providers/port.ts';
import type { Store } from '../store/port.ts';
import { openStore } from '../store/store.ts';
import { parsePaymentsConfig } from './config.ts';
import type { PaymentsContext } from './context.ts';
import { runDueRefunds } from './refunds.ts';

const cleanups = cleanupsAfterEach();

/** A provider whose refund and status answers the test scripts; only the two calls the worker makes. */
function scriptedProvider(statuses: RefundStatus[]) {
  const calls: string[] = [];
  const provider = {
    name: 'wechat',
    refund: async (): Promise<RefundResult> => {
      calls.push('refund');
      return { kind: 'accepted', refundId: 'R1' };
    },
    queryRefund: async (): Promise<RefundStatus> => {
      calls.push('query');
      return statuses.shift() ?? { kind: 'processing' };
    },
  } as unknown as PaymentProvider; // only refund and queryRefund are reached by the refund worker
  return { provider, calls };
}

async function setup(statuses: RefundStatus[]) {
  const tmp = tempDir('vendgate-refunds-');
  cleanups.push(tmp.cleanup);
  const store: Store = await openStore({
    backend: 'sqlite',
    sqlitePath: join(tmp.dir, 'p.db'),
    payerHashKey: Buffer.alloc(32, 1),
  });
  cleanups.push(() => store.close());
  let now = 1_000_000;
  const { provider, calls } = scriptedProvider(statuses);
  const ctx = {
    store,
    providers: { wechat: provider },
    config: parsePaymentsConfig({ publicBaseUrl: 'https://pay.example.com', refundStatusQueryMs: 1000 }),
    log: silentLogger(),
    now: () => now,
  } as unknown as PaymentsContext; // fleet and catalogue are not reached by the refund worker
  await store.orders.create({
    outTradeNo: 'o1',
    gatewayId: 'g1',
    machineId: 'm1',
    slot: 1,
    amount: 350,
    currency: 'CNY',
    provider: 'wechat',
    expiresAt: now + 60_000,
    createdAt: now,
  });
  await store.orders.transition('o1', 'created', 'paid', now);
  await store.orders.transition('o1', 'paid', 'refund_requested', now);
  await store.refunds.create({
    outRefundNo: 'rfo1',
    outTradeNo: 'o1',
    amount: 350,
    currency: 'CNY',
    reason: 'jammed',
    nextAttemptAt: now,
    createdAt: now,
  });
  return {
    ctx,
    calls,
    store,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('the refund worker after the provider accepted a refund', () => {
  it('asks until the provider says the refund succeeded, then stops asking', async () => {
    const s = await setup([{ kind: 'processing' }, { kind: 'succeeded', refundId: 'R1' }]);
    await runDueRefunds(s.ctx);
    expect((await s.store.refunds.get('rfo1'))?.state).toBe('accepted');
    await runDueRefunds(s.ctx);
    expect(s.calls).toEqual(['refund']);
    s.advance(1000);
    await runDueRefunds(s.ctx);
    expect((await s.store.refunds.get('rfo1'))?.state).toBe('accepted');
    s.advance(60_000);
    await runDueRefunds(s.ctx);
    const row = await s.store.refunds.get('rfo1');
    expect(row).toMatchObject({
      state: 'succeeded',
      nextAttemptAt: null,
      outcome: 'confirmed by a status query',
    });
    s.advance(3600_000);
    await runDueRefunds(s.ctx);
    expect(s.calls).toEqual(['refund', 'query', 'query']);
    expect((await s.store.orders.get('o1'))?.state).toBe('refunded');
  });

  it('sends again, under the same refund number, a refund the provider says it never got', async () => {
    const s = await setup([{ kind: 'not-found' }, { kind: 'succeeded', refundId: 'R1' }]);
    await runDueRefunds(s.ctx);
    s.advance(1000);
    await runDueRefunds(s.ctx);
    expect((await s.store.refunds.get('rfo1'))?.state).toBe('pending');
    await runDueRefunds(s.ctx);
    expect(s.calls).toEqual(['refund', 'query', 'refund']);
    expect((await s.store.refunds.forOrder('o1')).map((r) => r.outRefundNo)).toEqual(['rfo1']);
  });

  it('marks a refund the provider closed or found abnormal for an operator, and asks no more', async () => {
    const s = await setup([{ kind: 'failed', status: 'ABNORMAL' }]);
    await runDueRefunds(s.ctx);
    s.advance(1000);
    await runDueRefunds(s.ctx);
    expect(await s.store.refunds.get('rfo1')).toMatchObject({
      state: 'abnormal',
      outcome: 'refund ABNORMAL',
    });
    s.advance(3600_000);
    await runDueRefunds(s.ctx);
    expect(s.calls).toEqual(['refund', 'query']);
  });
});
