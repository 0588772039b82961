import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { tempDir } from '../../testing/tmp.ts';
import { catalogFrom } from '../ledger/catalog.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { SalesLedgerView } from './sales.ts';
import { SessionsView } from './sessions.ts';
import { localDate, recentDays } from './zoned-days.ts';

// 2026-03-10 00:00 in Asia/Shanghai is 2026-03-09 16:00 UTC.
const SHANGHAI_MIDNIGHT = Date.UTC(2026, 2, 9, 16);
const HOUR = 3_600_000;

describe('sales per local day', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let ledger: OrderLedger;
  let now = 0;
  let n = 0;

  beforeEach(() => {
    tmp = tempDir();
    db = openStore({ path: join(tmp.dir, 'sales.db') });
    const outbox = new Outbox(db, {
      gatewayId: 'gw1',
      maxRows: 10_000,
      telemetryTtlMs: 60_000,
      now: () => now,
    });
    ledger = new OrderLedger({
      db,
      outbox,
      now: () => now,
      catalog: catalogFrom([
        { machineId: 'm1', slots: [{ slot: 1 }, { slot: 2 }] },
        { machineId: 'm2', slots: [{ slot: 1 }] },
      ]),
    });
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  /** A paid order that ends, at `at`, dispensed (or refunded when the slot jams). */
  function sale(at: number, machineId: string, slot: number, amount: number, currency = 'CNY', jam = false) {
    now = at;
    const orderId = `order-${++n}`;
    ledger.receivePaid({
      orderId,
      machineId,
      slot,
      price: { amount, currency },
      provider: 'wechat',
      expiresAt: at + HOUR,
    });
    const begun = ledger.beginDispense(orderId);
    if (begun.kind !== 'dispense') throw new Error('not begun');
    ledger.recordOutcome(
      orderId,
      jam
        ? { kind: 'failed', vendToken: begun.vendToken, slot, reason: 'jammed' }
        : { kind: 'dispensed', vendToken: begun.vendToken, slot },
    );
  }

  const view = (timeZone: string) =>
    new SalesLedgerView({
      db,
      timeZone,
      now: () => SHANGHAI_MIDNIGHT + 10 * HOUR,
      productName: (m, s) => (m === 'm1' && s === 1 ? 'Cola 330 ml' : undefined),
    });

  it('splits sales at the local midnight of the site, not at UTC midnight', () => {
    sale(SHANGHAI_MIDNIGHT - HOUR / 2, 'm1', 1, 350); // 23:30 on the 9th in Shanghai, 15:30 UTC on the 9th
    sale(SHANGHAI_MIDNIGHT + HOUR / 2, 'm1', 1, 350); // 00:30 on the 10th in Shanghai, 16:30 UTC on the 9th
    const shanghai = view('Asia/Shanghai').report(2);
    expect(shanghai.timeZone).toBe('Asia/Shanghai');
    expect(shanghai.days.map((d) => [d.date, d.byMachine])).toEqual([
      ['2026-03-10', [{ machineId: 'm1', currency: 'CNY', count: 1, revenue: 350 }]],
      ['2026-03-09', [{ machineId: 'm1', currency: 'CNY', count: 1, revenue: 350 }]],
    ]);
    const utc = view('UTC').report(2);
    expect(utc.days.map((d) => [d.date, d.byMachine])).toEqual([
      ['2026-03-10', []],
      ['2026-03-09', [{ machineId: 'm1', currency: 'CNY', count: 2, revenue: 700 }]],
    ]);
  });

  it('totals per machine and per product, per currency, with the product name where configured', () => {
    const t = SHANGHAI_MIDNIGHT + HOUR;
    sale(t, 'm1', 1, 350);
    sale(t + 1, 'm1', 1, 300);
    sale(t + 2, 'm1', 2, 500);
    sale(t + 3, 'm2', 1, 200);
    sale(t + 4, 'm2', 1, 150, 'HKD');
    const [today] = view('Asia/Shanghai').report(1).days;
    expect(today?.byProduct).toEqual([
      { machineId: 'm1', slot: 1, product: 'Cola 330 ml', currency: 'CNY', count: 2, revenue: 650 },
      { machineId: 'm1', slot: 2, currency: 'CNY', count: 1, revenue: 500 },
      { machineId: 'm2', slot: 1, currency: 'CNY', count: 1, revenue: 200 },
      { machineId: 'm2', slot: 1, currency: 'HKD', count: 1, revenue: 150 },
    ]);
    expect(today?.byMachine).toEqual([
      { machineId: 'm1', currency: 'CNY', count: 3, revenue: 1150 },
      { machineId: 'm2', currency: 'CNY', count: 1, revenue: 200 },
      { machineId: 'm2', currency: 'HKD', count: 1, revenue: 150 },
    ]);
  });

  it('counts refunds on the day they were requested and never as sales', () => {
    sale(SHANGHAI_MIDNIGHT + HOUR, 'm1', 1, 350, 'CNY', true);
    sale(SHANGHAI_MIDNIGHT + 2 * HOUR, 'm1', 2, 500, 'CNY', true);
    sale(SHANGHAI_MIDNIGHT - 2 * HOUR, 'm1', 2, 400, 'CNY', true);
    const days = view('Asia/Shanghai').report(2).days;
    expect(days.map((d) => [d.date, d.refunds, d.byMachine.length])).toEqual([
      ['2026-03-10', [{ currency: 'CNY', count: 2, amount: 850 }], 0],
      ['2026-03-09', [{ currency: 'CNY', count: 1, amount: 400 }], 0],
    ]);
  });

  it('refuses a number of days outside 1..31', () => {
    for (const days of [0, 32, 1.5, Number.NaN]) expect(() => view('UTC').report(days)).toThrow(RangeError);
  });
});

describe('sales read through the sales index', () => {
  const order = fc.record({
    machineId: fc.constantFrom('m1', 'm2', 'm10', 'A', 'b'),
    slot: fc.integer({ min: 1, max: 3 }),
    currency: fc.constantFrom('CNY', 'HKD'),
    amount: fc.integer({ min: 0, max: 100_000 }),
    state: fc.constantFrom(
      'dispensed',
      'dispensed',
      'refund_requested',
      'received',
      'dispensing',
      'unresolved',
    ),
    // From 9 days before the report's now to a day after it.
    at: fc.integer({ min: -9 * 24 * HOUR, max: 24 * HOUR }),
  });

  it('answer what one GROUP BY per local day over the ledger answers, for any ledger', () => {
    const now = SHANGHAI_MIDNIGHT + 10 * HOUR;
    fc.assert(
      fc.property(
        fc.array(order, { maxLength: 80 }),
        fc.integer({ min: 1, max: 10 }),
        fc.constantFrom('Asia/Shanghai', 'UTC', 'America/New_York'),
        (orders, days, timeZone) => {
          const db = openStore({ path: ':memory:' });
          try {
            const insert = db.prepare(
              `INSERT INTO orders (order_id, flow, machine_id, slot, amount, currency, provider, expires_at, state, created_at, updated_at)
               VALUES (?, 'remote', ?, ?, ?, ?, 'wechat', ?, ?, ?, ?)`,
            );
            for (const [i, o] of orders.entries())
              insert.run(
                `o${i}`,
                o.machineId,
                o.slot,
                o.amount,
                o.currency,
                now + HOUR,
                o.state,
                now + o.at,
                now + o.at,
              );
            const report = new SalesLedgerView({ db, timeZone, now: () => now }).report(days);
            // The report's earlier shape: one GROUP BY over the table per day.
            const reference = db.prepare<[number, number], Record<string, string | number>>(
              `SELECT machine_id AS machineId, slot, currency, COUNT(*) AS count, SUM(amount) AS revenue FROM orders
               WHERE state = 'dispensed' AND updated_at >= ? AND updated_at < ?
               GROUP BY machine_id, slot, currency ORDER BY machine_id, slot, currency`,
            );
            expect(report.days.map((d) => d.byProduct)).toEqual(
              recentDays(now, days, timeZone).map((d) => reference.all(d.start, d.end)),
            );
          } finally {
            db.close();
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('local days', () => {
  const zones = fc.constantFrom(
    'Asia/Shanghai',
    'UTC',
    'Europe/Berlin',
    'America/New_York',
    'Australia/Lord_Howe',
  );

  it('tile time: each day starts where the next older one ends, and every instant of a day has its date', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }),
        fc.integer({ min: 1, max: 31 }),
        zones,
        (now, count, zone) => {
          const days = recentDays(now, count, zone);
          expect(days).toHaveLength(count);
          expect(days[0]!.start <= now && now < days[0]!.end).toBe(true);
          for (const [i, d] of days.entries()) {
            const hours = (d.end - d.start) / 3_600_000;
            expect(hours >= 23 && hours <= 25).toBe(true);
            expect(localDate(d.start, zone)).toBe(d.date);
            expect(localDate(d.end - 1, zone)).toBe(d.date);
            if (i > 0) expect(days[i - 1]!.start).toBe(d.end);
          }
        },
      ),
    );
  });
});

describe('select-then-pay sessions', () => {
  it('lists the latest sessions newest first, naming how each ended', () => {
    const tmp = tempDir();
    const db = openStore({ path: join(tmp.dir, 'sessions.db') });
    try {
      const insert = db.prepare(
        `INSERT INTO cashless_sessions (session_id, machine_id, item, amount, currency, deadline, state, outcome, created_at, updated_at)
         VALUES (?, 'c1', 2, 320, 'CNY', 0, ?, ?, ?, ?)`,
      );
      insert.run('s1', 'closed', 'dispensed', 1000, 1500);
      insert.run('s2', 'closed', 'closed', 2000, 2600);
      insert.run('s3', 'awaiting', null, 3000, 3100);
      const sessions = new SessionsView(db).latest(50);
      expect(sessions).toEqual([
        {
          sessionId: 's3',
          machineId: 'c1',
          item: 2,
          price: { amount: 320, currency: 'CNY' },
          state: 'awaiting',
          startedAt: 3000,
          outcome: 'open',
        },
        expect.objectContaining({ sessionId: 's2', endedAt: 2600, outcome: 'not-paid' }),
        expect.objectContaining({ sessionId: 's1', endedAt: 1500, outcome: 'dispensed' }),
      ]);
      expect(new SessionsView(db).latest(1).map((s) => s.sessionId)).toEqual(['s3']);
      expect(() => new SessionsView(db).latest(501)).toThrow(RangeError);
    } finally {
      db.close();
      tmp.cleanup();
    }
  });
});
