import { join } from 'node:path';
import pgClient from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import type { Store, StoreBackend } from '../platform/store/port.ts';
import { openStore } from '../platform/store/store.ts';
import { cleanupsAfterEach, expectVendgateError, tempDir } from '../testing/index.ts';
import { type PostgresHandle, startPostgres } from './support/postgres.ts';

const KEY = Buffer.from('0123456789abcdef0123456789abcdef');
const cleanups = cleanupsAfterEach();
let pg: PostgresHandle | undefined;

beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

/** A fresh store: a new SQLite file, or a new PostgreSQL database. */
async function freshStore(backend: StoreBackend): Promise<{ store: Store; reopen: () => Promise<Store> }> {
  const tmp = tempDir('vendgate-pstore-');
  cleanups.push(tmp.cleanup);
  const sqlitePath = join(tmp.dir, 'platform.db');
  const postgresUrl = backend === 'postgres' ? await pg!.createDatabase() : undefined;
  const open = async () => {
    const s = await openStore({ backend, sqlitePath, postgresUrl, payerHashKey: KEY });
    cleanups.push(() => s.close());
    return s;
  };
  return { store: await open(), reopen: open };
}

function event(gatewayId: string, seq: number, over: Partial<{ eventId: string; type: string }> = {}) {
  return {
    gatewayId,
    seq,
    eventId: over.eventId ?? `00000000-0000-4000-8000-${String(seq).padStart(12, '0')}`,
    type: over.type ?? 'machine.status',
    ts: 1_700_000_000_000 + seq,
    data: { machineId: 'm1', online: true },
    problem: null,
    receivedAt: 1_700_000_000_500 + seq,
  };
}

const order = (outTradeNo: string) => ({
  outTradeNo,
  gatewayId: 'gw1',
  machineId: 'm1',
  slot: 3,
  amount: 350,
  currency: 'CNY',
  provider: 'wechat',
  expiresAt: 2_000,
  createdAt: 1_000,
});

/** A payment of `order(no)` as Store.payCreatedOrder takes it; `over` changes what a test varies. */
function createdPayment(
  no: string,
  over: { keys?: string[]; slot?: number; patch?: Record<string, unknown>; payload?: string } = {},
) {
  return {
    outTradeNo: no,
    provider: 'wechat',
    expect: {
      amount: 350,
      currency: 'CNY',
      gatewayId: 'gw1',
      machineId: 'm1',
      slot: over.slot ?? 3,
      kind: 'item' as const,
      couponCode: null,
    },
    at: 1_100,
    patch: over.patch ?? { transactionId: `tx-${no}` },
    keys: over.keys ?? [`txn:tx-${no}`, `otn:${no}`],
    command: {
      commandId: `pay-${no}`,
      gatewayId: 'gw1',
      type: 'order.paid',
      payload: over.payload ?? '{}',
      at: 1_100,
    },
  };
}

