/**
 * The beacon service end to end in simulate mode: the configured beacons
 * advertise in the beacon simulator, noble's own HCI stack hears them on the
 * virtual controller, the scanner and the fleet turn that into presence,
 * health and clone evidence, and the service queues it as platform events in
 * a real SQLite outbox, while its verifier answers shake claims.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../contract/events.ts';
import { ErrorCode } from '../core/errors.ts';
import { createRootLogger, type Log, silentLogger } from '../core/log.ts';
import { RotatingMinor, WECHAT_SHAKE_UUID } from '../devices/beacon/rotating-id.ts';
import {
  type DemoBeaconSite,
  type DemoSiteTuning,
  startDemoBeaconSite,
} from '../firmware-sim/beacons/demo-site.ts';
import { BleConfig, type BleConfigInput } from '../gateway/beacons/config.ts';
import { type BeaconService, startBeaconService } from '../gateway/beacons/service.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { expectVendgateError } from '../testing/errors.ts';

const NS = '8b0ca750095477cb3e77';
const DOOR = `ibeacon:${WECHAT_SHAKE_UUID}:10001:1`;
const COUNTER = `eddystone:${NS}:000000000001`;
const ROTATING = `ibeacon:${WECHAT_SHAKE_UUID}:10002:0`;
const SECRET_ENV = 'VENDGATE_TEST_ROTATION_SECRET';
const SECRET = 'beacons-e2e-rotation-secret-0123456789';
const WINDOW_SEC = 60;

const SITE_BEACONS: BleConfigInput['beacons'] = [
  { id: DOOR, name: 'Door', location: 'entrance' },
  { id: COUNTER, name: 'Counter', location: 'till' },
  { id: ROTATING, name: 'Shelf', rotating: { secretEnv: SECRET_ENV, windowSec: WINDOW_SEC } },
];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  svc: BeaconService<DemoBeaconSite>;
  db: Db;
  outbox: Outbox;
  notified: () => number;
}

async function start(
  opts: {
    config?: BleConfigInput;
    simulation?: DemoSiteTuning;
    log?: Log;
    nobleForTests?: Parameters<typeof startBeaconService>[0]['nobleForTests'];
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'vendgate-beacons-'));
  const db = openStore({ path: join(dir, 'vendgate.db') });
  const outbox = new Outbox(db, { gatewayId: 'gw-beacons', maxRows: 50_000, telemetryTtlMs: 3_600_000 });
  let notified = 0;
  const tuning = opts.simulation ?? { speed: 4, tickMs: 50, cloneOf: COUNTER, cloneAfterMs: 6000 };
  const svc = await startBeaconService({
    config: BleConfig.parse(opts.config ?? { simulate: true, beacons: SITE_BEACONS }),
    db,
    outbox,
    notify: () => {
      notified++;
    },
    log: opts.log ?? silentLogger(),
    env: { [SECRET_ENV]: SECRET },
    simulatedRadio: (site) => startDemoBeaconSite({ ...tuning, ...site }),
    ...(opts.nobleForTests ? { nobleForTests: opts.nobleForTests } : {}),
  });
  cleanups.push(async () => {
    await svc.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { svc, db, outbox, notified: () => notified };
}

function events(outbox: Outbox): EventEnvelope[] {
  return outbox.pendingAfter(0, 100_000).map((r) => JSON.parse(r.envelope) as EventEnvelope);
}

/** Polls the outbox until an event matches, for at most `withinMs` (then fails naming what was there). */
async function waitForEvent(
  outbox: Outbox,
  type: string,
  match: (data: Record<string, unknown>) => boolean = () => true,
  withinMs = 20_000,
): Promise<EventEnvelope & { data: Record<string, unknown> }> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const hit = events(outbox).find((e) => e.type === type && match(e.data as Record<string, unknown>));
    if (hit) return hit as EventEnvelope & { data: Record<string, unknown> };
    if (Date.now() > deadline) {
      const seen = events(outbox).map((e) => `${e.type} ${JSON.stringify(e.data)}`);
      throw new Error(
        `no ${type} event matched within ${withinMs} ms; the outbox holds:\n${seen.join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the beacon service on the simulated site', () => {
  it('reports every configured beacon the scanner hears as a beacon.found event in the outbox', async () => {
    const { svc, outbox, notified } = await start();
    expect(await svc.ready).toBe('scanning');
    expect(svc.scanner).not.toBeNull();
    const door = await waitForEvent(outbox, 'beacon.found', (d) => d.beaconId === DOOR);
    const counter = await waitForEvent(outbox, 'beacon.found', (d) => d.beaconId === COUNTER);
    const shelf = await waitForEvent(outbox, 'beacon.found', (d) => d.beaconId === ROTATING);
    expect(door.data).toMatchObject({ name: 'Door', location: 'entrance', address: 'c0:ff:ee:00:00:01' });
    expect(door.data.rssi as number).toBeLessThan(-40);
    expect(door.data.distanceM as number).toBeGreaterThan(0);
    expect(counter.data).toMatchObject({ name: 'Counter', location: 'till' });
    expect(shelf.data).toMatchObject({ name: 'Shelf' });
    expect(door.gatewayId).toBe('gw-beacons');
    expect(notified()).toBeGreaterThanOrEqual(3);
    expect(svc.status()).toMatchObject({ scanner: 'scanning', simulated: true });
  });

  it('reports a beacon.health event carrying the battery and temperature read from Eddystone-TLM', async () => {
    const { outbox } = await start();
    const health = await waitForEvent(
      outbox,
      'beacon.health',
      (d) => d.beaconId === COUNTER && d.battery !== null,
    );
    const battery = health.data.battery as { mv: number; percent: number };
    expect(battery.mv).toBeGreaterThan(2900);
    expect(battery.mv).toBeLessThanOrEqual(3000);
    expect(battery.percent).toBeGreaterThan(80);
    expect(health.data).toMatchObject({ name: 'Counter', location: 'till', reboots: 0 });
    expect(typeof health.data.temperatureC).toBe('number');
    expect(health.data.advCount as number).toBeGreaterThan(0);
  });

  it('reports the clone that appears as a critical beacon.clone_suspected event and refuses claims naming it', async () => {
    const { svc, outbox, db } = await start();
    const clone = await waitForEvent(outbox, 'beacon.clone_suspected', (d) => d.beaconId === COUNTER);
    expect(clone.data).toMatchObject({ name: 'Counter', location: 'till' });
    expect(['two-addresses', 'tlm-counter-backwards', 'tlm-uptime-inconsistent', 'rssi-clusters']).toContain(
      clone.data.kind,
    );
    expect(String(clone.data.reason).length).toBeGreaterThan(10);
    const row = db.prepare('SELECT class FROM outbox WHERE seq = ?').get(clone.seq) as { class: string };
    expect(row.class).toBe('critical');
    expect(svc.verifier.verify(COUNTER, svc.now())).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconStale,
    });
    expect(svc.verifier.verify(DOOR, svc.now())).toMatchObject({ ok: true });
  });

  it('accepts a claim naming a configured beacon the scanner saw recently and refuses an unknown beacon', async () => {
    const { svc, outbox } = await start();
    await waitForEvent(outbox, 'beacon.found', (d) => d.beaconId === DOOR);
    expect(svc.verifier.verify(DOOR, svc.now())).toEqual({ ok: true, canonicalId: DOOR });
    expect(svc.verifier.verify(`ibeacon:${WECHAT_SHAKE_UUID}:10001:2`, svc.now())).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconUnknown,
    });
    expect(svc.verifier.verify(`eddystone:${NS}:0000000000ff`, svc.now())).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconUnknown,
    });
    // Seen, but not near the time of this (an hour-old) shake.
    expect(svc.verifier.verify(DOOR, svc.now() - 3_600_000)).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconStale,
    });
  });

  it("accepts a rotating beacon's current minor and refuses one from an earlier window", async () => {
    const { svc, outbox } = await start();
    await waitForEvent(outbox, 'beacon.found', (d) => d.beaconId === ROTATING);
    const rotation = new RotatingMinor({ secret: SECRET, beaconKey: '10002', windowSec: WINDOW_SEC });
    const now = svc.now();
    const current = rotation.currentMinor(now);
    expect(svc.verifier.verify(`ibeacon:${WECHAT_SHAKE_UUID}:10002:${current}`, now)).toEqual({
      ok: true,
      canonicalId: ROTATING,
    });
    const old = rotation.minorForWindow(rotation.windowAt(now) - 5);
    expect(svc.verifier.verify(`ibeacon:${WECHAT_SHAKE_UUID}:10002:${old}`, now)).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconStale,
    });
    // What the simulated beacon advertises is what the fleet matched: the phone would see this id.
    expect(svc.simulation?.world.get('Shelf').idAt(now)).toBe(
      `ibeacon:${WECHAT_SHAKE_UUID}:10002:${current}`,
    );
  });
});

describe('the beacon service without a Bluetooth adapter', () => {
  it('logs BleUnavailable once, keeps running, and verifies claims by membership alone', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l));
        cb();
      },
    });
    const log = createRootLogger({ level: 'info', destination: sink });
    const noAdapter = async () => {
      throw Object.assign(new Error('socket: EAFNOSUPPORT, Address family not supported by protocol'), {
        code: 'EAFNOSUPPORT',
      });
    };
    const { svc, outbox } = await start({
      config: { scanner: { enabled: true }, beacons: SITE_BEACONS },
      log,
      nobleForTests: noAdapter,
    });
    expect(await svc.ready).toBe('unavailable');
    expect(svc.scanner).toBeNull();
    expect(svc.simulation).toBeNull();
    const errors = lines.filter((l) => l.code === ErrorCode.BleUnavailable);
    expect(errors).toHaveLength(1);
    expect(String(errors[0]!.msg)).toMatch(/^BLE is unavailable: this machine has no Bluetooth sockets/);
    const now = Date.now();
    expect(svc.verifier.verify(DOOR, now)).toMatchObject({ ok: true });
    expect(svc.verifier.verify(COUNTER, now)).toMatchObject({ ok: true });
    expect(svc.verifier.verify(`ibeacon:${WECHAT_SHAKE_UUID}:10001:2`, now)).toMatchObject({
      ok: false,
      code: ErrorCode.CouponBeaconUnknown,
    });
    const rotation = new RotatingMinor({ secret: SECRET, beaconKey: '10002', windowSec: WINDOW_SEC });
    expect(
      svc.verifier.verify(`ibeacon:${WECHAT_SHAKE_UUID}:10002:${rotation.currentMinor(now)}`, now),
    ).toEqual({ ok: true, canonicalId: ROTATING });
    expect(events(outbox)).toEqual([]);
    expect(svc.status().scanner).toBe('unavailable');
  });

  it('refuses to start in simulate mode when no simulated radio was injected, saying what to do', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vendgate-beacons-'));
    const db = openStore({ path: join(dir, 'vendgate.db') });
    cleanups.push(() => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const outbox = new Outbox(db, { gatewayId: 'gw-beacons', maxRows: 100, telemetryTtlMs: 60_000 });
    const started = startBeaconService({
      config: BleConfig.parse({ simulate: true, beacons: SITE_BEACONS }),
      db,
      outbox,
      notify: () => {},
      log: silentLogger(),
      env: { [SECRET_ENV]: SECRET },
    });
    const err = await expectVendgateError(started, ErrorCode.ConfigInvalid);
    expect(err.message).toMatch(/ble\.simulate is on but this process has no beacon simulator/);
  });

  it('refuses to start when a rotating beacon names a secret that is not in the environment', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vendgate-beacons-'));
    const db = openStore({ path: join(dir, 'vendgate.db') });
    cleanups.push(() => {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const outbox = new Outbox(db, { gatewayId: 'gw-beacons', maxRows: 100, telemetryTtlMs: 60_000 });
    const err = await startBeaconService({
      config: BleConfig.parse({ beacons: SITE_BEACONS }),
      db,
      outbox,
      notify: () => {},
      log: silentLogger(),
      env: {},
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ErrorCode.ConfigInvalid });
    expect((err as Error).message).toContain(SECRET_ENV);
  });
});
