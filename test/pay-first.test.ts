import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { waitUntil } from '../testing/wait.ts';
import { useRig } from './support/rig.ts';

/**
 * Pay first, then choose, on real transports: the MDB machine and adapter
 * simulator in its own process on a socat pty, the gateway as the machine's
 * cashless device beginning authorization-first sessions (`C,START`) with
 * the credit the platform signed in a `credit.paid` command over the broker.
 */
const ITEMS = [
  { item: 2, price: 300 },
  { item: 7, price: 800 },
];
const payFirstMachine = {
  cashlessMode: 'pay-first' as const,
  creditIdleSec: 5,
  mdb: { scaleFactor: 1, decimalPlaces: 2, maxResponseTimeSec: 10 },
  display: { locale: 'en' as const, staticQrUrl: 'https://pay.example.com/m/c1', name: 'Lobby' },
  slots: [
    { slot: 2, name: 'Water' },
    { slot: 7, name: 'Sandwich' },
  ],
};

let orderNo = 0;
const nextOrderId = () => `pf-${process.pid}-${++orderNo}`;
const credit = (orderId: string, amount: number) => ({
  orderId,
  machineId: 'c1',
  credit: { amount, currency: 'CNY' },
  provider: 'wechat',
  expiresAt: Date.now() + 3600_000,
});

describe('pay first, then choose, through an MDB cashless adapter', () => {
  const h = useRig({ mdbMachines: [{ vendMs: 50, items: ITEMS, machine: payFirstMachine }] });
  const events = (type: string, orderId: string) =>
    h.platform.eventsOfType(type).filter((e) => (e.data as { orderId: string }).orderId === orderId);
  const screen = () => h.gw.displays.current('c1')?.screen;
  const sim = () => h.mdb[0]!;
  const sessionBegun = (after: number) =>
    waitUntil(() => sim().events.filter((e) => e.event === 'session-begun').length > after, {
      timeoutMs: 25_000,
      what: 'session with funds begun on the machine',
    });
  const begunCount = () => sim().events.filter((e) => e.event === 'session-begun').length;
  const ready = () =>
    sim().waitForEvent((e) => e.event === 'status' && e.state === 'ENABLED', {
      includePast: true,
      timeoutMs: 25_000,
    });

  it('says on the idle screen to scan, pay, then choose on the machine, and takes no selection unpaid', async () => {
    await ready();
    await waitUntil(() => screen()?.kind === 'idle', { timeoutMs: 25_000, what: 'idle screen' });
    expect(screen()).toMatchObject({ kind: 'idle', cashless: 'pay-first' });
    sim().select(2);
    const ignored = await sim().waitForEvent('select-ignored', { timeoutMs: 25_000 });
    expect(String(ignored.reason)).toMatch(/pay first/);
  });

  it('begins a session with the credit, approves the choice, and reports it dispensed', async () => {
    await ready();
    const orderId = nextOrderId();
    const before = begunCount();
    await h.platform.sendCommand('credit.paid', credit(orderId, 300));
    await sessionBegun(before);
    expect(
      sim()
        .events.filter((e) => e.event === 'session-begun')
        .at(-1),
    ).toMatchObject({ funds: 300 });
    await waitUntil(() => screen()?.kind === 'choose-on-machine', {
      timeoutMs: 25_000,
      what: 'choose screen',
    });
    expect(screen()).toMatchObject({ credit: { amount: 300, currency: 'CNY' } });
    const success = sim().waitForEvent('vend-success', { timeoutMs: 25_000 });
    sim().select(2);
    await success;
    await waitUntil(() => events('vend.succeeded', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'vend.succeeded',
    });
    expect(events('credit.accepted', orderId)).toHaveLength(1);
    expect(events('vend.succeeded', orderId)[0]!.data).toMatchObject({
      machineId: 'c1',
      slot: 2,
      price: { amount: 300, currency: 'CNY' },
    });
    await waitUntil(() => screen()?.kind === 'done', { timeoutMs: 25_000, what: 'done screen' });
    expect(events('refund.requested', orderId)).toHaveLength(0);
  });

  it('denies a choice dearer than the credit, vends a cheaper one, and refunds the rest exactly', async () => {
    await ready();
    const orderId = nextOrderId();
    const before = begunCount();
    await h.platform.sendCommand('credit.paid', credit(orderId, 500));
    await sessionBegun(before);
    const denied = sim().waitForEvent((e) => e.event === 'denied' && e.item === 7, { timeoutMs: 25_000 });
    sim().select(7);
    await denied;
    await waitUntil(() => screen()?.kind === 'choose-on-machine' && 'denied' in screen()!, {
      timeoutMs: 25_000,
      what: 'above-credit notice',
    });
    const success = sim().waitForEvent((e) => e.event === 'vend-success' && e.item === 2, {
      timeoutMs: 25_000,
    });
    sim().select(2);
    await success;
    await waitUntil(() => events('refund.requested', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'refund',
    });
    expect(events('vend.succeeded', orderId)[0]!.data).toMatchObject({ slot: 2, price: { amount: 300 } });
    expect(events('refund.requested', orderId)[0]!.data).toMatchObject({
      refund: { amount: 200, currency: 'CNY' },
      code: ErrorCode.PayFirstCreditUnspent,
    });
    // The machine approved once, for the cheaper item only.
    const approved = sim().events.filter((e) => e.event === 'approved');
    expect(approved.at(-1)).toMatchObject({ item: 2, amount: '300' });
    expect(approved.filter((e) => e.item === 7)).toHaveLength(0);
  });

  it('refunds the whole credit when the customer cancels on the machine', async () => {
    await ready();
    const orderId = nextOrderId();
    const before = begunCount();
    await h.platform.sendCommand('credit.paid', credit(orderId, 500));
    await sessionBegun(before);
    sim().process!.command({ cmd: 'cancel' });
    await waitUntil(() => events('refund.requested', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'refund',
    });
    expect(events('refund.requested', orderId)[0]!.data).toMatchObject({
      refund: { amount: 500, currency: 'CNY' },
      code: ErrorCode.PayFirstSessionEnded,
    });
    expect(events('vend.succeeded', orderId)).toHaveLength(0);
  });

  it('refunds the whole credit when nobody chooses before the session times out', async () => {
    await ready();
    const orderId = nextOrderId();
    const before = begunCount();
    await h.platform.sendCommand('credit.paid', credit(orderId, 500));
    await sessionBegun(before);
    // creditIdleSec is 5: the gateway ends the session with C,STOP.
    await waitUntil(() => events('refund.requested', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'refund',
    });
    expect(events('refund.requested', orderId)[0]!.data).toMatchObject({ refund: { amount: 500 } });
    expect(String((events('refund.requested', orderId)[0]!.data as { reason: string }).reason)).toMatch(
      /timed out/,
    );
    await sim().waitForEvent((e) => e.event === 'session-ended' && e.reason === 'host', {
      includePast: true,
      timeoutMs: 25_000,
    });
  });

  it('begins one session for a credit sent twice, and answers the copy with its state', async () => {
    await ready();
    const orderId = nextOrderId();
    const before = begunCount();
    await h.platform.sendCommand('credit.paid', credit(orderId, 300));
    await h.platform.sendCommand('credit.paid', credit(orderId, 300));
    await sessionBegun(before);
    await waitUntil(() => events('order.state', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'order.state',
    });
    const success = sim().waitForEvent('vend-success', { timeoutMs: 25_000 });
    sim().select(2);
    await success;
    await waitUntil(() => events('vend.succeeded', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'vend',
    });
    expect(begunCount()).toBe(before + 1);
    expect(events('credit.accepted', orderId)).toHaveLength(1);
  });

  it('refunds a credit in another currency at once, without a session', async () => {
    await ready();
    const orderId = nextOrderId();
    const before = begunCount();
    await h.platform.sendCommand('credit.paid', {
      ...credit(orderId, 500),
      credit: { amount: 500, currency: 'EUR' },
    });
    await waitUntil(() => events('refund.requested', orderId).length === 1, {
      timeoutMs: 25_000,
      what: 'refund',
    });
    expect(events('refund.requested', orderId)[0]!.data).toMatchObject({
      code: ErrorCode.PayFirstCreditInvalid,
    });
    expect(begunCount()).toBe(before);
  });
});

