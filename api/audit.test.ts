import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import type { AuditRead, ReadTrigger } from '../gateway/audit/store.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { tempDir } from '../testing/tmp.ts';
import type { AuditApi } from './audit.ts';
import { buildApi } from './server.ts';

const GOOD: AuditRead = {
  readId: 7,
  machineId: 'm1',
  trigger: 'api',
  status: 'good',
  startedAt: 1_770_000_000_000,
  finishedAt: 1_770_000_002_000,
  problems: [],
  currency: 'CNY',
  totals: {
    paidVends: { count: 5, value: 1750 },
    cashSales: { count: 0, value: 0 },
    cashIn: 0,
    cashless: { count: 5, value: 1750 },
    selections: [{ selection: '1', count: 5, value: 1750 }],
  },
};

describe('the DEX audit routes', () => {
  const tmp = tempDir();
  let db: Db;
  let app: Awaited<ReturnType<typeof buildApi>>;
  const asked: Array<{ machineId: string; trigger: ReadTrigger }> = [];

  beforeAll(async () => {
    db = openStore({ path: join(tmp.dir, 'api.db') });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 100, telemetryTtlMs: 1000 });
    const ledger = new OrderLedger({ db, outbox, catalog: catalogFrom([]) });
    const audit: AuditApi = {
      latest: (f = {}) => (f.machineId === undefined || f.machineId === 'm1' ? [GOOD].slice(0, f.limit) : []),
      readNow: async (machineId, trigger) => {
        asked.push({ machineId, trigger });
        if (machineId === 'm1') return GOOD;
        if (machineId === 'm2')
          return {
            ...GOOD,
            readId: 8,
            machineId,
            status: 'failed',
            error: {
              code: ErrorCode.DexNoAnswer,
              reason: 'the machine did not answer the ENQ within 2000 ms',
            },
          };
        throw new VendgateError(
          ErrorCode.DexMachineUnknown,
          `no machine "${machineId}" with a DEX port is configured`,
        );
      },
    };
    app = await buildApi({ ledger, health: () => ({}) as never, audit });
  });
  afterAll(async () => {
    await app.close();
    db.close();
    tmp.cleanup();
  });

  it('lists the reads of a machine with their counters', async () => {
    const res = await app.inject('/api/audits?machineId=m1&limit=5');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ reads: [GOOD], count: 1 });
  });

  it('refuses a malformed machine id or limit, naming the field', async () => {
    const res = await app.inject('/api/audits?limit=0');
    expect(res.statusCode).toBe(400);
    expect(res.json().code).toBe(ErrorCode.HttpBadRequest);
    const bad = await app.inject({ method: 'POST', url: '/api/machines/m%20x/audit' });
    expect(bad.statusCode).toBe(400);
  });

  it('reads a machine on demand and answers the stored read', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/machines/m1/audit' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(GOOD);
    expect(asked.at(-1)).toEqual({ machineId: 'm1', trigger: 'api' });
  });

  it("answers a failed read with its catalogued error and the read's id", async () => {
    const res = await app.inject({ method: 'POST', url: '/api/machines/m2/audit' });
    expect(res.statusCode).toBe(504);
    expect(res.json()).toMatchObject({
      code: ErrorCode.DexNoAnswer,
      message: 'DEX read 8 failed: the machine did not answer the ENQ within 2000 ms',
    });
  });

  it('answers 404 for a machine without a DEX port', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/machines/m9/audit' });
    expect(res.statusCode).toBe(404);
    expect(res.json().code).toBe(ErrorCode.DexMachineUnknown);
  });
});
