import { join } from 'node:path';
import type { CampaignSpec } from '../../contract/coupons.ts';
import type { ConfigInput } from '../../gateway/config/schema.ts';
import { CouponEngine, type CouponEngineOptions } from '../../gateway/coupons/engine.ts';
import { type BeaconVerifier, StaticBeaconVerifier } from '../../gateway/coupons/verifier.ts';
import { Outbox } from '../../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../../gateway/store/db.ts';
// Not the testing/ entry: that pulls in vitest, and the claim worker fixture
// runs this in a plain node process.
import type { Cleanup } from '../../testing/cleanups.ts';
import { tempDir } from '../../testing/tmp.ts';

/**
 * The coupon tests' world: beacons, a campaign, and a rig of a real SQLite
 * store on disk with an outbox and an engine on a test clock. Used by the
 * unit tests in gateway/coupons and the end-to-end tests here.
 */

export const WECHAT_UUID = 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825';
export const BEACON = `ibeacon:${WECHAT_UUID}:10001:1`;
export const BEACON_2 = `ibeacon:${WECHAT_UUID}:10001:2`;
export const TEST_KEY = 'test-gateway-user-key-0123456789';
/** Monday 2 March 2026, 12:00 in Shanghai (04:00 UTC). */
export const MONDAY_NOON_SHANGHAI = Date.parse('2026-03-02T12:00:00+08:00');

export const CNY = (amount: number) => ({ amount, currency: 'CNY' });

export function campaignSpec(over: Partial<CampaignSpec> = {}): CampaignSpec {
  return {
    id: 'spring',
    name: 'Spring shake',
    value: { kind: 'fixed', amount: CNY(100) },
    validityMs: 7 * 86_400_000,
    beacons: [BEACON, BEACON_2],
    timeZone: 'Asia/Shanghai',
    windows: [],
    budget: { count: 1000, money: CNY(1_000_000) },
    perUserPerDay: 2,
    startsAt: MONDAY_NOON_SHANGHAI - 86_400_000,
    endsAt: MONDAY_NOON_SHANGHAI + 30 * 86_400_000,
    ...over,
  };
}

export interface Rig {
  db: Db;
  outbox: Outbox;
  engine: CouponEngine;
  clock: { now: number };
  /** The directory of the store file (shared by rigs opened with the same `dir`). */
  dir: string;
  path: string;
}

export interface RigOptions {
  /** The directory to put the store in; default a fresh temporary one, removed by the cleanups. */
  dir?: string;
  /** The store's file name in `dir`. Default coupons.db. */
  file?: string;
  verifier?: BeaconVerifier;
  engine?: Partial<CouponEngineOptions>;
}

/**
 * Opens a store on disk, an outbox and an engine on it, on a clock starting
 * at MONDAY_NOON_SHANGHAI. The store is closed (and a temporary directory
 * removed) by `cleanups`.
 */
export function openRig(cleanups: Cleanup[], opts: RigOptions = {}): Rig {
  let dir = opts.dir;
  if (dir === undefined) {
    const tmp = tempDir('vendgate-coupons-');
    cleanups.push(tmp.cleanup);
    dir = tmp.dir;
  }
  const path = join(dir, opts.file ?? 'coupons.db');
  const clock = { now: MONDAY_NOON_SHANGHAI };
  const db = openStore({ path, synchronous: 'normal' });
  cleanups.push(() => {
    if (db.open) db.close();
  });
  const outbox = new Outbox(db, {
    gatewayId: 'gw1',
    maxRows: 1_000_000,
    telemetryTtlMs: 3_600_000,
    now: () => clock.now,
  });
  const engine = new CouponEngine({
    db,
    outbox,
    verifier: opts.verifier ?? new StaticBeaconVerifier([BEACON, BEACON_2]),
    userKey: TEST_KEY,
    now: () => clock.now,
    ...opts.engine,
  });
  return { db, outbox, engine, clock, dir, path };
}

/** The events in the outbox, oldest first, optionally of one type. */
export function eventsOf(outbox: Outbox, type?: string): { type: string; data: Record<string, unknown> }[] {
  const out: { type: string; data: Record<string, unknown> }[] = [];
  let after = 0;
  for (;;) {
    const rows = outbox.pendingAfter(after, 10_000);
    if (rows.length === 0) return out;
    for (const r of rows) {
      if (type === undefined || r.type === type) {
        const env = JSON.parse(r.envelope) as { type: string; data: Record<string, unknown> };
        out.push({ type: env.type, data: env.data });
      }
    }
    after = rows.at(-1)!.seq;
  }
}

/** How many rows a table of the rig's store holds. */
export function rowCount(db: Db, table: string): number {
  return (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
}

export const TEST_BEACON = 'ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:12345';

/**
 * The `coupons` config section the end-to-end tests use: one running
 * campaign taking 1 CNY off, a budget of 10 coupons, one per user per day.
 */
export function oneYuanOffCoupons(campaignId: string): NonNullable<ConfigInput['coupons']> {
  return {
    userKey: 'test-user-key-0123456789',
    beacons: [TEST_BEACON],
    campaigns: [
      {
        id: campaignId,
        name: 'One yuan off',
        value: { kind: 'fixed', amount: { amount: 100, currency: 'CNY' } },
        beacons: [TEST_BEACON],
        timeZone: 'Asia/Shanghai',
        windows: [],
        budget: { count: 10, money: { amount: 1000, currency: 'CNY' } },
        perUserPerDay: 1,
        startsAt: Date.now() - 60_000,
        endsAt: Date.now() + 3600_000,
      },
    ],
  };
}