describe.each(['sqlite', 'postgres'] as const)('the platform store on %s', (backend) => {
  it('applies its migrations once and records them, so reopening changes nothing', async () => {
    const { store, reopen } = await freshStore(backend);
    expect(await store.schemaVersion()).toBe(2);
    await store.gateways.ensure('gw1', 5);
    await store.close();
    const again = await reopen();
    expect(await again.schemaVersion()).toBe(2);
    expect((await again.gateways.get('gw1'))?.createdAt).toBe(5);
  });

  it('stores an event once by (gateway, seq) and once by event id', async () => {
    const { store } = await freshStore(backend);
    expect(await store.events.insert(event('gw1', 1))).toBe('stored');
    expect(await store.events.insert(event('gw1', 1))).toBe('duplicate');
    // Same seq, another id (a gateway that lost its database) and same id, another seq: both refused.
    expect(
      await store.events.insert(event('gw1', 1, { eventId: '10000000-0000-4000-8000-000000000001' })),
    ).toBe('duplicate');
    expect(await store.events.insert({ ...event('gw1', 2), eventId: event('gw1', 1).eventId })).toBe(
      'duplicate',
    );
    expect(
      await store.events.insert(event('gw2', 1, { eventId: '20000000-0000-4000-8000-000000000001' })),
    ).toBe('stored');
    expect(await store.events.count()).toBe(2);
    const back = await store.events.get('gw1', 1);
    expect(back).toEqual(event('gw1', 1));
  });

  it('lists covered seqs above a watermark, stored and reported dropped together', async () => {
    const { store } = await freshStore(backend);
    for (const s of [1, 2, 4, 7]) await store.events.insert(event('gw1', s));
    await store.events.recordDropped('gw1', [3, 5]);
    await store.events.recordDropped('gw1', [3]);
    expect(await store.events.coveredSeqsAbove('gw1', 1, 100)).toEqual([2, 3, 4, 5, 7]);
    expect(await store.events.coveredSeqsAbove('gw1', 0, 2)).toEqual([1, 2]);
  });

  it('moves a watermark only forward', async () => {
    const { store } = await freshStore(backend);
    await store.gateways.ensure('gw1', 1);
    expect(await store.gateways.advanceWatermark('gw1', 5)).toBe(true);
    expect(await store.gateways.advanceWatermark('gw1', 3)).toBe(false);
    expect(await store.gateways.advanceWatermark('gw1', 5)).toBe(false);
    expect((await store.gateways.get('gw1'))?.ackedUpTo).toBe(5);
  });

  it('learns a new gateway watermark from a birth with an empty outbox, and never for one it has events of', async () => {
    const { store } = await freshStore(backend);
    const birth = {
      state: 'online' as const,
      gatewayId: 'gw1',
      lastSeq: 41,
      outbox: { pending: 0, dropped: 0, expired: 0 },
    };
    await store.gateways.recordStatus('gw1', birth, 10);
    const g = await store.gateways.get('gw1');
    expect(g).toMatchObject({
      ackedUpTo: 41,
      watermarkSource: 'status',
      online: true,
      outboxDepth: 0,
      lastSeenAt: 10,
    });
    expect(g?.lastStatus).toEqual(birth);

    await store.events.insert(event('gw2', 1));
    await store.gateways.recordStatus('gw2', { ...birth, gatewayId: 'gw2' }, 10);
    expect((await store.gateways.get('gw2'))?.ackedUpTo).toBe(0);
    // Pending events and no ackedSeq: lastSeq - pending could skip one, so nothing is learned.
    await store.gateways.recordStatus(
      'gw3',
      { ...birth, gatewayId: 'gw3', outbox: { pending: 4, dropped: 0, expired: 0 } },
      10,
    );
    expect((await store.gateways.get('gw3'))?.ackedUpTo).toBe(0);
    await store.gateways.recordStatus('gw1', { state: 'offline', gatewayId: 'gw1' }, 20);
    expect(await store.gateways.get('gw1')).toMatchObject({ online: false, outboxDepth: 0, ackedUpTo: 41 });
  });

  it('moves an order through its states only by conditional updates, so of two racers exactly one wins', async () => {
    const { store } = await freshStore(backend);
    expect(await store.orders.create(order('o-000001'))).toBe(true);
    expect(await store.orders.create(order('o-000001'))).toBe(false);
    const racers = await Promise.all([
      store.tx((t) => t.orders.transition('o-000001', 'created', 'paid', 1_100, { transactionId: 'tx-a' })),
      store.tx((t) => t.orders.transition('o-000001', 'created', 'paid', 1_100, { transactionId: 'tx-b' })),
    ]);
    expect(racers.filter(Boolean)).toHaveLength(1);
    expect(
      await store.orders.transition('o-000001', 'paid', 'refund_requested', 1_200, { reason: 'jam' }),
    ).toBe(true);
    expect(await store.orders.transition('o-000001', 'paid', 'dispensed', 1_300)).toBe(false);
    expect(await store.orders.transition('o-000001', 'refund_requested', 'refunded', 1_400)).toBe(true);
    const o = await store.orders.get('o-000001');
    expect(o).toMatchObject({
      state: 'refunded',
      reason: 'jam',
      amount: 350,
      currency: 'CNY',
      updatedAt: 1_400,
    });
    expect(['tx-a', 'tx-b']).toContain(o?.transactionId);
    await expectVendgateError(
      store.orders.transition('o-000001', 'refunded', 'paid', 1_500),
      ErrorCode.StoreTransitionInvalid,
    );
  });

  it('answers payments written together each as if written alone, even when one of them has a key seen', async () => {
    const { store } = await freshStore(backend);
    const nos = ['o-000041', 'o-000042', 'o-000043', 'o-000044'];
    for (const no of nos) await store.orders.create(order(no));
    await store.notifications.record('wechat', 'txn:tx-o-000043', 'o-000099', 1_000);
    // Signed bytes with everything an array literal escapes: stored exactly, or the signature breaks.
    const payloadOf = (no: string) =>
      JSON.stringify({ body: `{"id":"${no}","q":"a\\"b,{c} NULL"}`, sig: 'x+/=' });
    const payment = (no: string, slot = 3) => createdPayment(no, { slot, payload: payloadOf(no) });
    const paidTogether = await Promise.all([
      store.payCreatedOrder(payment('o-000041')),
      store.payCreatedOrder(payment('o-000042')),
      store.payCreatedOrder(payment('o-000044', 9)),
    ]);
    expect(paidTogether.map((r) => r.kind)).toEqual(['paid', 'paid', 'not-created']);
    expect(paidTogether[1]).toEqual({
      kind: 'paid',
      order: await store.orders.get('o-000042'),
      commandRecorded: true,
    });
    const results = [
      ...paidTogether.slice(0, 2),
      ...(await Promise.all([
        store.payCreatedOrder(payment('o-000043')),
        store.payCreatedOrder(payment('o-000044', 9)),
      ])),
    ];
    expect(results.map((r) => r.kind)).toEqual(['paid', 'paid', 'keys-seen', 'not-created']);
    const states = await Promise.all(nos.map(async (no) => (await store.orders.get(no))?.state));
    expect(states).toEqual(['paid', 'paid', 'created', 'created']);
    const commands = await Promise.all(nos.map(async (no) => (await store.commands.get(`pay-${no}`))?.state));
    expect(commands).toEqual(['recorded', 'recorded', undefined, undefined]);
    expect((await store.commands.get('pay-o-000042'))?.payload).toBe(payloadOf('o-000042'));
    expect(await store.notifications.seen('wechat', 'otn:o-000043')).toBe(false);
  });

  it('reads several orders at once, and orders asked for together, each as committed', async () => {
    const { store } = await freshStore(backend);
    for (const no of ['o-000031', 'o-000032', 'o-000033']) await store.orders.create(order(no));
    const many = await store.orders.getMany(['o-000031', 'o-000033', 'o-missing']);
    expect([...many.keys()].sort()).toEqual(['o-000031', 'o-000033']);
    expect(many.get('o-000033')).toEqual(await store.orders.get('o-000033'));
    const together = await Promise.all(
      ['o-000032', 'o-missing', 'o-000031', 'o-000032'].map((no) => store.getOrderBatched(no)),
    );
    expect(together.map((o) => o?.outTradeNo)).toEqual(['o-000032', undefined, 'o-000031', 'o-000032']);
    expect(together[0]).toEqual(await store.orders.get('o-000032'));
  });

  it('records a payment, its keys and its command in one write, or writes nothing when any of it does not hold', async () => {
    const { store } = await freshStore(backend);
    for (const no of ['o-000021', 'o-000022', 'o-000023']) await store.orders.create(order(no));
    const payment = (no: string, over: { keys?: string[]; slot?: number } = {}) =>
      createdPayment(no, {
        ...over,
        patch: { transactionId: `tx-${no}`, paidAt: 1_050, payerId: 'payer-2' },
      });
    // The row no longer says what the command was signed from: nothing written.
    expect(await store.payCreatedOrder(payment('o-000021', { slot: 4 }))).toEqual({ kind: 'not-created' });
    expect(await store.commands.get('pay-o-000021')).toBeUndefined();
    // A key recorded already (the transaction id, for another order): nothing written, the order stays created.
    await store.notifications.record('wechat', 'txn:tx-o-000022', 'o-000099', 1_000);
    expect(await store.payCreatedOrder(payment('o-000022'))).toEqual({ kind: 'keys-seen' });
    expect((await store.orders.get('o-000022'))?.state).toBe('created');
    expect(await store.notifications.seen('wechat', 'otn:o-000022')).toBe(false);
    expect(await store.commands.get('pay-o-000022')).toBeUndefined();

    const racers = await Promise.all([
      store.payCreatedOrder(payment('o-000021')),
      store.payCreatedOrder(payment('o-000021')),
    ]);
    const paid = racers.filter((r) => r.kind === 'paid');
    expect(paid).toHaveLength(1);
    expect(racers.filter((r) => r.kind !== 'paid')[0]?.kind).toMatch(/^(not-created|keys-seen)$/);
    expect(paid[0]).toEqual({
      kind: 'paid',
      order: await store.orders.get('o-000021'),
      commandRecorded: true,
    });
    expect(paid[0]?.kind === 'paid' && paid[0].order).toMatchObject({
      state: 'paid',
      transactionId: 'tx-o-000021',
      payerHash: store.hashPayerId('payer-2'),
    });
    expect(await store.notifications.seen('wechat', 'txn:tx-o-000021')).toBe(true);
    expect(await store.notifications.seen('wechat', 'otn:o-000021')).toBe(true);
    expect(await store.commands.get('pay-o-000021')).toMatchObject({ state: 'recorded', payload: '{}' });

    // A command row that exists already is kept as it is: paid, commandRecorded false.
    await store.commands.record({
      commandId: 'pay-o-000023',
      gatewayId: 'gw1',
      type: 'order.paid',
      payload: '"old"',
      at: 1,
    });
    const r = await store.payCreatedOrder(payment('o-000023'));
    expect(r).toMatchObject({ kind: 'paid', commandRecorded: false });
    expect((await store.commands.get('pay-o-000023'))?.payload).toBe('"old"');
  });

  it('pays a created order in one conditional update only when its provider, amount and currency match', async () => {
    const { store } = await freshStore(backend);
    await store.orders.create(order('o-000011'));
    const expect350 = { provider: 'wechat', amount: 350, currency: 'CNY' };
    const patch = { transactionId: 'tx-11', paidAt: 1_050, payerId: 'payer-1' };
    expect(
      await store.orders.payCreated('o-000011', { ...expect350, amount: 351 }, 1_100, patch),
    ).toBeUndefined();
    expect(
      await store.orders.payCreated('o-000011', { ...expect350, currency: 'USD' }, 1_100, patch),
    ).toBeUndefined();
    expect(
      await store.orders.payCreated('o-000011', { ...expect350, provider: 'alipay' }, 1_100, patch),
    ).toBeUndefined();
    expect(await store.orders.payCreated('o-unknown', expect350, 1_100, patch)).toBeUndefined();
    expect((await store.orders.get('o-000011'))?.state).toBe('created');
    const racers = await Promise.all([
      store.tx((t) => t.orders.payCreated('o-000011', expect350, 1_100, patch)),
      store.tx((t) => t.orders.payCreated('o-000011', expect350, 1_100, patch)),
    ]);
    expect(racers.filter((r) => r !== undefined)).toHaveLength(1);
    const paid = racers.find((r) => r !== undefined);
    expect(paid).toEqual(await store.orders.get('o-000011'));
    expect(paid).toMatchObject({
      state: 'paid',
      transactionId: 'tx-11',
      paidAt: 1_050,
      updatedAt: 1_100,
      payerHash: store.hashPayerId('payer-1'),
    });
  });

  it('keeps a credit order as kind credit, with the slot and vended part its vend set', async () => {
    const { store } = await freshStore(backend);
    expect(await store.orders.create({ ...order('c-000001'), kind: 'credit', slot: 0, amount: 800 })).toBe(
      true,
    );
    await store.orders.create(order('o-000002'));
    expect(await store.orders.get('o-000002')).toMatchObject({ kind: 'item', vendedAmount: null });
    expect(await store.orders.get('c-000001')).toMatchObject({ kind: 'credit', slot: 0, vendedAmount: null });
    await store.orders.transition('c-000001', 'created', 'paid', 1_100, { transactionId: 'tx-c' });
    await store.orders.transition('c-000001', 'paid', 'dispensed', 1_200, { slot: 2, vendedAmount: 300 });
    await store.orders.transition('c-000001', 'dispensed', 'refund_requested', 1_300, { reason: 'rest' });
    expect(await store.orders.get('c-000001')).toMatchObject({
      kind: 'credit',
      state: 'refund_requested',
      slot: 2,
      vendedAmount: 300,
      amount: 800,
    });
  });

  it('keeps a cross-border payment and only an HMAC of the payer id, which retention clears', async () => {
    const { store } = await freshStore(backend);
    await store.orders.create(order('o-000002'));
    await store.orders.transition('o-000002', 'created', 'paid', 1_100, {
      transactionId: 'tx-2',
      payerAmount: 2_650,
      payerCurrency: 'CNY',
      exchangeRate: '7.5714',
      payerId: 'oUpF8uMuAJO_M2pxb1Q9zNjWeS6o',
      paidAt: 1_090,
    });
    const paid = await store.orders.get('o-000002');
    expect(paid).toMatchObject({
      payerAmount: 2_650,
      payerCurrency: 'CNY',
      exchangeRate: '7.5714',
      paidAt: 1_090,
    });
    expect(paid?.payerHash).toBe(store.hashPayerId('oUpF8uMuAJO_M2pxb1Q9zNjWeS6o'));
    expect(paid?.payerHash).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(paid)).not.toContain('oUpF8uMuAJO');
    await store.orders.transition('o-000002', 'paid', 'dispensed', 1_200);
    await store.events.insert({ ...event('gw1', 1), receivedAt: 1_000 });
    await store.events.insert({ ...event('gw1', 2), receivedAt: 9_000 });
    await store.notifications.record('wechat', 'tx-2', 'o-000002', 1_000);
    const purged = await store.purge(5_000);
    expect(purged).toEqual({ events: 1, notifications: 1, payerHashesCleared: 1 });
    expect((await store.orders.get('o-000002'))?.payerHash).toBeNull();
    expect(await store.events.count('gw1')).toBe(1);
  });

  it('dedupes provider notifications by provider and key', async () => {
    const { store } = await freshStore(backend);
    expect(await store.notifications.record('wechat', 'n-1', 'o-000003', 1)).toBe(true);
    expect(await store.notifications.record('wechat', 'n-1', 'o-000003', 2)).toBe(false);
    expect(await store.notifications.record('alipay', 'n-1', null, 2)).toBe(true);
    expect(await store.notifications.seen('wechat', 'n-1')).toBe(true);
    expect(await store.notifications.seen('wechat', 'n-2')).toBe(false);
  });

  it('records several notification keys in one statement and names the ones it had not seen', async () => {
    const { store } = await freshStore(backend);
    expect(await store.notifications.record('wechat', 'txn:1', 'o-000012', 1)).toBe(true);
    const fresh = await store.notifications.recordMany('wechat', ['txn:1', 'otn:o-000012'], 'o-000012', 2);
    expect([...fresh]).toEqual(['otn:o-000012']);
    expect(await store.notifications.recordMany('wechat', ['txn:1', 'otn:o-000012'], 'o-000012', 3)).toEqual(
      new Set(),
    );
    expect(await store.notifications.recordMany('wechat', [], null, 3)).toEqual(new Set());
    expect(await store.notifications.seen('wechat', 'otn:o-000012')).toBe(true);
  });

  it('keeps one refund per out_refund_no and per source event, and records each attempt once', async () => {
    const { store } = await freshStore(backend);
    const refund = {
      outRefundNo: 'r-o-000004',
      outTradeNo: 'o-000004',
      amount: 350,
      currency: 'CNY',
      reason: 'vend failed',
      sourceEventId: 'evt-1',
      nextAttemptAt: 100,
      createdAt: 50,
    };
    expect(await store.refunds.create(refund)).toBe(true);
    expect(await store.refunds.create({ ...refund, outRefundNo: 'r-other' })).toBe(false);
    expect(await store.refunds.due(99)).toEqual([]);
    expect((await store.refunds.due(100)).map((r) => r.outRefundNo)).toEqual(['r-o-000004']);
    const next = { state: 'pending' as const, nextAttemptAt: 200, outcome: 'provider timeout' };
    const both = await Promise.all([
      store.refunds.recordAttempt('r-o-000004', 'pending', 0, next, 110),
      store.refunds.recordAttempt('r-o-000004', 'pending', 0, next, 110),
    ]);
    expect(both.filter(Boolean)).toHaveLength(1);
    expect(
      await store.refunds.recordAttempt(
        'r-o-000004',
        'pending',
        1,
        { state: 'accepted', nextAttemptAt: 300, providerRefundId: 'wx-r-1' },
        210,
      ),
    ).toBe(true);
    expect(await store.refunds.get('r-o-000004')).toMatchObject({
      state: 'accepted',
      attempts: 2,
      nextAttemptAt: 300,
      providerRefundId: 'wx-r-1',
      outcome: 'provider timeout',
    });
    expect(await store.refunds.forOrder('o-000004')).toHaveLength(1);
  });

  it('records a command before it is published and marks it published once', async () => {
    const { store } = await freshStore(backend);
    const c = {
      commandId: 'cmd-00000001',
      gatewayId: 'gw1',
      type: 'order.paid',
      payload: '{"body":"{}"}',
      at: 5,
    };
    expect(await store.commands.record(c)).toBe(true);
    expect(await store.commands.record(c)).toBe(false);
    expect(await store.commands.transition('cmd-00000001', 'recorded', 'published', 9)).toBe(true);
    expect(await store.commands.transition('cmd-00000001', 'recorded', 'published', 9)).toBe(false);
    expect(await store.commands.list({ gatewayId: 'gw1' })).toEqual(
      [{ ...c, at: undefined, createdAt: 5, state: 'published', publishedAt: 9 }].map(
        ({ at: _, ...row }) => row,
      ),
    );
  });

  it('marks many recorded commands published in one statement, each once', async () => {
    const { store } = await freshStore(backend);
    const c = (n: number) => ({
      commandId: `cmd-0000010${n}`,
      gatewayId: 'gw1',
      type: 'order.paid',
      payload: '{"body":"{}"}',
      at: 5,
    });
    for (const n of [1, 2, 3]) await store.commands.record(c(n));
    expect(await store.commands.transition('cmd-00000103', 'recorded', 'failed', 6)).toBe(true);
    expect(await store.commands.markPublished(['cmd-00000101', 'cmd-00000102', 'cmd-00000103'], 9)).toBe(2);
    expect(await store.commands.markPublished(['cmd-00000101', 'cmd-00000102'], 10)).toBe(0);
    expect(await store.commands.markPublished([], 10)).toBe(0);
    const rows = await store.commands.list({ gatewayId: 'gw1' });
    expect(rows.map((r) => [r.commandId, r.state, r.publishedAt]).sort()).toEqual([
      ['cmd-00000101', 'published', 9],
      ['cmd-00000102', 'published', 9],
      ['cmd-00000103', 'failed', null],
    ]);
  });

  it('rolls a failed transaction back whole, and a failed savepoint back alone', async () => {
    const { store } = await freshStore(backend);
    await expect(
      store.tx(async (t) => {
        await t.events.insert(event('gw1', 1));
        throw new Error('handler broke');
      }),
    ).rejects.toThrow('handler broke');
    expect(await store.events.count()).toBe(0);
    await store.tx(async (t) => {
      await t.events.insert(event('gw1', 1));
      await t
        .savepoint(async (sp) => {
          await sp.events.insert(event('gw1', 2));
          throw new Error('only this part');
        })
        .catch(() => {});
      await t.events.insert(event('gw1', 3));
    });
    expect((await store.events.list('gw1')).map((e) => e.seq)).toEqual([1, 3]);
  });
});

