import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, errorCodeName, errorSpec, VendgateError } from '../core/errors.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { tempDir } from '../testing/tmp.ts';
import type { Health } from './schemas.ts';
import { buildApi } from './server.ts';

describe('the operator HTTP API', () => {
  const tmp = tempDir();
  let db: Db;
  let app: Awaited<ReturnType<typeof buildApi>>;
  let online = true;

  beforeAll(async () => {
    db = openStore({ path: join(tmp.dir, 'api.db') });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 100, telemetryTtlMs: 1000 });
    const ledger = new OrderLedger({
      db,
      outbox,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
    });
    const base = { machineId: 'm1', slot: 1, price: { amount: 450, currency: 'CNY' }, provider: 'wechat' };
    ledger.receivePaid({ ...base, orderId: 'order-a1', expiresAt: Date.now() + 60_000 });
    ledger.receivePaid({ ...base, orderId: 'order-a2', expiresAt: Date.now() - 1 });
    const health = (): Health => ({
      status: online ? 'ok' : 'degraded',
      gatewayId: 'gw1',
      version: '0.0.0',
      uptimeSeconds: 1,
      platform: { connected: online, brokerUrl: 'mqtt://127.0.0.1:1883' },
      machines: [{ machineId: 'm1', online }],
      outbox: { ...outbox.stats() },
      orders: ledger.countByState(),
    });
    app = await buildApi({ ledger, health });
  });
  afterAll(async () => {
    await app.close();
    db.close();
    tmp.cleanup();
  });

  it('lists orders and filters them by state', async () => {
    const all = await app.inject('/api/orders');
    expect(all.statusCode).toBe(200);
    expect(all.json().count).toBe(2);
    const refunded = await app.inject('/api/orders?state=refund_requested');
    expect(refunded.json().orders.map((o: { orderId: string }) => o.orderId)).toEqual(['order-a2']);
  });

  it('returns one order by id with its money as integer minor units', async () => {
    const res = await app.inject('/api/orders/order-a1');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      orderId: 'order-a1',
      state: 'received',
      price: { amount: 450, currency: 'CNY' },
    });
  });

  it('answers an unknown order with a catalogued 404', async () => {
    const res = await app.inject('/api/orders/order-nope');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: 5007, name: 'OrderNotFound' });
  });

  it('refuses a bad filter with a 400 that says what was wrong', async () => {
    const res = await app.inject('/api/orders?state=teleported');
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe(9001);
    expect(res.json().message).toMatch(/state/);
  });

  it('reports health as 503 when degraded', async () => {
    expect((await app.inject('/health')).statusCode).toBe(200);
    online = false;
    const res = await app.inject('/health');
    expect(res.statusCode).toBe(503);
    expect(res.json().platform.connected).toBe(false);
    online = true;
  });

  it('exposes Prometheus metrics and an OpenAPI document covering every route', async () => {
    const metrics = await app.inject('/metrics');
    expect(metrics.body).toContain('vendgate_orders{state="received"} 1');
    const doc = (await app.inject('/openapi.json')).json();
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/health', '/api/orders', '/api/orders/{id}', '/metrics']),
    );
  });
});

describe('the operator HTTP API error answers', () => {
  let failure: Error = new Error('unset');
  let app: Awaited<ReturnType<typeof buildApi>>;
  let db: Db;

  beforeAll(async () => {
    db = openStore({ path: ':memory:' });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10, telemetryTtlMs: 1000 });
    const ledger = new OrderLedger({ db, outbox, catalog: catalogFrom([]) });
    app = await buildApi({
      ledger,
      health: () => {
        throw failure;
      },
    });
  });
  afterAll(async () => {
    await app.close();
    db.close();
  });

  it('answers a catalogued error with the HTTP status its catalogue entry gives', async () => {
    for (const code of [ErrorCode.OutboxFull, ErrorCode.StoreOpenFailed, ErrorCode.RequestTimeout]) {
      failure = new VendgateError(code, `failed with ${code}`);
      const res = await app.inject('/health');
      expect(res.statusCode).toBe(errorSpec(code)?.status);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.json()).toEqual({ code, name: errorCodeName(code), message: `failed with ${code}` });
    }
  });

  it('answers an unexpected fault as HttpInternal without echoing its message', async () => {
    failure = new Error('token=s3cr3t');
    const res = await app.inject('/health');
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({
      code: ErrorCode.HttpInternal,
      name: 'HttpInternal',
      message: 'internal error',
    });
    expect(res.body).not.toContain('s3cr3t');
  });

  it('answers an unknown route as a catalogued 404', async () => {
    const res = await app.inject({ method: 'DELETE', url: '/api/orders' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ code: ErrorCode.HttpNotFound, name: 'HttpNotFound' });
  });
});
