import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import type { PaymentDisplay } from '../../devices/display/port.ts';
import { tempDir } from '../../testing/tmp.ts';
import { catalogFrom } from '../ledger/catalog.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { CashlessFlow, type CashlessMachine } from './flow.ts';

describe('which paid orders the select-then-pay flow takes as its own', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;

  const flow = (machines: ReadonlyMap<string, CashlessMachine> = new Map()) => {
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
    return new CashlessFlow({
      db,
      ledger: new OrderLedger({ db, outbox, catalog: catalogFrom([]) }),
      outbox,
      link: { connected: true, request: async () => ({}), notify: () => {} },
      // No machine of these flows ever shows anything.
      display: {} as PaymentDisplay,
      machines,
      log: silentLogger(),
    });
  };
  const sessionWithOrder = (orderId: string) =>
    db
      .prepare(
        `INSERT INTO cashless_sessions (session_id, machine_id, item, amount, currency, deadline, state, created_at, updated_at, order_id)
         VALUES ('s-1', 'c9', 2, 300, 'CNY', 0, 'closed', 0, 0, ?)`,
      )
      .run(orderId);

  beforeEach(() => {
    tmp = tempDir();
    db = openStore({ path: join(tmp.dir, 'flow.db') });
  });
  afterEach(() => {
    db.close();
    tmp.cleanup();
  });

  it('takes no order of a remote-vend machine while no session was ever given an order', () => {
    expect(flow().owns('order-1', 'm1')).toBe(false);
  });

  it('takes the order of a session recorded before a restart, even for a machine no longer configured', () => {
    sessionWithOrder('order-2');
    const restarted = flow();
    expect(restarted.owns('order-2', 'c9')).toBe(true);
    expect(restarted.owns('order-3', 'm1')).toBe(false);
  });
});
