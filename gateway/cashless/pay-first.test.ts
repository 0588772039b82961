import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandData } from '../../contract/commands.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import type { DisplayScreen, PaymentDisplay } from '../../devices/display/port.ts';
import type {
  CashlessReader,
  CashlessReaderEvents,
  CashlessSessionInfo,
} from '../../devices/vending/mdb/port.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { PayFirstFlow } from './pay-first.ts';

const cleanups = cleanupsAfterEach();

/** A reader that records what the flow asked of it; the test plays the machine by emitting its events. */
class FakeReader extends EventEmitter<CashlessReaderEvents> implements CashlessReader {
  readonly machineId = 'c1';
  readonly online = true;
  session: CashlessSessionInfo | null = null;
  readonly calls: string[] = [];
  approveError: Error | undefined;
  async start() {}
  async stop() {}
  async enable() {}
  async disable() {}
  async beginSession(sessionId: string, funds: number) {
    this.calls.push(`begin ${sessionId} ${funds}`);
  }
  async endSession(sessionId: string) {
    this.calls.push(`end ${sessionId}`);
  }
  async approve(sessionId: string, amount: number) {
    this.calls.push(`approve ${sessionId} ${amount}`);
    if (this.approveError) throw this.approveError;
  }
  async deny(sessionId: string) {
    this.calls.push(`deny ${sessionId}`);
  }
}

function rig(existingDb?: string) {
  const tmp = tempDir();
  const path = existingDb ?? join(tmp.dir, 'pf.db');
  const db = openStore({ path });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
  const reader = new FakeReader();
  const shown: DisplayScreen[] = [];
  const display: PaymentDisplay = {
    show: async (_id, s) => {
      shown.push(s);
    },
    setLocale: async () => {},
    localeOf: () => 'en',
  };
  const flow = new PayFirstFlow({
    db,
    outbox,
    link: { notify: () => {} },
    display,
    machines: new Map([
      [
        'c1',
        { reader, displayId: 'c1', itemNames: new Map([[2, 'Water']]), currency: 'CNY', idleMs: 60_000 },
      ],
    ]),
    log: silentLogger(),
  });
  cleanups.push(() => {
    flow.stop();
    db.close();
    if (!existingDb) tmp.cleanup();
  });
  const events = () =>
    outbox.pendingAfter(0, 1000).map((r) => {
      const e = JSON.parse(r.envelope) as { type: string; data: Record<string, unknown> };
      return { type: e.type, data: e.data };
    });
  return { db, path, flow, reader, shown, events, close: () => db.close() };
}

const credit = (orderId: string, amount = 500): CommandData<'credit.paid'> => ({
  orderId,
  machineId: 'c1',
  credit: { amount, currency: 'CNY' },
  provider: 'wechat',
  expiresAt: Date.now() + 3600_000,
});
const request = (sessionId: string, item: number, price: number) => ({
  sessionId,
  machineId: 'c1',
  item,
  price: { amount: price, currency: 'CNY' },
  receivedAt: Date.now(),
  deadline: Date.now() + 10_000,
  credit: { amount: 500, currency: 'CNY' },
});

