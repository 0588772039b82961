import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import type { VendOutcome } from '../../devices/vending/port.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { catalogFrom } from './catalog.ts';
import { OrderLedger, type OrderRecord } from './ledger.ts';
import { VendRunner } from './vend-runner.ts';

/** A ledger whose next writes fail as SQLite fails them on a full disk. */
class FullDiskLedger extends OrderLedger {
  outcomeFailures = 0;
  outcomeCalls = 0;

  override recordOutcome(orderId: string, outcome: VendOutcome): OrderRecord {
    this.outcomeCalls++;
    if (this.outcomeFailures > 0) {
      this.outcomeFailures--;
      throw new Database.SqliteError('database or disk is full', 'SQLITE_FULL');
    }
    return super.recordOutcome(orderId, outcome);
  }
}

describe('the vend runner on a store that cannot write', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let ledger: FullDiskLedger;
  let machine: FakeMachine;
  let runner: VendRunner;

  beforeEach(() => {
    tmp = tempDir();
    machine = new FakeMachine('m1');
    db = openStore({ path: join(tmp.dir, 'runner.db') });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
    ledger = new FullDiskLedger({
      db,
      outbox,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
    });
    runner = new VendRunner({
      ledger,
      machines: new Map([['m1', machine]]),
      log: silentLogger(),
      retryDelayMs: 2,
      resolveTimeoutMs: 60_000,
      commits: new GroupCommit(db),
    });
  });
  afterEach(() => {
    runner.stop();
    db.close();
    tmp.cleanup();
  });

  const place = (orderId: string) => {
    ledger.receivePaid({
      orderId,
      machineId: 'm1',
      slot: 1,
      price: { amount: 300, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 60_000,
    });
    runner.submit(orderId, 'm1');
  };

  it('keeps the outcome the controller reported and writes it once the store accepts writes again', async () => {
    ledger.outcomeFailures = 6;
    place('order-1');
    await waitUntil(() => ledger.outcomeCalls >= 3, { what: 'the outcome retried' });
    expect(ledger.get('order-1')?.state).toBe('dispensing');
    await runner.idle();
    expect(ledger.get('order-1')?.state).toBe('dispensed');
    expect(ledger.outcomeCalls).toBe(7);
    // Retried from memory: the controller was asked to dispense once and never again.
    expect(machine.dispenseCalls).toHaveLength(1);
    expect(machine.dispensedCount).toBe(1);
  });

  it('leaves the order dispensing on disk, for recovery, when stopped while the store is still full', async () => {
    ledger.outcomeFailures = Number.POSITIVE_INFINITY;
    place('order-2');
    await waitUntil(() => ledger.outcomeCalls >= 2, { what: 'the outcome retried' });
    runner.stop();
    await runner.idle();
    expect(ledger.get('order-2')?.state).toBe('dispensing');
    expect(machine.dispensedCount).toBe(1);
  });
});
