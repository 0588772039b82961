import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { waitUntil } from '../testing/wait.ts';
import { startRig } from './support/rig.ts';

/**
 * A full outbox across the real layers: the whole gateway in this process
 * with its embedded aedes broker, the store on disk, a slot board on a pty
 * and the simulated platform over loopback MQTT. The platform stops
 * acknowledging events, so money events pile up to `outbox.maxRows`.
 */
describe('a paid order that finds the outbox full', () => {
  it('a paid order refused while the outbox is full is accepted when the platform retries it after space frees', async () => {
    const h = await startRig({
      slotBoards: 1,
      config: { outbox: { maxRows: 10, telemetryTtlMs: 3600_000 } },
    });
    const dataOf = (type: string) =>
      h.platform.eventsOfType(type).map((e) => e.data as Record<string, unknown>);
    h.platform.acking = false;
    // Each dispensed order leaves order.accepted and vend.succeeded, both critical, undelivered.
    while (!h.gw.outbox.saturated) {
      const o = h.order('m1', 1);
      await h.platform.placeOrder(o);
      await waitUntil(() => h.gw.ledger.get(o.orderId)?.state === 'dispensed', {
        what: `${o.orderId} dispensed`,
      });
    }

    const late = h.order('m1', 2);
    const cmd = await h.platform.placeOrder(late);
    await waitUntil(() => dataOf('command.deferred').length === 1, { timeoutMs: 10_000, what: 'a deferral' });
    expect(dataOf('command.deferred')[0]).toMatchObject({
      commandId: cmd.id,
      commandType: 'order.paid',
      code: ErrorCode.OutboxFull,
      retryAfterMs: expect.any(Number),
    });
    expect(h.gw.ledger.get(late.orderId)).toBeUndefined();

    // Retried while still full: deferred again, not refused as a replay.
    await h.platform.replay(cmd);
    await waitUntil(() => dataOf('command.deferred').length === 2, {
      timeoutMs: 10_000,
      what: 'a second deferral',
    });
    expect(h.gw.ledger.get(late.orderId)).toBeUndefined();

    // The platform catches up; the same signed command is then taken.
    h.platform.acking = true;
    await waitUntil(() => !h.gw.outbox.saturated, { timeoutMs: 10_000, what: 'room in the outbox' });
    await h.platform.replay(cmd);
    await h.settled([late.orderId]);

    expect(h.gw.ledger.get(late.orderId)?.state).toBe('dispensed');
    expect(dataOf('order.accepted').filter((d) => d.orderId === late.orderId)).toHaveLength(1);
    expect(dataOf('vend.succeeded').filter((d) => d.orderId === late.orderId)).toHaveLength(1);
    expect(dataOf('command.rejected').filter((d) => d.commandId === cmd.id)).toEqual([]);
    expect(h.platform.seqGaps()).toEqual([]);
  });

  it('a deferred order retried as a newly signed command is taken once, and a later copy is answered with its state', async () => {
    const h = await startRig({
      slotBoards: 1,
      config: { outbox: { maxRows: 10, telemetryTtlMs: 3600_000 } },
    });
    const dataOf = (type: string) =>
      h.platform.eventsOfType(type).map((e) => e.data as Record<string, unknown>);
    h.platform.acking = false;
    while (!h.gw.outbox.saturated) {
      const o = h.order('m1', 1);
      await h.platform.placeOrder(o);
      await waitUntil(() => h.gw.ledger.get(o.orderId)?.state === 'dispensed', {
        what: `${o.orderId} dispensed`,
      });
    }
    const late = h.order('m1', 3);
    await h.platform.placeOrder(late);
    await waitUntil(() => dataOf('command.deferred').length === 1, { timeoutMs: 10_000, what: 'a deferral' });

    h.platform.acking = true;
    await waitUntil(() => !h.gw.outbox.saturated, { timeoutMs: 10_000, what: 'room in the outbox' });
    // A new notification for the same order: a fresh id and nonce.
    const retry = await h.platform.placeOrder(late);
    await h.settled([late.orderId]);
    await h.platform.replay(retry);
    await waitUntil(() => dataOf('order.state').some((d) => d.orderId === late.orderId), {
      timeoutMs: 10_000,
      what: 'the state answer',
    });
    expect(dataOf('order.state').filter((d) => d.orderId === late.orderId)).toEqual([
      { orderId: late.orderId, state: 'dispensed', duplicate: true },
    ]);
    expect(dataOf('vend.succeeded').filter((d) => d.orderId === late.orderId)).toHaveLength(1);
  });
});
