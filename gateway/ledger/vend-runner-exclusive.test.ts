import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { catalogFrom } from './catalog.ts';
import { OrderLedger } from './ledger.ts';
import { VendRunner } from './vend-runner.ts';

describe('holding a machine for a management action', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let ledger: OrderLedger;
  let runner: VendRunner;
  let machine: FakeMachine;
  let n = 0;
  const pay = () => {
    const r = ledger.receivePaid({
      orderId: `order-${++n}`,
      machineId: 'm1',
      slot: 1,
      price: { amount: 300, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 60_000,
    });
    runner.submitPaid(r.order.orderId, 'm1');
    return r.order.orderId;
  };

  beforeEach(() => {
    tmp = tempDir();
    db = openStore({ path: join(tmp.dir, 'x.db') });
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
    ledger = new OrderLedger({
      db,
      outbox,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
    });
    machine = new FakeMachine('m1');
    runner = new VendRunner({
      ledger,
      machines: new Map([['m1', machine]]),
      log: silentLogger(),
      retryDelayMs: 5,
    });
  });
  afterEach(() => {
    runner.stop();
    db.close();
    tmp.cleanup();
  });

  it('queues an order that arrives while the machine is held and dispenses it once the action ends', async () => {
    let release!: () => void;
    let orderId = '';
    const held = runner.exclusive('m1', async () => {
      orderId = pay();
      await new Promise<void>((r) => {
        release = r;
      });
      // Still held: nothing was sent to the machine.
      expect(machine.dispenseCalls).toEqual([]);
      expect(ledger.get(orderId)?.state).toBe('received');
    });
    expect(runner.busy('m1')).toBe(true);
    await new Promise((r) => setImmediate(r));
    release();
    await held;
    await runner.idle();
    expect(ledger.get(orderId)?.state).toBe('dispensed');
    expect(machine.dispenseCalls).toHaveLength(1);
  });

  it('starts an action only after the vends queued before it', async () => {
    const first = pay();
    const second = pay();
    const states: string[] = [];
    await runner.exclusive('m1', () => {
      states.push(ledger.get(first)!.state, ledger.get(second)!.state);
    });
    expect(states).toEqual(['dispensed', 'dispensed']);
    expect(runner.busy('m1')).toBe(false);
  });

  it('gives up waiting, without running the action, when its signal aborts', async () => {
    machine.online = false;
    pay();
    const abort = new AbortController();
    let ran = false;
    const waiting = runner.exclusive(
      'm1',
      () => {
        ran = true;
      },
      abort.signal,
    );
    abort.abort();
    await expect(waiting).rejects.toThrow();
    expect(ran).toBe(false);
  });
});