describe('PayFirstFlow', () => {
  it('records a credit, then begins one session with exactly its funds', async () => {
    const { flow, reader, events, shown } = rig();
    flow.onCredit(credit('order-1'));
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    expect(reader.calls).toEqual(['begin pf-order-1 500']);
    expect(events().map((e) => e.type)).toEqual(['credit.accepted']);
    expect(shown.at(-1)).toEqual({ kind: 'choose-on-machine', credit: { amount: 500, currency: 'CNY' } });
  });

  it('answers a second copy of a credit with its state and begins no second session', async () => {
    const { flow, reader, events } = rig();
    flow.onCredit(credit('order-1'));
    flow.onCredit(credit('order-1'));
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    expect(events().map((e) => e.type)).toEqual(['credit.accepted', 'order.state']);
    expect(events()[1]!.data).toEqual({ orderId: 'order-1', state: 'received', duplicate: true });
    expect(flow.reportState('order-1')).toBe(true);
    expect(flow.reportState('nope')).toBe(false);
  });

  it('refunds at once a credit for a busy machine, an unknown machine, another currency, or one expired', async () => {
    const { flow, reader, events } = rig();
    flow.onCredit(credit('order-1'));
    flow.onCredit(credit('order-2'));
    flow.onCredit({ ...credit('order-3'), machineId: 'm9' });
    flow.onCredit({ ...credit('order-4'), credit: { amount: 500, currency: 'EUR' } });
    flow.onCredit({ ...credit('order-5'), expiresAt: Date.now() - 1 });
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'one session' });
    const refunds = events().filter((e) => e.type === 'refund.requested');
    expect(refunds.map((e) => [e.data.orderId, e.data.code])).toEqual([
      ['order-2', ErrorCode.PayFirstNotStarted],
      ['order-3', ErrorCode.PayFirstCreditInvalid],
      ['order-4', ErrorCode.PayFirstCreditInvalid],
      ['order-5', ErrorCode.OrderExpired],
    ]);
    for (const r of refunds) expect(r.data.refund).toMatchObject({ amount: 500 });
  });

  it('denies a vend request above the credit and approves one within it, after recording the intent', async () => {
    const { flow, reader, events, db } = rig();
    flow.onCredit(credit('order-1'));
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    reader.emit('vend-request', request('pf-order-1', 7, 800));
    expect(reader.calls.at(-1)).toBe('deny pf-order-1');
    reader.emit('vend-request', request('pf-order-1', 2, 300));
    expect(reader.calls.at(-1)).toBe('approve pf-order-1 300');
    expect(db.prepare('SELECT state, item, approved FROM credit_sessions').get()).toEqual({
      state: 'approved',
      item: 2,
      approved: 300,
    });
    reader.emit('vend-result', {
      sessionId: 'pf-order-1',
      machineId: 'c1',
      item: 2,
      ok: true,
      amount: { amount: 300, currency: 'CNY' },
    });
    const tail = events().slice(1);
    expect(tail).toEqual([
      {
        type: 'vend.succeeded',
        data: { orderId: 'order-1', machineId: 'c1', slot: 2, price: { amount: 300, currency: 'CNY' } },
      },
      {
        type: 'refund.requested',
        data: expect.objectContaining({
          orderId: 'order-1',
          refund: { amount: 200, currency: 'CNY' },
          code: ErrorCode.PayFirstCreditUnspent,
        }),
      },
    ]);
    // A late second result changes nothing.
    reader.emit('vend-result', {
      sessionId: 'pf-order-1',
      machineId: 'c1',
      item: 2,
      ok: true,
      amount: { amount: 300, currency: 'CNY' },
    });
    expect(events()).toHaveLength(3);
  });

  it('goes back to waiting for a choice when the adapter refuses the approval', async () => {
    const { flow, reader, db } = rig();
    flow.onCredit(credit('order-1'));
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    reader.approveError = new VendgateError(ErrorCode.CashlessCommandRefused, 'NACK');
    reader.emit('vend-request', request('pf-order-1', 2, 300));
    await waitUntil(() => reader.calls.at(-1) === 'deny pf-order-1', {
      timeoutMs: 2000,
      what: 'request denied',
    });
    expect(db.prepare('SELECT state, item FROM credit_sessions').get()).toEqual({
      state: 'started',
      item: null,
    });
  });

  it('refunds the whole credit when the session ends without a vend, and a failed vend too', async () => {
    const { flow, reader, events } = rig();
    flow.onCredit(credit('order-1'));
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    reader.emit('session-cancelled', {
      sessionId: 'pf-order-1',
      machineId: 'c1',
      item: 0,
      reason: 'timeout',
    });
    flow.onCredit(credit('order-2'));
    await waitUntil(() => reader.calls.length === 2, { timeoutMs: 2000, what: 'second session' });
    reader.emit('vend-request', request('pf-order-2', 2, 300));
    reader.emit('vend-result', {
      sessionId: 'pf-order-2',
      machineId: 'c1',
      item: 2,
      ok: false,
      reason: 'vend-failed',
      amount: { amount: 300, currency: 'CNY' },
    });
    const refunds = events().filter((e) => e.type === 'refund.requested');
    expect(refunds.map((e) => [e.data.orderId, (e.data.refund as { amount: number }).amount])).toEqual([
      ['order-1', 500],
      ['order-2', 500],
    ]);
    expect(events().filter((e) => e.type === 'vend.failed')).toHaveLength(1);
  });

  it('reports an approved vend with no result for reconciliation, not as a refund', async () => {
    const { flow, reader, events } = rig();
    flow.onCredit(credit('order-1'));
    await waitUntil(() => reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    reader.emit('vend-request', request('pf-order-1', 2, 300));
    reader.emit('vend-result', {
      sessionId: 'pf-order-1',
      machineId: 'c1',
      item: 2,
      ok: false,
      reason: 'link-lost',
      amount: { amount: 300, currency: 'CNY' },
    });
    expect(events().map((e) => e.type)).toEqual(['credit.accepted', 'order.unresolved']);
  });

  it('after a restart refunds credits never approved and never approves an approved one again', async () => {
    const first = rig();
    first.flow.onCredit(credit('order-1'));
    await waitUntil(() => first.reader.calls.length === 1, { timeoutMs: 2000, what: 'session begun' });
    first.reader.emit('vend-request', request('pf-order-1', 2, 300));
    // A second machine state: a credit recorded but not begun (the process died in between).
    first.db
      .prepare(
        `INSERT INTO credit_sessions (order_id, session_id, machine_id, credit, currency, provider, expires_at, state, created_at, updated_at)
         VALUES ('order-2', 'pf-order-2', 'c2', 400, 'CNY', 'wechat', ?, 'received', 1, 1)`,
      )
      .run(Date.now() + 60_000);
    first.flow.stop();
    first.close();
    const again = rig(first.path);
    expect(again.flow.recover()).toEqual({ refunded: 1, unresolved: 1 });
    expect(again.reader.calls).toEqual([]);
    const evs = again.events().filter((e) => e.type !== 'credit.accepted');
    expect(evs.map((e) => [e.type, e.data.orderId])).toEqual([
      ['order.unresolved', 'order-1'],
      ['refund.requested', 'order-2'],
    ]);
    expect(again.flow.recover()).toEqual({ refunded: 0, unresolved: 0 });
  });
});
