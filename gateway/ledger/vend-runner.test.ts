import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { catalogFrom } from './catalog.ts';
import { OrderLedger } from './ledger.ts';
import { VendRunner } from './vend-runner.ts';

describe('the vend runner', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let ledger: OrderLedger;
  let machine: FakeMachine;
  let runner: VendRunner;

  const build = (opts: { groupCommit?: boolean } = {}) => {
    db = openStore({ path: join(tmp.dir, 'runner.db') });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
    ledger = new OrderLedger({
      db,
      outbox,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
    });
    runner = new VendRunner({
      ledger,
      machines: new Map([['m1', machine]]),
      log: silentLogger(),
      retryDelayMs: 5,
      resolveTimeoutMs: 500,
      ...(opts.groupCommit ? { commits: new GroupCommit(db) } : {}),
    });
  };
  const paid = (orderId: string) => ({
    orderId,
    machineId: 'm1',
    slot: 1,
    price: { amount: 300, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: Date.now() + 60_000,
  });
  const order = (orderId: string, expiresIn = 60_000) => {
    ledger.receivePaid({
      orderId,
      machineId: 'm1',
      slot: 1,
      price: { amount: 300, currency: 'CNY' },
      provider: 'alipay',
      expiresAt: Date.now() + expiresIn,
    });
    runner.submit(orderId, 'm1');
  };

  beforeEach(() => {
    tmp = tempDir();
    machine = new FakeMachine('m1');
    build();
  });
  afterEach(() => {
    runner.stop();
    db.close();
    tmp.cleanup();
  });

  it('dispenses a paid order and records it as dispensed', async () => {
    order('order-r001');
    await runner.idle();
    expect(ledger.get('order-r001')?.state).toBe('dispensed');
    expect(machine.dispensedCount).toBe(1);
  });

  it('resolves a lost answer by asking the controller instead of dispensing again', async () => {
    machine.script = ['lose-answer'];
    order('order-r002');
    await runner.idle();
    expect(ledger.get('order-r002')?.state).toBe('dispensed');
    expect(machine.dispensedCount).toBe(1);
    expect(machine.dispenseCalls.length).toBe(1);
  });

  it('sends the same vend token again only after the controller says it never saw it', async () => {
    machine.script = ['lose-request'];
    order('order-r003');
    await runner.idle();
    expect(ledger.get('order-r003')?.state).toBe('dispensed');
    expect(machine.dispenseCalls.map((c) => c.vendToken)).toEqual([
      machine.dispenseCalls[0]?.vendToken,
      machine.dispenseCalls[0]?.vendToken,
    ]);
    expect(machine.dispensedCount).toBe(1);
  });

  it('waits for an offline machine and dispenses once it returns', async () => {
    machine.setOnline(false);
    order('order-r004');
    setTimeout(() => machine.setOnline(true), 20);
    await runner.idle();
    expect(ledger.get('order-r004')?.state).toBe('dispensed');
  });

  it('refunds an order whose machine stayed offline past the expiry', async () => {
    machine.setOnline(false);
    order('order-r005', 30);
    await runner.idle();
    expect(ledger.get('order-r005')?.state).toBe('refund_requested');
    expect(machine.dispenseCalls.length).toBe(0);
  });

  it('reports for reconciliation when the controller never answers the question', async () => {
    machine.script = ['lose-request'];
    machine.queryFails = 1_000_000;
    order('order-r006');
    await runner.idle();
    expect(ledger.get('order-r006')?.state).toBe('unresolved');
  });

  it('after a restart resolves an order found mid-vend by asking the controller', async () => {
    ledger.receivePaid({
      orderId: 'order-r007',
      machineId: 'm1',
      slot: 1,
      price: { amount: 300, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 60_000,
    });
    const b = ledger.beginDispense('order-r007');
    if (b.kind !== 'dispense') throw new Error('expected dispense');
    // The board dispensed, then the gateway crashed before recording it.
    machine.outcomes.set(b.vendToken, { kind: 'dispensed', vendToken: b.vendToken, slot: 1 });
    machine.dispensedCount = 1;
    runner.stop();
    db.close();
    build();
    expect(runner.recover()).toEqual({ resolving: 1, queued: 0 });
    await runner.idle();
    expect(ledger.get('order-r007')?.state).toBe('dispensed');
    expect(machine.dispenseCalls.length).toBe(0);
  });

  it('writes the vend intent in the transaction that records the order when the machine is idle', async () => {
    db.transaction(() => {
      ledger.receivePaid(paid('order-r008'));
      runner.submitPaid('order-r008', 'm1');
      // Still inside the recording transaction: the intent is already there.
      expect(ledger.get('order-r008')?.state).toBe('dispensing');
      expect(machine.dispenseCalls.length).toBe(0);
    })();
    await runner.idle();
    expect(ledger.get('order-r008')?.state).toBe('dispensed');
    expect(machine.dispensedCount).toBe(1);
  });

  it('sends nothing for an order whose recording transaction rolled back', async () => {
    expect(() =>
      db.transaction(() => {
        ledger.receivePaid(paid('order-r009'));
        runner.submitPaid('order-r009', 'm1');
        throw new Error('the command transaction failed');
      })(),
    ).toThrow('the command transaction failed');
    await runner.idle();
    expect(ledger.get('order-r009')).toBeUndefined();
    expect(machine.dispenseCalls.length).toBe(0);
  });

  it('queues an order for a busy machine and begins it in its own commit later', async () => {
    machine.setOnline(false);
    db.transaction(() => {
      ledger.receivePaid(paid('order-r010'));
      runner.submitPaid('order-r010', 'm1');
    })();
    expect(ledger.get('order-r010')?.state).toBe('received');
    machine.setOnline(true);
    await runner.idle();
    expect(ledger.get('order-r010')?.state).toBe('dispensed');
  });

  it('with group commit, dispenses every queued order exactly once', async () => {
    runner.stop();
    db.close();
    build({ groupCommit: true });
    for (let i = 0; i < 20; i++) order(`order-g${i}`);
    await runner.idle();
    expect(ledger.countByState()).toEqual({ dispensed: 20 });
    expect(machine.dispensedCount).toBe(20);
  });
});
