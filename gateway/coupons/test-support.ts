import { join } from 'node:path';
import type { CampaignSpec } from '../../contract/coupons.ts';
import { Outbox } from '../outbox/outbox.ts';
import { type Db, openStore } from '../store/db.ts';
import { CouponEngine, type CouponEngineOptions } from './engine.ts';
import { type BeaconVerifier, StaticBeaconVerifier } from './verifier.ts';

/** Shared by the coupon tests and the benchmark: a store on disk, an outbox, an engine. */

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
  path: string;
}

export function openRig(
  dir: string,
  opts: { verifier?: BeaconVerifier; engine?: Partial<CouponEngineOptions>; file?: string } = {},
): Rig {
  const path = join(dir, opts.file ?? 'coupons.db');
  const clock = { now: MONDAY_NOON_SHANGHAI };
  const db = openStore({ path, synchronous: 'normal' });
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
  return { db, outbox, engine, clock, path };
}

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
