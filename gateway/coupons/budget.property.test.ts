import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BEACON, BEACON_2, CNY, campaignSpec, openRig } from '../../test/support/coupons.ts';
import { cleanupsAfterEach } from '../../testing/index.ts';
import { catalogFrom } from '../ledger/catalog.ts';
import { OrderLedger } from '../ledger/ledger.ts';
import { localTime } from './time.ts';
import { discountFor } from './value.ts';

type Action =
  | { kind: 'claims'; users: number[]; campaign: 'a' | 'b' | undefined; beacon: 0 | 1 | 2 }
  | { kind: 'advance'; ms: number }
  | { kind: 'redeem'; coupon: number; order: number; underpay: boolean }
  | { kind: 'budget'; count: number; money: number }
  | { kind: 'expire' };

const action: fc.Arbitrary<Action> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('claims' as const),
      users: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 12 }),
      campaign: fc.constantFrom('a' as const, 'b' as const, undefined),
      beacon: fc.constantFrom(0 as const, 1 as const, 2 as const),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      ms: fc.integer({ min: 0, max: 20 * 3_600_000 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('redeem' as const),
      coupon: fc.nat(),
      order: fc.integer({ min: 0, max: 30 }),
      underpay: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('budget' as const),
      count: fc.integer({ min: 1, max: 12 }),
      money: fc.integer({ min: 100, max: 2000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('expire' as const) }) },
);

const CAP = 2;
const BEACONS = [BEACON, BEACON_2, 'ibeacon:00000000-0000-0000-0000-000000000000:1:1'];

describe('coupon budgets and caps (property)', () => {
  const cleanups = cleanupsAfterEach();

  it('never issue more than the budget in force nor more than the per-user daily cap, and redeem each coupon at most once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { maxLength: 40 }), async (actions) => {
        const rig = openRig(cleanups);
        try {
          const ledger = new OrderLedger({
            db: rig.db,
            outbox: rig.outbox,
            now: () => rig.clock.now,
            coupons: rig.engine,
            catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1, price: CNY(300) }] }]),
          });
          const specA = (count: number, money: number) =>
            campaignSpec({
              id: 'a',
              beacons: [BEACON],
              value: { kind: 'fixed', amount: CNY(100) },
              budget: { count, money: CNY(money) },
              perUserPerDay: CAP,
              validityMs: 6 * 3_600_000,
            });
          rig.engine.upsertCampaign(specA(8, 700));
          rig.engine.upsertCampaign(
            campaignSpec({
              id: 'b',
              beacons: [BEACON, BEACON_2],
              value: { kind: 'percent', percent: 20, maxDiscount: CNY(50) },
              budget: { count: 10, money: CNY(300) },
              perUserPerDay: CAP,
              windows: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '08:00', to: '20:00' }],
            }),
          );
          const codes: string[] = [];

          for (const a of actions) {
            const before = new Map(rig.engine.campaigns().map((c) => [c.id, c]));
            if (a.kind === 'claims') {
              const results = await Promise.all(
                a.users.map((u) =>
                  rig.engine.claim({
                    userId: `user-${u}`,
                    campaignId: a.campaign,
                    beaconId: BEACONS[a.beacon]!,
                    seenAt: rig.clock.now,
                  }),
                ),
              );
              for (const r of results) if (r.ok) codes.push(r.coupon.code);
              // Each campaign issued at most what its budget had left when the burst began.
              for (const c of rig.engine.campaigns()) {
                const b = before.get(c.id)!;
                const issued = c.issued.count - b.issued.count;
                expect(issued).toBeLessThanOrEqual(Math.max(0, b.budget.count - b.issued.count));
                expect(c.issued.money.amount).toBeLessThanOrEqual(
                  Math.max(b.budget.money.amount, b.issued.money.amount),
                );
              }
            } else if (a.kind === 'advance') {
              rig.clock.now += a.ms;
            } else if (a.kind === 'redeem' && codes.length > 0) {
              const code = codes[a.coupon % codes.length]!;
              const q = rig.engine.quote(code, CNY(300), 'm1');
              const c = rig.engine.coupon(code)!;
              const price = CNY(300 - discountFor(c.value, 300) - (a.underpay ? 1 : 0));
              const r = ledger.receivePaid({
                orderId: `order-${String(a.order).padStart(4, '0')}`,
                machineId: 'm1',
                slot: 1,
                price,
                provider: 'wechat',
                expiresAt: rig.clock.now + 60_000,
                couponCode: code,
              });
              if (r.kind === 'accepted') {
                expect(q.ok).toBe(true);
                expect(a.underpay).toBe(false);
              }
            } else if (a.kind === 'budget') {
              rig.engine.upsertCampaign(specA(a.count, a.money));
            } else if (a.kind === 'expire') {
              rig.engine.expire();
            }
          }

          // Per user, campaign and local day: never above the cap.
          const coupons = rig.db.prepare('SELECT campaign_id, user_ref, issued_at FROM coupons').all() as {
            campaign_id: string;
            user_ref: string;
            issued_at: number;
          }[];
          const perDay = new Map<string, number>();
          for (const c of coupons) {
            const key = `${c.campaign_id}|${c.user_ref}|${localTime(c.issued_at, 'Asia/Shanghai').day}`;
            perDay.set(key, (perDay.get(key) ?? 0) + 1);
          }
          for (const n of perDay.values()) expect(n).toBeLessThanOrEqual(CAP);
          // The campaign counters agree with the coupons, and b never exceeded its fixed budget.
          for (const c of rig.engine.campaigns()) {
            expect(coupons.filter((x) => x.campaign_id === c.id)).toHaveLength(c.issued.count);
          }
          const b = rig.engine.campaign('b')!;
          expect(b.issued.count).toBeLessThanOrEqual(10);
          expect(b.issued.money.amount).toBeLessThanOrEqual(300);
          // Each coupon on at most one order, and every redeemed coupon on exactly its accepted order.
          const onOrders = rig.db
            .prepare(
              'SELECT coupon_id, COUNT(*) AS n FROM orders WHERE coupon_id IS NOT NULL GROUP BY coupon_id',
            )
            .all() as { coupon_id: string; n: number }[];
          for (const o of onOrders) expect(o.n).toBe(1);
          const redeemed = rig.db
            .prepare(
              "SELECT c.coupon_id, o.order_id FROM coupons c LEFT JOIN orders o ON o.coupon_id = c.coupon_id WHERE c.state = 'redeemed'",
            )
            .all() as { coupon_id: string; order_id: string | null }[];
          expect(redeemed.length).toBe(onOrders.length);
          for (const r of redeemed) expect(r.order_id).not.toBeNull();
        } finally {
          // Each run's store closes now; the temporary directories go after the test.
          rig.db.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
