import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { waitUntil } from '../testing/wait.ts';
import { type BrokerKind, type DeviceMode, useRig } from './support/rig.ts';

/**
 * The pay-first flow across every real layer: signed order.paid over a real
 * MQTT broker, the ledger on disk, the driver on a socat pty, and the
 * slot-board simulator in its own process. Runs against the embedded aedes
 * broker and against Mosquitto, and once more with the simulators in this
 * process on memory transports (same gateway, no serial line).
 */
describe.each<{ broker: BrokerKind; devices: DeviceMode }>([
  { broker: 'aedes', devices: 'pty' },
  { broker: 'mosquitto', devices: 'pty' },
  { broker: 'aedes', devices: 'memory' },
])('remote vend to $devices boards through the $broker broker', ({ broker, devices }) => {
  const h = useRig({ broker, devices, slotBoards: 2 });

  const dispensedTokensInBoardLogs = () =>
    h.boards.flatMap((b) =>
      b
        .readLog()
        .filter((r) => r.outcome === 'dispensed')
        .map((r) => r.vendToken),
    );

  it('dispenses a paid order published 1 to 5 times, interleaved with others, exactly once', async () => {
    const orders = Array.from({ length: 20 }, (_, i) => h.order(i % 2 ? 'm1' : 'm2', 1 + (i % 6)));
    const sends = orders.flatMap((o, i) => Array.from({ length: 1 + (i % 5) }, () => o));
    // Interleave: a deterministic shuffle so duplicates arrive among other orders.
    sends.sort(
      (a, b) =>
        ((a.orderId.charCodeAt(a.orderId.length - 1) * 7) % 11) -
        ((b.orderId.charCodeAt(b.orderId.length - 1) * 7) % 11),
    );
    for (const o of sends) await h.platform.placeOrder(o);
    const ids = orders.map((o) => o.orderId);
    await h.settled(ids);

    for (const id of ids) expect(h.gw.ledger.get(id)?.state).toBe('dispensed');
    const succeeded = h.platform
      .eventsOfType('vend.succeeded')
      .map((e) => (e.data as { orderId: string }).orderId);
    for (const id of ids) expect(succeeded.filter((x) => x === id)).toHaveLength(1);
    expect(h.platform.eventsOfType('refund.requested')).toHaveLength(0);
    // Duplicates are answered with the existing state, not acted on.
    expect(h.platform.eventsOfType('order.state').length).toBe(sends.length - orders.length);

    // The controllers' own logs agree with the ledger: one physical dispense per order.
    const ledgerTokens = ids.map((id) => h.gw.ledger.get(id)?.vendToken).sort();
    const boardTokens = dispensedTokensInBoardLogs()
      .filter((t) => ledgerTokens.includes(t))
      .sort();
    expect(boardTokens).toEqual(ledgerTokens);
    expect(h.platform.seqGaps()).toEqual([]);
  });

  it('ends a jam and a drop-sensor miss each in exactly one refund request', async () => {
    const board = h.boards[0]!;
    board.fault({ fault: 'jam', slot: 2, count: 1 });
    board.fault({ fault: 'drop-sensor-miss', slot: 3, count: 1 });
    const jam = h.order('m1', 2);
    const miss = h.order('m1', 3);
    await h.platform.placeOrder(jam);
    await h.platform.placeOrder(miss);
    await h.platform.placeOrder(jam);
    await h.settled([jam.orderId, miss.orderId]);

    expect(h.gw.ledger.get(jam.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.VendJammed,
    });
    expect(h.gw.ledger.get(miss.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.VendDropSensorMiss,
    });
    const refunds = h.platform
      .eventsOfType('refund.requested')
      .map((e) => (e.data as { orderId: string }).orderId);
    expect(refunds.filter((id) => id === jam.orderId)).toHaveLength(1);
    expect(refunds.filter((id) => id === miss.orderId)).toHaveLength(1);
    expect(h.platform.eventsOfType('vend.failed').length).toBeGreaterThanOrEqual(2);
  });

  it('refunds a paid order that arrives past its expiry instead of dispensing it', async () => {
    const late = h.order('m2', 1, { expiresAt: Date.now() - 1000 });
    await h.platform.placeOrder(late);
    await h.settled([late.orderId]);
    expect(h.gw.ledger.get(late.orderId)).toMatchObject({
      state: 'refund_requested',
      outcomeCode: ErrorCode.OrderExpired,
    });
    expect(dispensedTokensInBoardLogs()).not.toContain(h.gw.ledger.get(late.orderId)?.vendToken);
  });

  it('refuses malformed, oversized, unsigned, forged, replayed, expired and misaddressed commands, each with its reason', async () => {
    const before = h.platform.eventsOfType('command.rejected').length;
    const o = (n: number) => h.order('m1', 1, { orderId: `bad-order-${broker}-${n}` });
    await h.platform.publishRaw('order.paid', '{not json');
    await h.platform.publishRaw('order.paid', Buffer.alloc(20_000, 0x41));
    await h.platform.sendUnsigned('order.paid', o(1));
    await h.platform.sendForged('order.paid', o(2));
    await h.platform.sendExpired('order.paid', o(3));
    await h.platform.sendMisaddressed('order.paid', o(4));
    await h.platform.sendCommand('order.paid', { ...o(5), price: { amount: 3.5, currency: 'CNY' } });
    const good = await h.platform.placeOrder(o(6));
    // A replay: the accepted command's id over another body (the same bytes again are a redelivery, answered with the order's state).
    await h.platform.sendCommand('order.paid', o(7), { id: good.id });
    await waitUntil(() => h.platform.eventsOfType('command.rejected').length >= before + 8, {
      timeoutMs: 10_000,
      what: 'rejections',
    });
    await h.settled([`bad-order-${broker}-6`]);

    const codes = h.platform
      .eventsOfType('command.rejected')
      .slice(before)
      .map((e) => (e.data as { code: number }).code)
      .sort();
    expect(codes).toEqual(
      [
        ErrorCode.PayloadNotJson,
        ErrorCode.PayloadTooLarge,
        ErrorCode.CommandUnsigned,
        ErrorCode.CommandSignatureInvalid,
        ErrorCode.CommandExpired,
        ErrorCode.CommandMisaddressed,
        ErrorCode.CommandBodyInvalid,
        ErrorCode.CommandReplayed,
      ].sort(),
    );
    for (const e of h.platform.eventsOfType('command.rejected').slice(before)) {
      expect((e.data as { reason: string }).reason.length).toBeGreaterThan(10);
    }
    for (const n of [1, 2, 3, 4, 5, 7]) expect(h.gw.ledger.get(`bad-order-${broker}-${n}`)).toBeUndefined();
    expect(h.gw.ledger.get(`bad-order-${broker}-6`)?.state).toBe('dispensed');
  });

  it('skips junk bytes on the serial line and keeps vending', async () => {
    const board = h.boards[1]!;
    board.fault({ fault: 'corrupt', count: 5 });
    const orders = [h.order('m2', 4), h.order('m2', 5), h.order('m2', 6)];
    for (const o of orders) await h.platform.placeOrder(o);
    await h.settled(orders.map((o) => o.orderId));
    for (const o of orders) expect(h.gw.ledger.get(o.orderId)?.state).toBe('dispensed');
  });
});

