import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { catalogFrom } from './catalog.ts';
import { OrderLedger } from './ledger.ts';

const CNY = (amount: number) => ({ amount, currency: 'CNY' });

describe('the order ledger', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let outbox: Outbox;
  let ledger: OrderLedger;
  let now = 1_000_000;

  const open = () => {
    db = openStore({ path: join(tmp.dir, 'ledger.db') });
    outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000, now: () => now });
    ledger = new OrderLedger({
      db,
      outbox,
      now: () => now,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1, price: CNY(350) }, { slot: 2 }] }]),
    });
  };
  const paid = (orderId: string, over: Record<string, unknown> = {}) => ({
    orderId,
    machineId: 'm1',
    slot: 1,
    price: CNY(350),
    provider: 'wechat',
    expiresAt: now + 60_000,
    ...over,
  });
  const eventTypes = () => outbox.pendingAfter(0, 1000).map((r) => r.type);

  beforeEach(() => {
    tmp = tempDir();
    now = 1_000_000;
    open();
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  it('accepts a paid order once and answers duplicates with the existing state', () => {
    expect(ledger.receivePaid(paid('order-0001')).kind).toBe('accepted');
    const dup = ledger.receivePaid(paid('order-0001'));
    expect(dup.kind).toBe('duplicate');
    expect(dup.order.state).toBe('received');
    expect(eventTypes()).toEqual(['order.accepted', 'order.state']);
  });

  it('writes nothing for a duplicate but its order.state, even one that would now be refused', () => {
    expect(ledger.receivePaid(paid('order-dup')).kind).toBe('accepted');
    now += 120_000; // past the copy's expiry: a new order would be refunded
    const dup = ledger.receivePaid(paid('order-dup'));
    expect(dup).toMatchObject({ kind: 'duplicate', order: { state: 'received', createdAt: 1_000_000 } });
    const transitions = db.prepare('SELECT COUNT(*) AS n FROM order_transitions').get() as { n: number };
    expect(transitions.n).toBe(1);
    expect(eventTypes()).toEqual(['order.accepted', 'order.state']);
  });

  it('refunds a paid order for an unknown machine, an unknown slot, a wrong amount or past its expiry', () => {
    const cases = [
      [paid('order-m', { machineId: 'nope' }), ErrorCode.OrderUnknownMachine],
      [paid('order-s', { slot: 9 }), ErrorCode.OrderUnknownSlot],
      [paid('order-a', { price: CNY(1) }), ErrorCode.OrderAmountInvalid],
      [paid('order-e', { expiresAt: now - 1 }), ErrorCode.OrderExpired],
    ] as const;
    for (const [order, code] of cases) {
      const r = ledger.receivePaid(order);
      expect(r.kind).toBe('refused');
      expect(r.order.state).toBe('refund_requested');
      expect(r.order.outcomeCode).toBe(code);
    }
    expect(eventTypes()).toEqual([
      'refund.requested',
      'refund.requested',
      'refund.requested',
      'refund.requested',
    ]);
  });

  it('commits the dispense intent with a vend token that stays the same across attempts', () => {
    ledger.receivePaid(paid('order-0002'));
    const first = ledger.beginDispense('order-0002');
    const again = ledger.beginDispense('order-0002');
    expect(first.kind).toBe('dispense');
    expect(
      again.kind === 'dispense' && first.kind === 'dispense' && again.vendToken === first.vendToken,
    ).toBe(true);
    expect(ledger.get('order-0002')?.state).toBe('dispensing');
    expect(ledger.get('order-0002')?.attempts).toBe(2);
  });

  it('begins an order from the record receivePaid returned as it does from the store, and ignores a record of another order', () => {
    const a = ledger.receivePaid(paid('order-rec-a'));
    const b = ledger.receivePaid(paid('order-rec-b'));
    const fromRecord = ledger.beginDispense('order-rec-a', { boardEpoch: 7, recorded: a.order });
    const fromOther = ledger.beginDispense('order-rec-b', { boardEpoch: 7, recorded: a.order });
    expect(fromRecord.kind).toBe('dispense');
    expect(fromOther.kind).toBe('dispense');
    expect(ledger.get('order-rec-a')).toMatchObject({ state: 'dispensing', boardEpoch: 7, attempts: 1 });
    expect(ledger.get('order-rec-b')).toMatchObject({ state: 'dispensing', boardEpoch: 7, attempts: 1 });
    expect(fromOther.order.orderId).toBe(b.order.orderId);
    // From a record too, an order past its expiry is refunded, not dispensed.
    const c = ledger.receivePaid(paid('order-rec-c', { expiresAt: now + 1 }));
    now += 10;
    expect(ledger.beginDispense('order-rec-c', { recorded: c.order }).kind).toBe('settled');
    expect(ledger.get('order-rec-c')?.state).toBe('refund_requested');
  });

  it('gives every order its own vend token, and the tokens survive a reopen', () => {
    const tokens = new Set<number>();
    for (let i = 0; i < 50; i++) {
      ledger.receivePaid(paid(`order-t${i}`));
      const b = ledger.beginDispense(`order-t${i}`);
      if (b.kind === 'dispense') tokens.add(b.vendToken);
    }
    db.close();
    open();
    ledger.receivePaid(paid('order-after'));
    const b = ledger.beginDispense('order-after');
    if (b.kind === 'dispense') tokens.add(b.vendToken);
    expect(tokens.size).toBe(51);
  });

  it('refunds instead of dispensing when the order expired while it waited', () => {
    ledger.receivePaid(paid('order-0003'));
    now += 61_000;
    const b = ledger.beginDispense('order-0003');
    expect(b.kind).toBe('settled');
    expect(b.order.state).toBe('refund_requested');
    expect(b.order.outcomeCode).toBe(ErrorCode.OrderExpired);
  });

  it('records a dispense once even when the outcome is reported twice', () => {
    ledger.receivePaid(paid('order-0004'));
    const b = ledger.beginDispense('order-0004');
    if (b.kind !== 'dispense') throw new Error('expected dispense');
    ledger.recordOutcome('order-0004', { kind: 'dispensed', vendToken: b.vendToken, slot: 1 });
    ledger.recordOutcome('order-0004', { kind: 'failed', vendToken: b.vendToken, slot: 1, reason: 'jammed' });
    expect(ledger.get('order-0004')?.state).toBe('dispensed');
    expect(eventTypes()).toEqual(['order.accepted', 'vend.succeeded']);
  });

  it('turns a jam into one vend.failed and exactly one refund request', () => {
    ledger.receivePaid(paid('order-0005'));
    const b = ledger.beginDispense('order-0005');
    if (b.kind !== 'dispense') throw new Error('expected dispense');
    const failed = { kind: 'failed', vendToken: b.vendToken, slot: 1, reason: 'jammed' } as const;
    ledger.recordOutcome('order-0005', failed);
    ledger.recordOutcome('order-0005', failed);
    const o = ledger.get('order-0005');
    expect(o?.state).toBe('refund_requested');
    expect(o?.outcomeCode).toBe(ErrorCode.VendJammed);
    expect(eventTypes()).toEqual(['order.accepted', 'vend.failed', 'refund.requested']);
  });

  it('writes no event when the state change is rolled back', () => {
    ledger.receivePaid(paid('order-0006'));
    const before = eventTypes().length;
    expect(() =>
      db.transaction(() => {
        ledger.receivePaid(paid('order-0007'));
        throw new Error('crash inside the transaction');
      })(),
    ).toThrow();
    expect(ledger.get('order-0007')).toBeUndefined();
    expect(eventTypes().length).toBe(before);
  });

  it('reports an order whose outcome could not be learned for reconciliation', () => {
    ledger.receivePaid(paid('order-0008'));
    ledger.beginDispense('order-0008');
    const o = ledger.markUnresolved('order-0008', 'controller gone');
    expect(o.state).toBe('unresolved');
    expect(eventTypes()).toContain('order.unresolved');
  });
});
