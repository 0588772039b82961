import { describe, expect, it } from 'vitest';
import type { EddystoneTlmFrame, EddystoneUidFrame, IBeaconFrame } from '../frames.ts';
import { RotatingMinor, WECHAT_SHAKE_UUID } from '../rotating-id.ts';
import {
  BeaconFleet,
  type BeaconFleetOptions,
  type BeaconHealth,
  type BeaconStatus,
  type CloneSuspicion,
} from './fleet.ts';

const DOOR: IBeaconFrame = {
  ok: true,
  kind: 'ibeacon',
  uuid: WECHAT_SHAKE_UUID,
  major: 10001,
  minor: 1,
  measuredPower: -59,
};
const NS = '8b0ca750095477cb3e77';
const COUNTER: EddystoneUidFrame = {
  ok: true,
  kind: 'eddystone-uid',
  txPower: -18,
  namespace: NS,
  instance: '000000000001',
};
const tlm = (advCount: number, uptimeS: number, batteryMv = 2950, temperatureC: number | null = 21.5) =>
  ({
    ok: true,
    kind: 'eddystone-tlm',
    version: 0,
    batteryMv,
    temperatureC,
    advCount,
    uptimeS,
  }) satisfies EddystoneTlmFrame;

const A = 'c0:ff:ee:00:00:01';
const B = 'c0:ff:ee:00:00:02';

function makeFleet(extra: Partial<BeaconFleetOptions> = {}) {
  let now = 0;
  const fleet = new BeaconFleet({
    clock: () => now,
    beacons: [
      {
        name: 'Door',
        location: 'entrance',
        match: { kind: 'ibeacon', uuid: DOOR.uuid, major: 10001, minor: 1 },
      },
      {
        name: 'Counter',
        location: 'till',
        match: { kind: 'eddystone-uid', namespace: NS, instance: '000000000001' },
      },
    ],
    ...extra,
  });
  const events = {
    found: [] as BeaconStatus[],
    lost: [] as BeaconStatus[],
    health: [] as BeaconHealth[],
    clone: [] as CloneSuspicion[],
  };
  fleet.on('found', (s) => events.found.push(s));
  fleet.on('lost', (s) => events.lost.push(s));
  fleet.on('health', (h) => events.health.push(h));
  fleet.on('clone-suspected', (c) => events.clone.push(c));
  return {
    fleet,
    events,
    at: (t: number) => {
      now = t;
      return t;
    },
  };
}

const DOOR_ID = `ibeacon:${WECHAT_SHAKE_UUID}:10001:1`;
const COUNTER_ID = `eddystone-uid:${NS}:000000000001`;