describe('remote vend when the controller misbehaves mid-vend', () => {
  const h = useRig({ slotBoards: 1, motorMs: 600 });

  const physicalDispenses = (token: number | null | undefined) =>
    h.boards[0]!.readLog().filter((r) => r.vendToken === token && r.outcome === 'dispensed').length;

  it('resolves a vend whose controller went silent mid-vend by asking it once it is back', async () => {
    const board = h.boards[0]!;
    const o = h.order('m1', 1);
    const started = board.waitForEvent('dispense-start', { timeoutMs: 10_000 });
    await h.platform.placeOrder(o);
    await started;
    board.fault({ fault: 'silent', ms: 2500 });
    await waitUntil(() => !h.gw.machines.get('m1')!.online, { timeoutMs: 10_000, what: 'machine offline' });
    await h.settled([o.orderId], 30_000);
    const rec = h.gw.ledger.get(o.orderId);
    expect(rec?.state).toBe('dispensed');
    expect(physicalDispenses(rec?.vendToken)).toBe(1);
  });

  it('reopens the port after an unplug mid-vend and resolves the vend by asking the controller', async () => {
    const board = h.boards[0]!;
    const o = h.order('m1', 2);
    const started = board.waitForEvent('dispense-start', { timeoutMs: 10_000 });
    await h.platform.placeOrder(o);
    await started;
    await board.pty!.restart({ downMs: 800 });
    await h.settled([o.orderId], 30_000);
    const rec = h.gw.ledger.get(o.orderId);
    expect(rec?.state).toBe('dispensed');
    expect(physicalDispenses(rec?.vendToken)).toBe(1);
    expect(
      h.platform.eventsOfType('machine.status').some((e) => (e.data as { online: boolean }).online === false),
    ).toBe(true);
  });
});
