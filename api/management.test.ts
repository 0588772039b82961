import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { Planogram } from '../gateway/catalogue/planogram.ts';
import { ConditionBoard } from '../gateway/conditions/conditions.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { VendRunner } from '../gateway/ledger/vend-runner.ts';
import { ManagementService } from '../gateway/management/service.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { StockKeeper } from '../gateway/stock/stock.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { FakeMachine } from '../testing/fake-machine.ts';
import { tempDir } from '../testing/tmp.ts';
import { buildApi } from './server.ts';

describe('the catalogue, stock and refill routes', () => {
  const tmp = tempDir();
  let db: Db;
  let app: Awaited<ReturnType<typeof buildApi>>;

  beforeAll(async () => {
    db = openStore({ path: join(tmp.dir, 'api.db') });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 100, telemetryTtlMs: 1000 });
    const catalogue = new Planogram({
      db,
      machines: [
        {
          machineId: 'm1',
          currency: 'CNY',
          slots: [
            { slot: 1, product: 'Cola', price: 350, capacity: 8 },
            { slot: 2, product: 'Tea' },
          ],
        },
      ],
    });
    const machines = new Map([['m1', new FakeMachine('m1')]]);
    const stock = new StockKeeper({
      db,
      catalogue,
      conditions: new ConditionBoard(systemClock),
      outbox,
      machines,
      log: silentLogger(),
    });
    const ledger = new OrderLedger({ db, outbox, catalog: catalogue });
    const runner = new VendRunner({ ledger, machines, log: silentLogger() });
    const service = new ManagementService({
      db,
      catalogue,
      stock,
      runner,
      machines,
      outbox,
      notify: () => {},
      log: silentLogger(),
    });
    app = await buildApi({
      ledger,
      health: () => {
        throw new Error('not used');
      },
      token: 'operator-token-0123456789',
      management: { catalogue, stock, service },
    });
  });
  afterAll(async () => {
    await app.close();
    db.close();
    tmp.cleanup();
  });

  const auth = { authorization: 'Bearer operator-token-0123456789' };

  it('answers the catalogue with each slot price, stock level, capacity, low mark and source', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/catalogue', headers: auth });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      machines: [
        {
          machineId: 'm1',
          slots: [
            {
              slot: 1,
              product: 'Cola',
              price: { amount: 350, currency: 'CNY' },
              enabled: true,
              level: null,
              capacity: 8,
              lowAt: 1,
              source: 'counted',
            },
            {
              slot: 2,
              product: 'Tea',
              price: null,
              enabled: true,
              level: null,
              capacity: null,
              lowAt: 2,
              source: 'counted',
            },
          ],
        },
      ],
    });
  });

  it('needs the operator token', async () => {
    const res = await app.inject({ method: 'GET', url: '/api/stock' });
    expect(res.statusCode).toBe(401);
  });

  it('records a refill to the capacity and shows it in the stock', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/api/machines/m1/refill',
      headers: auth,
      payload: { slot: 1 },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      machineId: 'm1',
      slots: [{ slot: 1, level: 8, capacity: 8, source: 'counted' }],
    });
    const stock = await app.inject({ method: 'GET', url: '/api/stock', headers: auth });
    expect(stock.json().machines[0].slots[0].level).toBe(8);
  });

  it('refuses a refill for more than the slot holds, an unknown slot or machine, and a malformed body', async () => {
    const refill = (url: string, payload: unknown) =>
      app.inject({ method: 'POST', url, headers: auth, payload: payload as Record<string, unknown> });
    const over = await refill('/api/machines/m1/refill', { slot: 1, level: 9 });
    expect(over.statusCode).toBe(422);
    expect(over.json()).toMatchObject({ code: ErrorCode.ManagementRefillInvalid });
    expect(over.json().message).toMatch(/holds at most 8/);
    expect((await refill('/api/machines/m1/refill', { slot: 7, level: 1 })).json().code).toBe(
      ErrorCode.ManagementSlotUnknown,
    );
    const unknown = await refill('/api/machines/m9/refill', { level: 1 });
    expect([unknown.statusCode, unknown.json().code]).toEqual([404, ErrorCode.ManagementMachineUnknown]);
    const bad = await refill('/api/machines/m1/refill', { slot: 1, level: 2.5 });
    expect(bad.statusCode).toBe(400);
    const stock = await app.inject({ method: 'GET', url: '/api/stock', headers: auth });
    expect(stock.json().machines[0].slots[0].level).toBe(8);
  });
});
