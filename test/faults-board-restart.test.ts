/**
 * Issue 7, a board that restarts mid-vend: the simulated board as its own
 * process on a socat pty, killed and restarted while orders are in flight,
 * its token memory (state file) deleted as after a power cut that lost it.
 * The gateway side is the real ledger (SQLite file), vend runner and
 * slot-board driver. docs/protocols/slot-board.md section 6.1.
 */
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { SlotBoardDriver } from '../devices/vending/slot-board/driver.ts';
import { createPtyPair } from '../firmware-sim/pty.ts';
import { SlotBoardSim } from '../firmware-sim/slot-board/sim.ts';
import { type SlotBoardProcess, spawnSlotBoard } from '../firmware-sim/slot-board/spawn.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { VendRunner } from '../gateway/ledger/vend-runner.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { openStore } from '../gateway/store/db.ts';
import {
  cleanupsAfterEach,
  createMemoryTransportPair,
  expectVendgateError,
  tempDir,
} from '../testing/index.ts';

const cleanups = cleanupsAfterEach();

describe('a slot board that restarts and loses its token memory', () => {
  it('fails the vend in flight with DeviceRestarted, answers "never seen" under its new epoch and refuses the old epoch', async () => {
    const { host, device } = createMemoryTransportPair();
    const first = new SlotBoardSim(device, { motorMs: 200, pollMs: 20, ackTimeoutMs: 20, bootEpoch: 0x1111 });
    const driver = new SlotBoardDriver({
      machineId: 'm1',
      url: host.url,
      transportFactory: () => host,
      ackTimeoutMs: 20,
      silenceTimeoutMs: 2000,
    });
    cleanups.push(() => driver.stop());
    await first.start();
    const online = once(driver, 'online');
    await driver.start();
    await online;
    expect(driver.bootEpoch).toBe(0x1111);

    const started = once(first, 'dispense-start');
    const vend = driver.dispense({ vendToken: 77, slot: 1 });
    const failed = expectVendgateError(vend, ErrorCode.DeviceRestarted);
    await started;
    // Power cut mid-motor: the board is gone, a new boot (no memory) takes the line.
    await first.stop();
    const restarted = once(driver, 'restarted');
    const second = new SlotBoardSim(device, { motorMs: 0, pollMs: 20, ackTimeoutMs: 20, bootEpoch: 0x2222 });
    cleanups.push(() => second.stop());
    await second.start();
    expect(await restarted).toEqual([0x1111, 0x2222]);
    const err = await failed;
    expect(err.context).toMatchObject({
      vendToken: 77,
      sent: true,
      acknowledged: true,
      ackEpoch: 0x1111,
      previousEpoch: 0x1111,
      bootEpoch: 0x2222,
    });
    expect(await driver.queryVend(77)).toEqual({ kind: 'never-seen', vendToken: 77, bootEpoch: 0x2222 });
    // The new boot dispenses for the new epoch only.
    expect(await driver.dispense({ vendToken: 78, slot: 1 })).toMatchObject({ kind: 'dispensed' });
    expect(second.vendState(77)).toBeUndefined();
  });
});

