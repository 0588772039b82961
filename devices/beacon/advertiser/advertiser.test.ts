import { EventEmitter } from 'node:events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/errors.ts';
import { parseAdvertisement } from '../parse.ts';
import { RotatingMinor, WECHAT_SHAKE_UUID } from '../rotating-id.ts';
import { type BlenoLike, createShakeAdvertiser, loadBleno, ShakeBeaconAdvertiser } from './advertiser.ts';

/** A bleno stand-in that records the EIR data it is given, through the same seam the real one sits behind. */
class FakeBleno extends EventEmitter implements BlenoLike {
  state = 'poweredOn';
  readonly set: Buffer[] = [];
  stopped = 0;
  failNext: Error | undefined;

  startAdvertisingWithEIRData(adv: Buffer, _scan: Buffer | null, cb?: (err?: Error | null) => void): void {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      setImmediate(() => this.emit('advertisingStartError', e)); // what bleno does on failure
      return;
    }
    this.set.push(Buffer.from(adv));
    setImmediate(() => cb?.(null));
  }

  stopAdvertising(cb?: () => void): void {
    this.stopped++;
    setImmediate(() => cb?.());
  }
}

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const rotation = new RotatingMinor({
  secret: 'advertiser-test-secret-000000',
  beaconKey: '10001',
  windowSec: 300,
});

describe('ShakeBeaconAdvertiser', () => {
  it('advertises an iBeacon with the WeChat shake UUID by default, exactly as the encoders lay it out', async () => {
    const bleno = new FakeBleno();
    const adv = new ShakeBeaconAdvertiser({
      bleno,
      major: 10001,
      minor: 42,
      schedule: false,
      clock: () => T0,
    });
    await adv.start();
    expect(bleno.set).toHaveLength(1);
    const bytes = bleno.set[0]!;
    expect(bytes.length).toBeLessThanOrEqual(31);
    expect(bytes.toString('hex')).toBe(
      `020106${'1aff4c000215'}fda50693a4e24fb1afcfc6eb07647825${'2711'}${'002a'}c5`,
    );
    expect(parseAdvertisement(bytes)).toEqual({
      ok: true,
      kind: 'ibeacon',
      uuid: WECHAT_SHAKE_UUID,
      major: 10001,
      minor: 42,
      measuredPower: -59,
    });
    await adv.stop();
    expect(bleno.stopped).toBe(1);
  });

  it('advertises the rotating minor of the current window and the new one after the boundary', async () => {
    const bleno = new FakeBleno();
    let now = T0 + 1000;
    const seen: number[] = [];
    const adv = new ShakeBeaconAdvertiser({
      bleno,
      major: 10001,
      minor: rotation,
      schedule: false,
      clock: () => now,
    });
    adv.on('advertising', (a) => seen.push(a.minor));
    await adv.start();
    const first = adv.current!;
    expect(first.minor).toBe(rotation.currentMinor(now));
    expect(first.nextChangeAt).toBe(rotation.nextBoundary(now));
    now = first.nextChangeAt!;
    await adv.refresh();
    expect(seen).toEqual([rotation.currentMinor(T0 + 1000), rotation.currentMinor(now)]);
    const parsed = parseAdvertisement(bleno.set[1]!);
    expect(parsed).toMatchObject({ ok: true, kind: 'ibeacon', minor: rotation.currentMinor(now) });
    expect(rotation.verifyMinor((parsed as { minor: number }).minor, now).ok).toBe(true);
  });

  it('puts any valid major, minor and power on air in a form the parser reads back', () => {
    fc.assert(
      fc.property(fc.nat(0xffff), fc.nat(0xffff), fc.integer({ min: -128, max: 127 }), (major, minor, p) => {
        const adv = new ShakeBeaconAdvertiser({ bleno: new FakeBleno(), major, minor, measuredPower: p });
        const a = adv.advertisementAt(T0);
        const r = parseAdvertisement(a.data);
        return (
          r.ok && r.kind === 'ibeacon' && r.major === major && r.minor === minor && r.measuredPower === p
        );
      }),
    );
  });

  it('refuses a major that does not fit the wire, naming the field', () => {
    expect(() => new ShakeBeaconAdvertiser({ bleno: new FakeBleno(), major: 70_000, minor: 1 })).toThrow(
      /major/,
    );
  });

  it('reports BleUnavailable when bleno fails to start advertising or the adapter never powers on', async () => {
    const failing = new FakeBleno();
    failing.failNext = new Error('Command Disallowed');
    const adv = new ShakeBeaconAdvertiser({ bleno: failing, major: 1, minor: 1, schedule: false });
    await expectVendgateError(adv.start(), ErrorCode.BleUnavailable);

    const off = new FakeBleno();
    off.state = 'poweredOff';
    const adv2 = new ShakeBeaconAdvertiser({ bleno: off, major: 1, minor: 1, poweredOnTimeoutMs: 20 });
    await expect(adv2.start()).rejects.toThrow(/poweredOff/);
  });

  it('does not load bleno at all when advertising is not configured', async () => {
    let loads = 0;
    const loader = async () => {
      loads++;
      return new FakeBleno();
    };
    expect(createShakeAdvertiser(undefined, { bleno: loader })).toBeNull();
    expect(createShakeAdvertiser({ enabled: false, major: 1, minor: 1 }, { bleno: loader })).toBeNull();
    const adv = createShakeAdvertiser({ enabled: true, major: 1, minor: 1 }, { bleno: loader })!;
    expect(loads).toBe(0);
    await adv.start();
    expect(loads).toBe(1);
    await adv.stop();
  });

  it('on a machine without Bluetooth, loading the real bleno says what is missing', async () => {
    const outcome = await loadBleno().then(
      () => 'loaded' as const,
      (e: unknown) => e,
    );
    if (outcome === 'loaded') return; // a Bluetooth stack is present here
    expect(outcome).toBeInstanceOf(VendgateError);
    expect(outcome).toMatchObject({ code: ErrorCode.BleUnavailable });
    expect((outcome as Error).message).toMatch(/^BLE is unavailable: /);
  });
});
