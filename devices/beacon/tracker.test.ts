import { describe, expect, it } from 'vitest';
import { loadBeaconFixtures } from './fixtures.ts';
import type { BeaconFrame } from './frames.ts';
import { BeaconSightings, beaconIdentity } from './tracker.ts';

const fixtures = loadBeaconFixtures();
const byKind = (k: BeaconFrame['kind']) => fixtures.find((f) => f.expected.kind === k)!.expected;

describe('beaconIdentity', () => {
  it('keys iBeacons by uuid, major and minor', () => {
    expect(beaconIdentity(byKind('ibeacon'))).toBe(
      'ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:12345',
    );
  });

  it('keys Eddystone-UID, EID and AltBeacon by their identifiers', () => {
    expect(beaconIdentity(byKind('eddystone-uid'))).toBe('eddystone-uid:8b0ca750095477cb3e77:000000000001');
    expect(beaconIdentity(byKind('eddystone-eid'))).toBe('eddystone-eid:3439c83a6564bfdf');
    expect(beaconIdentity(byKind('altbeacon'))).toBe(
      'altbeacon:280:0000000000000000000000000000000000010001',
    );
  });

  it('gives no identity to telemetry and URL frames', () => {
    expect(beaconIdentity(byKind('eddystone-tlm'))).toBeNull();
    expect(beaconIdentity(byKind('eddystone-url'))).toBeNull();
  });
});

describe('BeaconSightings', () => {
  it('updates last-seen time, RSSI and count in place for a beacon it knows', () => {
    const s = new BeaconSightings();
    const first = s.observe(byKind('ibeacon'), -70, 1000, 'aa:bb:cc:dd:ee:ff');
    const again = s.observe(byKind('ibeacon'), -55, 1100, 'aa:bb:cc:dd:ee:ff');
    expect(again).toBe(first);
    expect(again).toMatchObject({ rssi: -55, firstSeenMs: 1000, lastSeenMs: 1100, count: 2 });
    expect(s.size).toBe(1);
  });

  it('keys identity-less frames by device address, and ignores them without one', () => {
    const s = new BeaconSightings();
    expect(s.observe(byKind('eddystone-tlm'), -60, 0)).toBeUndefined();
    expect(s.observe(byKind('eddystone-tlm'), -60, 0, '11:22:33:44:55:66')?.key).toBe(
      'addr:11:22:33:44:55:66',
    );
  });

  it('stays within maxEntries by dropping the oldest entry and counts the drops', () => {
    const s = new BeaconSightings({ maxEntries: 2 });
    const ib = byKind('ibeacon');
    if (ib.kind !== 'ibeacon') throw new Error('fixture');
    for (let minor = 0; minor < 5; minor++) s.observe({ ...ib, minor }, -60, minor);
    expect(s.size).toBe(2);
    expect(s.evicted).toBe(3);
    expect([...s.values()].map((v) => v.frame.kind === 'ibeacon' && v.frame.minor)).toEqual([3, 4]);
  });

  it('tells apart beacons that share a UUID or namespace but differ in the rest of their identity', () => {
    const s = new BeaconSightings();
    const ib = byKind('ibeacon');
    const uid = byKind('eddystone-uid');
    if (ib.kind !== 'ibeacon' || uid.kind !== 'eddystone-uid') throw new Error('fixture');
    s.observe(ib, -60, 0);
    s.observe({ ...ib, minor: ib.minor + 1 }, -60, 0);
    s.observe({ ...ib, major: ib.major + 1 }, -60, 0);
    s.observe(uid, -60, 0);
    s.observe({ ...uid, instance: '000000000002' }, -60, 0);
    expect(s.size).toBe(5);
    expect(s.get('ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:12346')?.count).toBe(1);
    expect(s.get('eddystone-uid:8b0ca750095477cb3e77:000000000002')?.count).toBe(1);
  });

  it('starts a fresh sighting for a beacon seen again after it was evicted or pruned', () => {
    const s = new BeaconSightings({ maxEntries: 1 });
    s.observe(byKind('ibeacon'), -60, 0);
    s.observe(byKind('altbeacon'), -60, 1);
    expect(s.observe(byKind('ibeacon'), -61, 2)).toMatchObject({ count: 1, firstSeenMs: 2 });
    expect(s.prune(10_000, 1000)).toBe(1);
    expect(s.size).toBe(0);
    expect(s.observe(byKind('ibeacon'), -62, 10_001)).toMatchObject({ count: 1, firstSeenMs: 10_001 });
  });

  it('forgets beacons not seen within the given age', () => {
    const s = new BeaconSightings();
    s.observe(byKind('ibeacon'), -60, 0);
    s.observe(byKind('altbeacon'), -60, 5000);
    expect(s.prune(6000, 2000)).toBe(1);
    expect(s.size).toBe(1);
  });
});
