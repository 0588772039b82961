import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/clock.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import type { DispenseRequest, VendOutcome } from '../../devices/vending/port.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { Planogram } from '../catalogue/planogram.ts';
import { ConditionBoard } from '../conditions/conditions.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import { VendRunner } from '../ledger/vend-runner.ts';
import { Outbox } from '../outbox/outbox.ts';
import { StockKeeper } from '../stock/stock.ts';
import { type Db, openStore } from '../store/db.ts';
import { ManagementService } from './service.ts';

/** A machine whose vends finish only when the test says (a vend in flight), with an optional board reset. */
class GatedMachine extends FakeMachine {
  gate: Promise<void> | undefined;
  open: (() => void) | undefined;
  resets = 0;
  resetFails = false;
  /** Vends asked for, counted before the gate. */
  asked = 0;
  hold(): void {
    this.gate = new Promise((r) => {
      this.open = r;
    });
  }
  override async dispense(req: DispenseRequest): Promise<VendOutcome> {
    this.asked++;
    if (this.gate) await this.gate;
    return super.dispense(req);
  }
}

const CNY = (amount: number) => ({ amount, currency: 'CNY' });

describe('the management service', () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Db;
  let outbox: Outbox;
  let machine: GatedMachine;
  let ledger: OrderLedger;
  let runner: VendRunner;
  let stock: StockKeeper;
  let catalogue: Planogram;
  let service: ManagementService;

  const build = (opts: { waitForIdleMs?: number; maxWaiting?: number; reset?: boolean } = {}) => {
    const conditions = new ConditionBoard(systemClock);
    catalogue = new Planogram({
      db,
      machines: [
        {
          machineId: 'm1',
          currency: 'CNY',
          slots: [
            { slot: 1, price: 300, capacity: 10 },
            { slot: 2, price: 500, capacity: 10 },
          ],
        },
      ],
    });
    const machines = new Map([['m1', machine]]);
    if (opts.reset) {
      Object.assign(machine, {
        reset: async () => {
          machine.resets++;
          if (machine.resetFails)
            throw new VendgateError(ErrorCode.DeviceTimeout, 'the board did not come back');
        },
      });
    }
    stock = new StockKeeper({ db, catalogue, conditions, outbox, machines, log: silentLogger() });
    ledger = new OrderLedger({
      db,
      outbox,
      catalog: catalogue,
      onOutcome: (order, outcome) => stock.countOutcome(order.machineId, outcome, 'vend'),
    });
    runner = new VendRunner({ ledger, machines, log: silentLogger(), retryDelayMs: 5 });
    service = new ManagementService({
      db,
      catalogue,
      stock,
      runner,
      machines,
      outbox,
      notify: () => {},
      log: silentLogger(),
      ...opts,
    });
  };
  const events = (type: string) =>
    outbox
      .pendingAfter(0, 1000)
      .filter((r) => r.type === type)
      .map((r) => (JSON.parse(r.envelope) as { data: Record<string, unknown> }).data);
  let n = 0;
  const pay = (slot: number, amount: number) => {
    const r = ledger.receivePaid({
      orderId: `order-${++n}`,
      machineId: 'm1',
      slot,
      price: CNY(amount),
      provider: 'wechat',
      expiresAt: Date.now() + 60_000,
    });
    if (r.kind === 'accepted') runner.submitPaid(r.order.orderId, 'm1');
    return r;
  };

  beforeEach(() => {
    tmp = tempDir();
    db = openStore({ path: join(tmp.dir, 'm.db') });
    outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
    machine = new GatedMachine('m1');
  });
  afterEach(() => {
    runner.stop();
    db.close();
    tmp.cleanup();
  });

  it('applies a price change at once on an idle machine, and the ledger takes only the new price', async () => {
    build();
    const r = await service.run(
      'catalogue.set',
      { machineId: 'm1', slots: [{ slot: 1, price: CNY(320) }] },
      {
        commandId: 'cmd-00000001',
      },
    );
    expect(r).toEqual({ kind: 'applied', waitedForVend: false });
    expect(events('catalogue.changed')[0]).toMatchObject({
      machineId: 'm1',
      commandId: 'cmd-00000001',
      by: 'platform',
    });
    expect(pay(1, 300)).toMatchObject({ kind: 'refused', code: ErrorCode.OrderAmountInvalid });
    expect(pay(1, 320).kind).toBe('accepted');
  });

  it('waits for the vend in flight, holds the machine while it applies, then dispenses what queued meanwhile', async () => {
    build();
    machine.hold();
    pay(2, 500);
    await waitUntil(() => machine.asked === 1, { what: 'the vend sent' });
    const change = service.run('catalogue.set', { machineId: 'm1', slots: [{ slot: 2, product: 'Oolong' }] });
    expect(events('catalogue.changed')).toEqual([]);
    machine.open?.();
    expect(await change).toEqual({ kind: 'applied', waitedForVend: true });
    expect(events('catalogue.changed')[0]).toMatchObject({ waitedForVend: true });
    await runner.idle();
    expect(machine.dispensedCount).toBe(1);
  });

  it('refuses a command whose machine stays busy past the wait bound, saying so, and changes nothing', async () => {
    build({ waitForIdleMs: 100 });
    machine.hold();
    pay(1, 300);
    await waitUntil(() => machine.asked === 1, { what: 'the vend sent' });
    const r = await service.run('catalogue.set', { machineId: 'm1', slots: [{ slot: 1, price: CNY(1) }] });
    expect(r).toMatchObject({ kind: 'refused', code: ErrorCode.ManagementBusy, waitedForVend: true });
    expect(events('management.refused')[0]).toMatchObject({
      code: ErrorCode.ManagementBusy,
      waitedForVend: true,
    });
    expect(catalogue.slot('m1', 1)?.price).toEqual(CNY(300));
    machine.open?.();
    await runner.idle();
  });

  it('refuses at once a command beyond the most that may wait for one machine', async () => {
    build({ maxWaiting: 1 });
    machine.hold();
    pay(1, 300);
    await waitUntil(() => machine.asked === 1, { what: 'the vend sent' });
    const waiting = service.run('stock.refill', { machineId: 'm1', slot: 1 });
    const r = await service.run('stock.refill', { machineId: 'm1', slot: 2 });
    expect(r).toMatchObject({ kind: 'refused', code: ErrorCode.ManagementBusy });
    machine.open?.();
    expect(await waiting).toMatchObject({ kind: 'applied' });
    await runner.idle();
  });

  it('refuses bad input before waiting for anything', async () => {
    build();
    machine.hold();
    pay(1, 300);
    await waitUntil(() => machine.asked === 1, { what: 'the vend sent' });
    const r = await service.run('stock.refill', { machineId: 'm1', slot: 1, level: 11 });
    expect(r).toMatchObject({
      kind: 'refused',
      code: ErrorCode.ManagementRefillInvalid,
      waitedForVend: true,
    });
    machine.open?.();
    await runner.idle();
  });

  it('runs a test vend with a fresh vend token and reports a failed one with the controller reason', async () => {
    build();
    const order = pay(1, 300);
    await runner.idle();
    machine.script = ['jam'];
    await service.run('machine.test_vend', { machineId: 'm1', slot: 2 }, { commandId: 'cmd-00000002' });
    const token = ledger.get(order.order.orderId)?.vendToken;
    expect(machine.dispenseCalls.at(-1)?.vendToken).not.toBe(token);
    expect(events('machine.test_vend')[0]).toMatchObject({
      commandId: 'cmd-00000002',
      outcome: 'failed',
      code: ErrorCode.ManagementDeviceFailed,
      reason: 'the controller reported jammed',
    });
  });

  it('refuses a board reset on a driver that cannot reset, naming why', async () => {
    build();
    const r = await service.run('machine.reset', { machineId: 'm1' });
    expect(r).toMatchObject({ kind: 'refused', code: ErrorCode.ManagementUnsupported });
    expect((r as { reason: string }).reason).toMatch(/cannot reset its board/);
  });

  it('resets a board that can, and reports a reset that failed', async () => {
    build({ reset: true });
    await service.run('machine.reset', { machineId: 'm1' }, { commandId: 'cmd-00000003' });
    machine.resetFails = true;
    await service.run('machine.reset', { machineId: 'm1' }, { commandId: 'cmd-00000004' });
    expect(machine.resets).toBe(2);
    expect(events('machine.reset')).toMatchObject([
      { commandId: 'cmd-00000003', outcome: 'done' },
      { commandId: 'cmd-00000004', outcome: 'failed', code: ErrorCode.DeviceTimeout },
    ]);
  });

  it("takes the operator's refill by the same rules as the command", async () => {
    build();
    expect(await service.refill('m1', undefined, undefined)).toEqual([
      { slot: 1, level: 10, capacity: 10, source: 'counted' },
      { slot: 2, level: 10, capacity: 10, source: 'counted' },
    ]);
    await expect(service.refill('m1', 1, 12)).rejects.toMatchObject({
      code: ErrorCode.ManagementRefillInvalid,
    });
    expect(stock.level('m1', 1)).toBe(10);
  });
});
