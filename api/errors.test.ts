import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorSpec } from '../core/errors.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { buildApi } from './server.ts';

describe('the API error answers', () => {
  let db: Db;
  let app: Awaited<ReturnType<typeof buildApi>>;
  beforeAll(async () => {
    db = openStore({ path: ':memory:' });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10, telemetryTtlMs: 1000 });
    const ledger = new OrderLedger({ db, outbox, catalog: catalogFrom([]) });
    app = await buildApi({
      ledger,
      health: () => {
        throw new Error('not under test');
      },
    });
  });
  afterAll(async () => {
    await app.close();
    db.close();
  });

  it('are, for any path and query, the catalogue body of a code whose entry has the answered status', async () => {
    const segment = fc.oneof(
      fc.constantFrom('api', 'orders', 'display', 'm1', 'qr.svg', 'events', '%E0%A4%A', '%2F..', 'metrics'),
      fc.string({ maxLength: 12 }).map(encodeURIComponent),
    );
    const query = fc.dictionary(
      fc.constantFrom('limit', 'state', 'machineId', 'token', 'x'),
      fc.oneof(
        fc.constantFrom('Infinity', '-1', '0', '1e400', 'NaN', '5', 'paid', ''),
        fc.string({ maxLength: 8 }),
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(segment, { maxLength: 4 }),
        query,
        fc.constantFrom('GET', 'POST', 'DELETE'),
        async (segments, q, method) => {
          const search = new URLSearchParams(q).toString();
          const url = `/${segments.join('/')}${search ? `?${search}` : ''}`;
          const res = await app.inject({ method: method as 'GET', url });
          if (res.statusCode < 400) return;
          const body = res.json() as { code: number; name: string; message: string };
          expect(Object.keys(body).sort()).toEqual(['code', 'message', 'name']);
          expect(errorSpec(body.code)?.name).toBe(body.name);
          expect(res.statusCode).toBe(errorSpec(body.code)?.status);
        },
      ),
      { numRuns: 200 },
    );
  });
});
