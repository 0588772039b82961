/**
 * Issue 8, clock jumps: the gateway's wall clock is set 5 minutes back
 * while its machine is offline with short-lived orders queued. The gateway
 * side (ledger on SQLite, vend runner, slot-board driver, ClockWatch) runs
 * on an injected clock whose wall time is offset like a box without an RTC;
 * the board is the simulator process on a socat pty, on the real clock.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Clock } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { SlotBoardDriver } from '../devices/vending/slot-board/driver.ts';
import { createPtyPair } from '../firmware-sim/pty.ts';
import { spawnSlotBoard } from '../firmware-sim/slot-board/spawn.ts';
import { ClockWatch } from '../gateway/clock/clock-watch.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { VendRunner } from '../gateway/ledger/vend-runner.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { openStore } from '../gateway/store/db.ts';
import { cleanupsAfterEach, tempDir, waitUntil } from '../testing/index.ts';

const cleanups = cleanupsAfterEach();

/** The real clocks, with the wall clock offset by hand (as a boot without an RTC or an NTP step does). */
class OffsetClock implements Clock {
  offsetMs = 0;
  wallMs(): number {
    return Date.now() + this.offsetMs;
  }
  monoMs(): number {
    return performance.now();
  }
}

describe('a gateway whose wall clock is set 5 minutes back while its machine is offline', {
  timeout: 120_000,
}, () => {
  it('dispenses no order after its expiry by real time, and says its clock is wrong', async () => {
    const tmp = tempDir('vendgate-clock-');
    cleanups.push(() => tmp.cleanup());
    const pty = await createPtyPair(tmp.dir);
    cleanups.push(() => pty.close());
    const clock = new OffsetClock();
    const db = openStore({ path: join(tmp.dir, 'gateway.db') });
    cleanups.push(() => db.close());
    const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10_000, telemetryTtlMs: 60_000 });
    const ledger = new OrderLedger({
      db,
      outbox,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }, { slot: 2 }] }]),
      now: () => clock.wallMs(),
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
      clock,
    });
    cleanups.push(() => runner.stop());
    const watch = new ClockWatch({ maxSkewMs: 30_000, clock });
    await driver.start(); // nothing on the other end of the pty yet: the machine is offline

    // Short-lived orders, signed by the platform (real time) a moment ago.
    const issuedAt = Date.now();
    watch.observe(issuedAt);
    expect(watch.status()).toMatchObject({ ok: true });
    const shortLived = Array.from({ length: 6 }, (_, i) => `order-clock-${i}`);
    for (const [i, orderId] of shortLived.entries()) {
      ledger.receivePaid({
        orderId,
        machineId: 'm1',
        slot: 1 + (i % 2),
        price: { amount: 100, currency: 'CNY' },
        provider: 'alipay',
        expiresAt: issuedAt + 1500,
      });
      runner.submit(orderId, 'm1');
    }
    const lastDeadline = performance.now() + 1500;

    // The box's wall clock is set 5 minutes back: by it, every order has 5 minutes left.
    clock.offsetMs = -5 * 60_000;
    const status = watch.status();
    expect(status.ok).toBe(false);
    expect(status.skewMs).toBeLessThan(-290_000);
    expect(status.message).toMatch(/behind the platform's/);

    // The machine comes back only after the orders expired by real time.
    await waitUntil(() => performance.now() > lastDeadline + 200, {
      what: 'the orders expired by real time',
      timeoutMs: 10_000,
    });
    const logPath = join(tmp.dir, 'vends.jsonl');
    const board = await spawnSlotBoard({ port: pty.devicePath, logPath, config: { motorMs: 0 } });
    cleanups.push(() => board.stop());
    if (!driver.online) await once(driver, 'online');

    // An order with time left is still dispensed after the jump.
    ledger.receivePaid({
      orderId: 'order-clock-long',
      machineId: 'm1',
      slot: 1,
      price: { amount: 100, currency: 'CNY' },
      provider: 'alipay',
      expiresAt: clock.wallMs() + 60_000,
    });
    runner.submit('order-clock-long', 'm1');
    await runner.idle();

    for (const orderId of shortLived) {
      expect(ledger.get(orderId)).toMatchObject({
        state: 'refund_requested',
        outcomeCode: ErrorCode.OrderExpired,
      });
    }
    expect(ledger.get('order-clock-long')?.state).toBe('dispensed');
    const vendLog = board.readLog();
    expect(vendLog.map((r) => r.outcome)).toEqual(['dispensed']);
    expect(vendLog[0]?.vendToken).toBe(ledger.get('order-clock-long')?.vendToken);
  });
});
