import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, errorCodeName } from '../../core/errors.ts';
import {
  BEACON,
  BEACON_2,
  CNY,
  campaignSpec,
  eventsOf,
  openRig,
  type Rig,
  rowCount,
  WECHAT_UUID,
} from '../../test/support/coupons.ts';
import { cleanupsAfterEach } from '../../testing/index.ts';
import { GroupCommit } from '../store/group-commit.ts';
import type { ClaimResult } from './engine.ts';
import type { BeaconVerifier } from './verifier.ts';

const HOUR = 3_600_000;

describe('coupon claims', () => {
  const cleanups = cleanupsAfterEach();
  let rig: Rig;

  beforeEach(() => {
    rig = openRig(cleanups);
  });

  const claim = (userId: string, over: Record<string, unknown> = {}) =>
    rig.engine.claim({ userId, beaconId: BEACON, seenAt: rig.clock.now, ...over });

  it('issues exactly the budget under a burst of 10,000 concurrent claims, with no user above the daily cap', async () => {
    expect(rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 3 })).ok).toBe(true);
    // 4,000 users: most claim once or twice, a tenth hammer it twenty times.
    const claims: Promise<ClaimResult>[] = [];
    let i = 0;
    while (claims.length < 10_000) {
      const u = i % 4000;
      const times = u % 10 === 0 ? 20 : 1 + (u % 2);
      for (let k = 0; k < times && claims.length < 10_000; k++) claims.push(claim(`openid-${u}`));
      i++;
    }
    const results = await Promise.all(claims);

    const issued = results.filter((r) => r.ok);
    const refused = results.filter((r) => !r.ok);
    expect(issued).toHaveLength(1000);
    expect(refused).toHaveLength(9000);
    for (const r of refused) {
      expect(errorCodeName(r.code)).toMatch(/^Coupon/);
      expect(r.reason.length).toBeGreaterThan(10);
    }
    const codes = new Set(refused.map((r) => (r.ok ? 0 : r.code)));
    expect(codes).toEqual(new Set([ErrorCode.CouponBudgetExhausted, ErrorCode.CouponUserCapReached]));

    const perUser = rig.db
      .prepare('SELECT user_ref, COUNT(*) AS n FROM coupons GROUP BY user_ref ORDER BY n DESC LIMIT 1')
      .get() as { n: number };
    expect(perUser.n).toBeLessThanOrEqual(3);
    expect(rig.db.prepare('SELECT COUNT(*) AS n FROM coupons').get()).toEqual({ n: 1000 });
    expect(new Set(issued.map((r) => (r.ok ? r.coupon.code : ''))).size).toBe(1000);
    const status = rig.engine.campaign('spring')!;
    expect(status.issued.count).toBe(1000);
    expect(status.state).toBe('exhausted');

    expect(eventsOf(rig.outbox, 'coupon.issued')).toHaveLength(1000);
    // Every decision reaches the platform: each refusal is its own event
    // (telemetry, so the outbox bound protects the uplink from a flood), and
    // every decision is also on record in the claims table.
    const refusedEvents = eventsOf(rig.outbox, 'coupon.refused');
    expect(refusedEvents).toHaveLength(9000);
    expect(refusedEvents.every((e) => typeof e.data.reason === 'string' && e.data.code !== undefined)).toBe(
      true,
    );
    expect(rig.db.prepare('SELECT COUNT(*) AS n FROM coupon_claims WHERE code IS NOT NULL').get()).toEqual({
      n: 9000,
    });
    expect(eventsOf(rig.outbox, 'campaign.state').map((e) => e.data.change)).toEqual([
      'upserted',
      'exhausted',
    ]);
  });

  it('decides the other claims of a burst when one claim fails unexpectedly, and rejects only that one', async () => {
    const verifier: BeaconVerifier = {
      verify(beaconId) {
        if (beaconId.endsWith(':666')) throw new Error('verifier bug');
        return { ok: true };
      },
    };
    rig = openRig(cleanups, { verifier });
    expect(rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 1 })).ok).toBe(true);
    const bad = `ibeacon:${WECHAT_UUID}:10001:666`;
    const results = await Promise.allSettled([
      claim('openid-1'),
      claim('openid-2', { beaconId: bad }),
      claim('openid-3'),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value.ok)).toHaveLength(2);
    expect(rig.db.prepare('SELECT COUNT(*) AS n FROM coupons').get()).toEqual({ n: 2 });
    expect(eventsOf(rig.outbox, 'coupon.issued')).toHaveLength(2);
  });

  it('enforces the money budget as the sum of each coupon’s largest discount', async () => {
    rig.engine.upsertCampaign(
      campaignSpec({
        value: { kind: 'percent', percent: 50, maxDiscount: CNY(200) },
        budget: { count: 1000, money: CNY(1000) },
        perUserPerDay: 100,
      }),
    );
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => claim(`u${i}`)));
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    const refusals = results.filter((r) => !r.ok);
    expect(refusals).toHaveLength(15);
    for (const r of refusals) expect(r.ok ? 0 : r.code).toBe(ErrorCode.CouponMoneyBudgetExhausted);
    expect(rig.engine.campaign('spring')!.issued.money).toEqual(CNY(1000));
  });

  it('refuses a beacon the verifier does not know, and a stale or cloned rotating id', async () => {
    // A rotating-minor verifier: the minor changes every 10 minutes; only the
    // current one (and the previous, for shakes in flight) is accepted.
    const minorAt = (t: number) => 1000 + (Math.floor(t / 600_000) % 50_000);
    const rotating: BeaconVerifier = {
      verify(beaconId, seenAt) {
        const m = /^ibeacon:([0-9A-F-]+):77:(\d+)$/.exec(beaconId);
        if (!m || m[1] !== WECHAT_UUID)
          return { ok: false, code: ErrorCode.CouponBeaconUnknown, reason: 'not ours' };
        const minor = Number(m[2]);
        if (minor === minorAt(seenAt) || minor === minorAt(seenAt - 600_000)) return { ok: true };
        return {
          ok: false,
          code: ErrorCode.CouponBeaconStale,
          reason: `minor ${minor} is not current (cloned?)`,
        };
      },
    };
    rig = openRig(cleanups, { verifier: rotating });
    rig.engine.upsertCampaign(campaignSpec({ beacons: [`ibeacon:${WECHAT_UUID}:77:*`], perUserPerDay: 10 }));

    const now = rig.clock.now;
    const current = `ibeacon:${WECHAT_UUID}:77:${minorAt(now)}`;
    expect((await claim('alice', { beaconId: current })).ok).toBe(true);

    // Someone recorded that id and replays it an hour later.
    rig.clock.now += HOUR;
    const replay = await claim('mallory', { beaconId: current });
    expect(replay).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconStale });
    const foreign = await claim('mallory', { beaconId: `ibeacon:${WECHAT_UUID}:99:1` });
    expect(foreign).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });
    const garbage = await claim('mallory', { beaconId: 'not-a-beacon' });
    expect(garbage).toMatchObject({ ok: false, code: ErrorCode.CouponBeaconUnknown });

    const refused = eventsOf(rig.outbox, 'coupon.refused').map((e) => e.data.code);
    expect(refused).toEqual([
      ErrorCode.CouponBeaconStale,
      ErrorCode.CouponBeaconUnknown,
      ErrorCode.CouponBeaconUnknown,
    ]);
  });

  it('refuses claims outside the daily local-time window, and honours windows that span midnight', async () => {
    rig.engine.upsertCampaign(
      campaignSpec({
        perUserPerDay: 100,
        windows: [
          { days: [1, 2, 3, 4, 5], from: '11:00', to: '14:00' },
          { days: [6], from: '22:00', to: '02:00' },
        ],
      }),
    );
    const at = (iso: string) => {
      rig.clock.now = Date.parse(iso);
      return claim('walker');
    };
    expect((await at('2026-03-02T11:00:00+08:00')).ok).toBe(true); // Monday, opening minute
    expect(await at('2026-03-02T14:00:00+08:00')).toMatchObject({ code: ErrorCode.CouponOutsideWindow });
    expect(await at('2026-03-02T10:59:00+08:00')).toMatchObject({ code: ErrorCode.CouponOutsideWindow });
    expect(await at('2026-03-08T13:00:00+08:00')).toMatchObject({ code: ErrorCode.CouponOutsideWindow }); // Sunday
    expect((await at('2026-03-07T23:30:00+08:00')).ok).toBe(true); // Saturday night
    expect((await at('2026-03-08T01:30:00+08:00')).ok).toBe(true); // ...into Sunday morning
    expect(await at('2026-03-08T02:00:00+08:00')).toMatchObject({ code: ErrorCode.CouponOutsideWindow });
    // 12:00 in Shanghai is 04:00 UTC: the window is local, not UTC.
    expect(await at('2026-03-03T12:00:00Z')).toMatchObject({ code: ErrorCode.CouponOutsideWindow });
  });

  it('refuses claims before the start, after the end, after campaign.end, and stale shakes', async () => {
    const now = rig.clock.now;
    rig.engine.upsertCampaign(
      campaignSpec({ startsAt: now + HOUR, endsAt: now + 2 * HOUR, perUserPerDay: 9 }),
    );
    expect(await claim('a')).toMatchObject({ code: ErrorCode.CouponCampaignNotActive });
    rig.clock.now = now + 90 * 60_000;
    expect((await claim('a')).ok).toBe(true);
    expect(await claim('a', { seenAt: now - 10 * 60_000 })).toMatchObject({
      code: ErrorCode.CouponClaimStale,
    });
    expect(await claim('a', { seenAt: rig.clock.now + 60_000 })).toMatchObject({
      code: ErrorCode.CouponClaimStale,
    });
    expect(await claim('a', { campaignId: 'nope' })).toMatchObject({ code: ErrorCode.CouponCampaignUnknown });
    expect(rig.engine.endCampaign('spring', 'sold out early')).toMatchObject({ ok: true, changed: true });
    expect(await claim('a')).toMatchObject({ code: ErrorCode.CouponCampaignNotActive });
    expect(await claim('a', { campaignId: 'spring' })).toMatchObject({
      code: ErrorCode.CouponCampaignNotActive,
    });
    expect(rig.engine.upsertCampaign(campaignSpec())).toMatchObject({
      ok: false,
      code: ErrorCode.CouponCampaignNotActive,
    });
    expect(eventsOf(rig.outbox, 'campaign.state').map((e) => [e.data.change, e.data.reason])).toEqual([
      ['upserted', undefined],
      ['ended', 'sold out early'],
    ]);
  });

  it('tries the campaigns covering the beacon in turn when the claim names none', async () => {
    rig.engine.upsertCampaign(
      campaignSpec({ id: 'first', beacons: [BEACON], budget: { count: 1, money: CNY(100) } }),
    );
    rig.engine.upsertCampaign(campaignSpec({ id: 'second', beacons: [BEACON], startsAt: rig.clock.now - 1 }));
    rig.engine.upsertCampaign(campaignSpec({ id: 'elsewhere', beacons: [BEACON_2] }));
    const a = await claim('a');
    const b = await claim('b');
    expect(a.ok && a.coupon.campaignId).toBe('first');
    expect(b.ok && b.coupon.campaignId).toBe('second');
    expect(await claim('c', { campaignId: 'elsewhere' })).toMatchObject({
      code: ErrorCode.CouponBeaconUnknown,
    });
  });

  it('counts the per-user cap per local day', async () => {
    rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 1 }));
    expect((await claim('a')).ok).toBe(true);
    expect(await claim('a')).toMatchObject({ code: ErrorCode.CouponUserCapReached });
    expect((await claim('b')).ok).toBe(true);
    // 23:59 the same day in Shanghai, then 00:00 the next.
    rig.clock.now = Date.parse('2026-03-02T23:59:00+08:00');
    expect(await claim('a')).toMatchObject({ code: ErrorCode.CouponUserCapReached });
    rig.clock.now = Date.parse('2026-03-03T00:00:00+08:00');
    expect((await claim('a')).ok).toBe(true);
  });

  it('stores and logs user ids only as a keyed pseudonym: the raw id is nowhere in the database files', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    rig = openRig(cleanups, { engine: { log: pino({ level: 'debug' }, sink) } });
    rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 1 }));
    const rawId = 'oWx9-raw-openid-Zq7Lk2mP4sT8vN1c';
    const first = await claim(rawId, { claimId: 'ticket-1' });
    expect(first.ok).toBe(true);
    expect((await claim(rawId)).ok).toBe(false);
    expect(await claim('someone', { beaconId: 'ibeacon:bogus' })).toMatchObject({ ok: false });

    const ref = rig.engine.userRef(rawId);
    expect(ref).toMatch(/^[0-9a-f]{32}$/);
    expect(eventsOf(rig.outbox, 'coupon.issued')[0]!.data).toMatchObject({
      userRef: ref,
      claimId: 'ticket-1',
    });
    expect(lines.join('')).toContain(ref);
    expect(lines.join('')).not.toContain(rawId);
    rig.db.close();
    const needles = [Buffer.from(rawId, 'utf8'), Buffer.from(rawId, 'utf16le'), Buffer.from('raw-openid')];
    const files = readdirSync(rig.dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const bytes = readFileSync(join(rig.dir, f));
      for (const n of needles) expect(bytes.includes(n), `${f} contains the raw user id`).toBe(false);
    }
    // A different key gives unlinkable references.
    const other = openRig(cleanups, { engine: { userKey: 'another-gateway-key-abcdefghijk' } });
    expect(other.engine.userRef(rawId)).not.toBe(ref);
  });

  it('decides claims in the group commit it is given, in one transaction with the other work of the turn', async () => {
    const commits = new GroupCommit(rig.db);
    rig = openRig(cleanups, { dir: rig.dir, engine: { commits } });
    rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 1 }));
    const other = commits.run(() =>
      rig.outbox.append('vend.succeeded', {
        orderId: 'order-0001',
        machineId: 'm1',
        slot: 1,
        price: CNY(100),
      }),
    );
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => claim(`u${i % 40}`)));
    await other;
    expect(results.filter((r) => r.ok)).toHaveLength(40);
    expect(commits.stats).toEqual({ batches: 1, units: 51 });
    expect(eventsOf(rig.outbox, 'coupon.issued')).toHaveLength(40);
  });

  it('decides a claim synchronously with claimNow, committed before it returns', () => {
    rig.engine.upsertCampaign(campaignSpec({ perUserPerDay: 1 }));
    const first = rig.engine.claimNow({ userId: 'a', beaconId: BEACON, seenAt: rig.clock.now });
    expect(first.ok).toBe(true);
    expect(rig.engine.claimNow({ userId: 'a', beaconId: BEACON, seenAt: rig.clock.now })).toMatchObject({
      code: ErrorCode.CouponUserCapReached,
    });
    // A second connection to the file sees the decision: it is committed.
    const reader = openRig(cleanups, { dir: rig.dir });
    expect(rowCount(reader.db, 'coupons')).toBe(1);
    expect(rowCount(reader.db, 'coupon_claims')).toBe(2);
  });
});
