import type { Transaction } from 'better-sqlite3';
import type { CommandData } from '../../contract/commands.ts';
import type { CampaignConfig, ClaimRequest } from '../../contract/coupons.ts';
import type { Log } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type { CouponRedeemer, RedeemOrder, RedeemResult } from '../ledger/ledger.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { Campaigns } from './campaigns.ts';
import { ClaimDecider } from './claims.ts';
import { Pseudonymizer } from './codes.ts';
import { DAY_MS, Housekeeping } from './housekeeping.ts';
import { Redemption } from './redemption.ts';
import { type CouponSql, prepareCouponSql } from './sql.ts';
import { type RefusalRate, RefusalThrottle } from './throttle.ts';
import type {
  CampaignResult,
  CampaignStatus,
  ClaimResult,
  CouponRecord,
  QuoteResult,
  Refusal,
} from './types.ts';
import type { BeaconVerifier } from './verifier.ts';

export { DAY_MS } from './housekeeping.ts';
export type {
  CampaignResult,
  CampaignStatus,
  ClaimResult,
  CouponRecord,
  CouponState,
  IssuedCoupon,
  QuoteResult,
  Refusal,
} from './types.ts';
export { discountFor, maxDiscountOf } from './value.ts';

export interface CouponEngineOptions {
  db: Db;
  outbox: Outbox;
  /** Says whether a beacon id is this site's and current (see verifier.ts). */
  verifier: BeaconVerifier;
  /** Gateway secret for pseudonymising user ids (>= 16 bytes). Held in memory only, never stored. */
  userKey: Buffer | string;
  now?: () => number;
  /**
   * The store's group commit the async `claim` decides in (the gateway's
   * shared one, so claims share commits with vend outcomes). Default: one of
   * the engine's own on `db`.
   */
  commits?: GroupCommit;
  /** Claims are kept this long, then `purge` removes them. Default 30 days. */
  retentionMs?: number;
  /** A claim whose shake (`seenAt`) is older than this is refused as stale. Default 5 minutes. */
  maxClaimAgeMs?: number;
  /** How far `seenAt` may be ahead of the gateway clock. Default 30 s. */
  maxClockSkewMs?: number;
  /**
   * Refusal events sent individually, as a token bucket: `burst` at once,
   * then `perSecond` (see throttle.ts). Default: every refusal is its own
   * event (every decision reaches the platform; refusals are telemetry, so
   * the outbox bound, not this bucket, protects it from a scripted flood).
   * Set e.g. `{perSecond: 50, burst: 200}` to thin them at the source.
   */
  refusalEvents?: RefusalRate;
  log?: Log;
}

/**
 * The coupon engine (shake for a coupon, redeem it), on the gateway's SQLite
 * store: the one face of its parts (campaigns.ts, claims.ts with the rules in
 * rules.ts, throttle.ts, redemption.ts, housekeeping.ts, the SQL in sql.ts).
 *
 * Every claim is decided inside a transaction that holds the store's write
 * lock before it reads (so even a second process on the same file cannot
 * interleave): the per-user-day cap is a conditional upsert and the budget a
 * conditional UPDATE, each checked by its change count, and the decision's
 * event goes to the outbox in the same transaction.
 *
 * User ids are pseudonymised with an HMAC keyed by a secret held in memory:
 * raw ids never reach the store, the outbox or the logs.
 */
export class CouponEngine implements CouponRedeemer {
  readonly #sql: CouponSql;
  readonly #now: () => number;
  readonly #commits: GroupCommit;
  readonly #pseudo: Pseudonymizer;
  readonly #campaigns: Campaigns;
  readonly #throttle: RefusalThrottle;
  readonly #claims: ClaimDecider;
  readonly #redemption: Redemption;
  readonly #housekeeping: Housekeeping;
  readonly #claimTx: Transaction<(req: ClaimRequest) => ClaimResult>;