describe('BeaconFleet presence', () => {
  it('finds a beacon only after K sightings within the window, not after a single stray report', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 3, foundWithinMs: 2000 });
    fleet.observe(DOOR, -60, A, 0);
    fleet.observe(DOOR, -60, A, 3000); // first one fell out of the window
    expect(events.found).toHaveLength(0);
    fleet.observe(DOOR, -60, A, 3500);
    expect(events.found).toHaveLength(0);
    fleet.observe(DOOR, -60, A, 4000);
    expect(events.found).toHaveLength(1);
    expect(events.found[0]).toMatchObject({ id: DOOR_ID, name: 'Door', location: 'entrance', present: true });
    fleet.observe(DOOR, -60, A, 4100);
    expect(events.found).toHaveLength(1);
  });

  it('loses a beacon after T ms without a sighting, and finds it again with fresh hysteresis', () => {
    const { fleet, events, at } = makeFleet({ lostAfterMs: 10_000, foundAfterSightings: 2 });
    fleet.observe(DOOR, -60, A, 0);
    fleet.observe(DOOR, -60, A, 100);
    fleet.tick(at(9_000));
    expect(events.lost).toHaveLength(0);
    fleet.tick(at(10_101));
    expect(events.lost).toHaveLength(1);
    expect(events.lost[0]).toMatchObject({ id: DOOR_ID, present: false });
    expect(fleet.get(DOOR_ID)?.present).toBe(false);
    fleet.observe(DOOR, -60, A, 20_000);
    expect(events.found).toHaveLength(1);
    fleet.observe(DOOR, -60, A, 20_100);
    expect(events.found).toHaveLength(2);
  });

  it('reports a long gap as lost then found even when nobody called tick in between', () => {
    const { fleet, events } = makeFleet({ lostAfterMs: 5000, foundAfterSightings: 1 });
    fleet.observe(DOOR, -60, A, 0);
    fleet.observe(DOOR, -60, A, 60_000);
    expect(events.lost).toHaveLength(1);
    expect(events.found).toHaveLength(2);
  });

  it('ignores beacons that are not in the fleet and counts them', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    fleet.observe({ ...DOOR, minor: 2 }, -60, A, 0);
    expect(events.found).toHaveLength(0);
    expect(fleet.stats()).toMatchObject({ beacons: 2, present: 0, unknownFrames: 1 });
  });

  it('answers lastSeenAt for any spelling of the id, as the claim verifier asks', () => {
    const { fleet } = makeFleet();
    fleet.observe(COUNTER, -70, B, 1234);
    expect(fleet.lastSeenAt(COUNTER_ID)).toBe(1234);
    expect(fleet.lastSeenAt(`eddystone:${NS.toUpperCase()}:000000000001`)).toBe(1234);
    expect(fleet.lastSeenAt(DOOR_ID.toLowerCase())).toBeUndefined();
  });

  it('matches a rotating iBeacon by its current minor and ignores a stale one', () => {
    const rotation = new RotatingMinor({
      secret: 'shared-secret-for-tests-0001',
      beaconKey: '30001',
      windowSec: 60,
    });
    const fleet = new BeaconFleet({
      foundAfterSightings: 1,
      beacons: [
        { name: 'Rotating', match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 30001, rotation } },
      ],
    });
    const found: string[] = [];
    fleet.on('found', (s) => found.push(s.id));
    const t = 1_700_000_000_000;
    const stale = rotation.minorForWindow(rotation.windowAt(t) - 5);
    fleet.observe({ ...DOOR, major: 30001, minor: stale }, -60, A, t);
    expect(found).toEqual([]);
    fleet.observe({ ...DOOR, major: 30001, minor: rotation.currentMinor(t) }, -60, A, t);
    expect(found).toEqual([`ibeacon:${WECHAT_SHAKE_UUID}:30001:0`]);
  });
});

describe('BeaconFleet signal and health', () => {
  it('smooths RSSI so one deep fade moves the estimate only a little', () => {
    const { fleet } = makeFleet({ smoothing: { kind: 'ema', alpha: 0.2 } });
    for (let i = 0; i < 20; i++) fleet.observe(DOOR, -60, A, i * 100);
    fleet.observe(DOOR, -90, A, 2100);
    const s = fleet.get(DOOR_ID)!;
    expect(s.lastRssi).toBe(-90);
    expect(s.rssi).toBeCloseTo(-66, 0);
  });

  it('estimates distance from measured power with the configured path loss exponent', () => {
    const { fleet } = makeFleet({ pathLossExponent: 2 });
    for (let i = 0; i < 10; i++) fleet.observe(DOOR, -79, A, i * 100);
    expect(fleet.get(DOOR_ID)?.distanceM).toBeCloseTo(10, 1);
  });

  it('uses Eddystone Tx power at 0 m minus 41 dB as the 1 m reference', () => {
    const { fleet } = makeFleet({ pathLossExponent: 2 });
    for (let i = 0; i < 10; i++) fleet.observe(COUNTER, -59, B, i * 100);
    expect(fleet.get(COUNTER_ID)?.distanceM).toBeCloseTo(1, 1);
  });

  it('reads battery and temperature from TLM frames sent from the same address as the UID frames', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 2 });
    fleet.observe(tlm(100, 10, 2950, 22.25), -70, B, 0); // before the address is known: kept aside
    fleet.observe(COUNTER, -70, B, 100);
    fleet.observe(COUNTER, -70, B, 200);
    expect(events.found).toHaveLength(1);
    const h = events.health.find((x) => x.id === COUNTER_ID && x.battery)!;
    expect(h).toMatchObject({ battery: { mv: 2950, percent: 95 }, temperatureC: 22.25 });
    fleet.observe(tlm(110, 11, 2940, 22), -70, B, 1100);
    expect(fleet.get(COUNTER_ID)).toMatchObject({ batteryMv: 2940, temperatureC: 22, advCount: 110 });
  });

  it('emits health at most once per interval while the beacon is present', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1, healthEveryMs: 10_000 });
    for (let t = 0; t <= 30_000; t += 500) fleet.observe(DOOR, -60, A, t);
    expect(events.health.filter((h) => h.id === DOOR_ID).map((h) => h.at)).toEqual([
      0, 10_000, 20_000, 30_000,
    ]);
  });

  it('treats both TLM counters going back as a reboot, not a clone', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    fleet.observe(COUNTER, -70, B, 0);
    fleet.observe(tlm(50_000, 5000), -70, B, 0);
    fleet.observe(tlm(3, 0.3), -70, B, 1000);
    fleet.observe(tlm(13, 1.3), -70, B, 2000);
    expect(events.clone).toEqual([]);
    expect(fleet.get(COUNTER_ID)?.reboots).toBe(1);
  });
});

