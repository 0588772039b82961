import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { encodeAdvertisement } from '../../devices/beacon/encode.ts';
import { WECHAT_SHAKE_UUID } from '../../devices/beacon/rotating-id.ts';
import { bleUnavailable } from '../../devices/beacon/scanner/load.ts';
import { createNobleOnHciSocket } from '../../devices/beacon/scanner/noble-hci.ts';
import { createBeaconScanner, NobleBeaconScanner } from '../../devices/beacon/scanner/scanner.ts';
import { VirtualHciController } from '../../firmware-sim/beacons/hci-controller.ts';
import { expectVendgateError } from '../../testing/errors.ts';

const AD = encodeAdvertisement({
  kind: 'ibeacon',
  uuid: WECHAT_SHAKE_UUID,
  major: 1,
  minor: 2,
  measuredPower: -59,
});

describe('createBeaconScanner', () => {
  it('returns no scanner, and loads nothing, when BLE scanning is not configured', () => {
    let loads = 0;
    const noble = async () => {
      loads++;
      throw new Error('never');
    };
    expect(createBeaconScanner(undefined, { noble })).toBeNull();
    expect(createBeaconScanner({ enabled: false }, { noble })).toBeNull();
    expect(createBeaconScanner({ enabled: true }, { noble })).toBeInstanceOf(NobleBeaconScanner);
    expect(loads).toBe(0);
  });

  it('turns a loader failure into BleUnavailable naming what is missing', async () => {
    const err = Object.assign(new Error('EAFNOSUPPORT, Address family not supported by protocol'), {});
    const s = createBeaconScanner({ enabled: true }, { noble: async () => Promise.reject(err) })!;
    const failure = await expectVendgateError(s.start(), ErrorCode.BleUnavailable);
    expect(failure.message).toMatch(/no Bluetooth sockets/);
  });
});

describe('bleUnavailable', () => {
  it('explains the usual HCI socket errors', () => {
    const e = (m: string) => bleUnavailable(new Error(m), 'noble', 1).message;
    expect(e('ENODEV, No such device')).toMatch(/no Bluetooth adapter hci1/);
    expect(e('EPERM, Operation not permitted')).toMatch(/CAP_NET_RAW/);
    expect(e('something else')).toMatch(/something else/);
  });
});

describe('NobleBeaconScanner', () => {
  it('keeps a throwing frame listener away from noble and reports it as an error', async () => {
    const c = new VirtualHciController();
    const { noble, close } = createNobleOnHciSocket(c);
    const s = new NobleBeaconScanner({ noble, checkEveryMs: 0 });
    const errors: Error[] = [];
    s.on('error', (e) => errors.push(e));
    s.on('frame', () => {
      throw new Error('listener bug');
    });
    await s.start();
    expect(() => c.report({ address: 'c0:ff:ee:00:00:01', data: AD, rssi: -60 })).not.toThrow();
    expect(errors.map((e) => e.message)).toEqual(['listener bug']);
    await s.stop();
    close();
  });

  it('drops frames weaker than minRssi or refused by the filter', async () => {
    const c = new VirtualHciController();
    const { noble, close } = createNobleOnHciSocket(c);
    const s = new NobleBeaconScanner({
      noble,
      checkEveryMs: 0,
      minRssi: -80,
      filter: (f) => f.kind === 'ibeacon' && f.major === 1,
    });
    let frames = 0;
    s.on('frame', () => frames++);
    await s.start();
    c.report({ address: 'c0:ff:ee:00:00:01', data: AD, rssi: -60 });
    c.report({ address: 'c0:ff:ee:00:00:01', data: AD, rssi: -90 });
    const other = encodeAdvertisement({
      kind: 'ibeacon',
      uuid: WECHAT_SHAKE_UUID,
      major: 2,
      minor: 2,
      measuredPower: -59,
    });
    c.report({ address: 'c0:ff:ee:00:00:02', data: other, rssi: -60 });
    expect(frames).toBe(1);
    expect(s.stats()).toMatchObject({ reports: 3, frames: 1, filtered: 2 });
    await s.stop();
    close();
  });
});