describe('pay first across a gateway crash', () => {
  const h = useRig({
    gateway: 'process',
    mdbMachines: [{ vendMs: 3_000, items: ITEMS, machine: payFirstMachine }],
  });

  it('never approves again after a SIGKILL between the approval intent and the result, and reports the order', async () => {
    const sim = h.mdb[0]!;
    await sim.waitForEvent((e) => e.event === 'status' && e.state === 'ENABLED', {
      includePast: true,
      timeoutMs: 20_000,
    });
    const orderId = nextOrderId();
    await h.platform.sendCommand('credit.paid', credit(orderId, 500));
    await sim.waitForEvent('session-begun', { timeoutMs: 25_000 });
    sim.select(2);
    // The machine has the approval and is vending (3 s): the intent is on disk.
    await sim.waitForEvent('approved', { timeoutMs: 25_000 });
    h.gatewayProcess.kill('SIGKILL');
    await waitUntil(
      () => h.gatewayProcess.child?.exitCode !== null || h.gatewayProcess.child?.signalCode !== null,
      {
        timeoutMs: 25_000,
        what: 'gateway process gone',
      },
    );
    h.gatewayProcess.start();
    const unresolved = () =>
      h.platform
        .eventsOfType('order.unresolved')
        .filter((e) => (e.data as { orderId: string }).orderId === orderId);
    await waitUntil(() => unresolved().length === 1, {
      timeoutMs: 30_000,
      what: 'order.unresolved after restart',
    });
    expect(unresolved()[0]!.data).toMatchObject({
      machineId: 'c1',
      slot: 2,
      price: { amount: 300, currency: 'CNY' },
    });
    // Let the machine finish its vend and the new process configure the reader.
    await sim.waitForEvent('vend-success', { includePast: true, timeoutMs: 25_000 });
    // The reader enabled again after that vend (it may already have happened: look at the past too).
    const enabledAfterVend = () => {
      const vended = sim.events.findLastIndex((e) => e.event === 'vend-success');
      return sim.events.slice(vended + 1).some((e) => e.event === 'status' && e.state === 'ENABLED');
    };
    await waitUntil(enabledAfterVend, { timeoutMs: 25_000, what: 'the reader enabled after the vend' });
    expect(sim.events.filter((e) => e.event === 'approved')).toHaveLength(1);
    const refunds = h.platform
      .eventsOfType('refund.requested')
      .filter((e) => (e.data as { orderId: string }).orderId === orderId);
    expect(refunds).toHaveLength(0);
  });
});