describe('BeaconFleet clone detection', () => {
  it('flags a TLM advertisement counter that goes backwards while uptime goes on', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    fleet.observe(COUNTER, -70, B, 0);
    fleet.observe(tlm(1000, 100), -70, B, 0);
    fleet.observe(tlm(400, 101), -70, B, 1000);
    expect(events.clone).toHaveLength(1);
    expect(events.clone[0]).toMatchObject({ id: COUNTER_ID, kind: 'tlm-counter-backwards' });
    expect(fleet.cloneSuspected(COUNTER_ID, 1000)).toBe(true);
  });

  it('flags TLM uptime that advances far more or less than wall time (two devices interleaving)', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    fleet.observe(COUNTER, -70, B, 0);
    fleet.observe(tlm(50, 5), -70, B, 0);
    fleet.observe(tlm(60, 6), -70, B, 1000);
    expect(events.clone).toEqual([]);
    fleet.observe(tlm(900_000, 90_000), -70, B, 2000);
    expect(events.clone.map((c) => c.kind)).toEqual(['tlm-uptime-inconsistent']);
  });

  it('flags one id advertised from two addresses at once, but not an address change', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1, clone: { addressWindowMs: 5000 } });
    for (let t = 0; t < 3000; t += 500) fleet.observe(DOOR, -60, A, t);
    for (let t = 20_000; t < 23_000; t += 500) fleet.observe(DOOR, -60, B, t); // moved on: A is long silent
    expect(events.clone).toEqual([]);
    for (let t = 23_000; t < 26_000; t += 500) {
      fleet.observe(DOOR, -60, B, t);
      fleet.observe(DOOR, -75, A, t + 250);
    }
    expect(events.clone).toHaveLength(1);
    expect(events.clone[0]).toMatchObject({ kind: 'two-addresses' });
    expect(events.clone[0]!.addresses.sort()).toEqual([A, B]);
  });

  it('flags interleaved RSSI clusters far apart from one address (a clone spoofing the address too)', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    for (let i = 0; i < 40; i++) fleet.observe(DOOR, i % 2 === 0 ? -55 + (i % 3) : -88 - (i % 3), A, i * 100);
    expect(events.clone.map((c) => c.kind)).toContain('rssi-clusters');
  });

  it('does not flag a visitor-like RSSI ramp or noise as two clusters', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    for (let i = 0; i < 60; i++) fleet.observe(DOOR, -50 - i * 0.7 + ((i * 7) % 5) - 2, A, i * 100);
    expect(events.clone).toEqual([]);
  });

  it('emits a suspicion once per cooldown and lets an operator clear it', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1, clone: { cooldownMs: 60_000 } });
    fleet.observe(COUNTER, -70, B, 0);
    fleet.observe(tlm(1000, 100), -70, B, 0);
    for (let i = 1; i < 10; i++) fleet.observe(tlm(i % 2 ? 10 : 1000 + i, 100 + i), -70, B, i * 1000);
    expect(events.clone.length).toBeGreaterThanOrEqual(1);
    expect(new Set(events.clone.map((c) => c.kind)).size).toBe(events.clone.length);
    fleet.clearCloneSuspicion(COUNTER_ID);
    expect(fleet.cloneSuspected(COUNTER_ID, 10_000)).toBe(false);
  });

  it('compares the first TLM after an operator cleared a suspicion with nothing: the replaced beacon starts afresh', () => {
    const { fleet, events } = makeFleet({ foundAfterSightings: 1 });
    fleet.observe(COUNTER, -70, B, 0);
    fleet.observe(tlm(1000, 100), -70, B, 0);
    fleet.clearCloneSuspicion(COUNTER_ID);
    expect(fleet.get(COUNTER_ID)?.batteryMv).toBeNull();
    const healthBefore = events.health.length;
    fleet.observe(tlm(10, 101), -70, B, 1000);
    expect(events.clone).toEqual([]);
    expect(events.health.length).toBe(healthBefore + 1); // a first TLM is reported at once
    expect(fleet.get(COUNTER_ID)).toMatchObject({ advCount: 10, reboots: 0, cloneSuspected: null });
  });
});
