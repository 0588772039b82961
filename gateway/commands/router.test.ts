import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CommandData } from '../../contract/commands.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { FakeMachine } from '../../testing/fake-machine.ts';
import { tempDir } from '../../testing/tmp.ts';
import { waitUntil } from '../../testing/wait.ts';
import { catalogFrom } from '../ledger/catalog.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import { VendRunner } from '../ledger/vend-runner.ts';
import type { AcceptedCommand, PlatformLinkEvents } from '../link/link.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { CommandRouter } from './router.ts';

const cleanups = cleanupsAfterEach();

class FakeLink extends EventEmitter<Pick<PlatformLinkEvents, 'command' | 'redelivered'>> {
  notified = 0;
  notify(): void {
    this.notified++;
  }
}

function rig(
  opts: { saturated?: boolean; cashlessOrders?: string[]; couponFails?: boolean; failOrder?: string } = {},
) {
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'router.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 1000, telemetryTtlMs: 60_000 });
  const ledger = new OrderLedger({
    db,
    outbox,
    catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
  });
  const machine = new FakeMachine('m1');
  const runner = new VendRunner({ ledger, machines: new Map([['m1', machine]]), log: silentLogger() });
  cleanups.push(() => runner.stop());
  const link = new FakeLink();
  const toCashless: string[] = [];
  const couponCommands: string[] = [];
  const router = new CommandRouter({
    link,
    coupons: {
      applyCommand: async (type) => {
        couponCommands.push(type);
        if (opts.couponFails) throw new Error('campaign store unavailable');
        return { ok: true } as never;
      },
    },
    cashless: {
      owns: (orderId) => (opts.cashlessOrders ?? []).includes(orderId),
      onPaid: (paid) => {
        toCashless.push(paid.orderId);
      },
    },
    ledger: {
      receivePaid: (paid) => {
        if (paid.orderId === opts.failOrder) throw new Error('ledger bug');
        return ledger.receivePaid(paid);
      },
      reportState: (orderId) => ledger.reportState(orderId),
    },
    runner,
    outbox: {
      get saturated() {
        return opts.saturated ?? false;
      },
    },
    log: silentLogger(),
  });
  return { db, ledger, machine, link, router, toCashless, couponCommands, outbox };
}

let n = 0;
function paidCommand(orderId: string): AcceptedCommand {
  const data: CommandData<'order.paid'> = {
    orderId,
    machineId: 'm1',
    slot: 1,
    price: { amount: 300, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: Date.now() + 60_000,
  };
  return {
    id: `cmd-${++n}-xxxx`,
    type: 'order.paid',
    issuedAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    data,
  };
}

function claimCommand(): AcceptedCommand {
  return {
    id: `cmd-${++n}-yyyy`,
    type: 'coupon.claim',
    issuedAt: Date.now(),
    expiresAt: Date.now() + 60_000,
    data: {
      userId: 'visitor-1',
      beaconId: 'ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:1',
      seenAt: Date.now(),
    },
  } as AcceptedCommand;
}

describe('the command router', () => {
  it('records a paid order in the ledger and has the runner dispense it', async () => {
    const { ledger, machine, link, router, db } = rig();
    router.start();
    db.transaction(() => link.emit('command', paidCommand('order-1')))();
    expect(ledger.get('order-1')).toBeDefined();
    await waitUntil(() => ledger.get('order-1')?.state === 'dispensed', { what: 'o-1 dispensed' });
    expect(machine.dispensedCount).toBe(1);
  });

  it('hands a paid order of an open select-then-pay session to the cashless flow, not the ledger', () => {
    const { ledger, link, router, toCashless } = rig({ cashlessOrders: ['order-2'] });
    router.start();
    link.emit('command', paidCommand('order-2'));
    expect(toCashless).toEqual(['order-2']);
    expect(ledger.get('order-2')).toBeUndefined();
  });

  it('defers a paid order while the outbox is full of undelivered money events, with a retry hint', () => {
    const { router } = rig({ saturated: true });
    expect(router.admit(paidCommand('order-3'))).toEqual({
      code: ErrorCode.OutboxFull,
      reason: expect.stringMatching(/outbox is full/),
      retryAfterMs: 5000,
    });
  });

  it('admits paid orders when the outbox has room, and select-then-pay payments and coupon commands always', () => {
    expect(rig().router.admit(paidCommand('order-3a'))).toBeUndefined();
    const full = rig({ saturated: true, cashlessOrders: ['order-3b'] });
    expect(full.router.admit(paidCommand('order-3b'))).toBeUndefined();
    expect(full.router.admit(claimCommand())).toBeUndefined();
  });

  it('takes a paid order it is handed even when the outbox filled meanwhile: its command is already recorded', () => {
    const { ledger, link, router } = rig({ saturated: true });
    router.start();
    link.emit('command', paidCommand('order-3c'));
    expect(ledger.get('order-3c')?.state).toBeDefined();
  });

  it('answers a redelivered paid order with its state and does not dispense it again', async () => {
    const { ledger, machine, link, router, db } = rig();
    router.start();
    const cmd = paidCommand('order-6');
    db.transaction(() => link.emit('command', cmd))();
    await waitUntil(() => ledger.get('order-6')?.state === 'dispensed', { what: 'o-6 dispensed' });
    db.transaction(() => link.emit('redelivered', cmd))();
    const states = db
      .prepare("SELECT envelope FROM outbox WHERE type = 'order.state'")
      .all()
      .map((r) => JSON.parse((r as { envelope: string }).envelope).data);
    expect(states).toEqual([{ orderId: 'order-6', state: 'dispensed', duplicate: true }]);
    expect(machine.dispensedCount).toBe(1);
  });

  it('takes a redelivered paid order that is not in the ledger rather than lose it', async () => {
    const { ledger, link, router, db } = rig();
    router.start();
    db.transaction(() => link.emit('redelivered', paidCommand('order-7')))();
    await waitUntil(() => ledger.get('order-7')?.state === 'dispensed', { what: 'o-7 dispensed' });
  });

  it('gives coupon commands to the coupon engine and wakes the link once they are decided', async () => {
    const { link, router, couponCommands } = rig();
    router.start();
    link.emit('command', claimCommand());
    expect(couponCommands).toEqual(['coupon.claim']);
    await waitUntil(() => link.notified === 1, { what: 'link notified' });
  });

  it('does not wake the link for a coupon command that failed', async () => {
    const { link, router, couponCommands } = rig({ couponFails: true });
    router.start();
    link.emit('command', claimCommand());
    await waitUntil(() => couponCommands.length === 1, { what: 'coupon command applied' });
    await new Promise((r) => setImmediate(r));
    expect(link.notified).toBe(0);
  });

  it('keeps taking commands after handling one failed', async () => {
    const { ledger, link, router, db } = rig({ failOrder: 'order-bad' });
    router.start();
    expect(() => link.emit('command', paidCommand('order-bad'))).not.toThrow();
    db.transaction(() => link.emit('command', paidCommand('order-4')))();
    await waitUntil(() => ledger.get('order-4')?.state === 'dispensed', { what: 'o-4 dispensed' });
  });

  it('stops listening to the link when stopped', () => {
    const { ledger, link, router } = rig();
    router.start();
    expect(link.listenerCount('command')).toBe(1);
    expect(link.listenerCount('redelivered')).toBe(1);
    router.stop();
    expect(link.listenerCount('command')).toBe(0);
    expect(link.listenerCount('redelivered')).toBe(0);
    link.emit('command', paidCommand('order-5'));
    expect(ledger.get('order-5')).toBeUndefined();
  });
});
