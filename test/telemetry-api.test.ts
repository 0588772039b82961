/**
 * The telemetry routes over the real views (SQLite ledger and sessions,
 * a ConditionBoard) through the API's own auth, validation and response
 * schemas, by fastify inject.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApi } from '../api/server.ts';
import { ManualClock } from '../core/clock.ts';
import { ConditionBoard } from '../gateway/conditions/conditions.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { SalesLedgerView } from '../gateway/telemetry/sales.ts';
import { SessionsView } from '../gateway/telemetry/sessions.ts';
import { tempDir } from '../testing/tmp.ts';

const TOKEN = 'telemetry-token-0123456789';

describe('the telemetry routes', () => {
  const tmp = tempDir();
  let db: Db;
  let app: Awaited<ReturnType<typeof buildApi>>;
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 4));

  beforeAll(async () => {
    db = openStore({ path: join(tmp.dir, 'api.db') });
    const order = db.prepare(
      `INSERT INTO orders (order_id, flow, machine_id, slot, amount, currency, provider, expires_at, state, created_at, updated_at)
       VALUES (?, 'remote', 'm1', 1, 350, 'CNY', 'wechat', 0, ?, ?, ?)`,
    );
    const at = clock.wallMs() - 3_600_000;
    order.run('order-1', 'dispensed', at, at);
    order.run('order-2', 'refund_requested', at, at);
    db.prepare(
      `INSERT INTO cashless_sessions (session_id, machine_id, item, amount, currency, deadline, state, outcome, created_at, updated_at)
       VALUES ('s1', 'c1', 4, 340, 'CNY', 0, 'closed', 'vend-failed', 10, 20)`,
    ).run();
    const board = new ConditionBoard(clock);
    board.raise({ kind: 'door_open', machineId: 'm1', severity: 'warning', detail: 'door open for 3 min' });
    const sales = new SalesLedgerView({
      db,
      timeZone: 'Asia/Shanghai',
      now: () => clock.wallMs(),
      productName: () => 'Cola 330 ml',
    });
    app = await buildApi({
      ledger: undefined as never, // the telemetry routes never read the order ledger object
      health: () => {
        throw new Error('not used');
      },
      token: TOKEN,
      telemetry: {
        sales,
        conditions: board,
        sessions: new SessionsView(db),
        machines: () => [
          { machineId: 'm1', driver: 'slot-board', online: true, doorOpen: true, lastSeenAt: 5 },
        ],
      },
    });
  });
  afterAll(async () => {
    await app.close();
    db.close();
    tmp.cleanup();
  });

  const get = (url: string) => app.inject({ url, headers: { authorization: `Bearer ${TOKEN}` } });

  it('needs the operator token like every other route', async () => {
    for (const url of ['/api/sales', '/api/conditions', '/api/sessions', '/api/machines']) {
      const res = await app.inject(url);
      expect(res.statusCode, url).toBe(401);
    }
  });

  it('answers sales per local day, today first, in the documented shape', async () => {
    const res = await get('/api/sales?days=2');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      timeZone: 'Asia/Shanghai',
      days: [
        {
          date: '2026-03-10',
          byMachine: [{ machineId: 'm1', currency: 'CNY', count: 1, revenue: 350 }],
          byProduct: [
            { machineId: 'm1', slot: 1, product: 'Cola 330 ml', currency: 'CNY', count: 1, revenue: 350 },
          ],
          refunds: [{ currency: 'CNY', count: 1, amount: 350 }],
        },
        { date: '2026-03-09', byMachine: [], byProduct: [], refunds: [] },
      ],
    });
    expect((await get('/api/sales')).json().days).toHaveLength(7);
  });

  it('refuses days outside 1-31 and unknown query fields with a catalogued 400 naming the field', async () => {
    for (const url of [
      '/api/sales?days=0',
      '/api/sales?days=32',
      '/api/sales?days=2.5',
      '/api/sales?dayz=2',
    ]) {
      const res = await get(url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json().name).toBe('HttpBadRequest');
    }
    expect((await get('/api/sessions?limit=501')).statusCode).toBe(400);
  });

  it('answers the conditions, the sessions and the machines in the documented shapes', async () => {
    expect((await get('/api/conditions')).json()).toEqual({
      active: [
        {
          key: 'door_open:m1:-',
          kind: 'door_open',
          machineId: 'm1',
          severity: 'warning',
          detail: 'door open for 3 min',
          since: clock.wallMs(),
          updatedAt: clock.wallMs(),
        },
      ],
      recent: [],
    });
    expect((await get('/api/sessions?limit=5')).json()).toEqual({
      sessions: [
        {
          sessionId: 's1',
          machineId: 'c1',
          item: 4,
          price: { amount: 340, currency: 'CNY' },
          state: 'closed',
          startedAt: 10,
          endedAt: 20,
          outcome: 'vend-failed',
        },
      ],
    });
    expect((await get('/api/machines')).json()).toEqual({
      machines: [{ machineId: 'm1', driver: 'slot-board', online: true, doorOpen: true, lastSeenAt: 5 }],
    });
  });

  it('describes every telemetry route in the OpenAPI document', async () => {
    const doc = (await get('/openapi.json')).json() as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/sales', '/api/conditions', '/api/sessions', '/api/machines']),
    );
  });
});
