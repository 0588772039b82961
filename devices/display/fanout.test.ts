import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { DisplayFanout } from './fanout.ts';
import { DisplayHub } from './hub.ts';
import type { DisplayScreen, Locale, PaymentDisplay } from './port.ts';

const idle: DisplayScreen = {
  kind: 'idle',
  machineName: 'Lobby',
  staticQrUrl: 'https://vend.example.com/m/1',
};

/** A device display that records what it was asked to show, or fails. */
class RecordingDisplay implements PaymentDisplay {
  readonly shown: Array<[string, DisplayScreen['kind']]> = [];
  readonly locales = new Map<string, Locale>();
  failing = false;
  async show(displayId: string, screen: DisplayScreen): Promise<void> {
    if (this.failing) throw new Error('broker unreachable');
    this.shown.push([displayId, screen.kind]);
  }
  async setLocale(displayId: string, locale: Locale): Promise<void> {
    this.locales.set(displayId, locale);
  }
  localeOf(displayId: string): Locale {
    return this.locales.get(displayId) ?? 'zh-CN';
  }
}

describe('the display fan-out', () => {
  it('shows every screen on the kiosk page and on the device display of machines that have one', async () => {
    const hub = new DisplayHub();
    const devices = new RecordingDisplay();
    const fanout = new DisplayFanout({
      primary: hub,
      devices,
      deviceIds: new Set(['m1']),
      log: silentLogger(),
    });
    await fanout.show('m1', idle);
    await fanout.show('m2', idle);
    expect(hub.current('m1')?.screen).toEqual(idle);
    expect(hub.current('m2')?.screen).toEqual(idle);
    expect(devices.shown).toEqual([['m1', 'idle']]);
  });

  it('still shows the screen on the kiosk page when the device display fails', async () => {
    const hub = new DisplayHub();
    const devices = new RecordingDisplay();
    devices.failing = true;
    const fanout = new DisplayFanout({
      primary: hub,
      devices,
      deviceIds: new Set(['m1']),
      log: silentLogger(),
    });
    await expect(fanout.show('m1', idle)).resolves.toBeUndefined();
    expect(hub.current('m1')?.screen).toEqual(idle);
  });

  it('changes the language on both displays and answers with the kiosk page language', async () => {
    const hub = new DisplayHub();
    const devices = new RecordingDisplay();
    const fanout = new DisplayFanout({
      primary: hub,
      devices,
      deviceIds: new Set(['m1']),
      log: silentLogger(),
    });
    await fanout.setLocale('m1', 'de');
    await fanout.setLocale('m2', 'ja');
    expect(fanout.localeOf('m1')).toBe('de');
    expect(fanout.localeOf('m2')).toBe('ja');
    expect([...devices.locales]).toEqual([['m1', 'de']]);
  });

  it('drives the kiosk pages alone when no device display is configured', async () => {
    const hub = new DisplayHub();
    const fanout = new DisplayFanout({ primary: hub, log: silentLogger() });
    await fanout.show('m1', idle);
    expect(hub.current('m1')?.screen).toEqual(idle);
  });
});
