import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventData } from '../../contract/events.ts';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { tempDir } from '../../testing/tmp.ts';
import { type Db, openStore } from '../store/db.ts';
import { Outbox, type OutboxOptions } from './outbox.ts';

const cleanups = cleanupsAfterEach();

function store(): { path: string; open: () => Db } {
  const tmp = tempDir();
  const path = join(tmp.dir, 'vendgate.db');
  const dbs: Db[] = [];
  cleanups.push(() => {
    for (const d of dbs) if (d.open) d.close();
    tmp.cleanup();
  });
  return {
    path,
    open() {
      const db = openStore({ path });
      dbs.push(db);
      return db;
    },
  };
}

function outbox(db: Db, opts: Partial<OutboxOptions> = {}): Outbox {
  return new Outbox(db, { gatewayId: 'gw1', maxRows: 100, telemetryTtlMs: 60_000, ...opts });
}

const state = (n: number): EventData<'order.state'> => ({
  orderId: `order-${String(n).padStart(4, '0')}`,
  state: 'received',
  duplicate: false,
});
const machine = (online: boolean): EventData<'machine.status'> => ({ machineId: 'm1', online });

function parsed(row: { envelope: string }): { seq: number; type: string; data: Record<string, unknown> } {
  return JSON.parse(row.envelope);
}

