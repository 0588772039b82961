import { describe, expect, it } from 'vitest';
import type { EddystoneUidFrame, IBeaconFrame } from '../frames.ts';
import { RotatingMinor, WECHAT_SHAKE_UUID } from '../rotating-id.ts';
import { BeaconDirectory, beaconId } from './directory.ts';

const NS = '8b0ca750095477cb3e77';
const ibeacon = (major: number, minor: number): IBeaconFrame => ({
  ok: true,
  kind: 'ibeacon',
  uuid: WECHAT_SHAKE_UUID,
  major,
  minor,
  measuredPower: -59,
});
const uid = (instance: string): EddystoneUidFrame => ({
  ok: true,
  kind: 'eddystone-uid',
  txPower: -18,
  namespace: NS,
  instance,
});

describe('the beacon directory', () => {
  it('derives ids from the match, and keeps a configured one', () => {
    expect(
      beaconId({ match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID.toLowerCase(), major: 1, minor: 2 } }),
    ).toBe(`ibeacon:${WECHAT_SHAKE_UUID}:1:2`);
    expect(
      beaconId({ match: { kind: 'eddystone-uid', namespace: NS.toUpperCase(), instance: 'ABCDEF000001' } }),
    ).toBe(`eddystone-uid:${NS}:abcdef000001`);
    const rotation = new RotatingMinor({
      secret: 'shared-secret-for-tests-0001',
      beaconKey: '1',
      windowSec: 60,
    });
    expect(beaconId({ match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 7, rotation } })).toBe(
      `ibeacon:${WECHAT_SHAKE_UUID}:7:0`,
    );
    expect(
      beaconId({ id: 'door', match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 1, minor: 2 } }),
    ).toBe('door');
  });

  it('matches iBeacon and Eddystone-UID frames to their beacon, and nothing else', () => {
    const d = new BeaconDirectory<string>();
    d.add({ match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 1, minor: 2 } }, 'door');
    d.add({ match: { kind: 'eddystone-uid', namespace: NS, instance: '000000000001' } }, 'counter');
    expect(d.match(ibeacon(1, 2), 0)).toBe('door');
    expect(d.match(ibeacon(1, 3), 0)).toBeUndefined();
    expect(d.match(uid('000000000001'), 0)).toBe('counter');
    expect(d.match(uid('000000000002'), 0)).toBeUndefined();
    expect(
      d.match(
        {
          ok: true,
          kind: 'eddystone-tlm',
          version: 0,
          batteryMv: 1,
          temperatureC: null,
          advCount: 1,
          uptimeS: 1,
        },
        0,
      ),
    ).toBeUndefined();
  });

  it('matches a rotating iBeacon by a minor of the current window or its neighbours, not an older one', () => {
    const rotation = new RotatingMinor({
      secret: 'shared-secret-for-tests-0001',
      beaconKey: '30001',
      windowSec: 60,
    });
    const d = new BeaconDirectory<string>();
    d.add({ match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 30001, rotation } }, 'rotating');
    const t = 1_700_000_000_000;
    const w = rotation.windowAt(t);
    for (const x of [w - 1, w, w + 1])
      expect(d.match(ibeacon(30001, rotation.minorForWindow(x)), t)).toBe('rotating');
    expect(d.match(ibeacon(30001, rotation.minorForWindow(w - 5)), t)).toBeUndefined();
  });

  it('looks an id up in any spelling the claim verifier uses', () => {
    const d = new BeaconDirectory<string>();
    d.add({ match: { kind: 'eddystone-uid', namespace: NS, instance: '000000000001' } }, 'counter');
    expect(d.lookup(`eddystone-uid:${NS}:000000000001`)).toBe('counter');
    expect(d.lookup(`eddystone:${NS.toUpperCase()}:000000000001`)).toBe('counter');
    expect(d.lookup('eddystone:nope')).toBeUndefined();
  });

  it('refuses a beacon configured twice, by id or by what it advertises, naming it', () => {
    const d = new BeaconDirectory<string>();
    const match = { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 1, minor: 2 } as const;
    d.add({ match }, 'a');
    expect(() => d.add({ match }, 'b')).toThrow(
      new RangeError(`beacon id ibeacon:${WECHAT_SHAKE_UUID}:1:2 is configured twice`),
    );
    expect(() => d.add({ id: 'other', match }, 'c')).toThrow(
      new RangeError(`beacon ibeacon:${WECHAT_SHAKE_UUID}:1:2 is configured twice`),
    );
  });
});
