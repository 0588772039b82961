import { beforeEach, describe, expect, it } from 'vitest';
import { CampaignConfig } from '../../contract/coupons.ts';
import { ErrorCode } from '../../core/errors.ts';
import { BEACON, CNY, campaignSpec, eventsOf, openRig, type Rig } from '../../test/support/coupons.ts';
import { cleanupsAfterEach } from '../../testing/index.ts';

describe('coupon campaigns', () => {
  const cleanups = cleanupsAfterEach();
  let rig: Rig;

  beforeEach(() => {
    rig = openRig(cleanups);
  });

  const claim = (userId: string) => rig.engine.claim({ userId, beaconId: BEACON, seenAt: rig.clock.now });
  const changes = () => eventsOf(rig.outbox, 'campaign.state').map((e) => e.data.change);

  it('keeps issued counts across a campaign change, and re-sending the same terms changes nothing', async () => {
    rig.engine.upsertCampaign(campaignSpec({ budget: { count: 3, money: CNY(10_000) }, perUserPerDay: 9 }));
    await Promise.all([claim('a'), claim('a')]);
    expect(
      rig.engine.upsertCampaign(campaignSpec({ budget: { count: 3, money: CNY(10_000) }, perUserPerDay: 9 })),
    ).toEqual({ ok: true, revision: 1, changed: false });
    expect(
      rig.engine.upsertCampaign(campaignSpec({ budget: { count: 1, money: CNY(10_000) }, perUserPerDay: 9 })),
    ).toMatchObject({ ok: true, revision: 2 });
    expect(await claim('b')).toMatchObject({ code: ErrorCode.CouponBudgetExhausted });
    rig.engine.upsertCampaign(campaignSpec({ budget: { count: 3, money: CNY(10_000) }, perUserPerDay: 9 }));
    expect((await claim('b')).ok).toBe(true);
    expect(await claim('b')).toMatchObject({ code: ErrorCode.CouponBudgetExhausted });
    expect(rig.engine.campaign('spring')).toMatchObject({
      revision: 3,
      state: 'exhausted',
      issued: { count: 3 },
    });
    expect(changes()).toEqual(['upserted', 'upserted', 'upserted', 'exhausted']);
  });

  it('reports the campaign’s state by the time asked about: scheduled, active, exhausted, over, ended', async () => {
    const now = rig.clock.now;
    rig.engine.upsertCampaign(
      campaignSpec({ startsAt: now + 1000, endsAt: now + 10_000, budget: { count: 1, money: CNY(100) } }),
    );
    expect(rig.engine.campaign('spring')!.state).toBe('scheduled');
    expect(rig.engine.campaign('spring', now + 1000)!.state).toBe('active');
    expect(rig.engine.campaign('spring', now + 10_000)!.state).toBe('over');
    rig.clock.now = now + 2000;
    expect((await claim('a')).ok).toBe(true);
    expect(rig.engine.campaign('spring')).toMatchObject({
      state: 'exhausted',
      issued: { count: 1, money: CNY(100) },
    });
    expect(rig.engine.endCampaign('spring', 'done')).toEqual({ ok: true, revision: 1, changed: true });
    expect(rig.engine.endCampaign('spring')).toEqual({ ok: true, revision: 1, changed: false });
    expect(rig.engine.campaign('spring')).toMatchObject({
      state: 'ended',
      endedReason: 'done',
      endedAt: now + 2000,
    });
    expect(rig.engine.endCampaign('nope')).toMatchObject({
      ok: false,
      code: ErrorCode.CouponCampaignUnknown,
    });
  });

  it('refuses to change a campaign’s currency once it has issued coupons', async () => {
    rig.engine.upsertCampaign(campaignSpec());
    expect((await claim('a')).ok).toBe(true);
    const eur = (amount: number) => ({ amount, currency: 'EUR' });
    expect(
      rig.engine.upsertCampaign(
        campaignSpec({
          value: { kind: 'fixed', amount: eur(100) },
          budget: { count: 10, money: eur(10_000) },
        }),
      ),
    ).toMatchObject({ ok: false, code: ErrorCode.CouponCurrencyMismatch });
  });

  it('acts on the platform’s campaign.upsert and campaign.end commands', async () => {
    expect(await rig.engine.applyCommand('campaign.upsert', campaignSpec())).toMatchObject({
      ok: true,
      revision: 1,
    });
    expect(rig.engine.campaign('spring')).toMatchObject({ source: 'platform', state: 'active' });
    expect(
      await rig.engine.applyCommand('campaign.end', { campaignId: 'spring', reason: 'over' }),
    ).toMatchObject({
      ok: true,
      changed: true,
    });
    expect(changes()).toEqual(['upserted', 'ended']);
  });

  it('accepts campaigns from config with ISO instants and ends config campaigns no longer listed', () => {
    const cfg = CampaignConfig.parse({
      ...campaignSpec(),
      startsAt: '2026-03-01T00:00:00+08:00',
      endsAt: '2026-04-01T00:00:00+08:00',
      windows: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '11:00', to: '14:00' }],
    });
    expect(cfg.startsAt).toBe(Date.parse('2026-03-01T00:00:00+08:00'));
    expect(rig.engine.syncConfig([cfg])).toEqual([]);
    expect(rig.engine.campaign('spring')).toMatchObject({ source: 'config', state: 'active' });
    expect(rig.engine.upsertCampaign({ ...cfg, name: 'hijack' }, 'platform')).toMatchObject({
      ok: false,
      code: ErrorCode.CouponCampaignInvalid,
    });
    expect(rig.engine.syncConfig([])).toEqual([]);
    expect(rig.engine.campaign('spring')).toMatchObject({
      state: 'ended',
      endedReason: 'removed from config',
    });
  });

  it('rejects campaign terms that could not be bounded or make no sense', () => {
    const bad = [
      { value: { kind: 'percent', percent: 30 } }, // no max discount: the money budget could not count it
      { value: { kind: 'fixed', amount: { amount: 100, currency: 'EUR' } } }, // currency differs from budget
      { endsAt: 0 },
      { timeZone: 'Mars/Olympus' },
      { windows: [{ days: [8], from: '11:00', to: '12:00' }] },
      { beacons: ['ibeacon:nope'] },
      { value: { kind: 'fixed', amount: CNY(0) } },
    ];
    for (const over of bad) {
      const r = rig.engine.upsertCampaign({ ...campaignSpec(), ...over });
      expect(r, JSON.stringify(over)).toMatchObject({ ok: false, code: ErrorCode.CouponCampaignInvalid });
    }
    expect(rig.engine.campaigns()).toEqual([]);
    expect(changes()).toEqual([]);
  });
});