describe('the outbox', () => {
  it('numbers events with a monotonic seq that survives reopening the store', () => {
    const s = store();
    const db1 = s.open();
    const o1 = outbox(db1);
    const seqs = [1, 2, 3].map((n) => db1.transaction(() => o1.append('order.state', state(n)))().seq);
    expect(seqs).toEqual([1, 2, 3]);
    o1.ack(3); // even with nothing left in the table, the counter does not restart
    db1.close();

    const db2 = s.open();
    const o2 = outbox(db2);
    expect(o2.stats()).toMatchObject({ pending: 0, lastSeq: 3 });
    const e = db2.transaction(() => o2.append('order.state', state(4)))();
    expect(e.seq).toBe(4);
    expect(e).toMatchObject({ gatewayId: 'gw1', type: 'order.state', data: state(4) });
    expect(o2.pendingAfter(0, 10).map((r) => r.seq)).toEqual([4]);
  });

  it("rolls an append back with the caller's transaction, leaving no row, no seq used and true counts", () => {
    const db = store().open();
    const o = outbox(db, { maxRows: 2 });
    expect(() =>
      db.transaction(() => {
        o.append('order.state', state(1));
        o.append('order.state', state(2));
        throw new Error('the state change failed');
      })(),
    ).toThrow('the state change failed');
    expect(o.stats()).toMatchObject({ pending: 0, critical: 0, lastSeq: 0 });
    expect(o.saturated).toBe(false);
    expect(o.pendingAfter(0, 10)).toEqual([]);
    expect(db.transaction(() => o.append('order.state', state(3)))().seq).toBe(1);
    // The bound sees the real count: one telemetry fits without a drop.
    expect(db.transaction(() => o.tryAppend('machine.status', machine(true)))()?.seq).toBe(2);
    expect(o.stats().dropped).toBe(0);
  });

  it('refuses data that does not match the event schema', async () => {
    const db = store().open();
    const o = outbox(db);
    await expectVendgateError(
      () => o.append('order.state', { orderId: 'x', state: 'lost', duplicate: false } as never),
      ErrorCode.PayloadInvalid,
    );
    expect(o.stats().pending).toBe(0);
  });

  it('drops the oldest telemetry at the bound and reports the dropped seqs in an outbox.dropped event', () => {
    const db = store().open();
    const o = outbox(db, { maxRows: 10 });
    for (let i = 0; i < 10; i++) o.append('machine.status', machine(i % 2 === 0));
    const e = o.append('machine.status', machine(true));
    const rows = o.pendingAfter(0, 100);
    const report = rows.find((r) => r.type === 'outbox.dropped');
    expect(report).toBeDefined();
    expect(parsed(report!).data).toEqual({
      cause: 'bound',
      count: 1,
      seqs: [1],
      totalDropped: 1,
      totalExpired: 0,
    });
    expect(parsed(report!).seq).toBe(11);
    expect(e.seq).toBe(12);
    expect(rows.map((r) => r.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(o.stats()).toMatchObject({ dropped: 1, pending: 11 });
  });

  it('never drops critical events, and refuses telemetry once critical events fill the bound', async () => {
    const db = store().open();
    const o = outbox(db, { maxRows: 5 });
    o.append('machine.status', machine(true));
    for (let n = 1; n <= 7; n++) o.append('order.state', state(n));
    expect(o.saturated).toBe(true);
    // The one telemetry row goes to make room; the report itself is critical.
    expect(o.tryAppend('machine.status', machine(false))?.seq).toBe(10);
    const types = o.pendingAfter(0, 100).map((r) => r.type);
    expect(types.filter((t) => t === 'order.state')).toHaveLength(7);
    expect(types).toContain('outbox.dropped');
    // Now only critical events and the new telemetry remain: telemetry still makes room for itself...
    expect(o.tryAppend('machine.status', machine(true))).not.toBeNull();
    // ...until none is left to drop: then a new one is counted as dropped and not queued.
    const critOnly = outbox(store().open(), { maxRows: 3 });
    for (let n = 1; n <= 3; n++) critOnly.append('order.state', state(n));
    expect(critOnly.tryAppend('machine.status', machine(true))).toBeNull();
    expect(critOnly.stats()).toMatchObject({ pending: 3, critical: 3, dropped: 1 });
    await expectVendgateError(() => critOnly.append('machine.status', machine(true)), ErrorCode.OutboxFull);
    expect(
      critOnly.append('refund.requested', {
        orderId: 'order-0001',
        refund: { amount: 100, currency: 'CNY' },
        code: ErrorCode.VendJammed,
        reason: 'jammed',
      }).seq,
    ).toBe(4);
  });

  it('expires telemetry past its TTL, keeps critical events, and reports the expired seqs', () => {
    let now = 1_000_000;
    const db = store().open();
    const o = outbox(db, { telemetryTtlMs: 1000, now: () => now });
    o.append('machine.status', machine(true));
    o.append('order.state', state(1));
    o.append('machine.status', machine(false));
    now += 999;
    expect(o.expire()).toBe(0);
    now += 1;
    expect(o.expire()).toBe(2);
    const rows = o.pendingAfter(0, 10);
    expect(rows.map((r) => r.type)).toEqual(['order.state', 'outbox.dropped']);
    expect(parsed(rows[1]!).data).toEqual({
      cause: 'expired',
      count: 2,
      seqs: [1, 3],
      totalDropped: 0,
      totalExpired: 2,
    });
    expect(o.stats()).toMatchObject({ expired: 2, pending: 2 });
    now += 10_000;
    expect(o.expire()).toBe(0);
  });

  it('removes rows up to the acknowledged seq, and only those', () => {
    const db = store().open();
    const o = outbox(db);
    for (let n = 1; n <= 5; n++) o.append('order.state', state(n));
    expect(o.ack(0)).toBe(0);
    expect(o.ack(3)).toBe(3);
    expect(o.pendingAfter(0, 10).map((r) => r.seq)).toEqual([4, 5]);
    expect(o.ack(3)).toBe(0);
    expect(o.ack(100)).toBe(2);
    expect(o.stats()).toMatchObject({ pending: 0, critical: 0, lastSeq: 5 });
  });

  it('never says no row can follow a seq while a committed row does, across rollbacks, acks and reopening', () => {
    const op = fc.oneof(
      fc.constant('commit' as const),
      fc.constant('rollback' as const),
      fc.constant('ack' as const),
      fc.constant('reopen' as const),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const s = store();
        let db = s.open();
        let o = outbox(db, { maxRows: 1000 });
        let n = 0;
        let rolledBack = false; // a rolled-back seq may be reported as possibly following
        for (const step of ops) {
          if (step === 'commit') db.transaction(() => o.append('order.state', state(++n)))();
          if (step === 'rollback') {
            rolledBack = true;
            try {
              db.transaction(() => {
                o.append('order.state', state(++n));
                throw new Error('rolled back');
              })();
            } catch {}
          }
          if (step === 'ack') o.ack(o.stats().lastSeq);
          if (step === 'reopen') {
            db.close();
            db = s.open();
            o = outbox(db, { maxRows: 1000 });
            rolledBack = false;
          }
          const last = o.stats().lastSeq;
          for (let seq = 0; seq <= last + 1; seq++) {
            if (o.pendingAfter(seq, 1).length > 0) expect(o.mayHaveAfter(seq)).toBe(true);
          }
          if (!rolledBack) expect(o.mayHaveAfter(last)).toBe(false);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('pages pending rows after a seq, in seq order', () => {
    const db = store().open();
    const o = outbox(db);
    for (let n = 1; n <= 5; n++) o.append('order.state', state(n));
    expect(o.pendingAfter(2, 2).map((r) => r.seq)).toEqual([3, 4]);
    const rows = o.pendingAfter(2, 10);
    expect(rows.map((r) => [r.seq, r.type])).toEqual([
      [3, 'order.state'],
      [4, 'order.state'],
      [5, 'order.state'],
    ]);
    expect(parsed(rows[0]!)).toMatchObject({ seq: 3, type: 'order.state', data: state(3) });
  });
});
