import { type CampaignConfig, CampaignSpec, canonicalBeaconId } from '../../contract/coupons.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { inTx } from '../store/tx.ts';
import { type CampaignRow, type CouponSql, toCampaignStatus } from './sql.ts';
import { type CampaignResult, type CampaignStatus, type Refusal, refuse } from './types.ts';
import { maxDiscountOf } from './value.ts';

export type CampaignSource = 'config' | 'platform';
export type CampaignChange = 'upserted' | 'ended' | 'exhausted';

/**
 * Campaigns: created and changed by the platform's `campaign.upsert` or the
 * config, ended by `campaign.end` or by leaving the config. Every change is
 * a `campaign.state` event in the outbox, in the change's transaction.
 */
export class Campaigns {
  readonly #db: Db;
  readonly #sql: CouponSql;
  readonly #outbox: Outbox;
  readonly #now: () => number;
  /** Parsed specs by campaign, valid for one revision (claims read them on every decision). */
  readonly #specs = new Map<string, { revision: number; spec: CampaignSpec }>();

  constructor(opts: { db: Db; sql: CouponSql; outbox: Outbox; now: () => number }) {
    this.#db = opts.db;
    this.#sql = opts.sql;
    this.#outbox = opts.outbox;
    this.#now = opts.now;
  }

  /**
   * Creates or changes a campaign. Issued counts survive a change; lowering
   * a budget below what was issued just exhausts it. An ended campaign stays
   * ended (use a new id), and a campaign from config cannot be changed by the
   * platform or the other way round. Re-sending identical terms changes
   * nothing and reports nothing.
   */
  upsert(input: unknown, source: CampaignSource): CampaignResult {
    const parsed = CampaignSpec.safeParse(input);
    if (!parsed.success) {
      return refuse(
        ErrorCode.CouponCampaignInvalid,
        `campaign invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const spec = canonicalSpec(parsed.data);
    const json = JSON.stringify(spec);
    return inTx(this.#db, (): CampaignResult => {
      const now = this.#now();
      const row = this.#sql.campaign.get(spec.id);
      const currency = spec.budget.money.currency;
      if (!row) {
        this.#sql.insertCampaign.run(
          spec.id,
          source,
          json,
          spec.startsAt,
          spec.endsAt,
          spec.budget.count,
          spec.budget.money.amount,
          currency,
          now,
        );
      } else {
        const refusal = changeRefusal(row, spec, source);
        if (refusal) return refusal;
        if (row.spec === json) return { ok: true, revision: row.revision, changed: false };
        this.#sql.updateCampaign.run(
          json,
          spec.startsAt,
          spec.endsAt,
          spec.budget.count,
          spec.budget.money.amount,
          currency,
          now,
          spec.budget.count,
          maxDiscountOf(spec.value),
          spec.budget.money.amount,
          spec.id,
        );
      }
      const after = this.#sql.campaign.get(spec.id)!;
      this.#stateEvent(after, spec, 'upserted');
      return { ok: true, revision: after.revision, changed: true };
    });
  }

  /** Ends a campaign now. Coupons already issued stay redeemable until they expire. Idempotent. */
  end(campaignId: string, reason?: string): CampaignResult {
    return inTx(this.#db, (): CampaignResult => {
      const row = this.#sql.campaign.get(campaignId);
      if (!row) return refuse(ErrorCode.CouponCampaignUnknown, `no campaign ${campaignId}`, campaignId);
      if (row.ended_at !== null) return { ok: true, revision: row.revision, changed: false };
      const now = this.#now();
      this.#sql.endCampaign.run(now, reason ?? null, now, campaignId);
      const after = this.#sql.campaign.get(campaignId)!;
      this.#stateEvent(after, this.spec(after), 'ended', reason);
      return { ok: true, revision: after.revision, changed: true };
    });
  }

  /**
   * Makes the config's campaigns current, in one transaction: upserts each
   * (source `config`) and ends config campaigns no longer listed. Platform
   * campaigns are left alone. Returns the refusals.
   */
  syncConfig(campaigns: readonly CampaignConfig[]): Refusal[] {
    return inTx(this.#db, (): Refusal[] => {
      const refusals: Refusal[] = [];
      const ids = new Set<string>();
      for (const c of campaigns) {
        ids.add(c.id);
        const r = this.upsert(c, 'config');
        if (!r.ok) refusals.push(r);
      }
      for (const row of this.#sql.openCampaigns.all()) {
        if (row.source === 'config' && !ids.has(row.campaign_id))
          this.end(row.campaign_id, 'removed from config');
      }
      return refusals;
    });
  }

  /**
   * Marks a campaign out of budget, once, with its `campaign.state` event.
   * Runs inside the claim that spent the last of it.
   */
  markExhausted(campaignId: string, now: number): void {
    if (this.#sql.markExhausted.run(now, campaignId).changes !== 1) return;
    const row = this.#sql.campaign.get(campaignId)!;
    this.#stateEvent(row, this.spec(row), 'exhausted');
  }

  row(campaignId: string): CampaignRow | undefined {
    return this.#sql.campaign.get(campaignId);
  }

  /** Campaigns not ended, in the order claims naming no campaign try them. */
  openRows(): CampaignRow[] {
    return this.#sql.openCampaigns.all();
  }

  status(campaignId: string, at: number): CampaignStatus | undefined {
    const row = this.#sql.campaign.get(campaignId);
    return row ? toCampaignStatus(row, this.spec(row), at) : undefined;
  }

  all(at: number): CampaignStatus[] {
    return this.#sql.allCampaigns.all().map((r) => toCampaignStatus(r, this.spec(r), at));
  }

  /** The parsed terms of a row, parsed once per revision. */
  spec(row: CampaignRow): CampaignSpec {
    const hit = this.#specs.get(row.campaign_id);
    if (hit && hit.revision === row.revision) return hit.spec;
    const spec = JSON.parse(row.spec) as CampaignSpec;
    this.#specs.set(row.campaign_id, { revision: row.revision, spec });
    return spec;
  }

  #stateEvent(row: CampaignRow, spec: CampaignSpec, change: CampaignChange, reason?: string): void {
    this.#outbox.append('campaign.state', {
      campaignId: row.campaign_id,
      revision: row.revision,
      change,
      source: row.source,
      ...(reason === undefined ? {} : { reason }),
      issued: { count: row.issued_count, money: { amount: row.issued_money, currency: row.currency } },
      budget: { count: spec.budget.count, money: spec.budget.money },
    });
  }
}

/** Why an existing campaign may not take these terms from this source, if it may not. */
function changeRefusal(row: CampaignRow, spec: CampaignSpec, source: CampaignSource): Refusal | undefined {
  if (row.ended_at !== null) {
    return refuse(
      ErrorCode.CouponCampaignNotActive,
      `campaign ${spec.id} has ended; start a new one with a new id`,
      spec.id,
    );
  }
  if (row.source !== source) {
    return refuse(
      ErrorCode.CouponCampaignInvalid,
      `campaign ${spec.id} is defined by ${row.source}, not ${source}`,
      spec.id,
    );
  }
  if (row.currency !== spec.budget.money.currency && row.issued_count > 0) {
    return refuse(
      ErrorCode.CouponCurrencyMismatch,
      `campaign ${spec.id} already issued coupons in ${row.currency}`,
      spec.id,
    );
  }
  return undefined;
}

/** Beacon scope entries in canonical form, so the stored spec compares and matches exactly. */
export function canonicalSpec(spec: CampaignSpec): CampaignSpec {
  return { ...spec, beacons: spec.beacons.map((b) => canonicalBeaconId(b, { wildcard: true }) ?? b) };
}