describe('a board process killed and restarted mid-vend on a pty, many orders in flight', {
  timeout: 120_000,
}, () => {
  it('dispenses no order twice and reports every order whose vend was in flight as unresolved', async () => {
    const tmp = tempDir('vendgate-board-restart-');
    cleanups.push(() => tmp.cleanup());
    const pty = await createPtyPair(tmp.dir);
    cleanups.push(() => pty.close());
    const logPath = join(tmp.dir, 'vends.jsonl');
    const statePath = join(tmp.dir, 'tokens.jsonl');
    const slots = [1, 2, 3].map((slot) => ({ slot, stock: 20, price: 150 }));
    const boards: SlotBoardProcess[] = [];
    const boot = async () => {
      const b = await spawnSlotBoard({
        port: pty.devicePath,
        logPath,
        statePath,
        config: { motorMs: 150, pollMs: 100, slots },
      });
      boards.push(b);
      cleanups.push(() => b.stop());
      return b;
    };

    const db = openStore({ path: join(tmp.dir, 'gateway.db') });
    cleanups.push(() => db.close());
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10_000, telemetryTtlMs: 60_000 });
    const ledger = new OrderLedger({
      db,
      outbox,
      catalog: catalogFrom([{ machineId: 'm1', slots: slots.map(({ slot }) => ({ slot })) }]),
    });
    const driver = new SlotBoardDriver({
      machineId: 'm1',
      url: pty.hostPath,
      silenceTimeoutMs: 800,
      reconnectInitialMs: 50,
      reconnectMaxMs: 400,
    });
    cleanups.push(() => driver.stop());
    const runner = new VendRunner({
      ledger,
      machines: new Map([['m1', driver]]),
      log: silentLogger(),
      retryDelayMs: 50,
      resolveTimeoutMs: 60_000,
    });
    cleanups.push(() => runner.stop());

    let board = await boot();
    const online = once(driver, 'online');
    await driver.start();
    await online;

    const orders = Array.from({ length: 14 }, (_, i) => `order-boot-${String(i).padStart(2, '0')}`);
    for (const [i, orderId] of orders.entries()) {
      ledger.receivePaid({
        orderId,
        machineId: 'm1',
        slot: 1 + (i % 3),
        price: { amount: 150, currency: 'CNY' },
        provider: 'wechat',
        expiresAt: Date.now() + 10 * 60_000,
      });
      runner.submit(orderId, 'm1');
    }

    // Round 1: the product of the third vend falls, then the power goes
    // before the result leaves; the board comes back without its memory.
    await board.waitForEvent((e) => e.event === 'vend', { includePast: true });
    await board.waitForEvent((e) => e.event === 'vend');
    board.fault({ fault: 'crash-after-vend' });
    const crashed = await board.waitForEvent('crash', { timeoutMs: 30_000 });
    await once(board.child, 'exit').catch(() => {});
    rmSync(statePath, { force: true });
    board = await boot();

    // Round 2: killed (SIGKILL) with the motor running.
    const start = await board.waitForEvent('dispense-start', { timeoutMs: 30_000 });
    board.child.kill('SIGKILL');
    await once(board.child, 'exit');
    rmSync(statePath, { force: true });
    board = await boot();

    await runner.idle();
    const log = board.readLog();
    const records = orders.map((id) => ledger.get(id)!);
    const tokenOf = new Map(records.map((o) => [o.vendToken, o.orderId]));

    // No token was dispensed twice by the board, whatever its boots.
    const dispensedTokens = log.filter((r) => r.outcome === 'dispensed').map((r) => r.vendToken);
    expect(new Set(dispensedTokens).size).toBe(dispensedTokens.length);
    // Every order the ledger calls dispensed left the board exactly once.
    for (const o of records.filter((r) => r.state === 'dispensed')) {
      expect(dispensedTokens.filter((t) => t === o.vendToken)).toHaveLength(1);
    }
    // The two vends in flight at the power cuts are unresolved, not resent.
    const unresolved = records.filter((o) => o.state === 'unresolved').map((o) => o.orderId);
    expect(unresolved.sort()).toEqual(
      [tokenOf.get(crashed.vendToken as number), tokenOf.get(start.vendToken as number)].sort(),
    );
    // Nothing else is left open or refunded.
    expect(records.filter((o) => o.state === 'dispensed')).toHaveLength(orders.length - 2);
    expect(dispensedTokens).toContain(crashed.vendToken);
    // And the platform is told, through the outbox.
    const reported = outbox
      .pendingAfter(0, 10_000)
      .filter((e) => e.type === 'order.unresolved')
      .map((e) => (JSON.parse(e.envelope) as { data: { orderId: string } }).data.orderId);
    expect(reported.sort()).toEqual(unresolved.sort());
  });
});
