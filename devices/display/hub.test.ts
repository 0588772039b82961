import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { DisplayHub } from './hub.ts';
import type { DisplayScreen, RenderCommand } from './port.ts';

const idle: DisplayScreen = {
  kind: 'idle',
  machineName: 'Lobby',
  staticQrUrl: 'https://vend.example.com/m/1',
};
const dispensing: DisplayScreen = { kind: 'dispensing', item: { name: 'Cola' } };
const done: DisplayScreen = { kind: 'done', item: { name: 'Cola' } };

function collect(hub: DisplayHub, id: string): { got: RenderCommand[]; off: () => void } {
  const got: RenderCommand[] = [];
  const off = hub.subscribe(id, (r) => got.push(r));
  return { got, off };
}

describe('DisplayHub', () => {
  it('replays the latest screen to a new subscriber at once, and only the latest', async () => {
    const hub = new DisplayHub({ now: () => 1_000 });
    await hub.show('m1', idle);
    await hub.show('m1', dispensing);
    const { got } = collect(hub, 'm1');
    expect(got).toEqual([{ displayId: 'm1', seq: 2, locale: 'zh-CN', at: 1_000, screen: dispensing }]);
  });

  it('gives a subscriber of a display that showed nothing yet nothing until the first screen', async () => {
    const hub = new DisplayHub();
    const { got } = collect(hub, 'm1');
    expect(got).toEqual([]);
    await hub.show('m1', idle);
    expect(got.map((r) => r.screen)).toEqual([idle]);
  });

  it('pushes every screen to every subscriber of that display and to no other', async () => {
    const hub = new DisplayHub();
    const a = collect(hub, 'm1');
    const b = collect(hub, 'm1');
    const other = collect(hub, 'm2');
    await hub.show('m1', dispensing);
    await hub.show('m1', done);
    expect(a.got.map((r) => r.screen.kind)).toEqual(['dispensing', 'done']);
    expect(b.got.map((r) => r.seq)).toEqual(a.got.map((r) => r.seq));
    expect(other.got).toEqual([]);
    expect(hub.subscriberCount('m1')).toBe(2);
  });

  it('stops pushing to a subscriber once it unsubscribes (a closed page) and keeps the others', async () => {
    const hub = new DisplayHub();
    const a = collect(hub, 'm1');
    const b = collect(hub, 'm1');
    await hub.show('m1', dispensing);
    a.off();
    a.off();
    await hub.show('m1', done);
    expect(a.got.map((r) => r.screen.kind)).toEqual(['dispensing']);
    expect(b.got.map((r) => r.screen.kind)).toEqual(['dispensing', 'done']);
    expect(hub.subscriberCount('m1')).toBe(1);
    b.off();
    expect(hub.subscriberCount('m1')).toBe(0);
  });

  it('keeps delivering to the other subscribers when one listener throws', async () => {
    const hub = new DisplayHub();
    hub.subscribe('m1', () => {
      throw new Error('broken page');
    });
    const ok = collect(hub, 'm1');
    await hub.show('m1', done);
    expect(ok.got).toHaveLength(1);
  });

  it('renders in the display language and shows the current screen again when the language changes', async () => {
    const hub = new DisplayHub({ locales: { m1: 'de' }, defaultLocale: 'en' });
    expect(hub.localeOf('m1')).toBe('de');
    expect(hub.localeOf('m9')).toBe('en');
    const { got } = collect(hub, 'm1');
    await hub.show('m1', done);
    await hub.setLocale('m1', 'ja');
    await hub.setLocale('m1', 'ja');
    expect(got.map((r) => [r.locale, r.screen.kind])).toEqual([
      ['de', 'done'],
      ['ja', 'done'],
    ]);
  });

  it('refuses an invalid screen with DisplayScreenInvalid and keeps showing the previous one', async () => {
    const hub = new DisplayHub();
    await hub.show('m1', idle);
    const bad = {
      kind: 'failed',
      refund: { amount: 3.5, currency: 'CNY' },
      reason: 'jammed',
    } as DisplayScreen;
    const err = await expectVendgateError(hub.show('m1', bad), ErrorCode.DisplayScreenInvalid);
    expect(err.message).toContain('refund.amount');
    expect(hub.current('m1')?.screen).toEqual(idle);
  });

  it('refuses a display id that could not be a topic level or a URL segment', async () => {
    const hub = new DisplayHub();
    await expectVendgateError(hub.show('m1/#', idle), ErrorCode.DisplayScreenInvalid);
  });
});
