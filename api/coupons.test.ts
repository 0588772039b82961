import { beforeEach, describe, expect, it } from 'vitest';
import type { BeaconServiceStatus } from '../gateway/beacons/service.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { BEACON, CNY, campaignSpec, openRig, type Rig } from '../test/support/coupons.ts';
import { cleanupsAfterEach } from '../testing/index.ts';
import { type BeaconList, type CampaignList, redeemedTotals } from './coupons.ts';
import { buildApi } from './server.ts';

const BEACONS: BeaconServiceStatus = {
  scanner: 'scanning',
  simulated: false,
  scannerStats: null,
  advertiser: { state: 'off', minor: null },
  beacons: [
    {
      id: BEACON,
      name: 'Lobby door',
      location: undefined,
      present: true,
      firstSeenAt: 1,
      lastSeenAt: 2,
      sightings: 40,
      rssi: -61.5,
      lastRssi: -60,
      distanceM: 1.2,
      address: 'aa:bb:cc:dd:ee:ff',
      batteryMv: 2900,
      batteryPercent: 80,
      temperatureC: 21.5,
      advCount: 1000,
      uptimeS: 3600,
      reboots: 1,
      cloneSuspected: {
        id: BEACON,
        name: 'Lobby door',
        at: 2,
        kind: 'two-addresses',
        reason: 'seen at two addresses at once',
        addresses: ['aa:bb:cc:dd:ee:ff', '11:22:33:44:55:66'],
      },
    },
  ],
};

describe('the coupon and beacon endpoints', () => {
  const cleanups = cleanupsAfterEach();
  let rig: Rig;
  let api: Awaited<ReturnType<typeof buildApi>>;

  beforeEach(async () => {
    rig = openRig(cleanups);
    const ledger = new OrderLedger({
      db: rig.db,
      outbox: rig.outbox,
      now: () => rig.clock.now,
      coupons: rig.engine,
      catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1, price: CNY(350) }] }]),
    });
    api = await buildApi({
      ledger,
      health: () => ({
        status: 'ok',
        gatewayId: 'gw1',
        version: '0',
        uptimeSeconds: 0,
        platform: { connected: true, brokerUrl: 'mqtt://127.0.0.1' },
        machines: [],
        outbox: { pending: 0, dropped: 0, expired: 0, lastSeq: 0 },
        orders: {},
      }),
      coupons: {
        campaigns: () => rig.engine.campaigns(),
        redeemed: redeemedTotals(rig.db),
        beacons: () => BEACONS,
      },
    });
    cleanups.push(() => api.close());
  });

  it('lists each campaign with its budget, what was issued and what was redeemed', async () => {
    rig.engine.upsertCampaign(campaignSpec({ budget: { count: 10, money: CNY(1000) }, perUserPerDay: 5 }));
    const issued: string[] = [];
    for (const userId of ['a', 'b', 'c']) {
      const r = await rig.engine.claim({ userId, beaconId: BEACON, seenAt: rig.clock.now });
      if (!r.ok) throw new Error(`claim refused: ${r.reason}`);
      issued.push(r.coupon.code);
    }
    rig.db.transaction(() =>
      rig.engine.redeemInTx(issued[0]!, {
        orderId: 'cash-0001',
        machineId: 'm1',
        listPrice: CNY(350),
        paid: CNY(250),
      }),
    )();

    const res = await api.inject({ url: '/api/coupons' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as CampaignList;
    expect(body.campaigns).toEqual([
      expect.objectContaining({
        id: 'spring',
        name: 'Spring shake',
        state: 'active',
        budget: { count: 10, money: CNY(1000) },
        issued: { count: 3, money: CNY(300) },
        redeemed: { count: 1, discount: CNY(100) },
      }),
    ]);
  });

  it('answers no campaigns with an empty list', async () => {
    expect((await api.inject({ url: '/api/coupons' })).json()).toEqual({ campaigns: [] });
  });

  it('lists the beacons with their health, a clone suspicion as a flag and its reason, and no device address', async () => {
    const res = await api.inject({ url: '/api/beacons' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as BeaconList;
    expect(body).toEqual({
      scanner: 'scanning',
      simulated: false,
      beacons: [
        {
          id: BEACON,
          name: 'Lobby door',
          location: null,
          present: true,
          lastSeenAt: 2,
          sightings: 40,
          rssi: -61.5,
          batteryMv: 2900,
          batteryPercent: 80,
          temperatureC: 21.5,
          reboots: 1,
          cloneSuspected: true,
          cloneReason: 'seen at two addresses at once',
        },
      ],
    });
    expect(res.body).not.toContain('aa:bb:cc');
  });
});