  constructor(opts: CouponEngineOptions) {
    const { db, outbox } = opts;
    const now = opts.now ?? Date.now;
    const sql = prepareCouponSql(db);
    this.#sql = sql;
    this.#now = now;
    this.#commits = opts.commits ?? new GroupCommit(db);
    this.#pseudo = new Pseudonymizer(opts.userKey);
    this.#campaigns = new Campaigns({ db, sql, outbox, now });
    this.#throttle = new RefusalThrottle(sql, opts.refusalEvents);
    this.#claims = new ClaimDecider({
      sql,
      campaigns: this.#campaigns,
      outbox,
      verifier: opts.verifier,
      pseudonymizer: this.#pseudo,
      throttle: this.#throttle,
      timing: { maxAgeMs: opts.maxClaimAgeMs ?? 5 * 60_000, maxSkewMs: opts.maxClockSkewMs ?? 30_000 },
      now,
      ...(opts.log ? { log: opts.log } : {}),
    });
    this.#redemption = new Redemption({ db, sql, campaigns: this.#campaigns, outbox, now });
    this.#housekeeping = new Housekeeping({ db, sql, outbox, retentionMs: opts.retentionMs ?? 30 * DAY_MS });
    this.#claimTx = db.transaction((req: ClaimRequest) => this.#claims.decide(req));
  }

  /** The pseudonymous reference stored for a user id. */
  userRef(userId: string): string {
    return this.#pseudo.ref(userId);
  }

  // ------------------------------------------------------------ campaigns

  /** Creates or changes a campaign (see Campaigns.upsert). */
  upsertCampaign(input: unknown, source: 'config' | 'platform' = 'platform'): CampaignResult {
    return this.#campaigns.upsert(input, source);
  }

  /** Ends a campaign now. Coupons already issued stay redeemable until they expire. Idempotent. */
  endCampaign(campaignId: string, reason?: string): CampaignResult {
    return this.#campaigns.end(campaignId, reason);
  }

  /** Makes the config's campaigns current and ends config campaigns no longer listed. */
  syncConfig(campaigns: readonly CampaignConfig[]): Refusal[] {
    return this.#campaigns.syncConfig(campaigns);
  }

  campaign(campaignId: string, at = this.#now()): CampaignStatus | undefined {
    return this.#campaigns.status(campaignId, at);
  }

  campaigns(at = this.#now()): CampaignStatus[] {
    return this.#campaigns.all(at);
  }

  /** Acts on a verified platform command of a coupon type. */
  async applyCommand(
    type: 'campaign.upsert' | 'campaign.end' | 'coupon.claim',
    data: CommandData<'campaign.upsert'> | CommandData<'campaign.end'> | CommandData<'coupon.claim'>,
  ): Promise<CampaignResult | ClaimResult> {
    switch (type) {
      case 'campaign.upsert':
        return this.upsertCampaign(data, 'platform');
      case 'campaign.end': {
        const d = data as CommandData<'campaign.end'>;
        return this.endCampaign(d.campaignId, d.reason);
      }
      case 'coupon.claim':
        return this.claim(data as CommandData<'coupon.claim'>);
    }
  }

  // ------------------------------------------------------------ claims

  /**
   * Decides a claim: issues a coupon or refuses with a stable code and a
   * reason. It is decided in the store's group commit (claims arriving in
   * one turn share a transaction), in a savepoint of its own, so each
   * decision is all or nothing and one that throws rejects alone; the
   * promise settles only once the decision is committed.
   */
  claim(req: ClaimRequest): Promise<ClaimResult> {
    return this.#commits.run(() => {
      this.#sql.takeWriteLock.run();
      return this.#claims.decide(req);
    });
  }

  /** Decides one claim in its own IMMEDIATE transaction, synchronously. */
  claimNow(req: ClaimRequest): ClaimResult {
    return this.#claimTx.immediate(req);
  }

  // ------------------------------------------------------------ redemption

  /** What a coupon would take off a list price at a machine, without using it. */
  quote(code: string, listPrice: Money, machineId: string, at = this.#now()): QuoteResult {
    return this.#redemption.quote(code, listPrice, machineId, at);
  }

  /** Uses a coupon on an order, inside the caller's (the ledger's) transaction. */
  redeemInTx(code: string, order: RedeemOrder): RedeemResult {
    return this.#redemption.redeemInTx(code, order);
  }

  /** The order the coupon was redeemed on was refunded: the coupon is issued again. In the refund's transaction. */
  releaseInTx(orderId: string, reason: string): boolean {
    return this.#redemption.releaseInTx(orderId, reason);
  }

  coupon(code: string): CouponRecord | undefined {
    return this.#redemption.coupon(code);
  }

  // ------------------------------------------------------------ upkeep

  /** Marks issued coupons past their expiry expired, each with a `coupon.expired` event. */
  expire(now = this.#now()): number {
    return this.#housekeeping.expire(now);
  }

  /** Retention: removes old claims and day counters, and the user reference of long-settled coupons. */
  purge(now = this.#now()): { claims: number; userDays: number; coupons: number } {
    return this.#housekeeping.purge(now);
  }

  /** Refusals not sent individually: in all, and not yet reported on a later refusal event. */
  refusalStats(): { suppressed: number; unreported: number } {
    return this.#throttle.stats();
  }
}
