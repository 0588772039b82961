/**
 * Read-only REST views of the shake-for-coupon side, for the dashboard and
 * for scripts:
 *
 *   GET /api/coupons   every campaign: state, budget, issued and redeemed
 *   GET /api/beacons   the beacon fleet: scanner state and each beacon's health
 *
 * Nothing here changes a campaign or a beacon: campaigns change only by
 * signed platform commands or the config file.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { Money } from '../core/money.ts';
import type { BeaconServiceStatus } from '../gateway/beacons/service.ts';
import type { CampaignStatus } from '../gateway/coupons/types.ts';
import type { Db } from '../gateway/store/db.ts';
import { COMMON_ERRORS, errorResponses } from './errors.ts';
import { jsonSchema } from './schemas.ts';

export const CampaignView = z.object({
  id: z.string(),
  name: z.string(),
  source: z.enum(['config', 'platform']),
  state: z.enum(['scheduled', 'active', 'exhausted', 'over', 'ended']),
  startsAt: z.number().int(),
  endsAt: z.number().int(),
  budget: z.object({ count: z.number().int(), money: Money }),
  issued: z.object({ count: z.number().int(), money: Money }),
  redeemed: z.object({ count: z.number().int(), discount: Money }),
  endedAt: z.number().int().nullable(),
  endedReason: z.string().nullable(),
});
export const CampaignList = z.object({ campaigns: z.array(CampaignView) });
export type CampaignList = z.infer<typeof CampaignList>;

export const BeaconView = z.object({
  id: z.string(),
  name: z.string(),
  location: z.string().nullable(),
  present: z.boolean(),
  lastSeenAt: z.number().int().nullable(),
  sightings: z.number().int(),
  rssi: z.number().nullable().describe('Smoothed RSSI, dBm.'),
  batteryMv: z.number().nullable(),
  batteryPercent: z.number().nullable(),
  temperatureC: z.number().nullable(),
  reboots: z.number().int(),
  cloneSuspected: z.boolean(),
  cloneReason: z.string().nullable(),
});
export const BeaconList = z.object({
  scanner: z.enum(['off', 'starting', 'scanning', 'unavailable', 'stopped']),
  simulated: z.boolean(),
  beacons: z.array(BeaconView),
});
export type BeaconList = z.infer<typeof BeaconList>;

/** Redeemed coupons per campaign: how many and their discounts, in minor units. */
export type RedeemedTotals = ReadonlyMap<string, { count: number; discount: number }>;

export interface CouponApiDeps {
  campaigns: () => CampaignStatus[];
  redeemed: () => RedeemedTotals;
  beacons: () => BeaconServiceStatus;
}

/**
 * The redeemed totals from the store, one grouped read on the
 * coupons_campaign (campaign_id, state) index.
 */
export function redeemedTotals(db: Db): () => RedeemedTotals {
  const stmt = db.prepare(
    `SELECT campaign_id AS id, COUNT(*) AS n, COALESCE(SUM(discount), 0) AS discount
       FROM coupons WHERE state = 'redeemed' GROUP BY campaign_id`,
  );
  return () => {
    const rows = stmt.all() as Array<{ id: string; n: number; discount: number }>;
    return new Map(rows.map((r) => [r.id, { count: r.n, discount: r.discount }]));
  };
}

export function campaignList(campaigns: readonly CampaignStatus[], redeemed: RedeemedTotals): CampaignList {
  return {
    campaigns: campaigns.map((c) => {
      const r = redeemed.get(c.id) ?? { count: 0, discount: 0 };
      return {
        id: c.id,
        name: c.name,
        source: c.source,
        state: c.state,
        startsAt: c.spec.startsAt,
        endsAt: c.spec.endsAt,
        budget: c.budget,
        issued: c.issued,
        redeemed: { count: r.count, discount: { amount: r.discount, currency: c.budget.money.currency } },
        endedAt: c.endedAt,
        endedReason: c.endedReason,
      };
    }),
  };
}

export function beaconList(status: BeaconServiceStatus): BeaconList {
  return {
    scanner: status.scanner,
    simulated: status.simulated,
    beacons: status.beacons.map((b) => ({
      id: b.id,
      name: b.name,
      location: b.location ?? null,
      present: b.present,
      lastSeenAt: b.lastSeenAt ?? null,
      sightings: b.sightings,
      rssi: b.rssi,
      batteryMv: b.batteryMv,
      batteryPercent: b.batteryPercent,
      temperatureC: b.temperatureC,
      reboots: b.reboots,
      cloneSuspected: b.cloneSuspected !== null,
      cloneReason: b.cloneSuspected?.reason ?? null,
    })),
  };
}

export function couponRoutes(
  app: FastifyInstance,
  deps: CouponApiDeps,
  security: Array<Record<string, string[]>>,
): void {
  app.get(
    '/api/coupons',
    {
      schema: {
        summary: 'Coupon campaigns with their budget, issued and redeemed counts',
        security,
        response: { 200: jsonSchema(CampaignList), ...errorResponses(...COMMON_ERRORS) },
      },
    },
    async () => campaignList(deps.campaigns(), deps.redeemed()),
  );
  app.get(
    '/api/beacons',
    {
      schema: {
        summary: 'The beacon fleet: scanner state and the health of each beacon',
        security,
        response: { 200: jsonSchema(BeaconList), ...errorResponses(...COMMON_ERRORS) },
      },
    },
    async () => beaconList(deps.beacons()),
  );
}
