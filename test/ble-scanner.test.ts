/**
 * The BLE scanning path end to end, through the real noble: the simulator's
 * beacons encode advertisements with the project's encoders, a virtual HCI
 * controller hands them to noble's own HCI stack as LE Advertising Report
 * bytes (noble's Hci parses them, noble's Gap builds the advertisement,
 * noble emits 'discover'), and the scanner and fleet under test take it from
 * there, exactly as on an adapter.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import { encodeAdvertisement } from '../devices/beacon/encode.ts';
import { BeaconFleet, type BeaconHealth, type CloneSuspicion } from '../devices/beacon/fleet/index.ts';
import type { BeaconFrame } from '../devices/beacon/frames.ts';
import { RotatingBeaconVerifier, RotatingMinor, WECHAT_SHAKE_UUID } from '../devices/beacon/rotating-id.ts';
import {
  createNobleOnHciSocket,
  loadNoble,
  NobleBeaconScanner,
  type ScanRestart,
} from '../devices/beacon/scanner/index.ts';
import { claimBurst } from '../firmware-sim/beacons/claims.ts';
import { VirtualHciController } from '../firmware-sim/beacons/hci-controller.ts';
import { fixedDistance, withVisitors } from '../firmware-sim/beacons/rssi.ts';
import { BeaconWorld } from '../firmware-sim/beacons/world.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { expectVendgateError } from '../testing/errors.ts';

const NS = '8b0ca750095477cb3e77';
const DOOR_ID = `ibeacon:${WECHAT_SHAKE_UUID}:10001:1`;
const COUNTER_ID = `eddystone-uid:${NS}:000000000001`;
const ROTATING_ID = `ibeacon:${WECHAT_SHAKE_UUID}:10002:0`;
const rotation = new RotatingMinor({
  secret: 'vendgate-test-site-rotation-key',
  beaconKey: '10002',
  windowSec: 300,
});

const cleanups = cleanupsAfterEach();

async function site(opts: { powered?: boolean; poweredOnTimeoutMs?: number } = {}) {
  const controller = new VirtualHciController({ powered: opts.powered ?? true });
  const { noble, close } = createNobleOnHciSocket(controller);
  const world = new BeaconWorld({ controller, seed: 42 });
  const t0 = world.now;
  world.add({
    name: 'Door',
    address: 'c0:ff:ee:00:00:01',
    ibeacon: { uuid: WECHAT_SHAKE_UUID, major: 10001, minor: 1, measuredPower: -59 },
    rssi: withVisitors(fixedDistance(1.5, { measuredPower: -59, n: 2.5, noiseDb: 2 }), [
      { at: t0 + 4000, dipDb: 8 },
      { at: t0 + 9000, dipDb: 6 },
    ]),
  });
  world.add({
    name: 'Counter',
    address: 'c0:ff:ee:00:00:02',
    eddystone: { namespace: NS, instance: '000000000001', txPower: -18 },
    tlm: { batteryMv: 2950, drainMvPerHour: 600, temperatureC: 22.5, advCount: 120_000, uptimeS: 86_400 },
    rssi: fixedDistance(4, { measuredPower: -59, n: 2.5, noiseDb: 2 }),
  });
  world.add({
    name: 'Rotating',
    address: 'c0:ff:ee:00:00:03',
    ibeacon: { uuid: WECHAT_SHAKE_UUID, major: 10002, rotation, measuredPower: -59 },
    rssi: fixedDistance(3),
  });
  const scanner = new NobleBeaconScanner({
    noble: async () => noble,
    clock: () => world.now,
    silentMs: 3000,
    checkEveryMs: 0, // the test drives the watchdog in simulated time
    poweredOnTimeoutMs: opts.poweredOnTimeoutMs ?? 5000,
  });
  const fleet = new BeaconFleet({
    clock: () => world.now,
    lostAfterMs: 5000,
    pathLossExponent: 2.5,
    beacons: [
      {
        name: 'Door',
        location: 'entrance',
        match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 10001, minor: 1 },
      },
      {
        name: 'Counter',
        location: 'till',
        match: { kind: 'eddystone-uid', namespace: NS, instance: '000000000001' },
      },
      { name: 'Rotating', match: { kind: 'ibeacon', uuid: WECHAT_SHAKE_UUID, major: 10002, rotation } },
    ],
  });
  fleet.attach(scanner);
  const seen = {
    found: [] as string[],
    lost: [] as string[],
    health: [] as BeaconHealth[],
    clones: [] as CloneSuspicion[],
    restarts: [] as ScanRestart[],
    errors: [] as Error[],
    frames: [] as BeaconFrame[],
  };
  fleet.on('found', (s) => seen.found.push(s.id));
  fleet.on('lost', (s) => seen.lost.push(s.id));
  fleet.on('health', (h) => seen.health.push(h));
  fleet.on('clone-suspected', (c) => seen.clones.push(c));
  scanner.on('restart', (r) => seen.restarts.push(r));
  scanner.on('error', (e) => seen.errors.push(e));
  scanner.on('frame', (f) => seen.frames.push(f));
  cleanups.push(async () => {
    await scanner.stop();
    close();
    controller.close();
  });
  return { controller, noble, world, scanner, fleet, seen };
}

describe('BLE scanning through noble against the beacon simulator', () => {
  it('finds the site beacons through noble, with smoothed RSSI and a distance estimate', async () => {
    const { world, scanner, fleet, seen, controller } = await site();
    await scanner.start();
    await world.advance(3000);
    expect(seen.found.sort()).toEqual([COUNTER_ID, DOOR_ID, ROTATING_ID].sort());
    expect(controller.stats.reportsDelivered).toBeGreaterThan(50);
    expect(scanner.stats()).toMatchObject({ scanning: true, restarts: 0 });
    expect(scanner.stats().frames).toBe(controller.stats.reportsDelivered);
    const door = fleet.get(DOOR_ID)!;
    expect(door).toMatchObject({
      present: true,
      name: 'Door',
      location: 'entrance',
      address: 'c0:ff:ee:00:00:01',
    });
    expect(door.rssi!).toBeGreaterThan(-70);
    expect(door.rssi!).toBeLessThan(-55);
    expect(door.distanceM!).toBeGreaterThan(0.7);
    expect(door.distanceM!).toBeLessThan(3);
    expect(fleet.get(COUNTER_ID)!.distanceM!).toBeGreaterThan(2);
  });

  it('scans with duplicates allowed, so every advertisement brings a fresh RSSI', async () => {
    const { world, scanner, controller, seen } = await site();
    await scanner.start();
    expect(controller.scanning).toBe(true);
    await world.advance(2000);
    const doorFrames = seen.frames.filter((f) => f.kind === 'ibeacon' && f.major === 10001);
    expect(doorFrames.length).toBeGreaterThan(15);
  });

  it('loses a beacon that stops advertising while the others stay present', async () => {
    const { world, scanner, fleet, seen } = await site();
    await scanner.start();
    await world.advance(3000);
    world.remove('Door');
    await world.advance(7000);
    fleet.tick();
    expect(seen.lost).toEqual([DOOR_ID]);
    expect(fleet.get(DOOR_ID)?.present).toBe(false);
    expect(fleet.get(COUNTER_ID)?.present).toBe(true);
  });

  it('reads battery and temperature from Eddystone-TLM, and sees the battery drain and counters rise', async () => {
    const { world, scanner, fleet, seen } = await site();
    await scanner.start();
    await world.advance(3000);
    const first = seen.health.find((h) => h.id === COUNTER_ID && h.battery !== null)!;
    expect(first.battery!.mv).toBeLessThanOrEqual(2950);
    expect(first.battery!.mv).toBeGreaterThan(2940);
    expect(first.temperatureC).toBe(22.5);
    const before = fleet.get(COUNTER_ID)!;
    await world.advance(120_000);
    const after = fleet.get(COUNTER_ID)!;
    expect(after.batteryMv!).toBeLessThan(before.batteryMv!);
    expect(after.advCount!).toBeGreaterThan(before.advCount!);
    expect(after.uptimeS!).toBeGreaterThan(before.uptimeS!);
    expect(seen.clones).toEqual([]);
  });

  it('restarts a scan that went silent, and frames flow again', async () => {
    const { world, scanner, controller, seen } = await site();
    await scanner.start();
    await world.advance(2000);
    expect(await scanner.checkWatchdog()).toBe(false);
    controller.stall();
    const framesBefore = seen.frames.length;
    await world.advance(4000);
    expect(seen.frames.length).toBe(framesBefore);
    const enablesBefore = controller.stats.scanEnables;
    expect(await scanner.checkWatchdog()).toBe(true);
    expect(seen.restarts).toHaveLength(1);
    expect(seen.restarts[0]).toMatchObject({ count: 1, cause: 'silent' });
    expect(seen.restarts[0]!.silentForMs).toBeGreaterThanOrEqual(3000);
    expect(controller.stats.scanEnables).toBeGreaterThan(enablesBefore);
    await world.advance(2000);
    expect(seen.frames.length).toBeGreaterThan(framesBefore + 20);
    expect(scanner.stats().restarts).toBe(1);
  });

  it('flags a cloned iBeacon advertising the same id from a second address with another signal pattern', async () => {
    const { world, scanner, seen } = await site();
    await scanner.start();
    await world.advance(3000);
    expect(seen.clones).toEqual([]);
    world.clone('Door', { address: 'de:ad:be:ef:00:01', rssi: fixedDistance(15, { noiseDb: 3 }) });
    await world.advance(5000);
    const c = seen.clones.find((x) => x.id === DOOR_ID)!;
    expect(c).toMatchObject({ kind: 'two-addresses', name: 'Door' });
    expect(c.addresses.sort()).toEqual(['c0:ff:ee:00:00:01', 'de:ad:be:ef:00:01']);
  });

  it('flags a clone that spoofs the address too, by its telemetry counters and its signal', async () => {
    const { world, scanner, fleet, seen } = await site();
    await scanner.start();
    await world.advance(3000);
    world.clone('Counter', {
      address: 'c0:ff:ee:00:00:02',
      tlm: 'reset',
      rssi: fixedDistance(0.5, { noiseDb: 1 }),
    });
    await world.advance(10_000);
    const kinds = new Set(seen.clones.filter((x) => x.id === COUNTER_ID).map((x) => x.kind));
    expect(kinds.has('tlm-uptime-inconsistent') || kinds.has('tlm-counter-backwards')).toBe(true);
    expect(kinds.has('rssi-clusters')).toBe(true);
    expect(fleet.cloneSuspected(COUNTER_ID)).toBe(true);
  });

  it('counts advertisements that are not beacons without emitting them', async () => {
    const { scanner, controller, seen } = await site();
    await scanner.start();
    await controller.settle();
    const headphones = Buffer.from([0x02, 0x01, 0x06, 0x05, 0x09, 0x42, 0x75, 0x64, 0x73]); // flags, name "Buds"
    controller.report({ address: '11:22:33:44:55:66', data: headphones, rssi: -70 });
    expect(scanner.stats()).toMatchObject({ reports: 1, notBeacons: 1, frames: 0 });
    expect(seen.frames).toEqual([]);
  });

  it('hands every frame the encoders produce to the parser unchanged through noble', async () => {
    const { scanner, controller, seen } = await site();
    await scanner.start();
    const hex = (n: number) =>
      fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
    const i8 = fc.integer({ min: -100, max: 20 });
    const frame: fc.Arbitrary<BeaconFrame> = fc.oneof(
      fc.tuple(hex(16), fc.nat(0xffff), fc.nat(0xffff), i8).map(([u, major, minor, measuredPower]) => ({
        ok: true as const,
        kind: 'ibeacon' as const,
        uuid: `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`.toUpperCase(),
        major,
        minor,
        measuredPower,
      })),
      fc.tuple(hex(10), hex(6), i8).map(([namespace, instance, txPower]) => ({
        ok: true as const,
        kind: 'eddystone-uid' as const,
        txPower,
        namespace,
        instance,
      })),
      fc
        .tuple(
          fc.nat(0xffff),
          fc.option(fc.integer({ min: -32767, max: 32767 })),
          fc.nat(),
          fc.nat(4_000_000),
        )
        .map(([batteryMv, t, advCount, tenths]) => ({
          ok: true as const,
          kind: 'eddystone-tlm' as const,
          version: 0 as const,
          batteryMv,
          temperatureC: t === null ? null : t / 256,
          advCount,
          uptimeS: tenths / 10,
        })),
    );
    const address = hex(6).map((h) => h.match(/../g)!.join(':'));
    await fc.assert(
      fc.asyncProperty(frame, address, fc.integer({ min: -100, max: -20 }), async (f, addr, rssi) => {
        seen.frames.length = 0;
        const { ok: _ok, ...input } = f;
        expect(controller.report({ address: addr, data: encodeAdvertisement(input), rssi })).toBe(true);
        expect(seen.frames).toEqual([f]);
      }),
      { numRuns: 150 },
    );
  });

  it('verifies shake claims from a simulated burst against the fleet and the rotating ids', async () => {
    const { world, scanner, fleet } = await site();
    await scanner.start();
    await world.advance(5000);
    const verifier = new RotatingBeaconVerifier({
      static: [DOOR_ID, COUNTER_ID],
      rotating: [{ uuid: WECHAT_SHAKE_UUID, major: 10002, rotation }],
      presence: fleet,
    });
    const claims = claimBurst({
      targets: [world.get('Door'), world.get('Rotating')],
      at: world.now - 2000,
      users: 30,
      spreadMs: 2000,
      replayFraction: 0.2,
      forgedFraction: 0.2,
      seed: 3,
    });
    for (const c of claims) {
      const v = verifier.verify(c.beaconId, c.seenAt);
      const rotating = c.beaconId.includes(':10002:');
      if (c.intent === 'honest') expect(v.ok, `${c.beaconId} ${JSON.stringify(v)}`).toBe(true);
      if (c.intent === 'forged') expect(v).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
      if (c.intent === 'replayed' && rotating)
        expect(v).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconStale });
    }
    expect(verifier.verify(world.get('Rotating').idAt(world.now), world.now)).toEqual({
      ok: true,
      canonicalId: ROTATING_ID,
    });
  });
});

describe('BLE adapter availability', () => {
  it('refuses to start with BleUnavailable naming the adapter state when the adapter stays powered off', async () => {
    const { scanner } = await site({ powered: false, poweredOnTimeoutMs: 300 });
    const err = await expectVendgateError(scanner.start(), ErrorCode.BleUnavailable);
    expect(err.message).toMatch(/poweredOff/);
  });

  it('reports the adapter going off mid-scan and resumes scanning when it comes back', async () => {
    const { world, scanner, controller, seen } = await site();
    await scanner.start();
    await world.advance(1000);
    const lost = new Promise<Error>((r) => scanner.once('error', r));
    controller.setPowered(false); // noble polls the adapter every second
    expect(await lost).toMatchObject({ code: ErrorCode.BleUnavailable });
    const back = new Promise<ScanRestart>((r) => scanner.once('restart', r));
    controller.setPowered(true);
    expect(await back).toMatchObject({ cause: 'powered-on' });
    const before = seen.frames.length;
    await world.advance(1000);
    expect(seen.frames.length).toBeGreaterThan(before);
  });

  it('loads the real noble only on demand, and on a machine without Bluetooth says what is missing', async () => {
    const outcome = await loadNoble().then(
      () => 'loaded' as const,
      (e: unknown) => e,
    );
    if (outcome === 'loaded') return; // this machine has a Bluetooth stack: nothing to report
    expect(outcome).toBeInstanceOf(VendgateError);
    expect(outcome).toMatchObject({ code: ErrorCode.BleUnavailable });
    expect((outcome as Error).message).toMatch(/^BLE is unavailable: /);
  });
});
