import { describe, expect, it } from 'vitest';
import { encodeAdvertisement } from '../../devices/beacon/encode.ts';
import { WECHAT_SHAKE_UUID } from '../../devices/beacon/rotating-id.ts';
import { createNobleOnHciSocket } from '../../devices/beacon/scanner/noble-hci.ts';
import type { NoblePeripheralLike } from '../../devices/beacon/scanner/types.ts';
import { claimBurst } from './claims.ts';
import { encodeLeAdvertisingReport, VirtualHciController } from './hci-controller.ts';
import { passBy, Rng, withVisitors } from './rssi.ts';
import { BeaconWorld } from './world.ts';

const AD = encodeAdvertisement({
  kind: 'ibeacon',
  uuid: WECHAT_SHAKE_UUID,
  major: 1,
  minor: 2,
  measuredPower: -59,
});

describe('VirtualHciController', () => {
  it('lays out an LE Advertising Report event as the Core Spec does', () => {
    const pkt = encodeLeAdvertisingReport([
      { address: 'c0:ff:ee:00:00:01', data: Buffer.from([2, 1, 6]), rssi: -60 },
    ]);
    // header, subevent 02, 1 report, ADV_NONCONN_IND, public, address little-endian, 3 data bytes, RSSI
    expect(pkt.toString('hex')).toBe(`043e0f${'0201'}${'03'}${'00'}${'010000eeffc0'}${'03'}020106${'c4'}`);
  });

  it('answers an unknown command with status 0x01 and ignores reports while the host is not scanning', async () => {
    const c = new VirtualHciController();
    const got: Buffer[] = [];
    c.on('data', (d: Buffer) => got.push(d));
    c.start();
    c.write(Buffer.from([0x01, 0x34, 0x12, 0x00]));
    await c.settle();
    expect(got[0]!.toString('hex')).toBe('040e0401341201');
    expect(c.report({ address: 'c0:ff:ee:00:00:01', data: AD, rssi: -60 })).toBe(false);
    expect(c.stats.reportsDropped).toBe(1);
  });

  it('filters duplicates in the controller when noble scans without allowDuplicates, hiding RSSI updates', async () => {
    const c = new VirtualHciController();
    const { noble, close } = createNobleOnHciSocket(c);
    const rssis: number[] = [];
    noble.on('discover', (p: NoblePeripheralLike) => rssis.push(p.rssi));
    noble.on('stateChange', () => {});
    await new Promise<void>((r) => noble.on('stateChange', (s) => s === 'poweredOn' && r()));
    await noble.startScanningAsync([], false);
    await c.settle();
    for (const rssi of [-60, -65, -70]) c.report({ address: 'c0:ff:ee:00:00:01', data: AD, rssi });
    expect(rssis).toEqual([-60]);
    await noble.startScanningAsync([], true);
    await c.settle();
    for (const rssi of [-61, -66]) c.report({ address: 'c0:ff:ee:00:00:01', data: AD, rssi });
    expect(rssis).toEqual([-60, -61, -66]);
    close();
    c.close();
  });
});

describe('simulated RSSI', () => {
  it('rises as a visitor approaches and falls as they leave', () => {
    const rng = new Rng(1);
    const p = passBy({ closestAt: 10_000, closestM: 1, noiseDb: 0 });
    const r = [0, 5000, 10_000, 15_000, 20_000].map((t) => p(t, rng)!);
    expect(r[0]!).toBeLessThan(r[1]!);
    expect(r[1]!).toBeLessThan(r[2]!);
    expect(r[3]!).toBeLessThan(r[2]!);
    expect(r[4]!).toBeLessThan(r[3]!);
    expect(passBy({ closestAt: 0, rangeM: 10 })(60_000, rng)).toBeNull();
  });

  it('dips while a visitor stands between beacon and receiver', () => {
    const rng = new Rng(1);
    const p = withVisitors(() => -60, [{ at: 5000, dipDb: 8 }]);
    expect(p(0, rng)).toBe(-60);
    expect(p(5000, rng)).toBe(-68);
  });
});

describe('BeaconWorld', () => {
  it('drains the battery and advances the counters in TLM, and restarts them on a reboot', () => {
    const w = new BeaconWorld({ controller: new VirtualHciController() });
    const b = w.add({
      name: 'b',
      address: 'c0:ff:ee:00:00:09',
      eddystone: { namespace: '00112233445566778899', instance: 'aabbccddeeff' },
      tlm: { batteryMv: 3000, drainMvPerHour: 100 },
    });
    const t1 = b.tlmAt(w.now + 3_600_000);
    expect(t1.batteryMv).toBe(2900);
    expect(t1.uptimeS).toBe(3600);
    b.seq = 500;
    expect(b.tlmAt(w.now).advCount).toBe(500);
    b.reboot(w.now + 3_600_000);
    expect(b.tlmAt(w.now + 3_600_000)).toMatchObject({ advCount: 0, uptimeS: 0, batteryMv: 2900 });
  });
});

describe('claimBurst', () => {
  const target = {
    idAt: (t: number) => `ibeacon:${WECHAT_SHAKE_UUID}:10001:${Math.floor(t / 300_000) % 65535 || 1}`,
  };

  it('gives each visitor an honest claim, then the repeats, replays and forgeries asked for, in time order', () => {
    const claims = claimBurst({
      targets: [target],
      at: 1_000_000_000,
      users: 10,
      repeatsPerUser: 2,
      replayFraction: 0.1,
      forgedFraction: 0.1,
    });
    const by = (k: string) => claims.filter((c) => c.intent === k).length;
    expect(by('honest')).toBe(10);
    expect(by('repeat')).toBe(20);
    expect(by('replayed')).toBe(3);
    expect(by('forged')).toBe(3);
    expect(claims.map((c) => c.seenAt)).toEqual([...claims.map((c) => c.seenAt)].sort((a, b) => a - b));
    for (const c of claims.filter((x) => x.intent === 'forged'))
      expect(c.beaconId).not.toBe(target.idAt(c.seenAt));
  });

  it('is deterministic for a seed', () => {
    const a = claimBurst({ targets: [target], at: 0, seed: 5 });
    const b = claimBurst({ targets: [target], at: 0, seed: 5 });
    expect(a).toEqual(b);
  });
});
