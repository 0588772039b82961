import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import type { DispenseRequest, VendOutcome, VendQueryResult } from '../../devices/vending/port.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { catalogFrom } from './catalog.ts';
import { OrderLedger } from './ledger.ts';
import { VendRunner } from './vend-runner.ts';

/**
 * A controller with a boot identity, like a VSB board (docs/protocols/slot-board.md
 * section 6.1): `powerCut()` restarts it under a new epoch with its token memory lost.
 */
class BootingMachine extends FakeMachine {
  bootEpoch: number | undefined = 0x1001;
  /** What the next dispense() does after dispensing: throw as if the result was lost, acknowledged or not. */
  loseResult: 'acknowledged' | 'unacknowledged' | null = null;
  /** Power-cut the board right after the next physical dispense. */
  cutAfterDispense = false;

  powerCut(): void {
    this.outcomes.clear();
    this.bootEpoch = (this.bootEpoch ?? 0) + 1;
  }

  override async dispense(req: DispenseRequest): Promise<VendOutcome> {
    const lose = this.loseResult;
    this.loseResult = null;
    const sentEpoch = this.bootEpoch;
    const outcome = await super.dispense(req);
    if (this.cutAfterDispense) {
      this.cutAfterDispense = false;
      this.powerCut();
    }
    if (lose) {
      throw new VendgateError(ErrorCode.DeviceOffline, 'result lost', {
        vendToken: req.vendToken,
        sent: true,
        acknowledged: lose === 'acknowledged',
        ...(lose === 'acknowledged' ? { ackEpoch: sentEpoch } : {}),
      });
    }
    return outcome;
  }

  override async queryVend(vendToken: number): Promise<VendQueryResult> {
    const q = await super.queryVend(vendToken);
    return q.kind === 'never-seen' && this.bootEpoch !== undefined ? { ...q, bootEpoch: this.bootEpoch } : q;
  }
}

describe('the vend runner', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let ledger: OrderLedger;
  let machine: FakeMachine;
  let runner: VendRunner;

  const build = (opts: { groupCommit?: boolean; clock?: ManualClock } = {}) => {
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
      ...(opts.clock ? { clock: opts.clock } : {}),
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

  it('does not read back an order whose outcome it has just recorded', async () => {
    const reads: string[] = [];
    let recorded = false;
    const get = ledger.get.bind(ledger);
    const record = ledger.recordOutcome.bind(ledger);
    vi.spyOn(ledger, 'get').mockImplementation((id) => {
      if (recorded) reads.push(id);
      return get(id);
    });
    vi.spyOn(ledger, 'recordOutcome').mockImplementation((id, outcome) => {
      const after = record(id, outcome);
      recorded = true;
      return after;
    });
    order('order-r001b');
    await runner.idle();
    expect(ledger.get('order-r001b')?.state).toBe('dispensed');
    expect(reads).toEqual(['order-r001b']); // the test's own read above
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

  describe('with a controller that reports a boot identity', () => {
    let board: BootingMachine;
    beforeEach(() => {
      runner.stop();
      db.close();
      board = new BootingMachine('m1');
      machine = board;
      build();
    });

    it('keeps the controller boot epoch with the vend intent', async () => {
      order('order-e001');
      await runner.idle();
      expect(ledger.get('order-e001')).toMatchObject({ state: 'dispensed', boardEpoch: 0x1001 });
    });

    it('reports for reconciliation, never resends, when an acknowledged token is later "never seen"', async () => {
      board.loseResult = 'acknowledged';
      board.cutAfterDispense = true;
      order('order-e002');
      await runner.idle();
      expect(ledger.get('order-e002')?.state).toBe('unresolved');
      expect(ledger.get('order-e002')?.outcomeNote).toMatch(/acknowledged vend token .* lost its memory/);
      expect(board.dispenseCalls).toHaveLength(1);
      expect(board.dispensedCount).toBe(1);
    });

    it('reports for reconciliation when the controller restarted while the vend was in flight', async () => {
      board.loseResult = 'unacknowledged';
      board.cutAfterDispense = true;
      order('order-e003');
      await runner.idle();
      expect(ledger.get('order-e003')?.state).toBe('unresolved');
      expect(ledger.get('order-e003')?.outcomeNote).toMatch(
        /boot identity changed.*epoch 4097 when the vend began, 4098 now/,
      );
      expect(board.dispensedCount).toBe(1);
    });

    it('sends the token again when the same boot of the controller never received it', async () => {
      board.script = ['lose-request'];
      order('order-e004');
      await runner.idle();
      expect(ledger.get('order-e004')?.state).toBe('dispensed');
      expect(board.dispenseCalls).toHaveLength(2);
      expect(board.dispensedCount).toBe(1);
    });

    it('after a gateway restart, reports an order whose controller has since lost its memory', async () => {
      ledger.receivePaid(paid('order-e005'));
      const b = ledger.beginDispense('order-e005', { boardEpoch: board.bootEpoch });
      if (b.kind !== 'dispense') throw new Error('expected dispense');
      // The board dispensed; then gateway and board both lost power, and the board its memory.
      board.outcomes.set(b.vendToken, { kind: 'dispensed', vendToken: b.vendToken, slot: 1 });
      board.powerCut();
      runner.stop();
      db.close();
      build();
      runner.recover();
      await runner.idle();
      expect(ledger.get('order-e005')?.state).toBe('unresolved');
      expect(board.dispenseCalls).toHaveLength(0);
    });
  });

  describe('with the wall clock set back', () => {
    it('refunds an order that expired by the monotonic clock, although the wall clock says it has time', async () => {
      const clock = new ManualClock(Date.now());
      runner.stop();
      db.close();
      build({ clock });
      machine.setOnline(false);
      order('order-c001', 30_000);
      clock.advance(31_000); // the order's life is over...
      clock.setWall(clock.wallMs() - 5 * 60_000); // ...but the wall clock was set 5 minutes back
      machine.setOnline(true);
      await runner.idle();
      expect(ledger.get('order-c001')).toMatchObject({
        state: 'refund_requested',
        outcomeCode: ErrorCode.OrderExpired,
      });
      expect(machine.dispenseCalls).toHaveLength(0);
    });

    it('recomputes a recovered order deadline from its stored wall deadline', async () => {
      const clock = new ManualClock(Date.now());
      runner.stop();
      db.close();
      build({ clock });
      machine.setOnline(false);
      ledger.receivePaid(paid('order-c002'));
      runner.stop();
      db.close();
      build({ clock });
      runner.recover();
      clock.advance(61_000);
      clock.setWall(clock.wallMs() - 5 * 60_000);
      machine.setOnline(true);
      await runner.idle();
      expect(ledger.get('order-c002')?.state).toBe('refund_requested');
      expect(machine.dispenseCalls).toHaveLength(0);
    });
  });
});
