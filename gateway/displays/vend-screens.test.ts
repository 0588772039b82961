import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DisplayScreen } from '../../devices/display/port.ts';
import { VendScreens } from './vend-screens.ts';

const idle: DisplayScreen = {
  kind: 'idle',
  machineName: 'Lobby',
  staticQrUrl: 'https://pay.example.com/m/gw/m1',
};

function rig() {
  const shown: DisplayScreen[] = [];
  let current: DisplayScreen | undefined;
  const display = {
    show: async (_id: string, screen: DisplayScreen) => {
      shown.push(screen);
      current = screen;
    },
  };
  const hub = { current: () => (current ? { screen: current } : undefined) } as never; // only current() is read
  const catalogue = { slot: () => ({ product: 'Cola' }) } as never; // only slot() is read
  const screens = new VendScreens(display, hub, new Map([['m1', idle]]), catalogue, 1000);
  return {
    screens,
    shown,
    takeOver: (s: DisplayScreen) => {
      current = s;
    },
  };
}

describe('the remote-vend screens', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('shows dispensing, then done with the product, then idle once the result has been seen', async () => {
    vi.useFakeTimers();
    const r = rig();
    r.screens.show({ stage: 'dispensing', orderId: 'o1', machineId: 'm1', slot: 2 });
    r.screens.show({ stage: 'done', orderId: 'o1', machineId: 'm1', slot: 2 });
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.shown.map((s) => s.kind)).toEqual(['dispensing', 'done', 'idle']);
    expect(r.shown[1]).toMatchObject({ item: { name: 'Cola', slot: 2 } });
  });

  it('leaves a screen another flow put up after the result alone', async () => {
    vi.useFakeTimers();
    const r = rig();
    r.screens.show({
      stage: 'failed',
      orderId: 'o1',
      machineId: 'm1',
      slot: 2,
      reason: 'jammed',
      refund: { amount: 350, currency: 'CNY' },
    });
    r.takeOver({ kind: 'out-of-service', reason: 'maintenance' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.shown.map((s) => s.kind)).toEqual(['failed']);
  });
});