describe('the platform store on postgres under a schema change', () => {
  it('keeps answering a statement after another replica adds a column under it, refusing at most one run', async () => {
    const postgresUrl = await pg!.createDatabase();
    const store = await openStore({ backend: 'postgres', postgresUrl, payerHashKey: KEY });
    cleanups.push(() => store.close());
    await store.orders.create(order('o-000021'));
    expect((await store.orders.get('o-000021'))?.state).toBe('created');
    // Another replica's migration, on a connection of its own.
    const other = new pgClient.Client({ connectionString: postgresUrl });
    await other.connect();
    await other.query('ALTER TABLE orders ADD COLUMN note TEXT');
    await other.end();
    const first = await store.orders.get('o-000021').catch((err: Error) => err);
    expect(first instanceof Error ? first.message : first?.state).toMatch(/cached plan|^created$/);
    expect((await store.orders.get('o-000021'))?.state).toBe('created');
  });
});

describe('opening the platform store', () => {
  it('refuses a payer hash key shorter than 16 bytes', async () => {
    const tmp = tempDir();
    cleanups.push(tmp.cleanup);
    await expectVendgateError(
      openStore({ backend: 'sqlite', sqlitePath: join(tmp.dir, 'x.db'), payerHashKey: Buffer.alloc(8) }),
      ErrorCode.ConfigInvalid,
    );
  });

  it('names PostgreSQL as unreachable when nothing listens', async () => {
    await expectVendgateError(
      openStore({
        backend: 'postgres',
        postgresUrl: 'postgres://postgres@127.0.0.1:1/none',
        payerHashKey: KEY,
      }),
      ErrorCode.StoreUnavailable,
    );
  });
});
