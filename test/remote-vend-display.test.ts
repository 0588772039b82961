import { describe, expect, it } from 'vitest';
import type { DisplayScreen } from '../devices/display/port.ts';
import { waitUntil } from '../testing/wait.ts';
import { useRig } from './support/rig.ts';

/**
 * The remote-vend display follows its own orders: a signed order.paid over
 * the embedded broker, the slot-board simulator in its own process on a
 * socat pty, and the display hub the kiosk pages subscribe to.
 */
describe('the remote-vend display', () => {
  const h = useRig({ slotBoards: 1, motorMs: 300 });

  const screensOf = (machineId: string): DisplayScreen[] => {
    const screens: DisplayScreen[] = [];
    h.gw.displays.subscribe(machineId, (r) => screens.push(r.screen));
    return screens;
  };
  const kinds = (screens: readonly DisplayScreen[]) => screens.map((s) => s.kind);

  it('shows dispensing and then done for a paid order, then the idle screen again', async () => {
    const screens = screensOf('m1');
    const order = h.order('m1', 1);
    await h.platform.placeOrder(order);
    await h.settled([order.orderId]);
    await waitUntil(() => kinds(screens).includes('done'), { what: 'the done screen' });

    const after = kinds(screens).slice(kinds(screens).indexOf('idle'));
    expect(after.slice(0, 3)).toEqual(['idle', 'dispensing', 'done']);
    expect(screens.find((s) => s.kind === 'dispensing')).toEqual({
      kind: 'dispensing',
      item: { name: 'Cola 330 ml', slot: 1 },
    });
    await waitUntil(() => kinds(screens).at(-1) === 'idle' && kinds(screens).length > 3, {
      timeoutMs: 15_000,
      what: 'the idle screen after the result',
    });
  });

  it('shows failed with the refund when the board jams', async () => {
    const screens = screensOf('m1');
    h.boards[0]!.fault({ fault: 'jam', slot: 2, count: 1 });
    const order = h.order('m1', 2);
    await h.platform.placeOrder(order);
    await h.settled([order.orderId]);
    await waitUntil(() => kinds(screens).includes('failed'), { what: 'the failed screen' });

    expect(h.gw.ledger.get(order.orderId)?.state).toBe('refund_requested');
    const dispensing = kinds(screens).indexOf('dispensing');
    expect(dispensing).toBeGreaterThanOrEqual(0);
    expect(kinds(screens).indexOf('failed')).toBeGreaterThan(dispensing);
    expect(kinds(screens)).not.toContain('done');
    expect(screens.find((s) => s.kind === 'failed')).toEqual({
      kind: 'failed',
      refund: order.price,
      reason: 'jammed',
      item: { name: 'Oolong Tea 500 ml', slot: 2 },
    });
  });
});
