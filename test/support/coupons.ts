import type { ConfigInput } from '../../gateway/config/schema.ts';

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
