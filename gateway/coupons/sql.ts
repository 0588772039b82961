import type { Statement } from 'better-sqlite3';
import type { CampaignSpec, CouponValue } from '../../contract/coupons.ts';
import type { Db } from '../store/db.ts';
import type { CampaignStatus, CouponRecord, CouponState } from './types.ts';

/** A row of `coupon_campaigns` (see the store's migrations). */
export interface CampaignRow {
  campaign_id: string;
  source: 'config' | 'platform';
  revision: number;
  spec: string;
  starts_at: number;
  ends_at: number;
  ended_at: number | null;
  ended_reason: string | null;
  budget_count: number;
  budget_money: number;
  currency: string;
  issued_count: number;
  issued_money: number;
  exhausted_at: number | null;
}

/** A row of `coupons`. */
export interface CouponRow {
  coupon_id: string;
  code: string;
  campaign_id: string;
  user_ref: string;
  value: string;
  currency: string;
  max_discount: number;
  min_spend: number;
  issued_at: number;
  expires_at: number;
  state: CouponState;
  order_id: string | null;
  machine_id: string | null;
  discount: number | null;
  redeemed_at: number | null;
}

/** Durable counters of refusals held back by the throttle (see throttle.ts). */
export const UNREPORTED_REFUSALS = 'coupon_refusals_unreported';
export const SUPPRESSED_REFUSALS = 'coupon_refusals_suppressed';

/**
 * Every statement the coupon engine runs, prepared once per store. The
 * guards that make the budget and the caps hold under concurrency are in the
 * SQL itself (a conditional upsert, a conditional UPDATE), checked by their
 * change counts, so no decision depends on a value read earlier.
 */
export interface CouponSql {
  /**
   * Takes the store's write lock without changing anything. The group commit
   * opens a deferred transaction; a claim that read first and then wrote
   * would, with a second process writing the same file in between, fail with
   * SQLITE_BUSY_SNAPSHOT instead of waiting. Writing first makes it wait for
   * the lock (busy_timeout), as BEGIN IMMEDIATE would.
   */
  takeWriteLock: Statement<[]>;
  campaign: Statement<[string], CampaignRow>;
  openCampaigns: Statement<[], CampaignRow>;
  allCampaigns: Statement<[], CampaignRow>;
  insertCampaign: Statement<[string, string, string, number, number, number, number, string, number]>;
  updateCampaign: Statement<
    [string, number, number, number, number, string, number, number, number, number, string]
  >;
  endCampaign: Statement<[number, string | null, number, string]>;
  bumpUser: Statement<[string, string, string, number]>;
  unbumpUser: Statement<[string, string, string]>;
  spend: Statement<[number, number, string, number, number], { issued_count: number; issued_money: number }>;
  markExhausted: Statement<[number, string]>;
  insertCoupon: Statement<[string, string, string, string, string, string, number, number, number, number]>;
  insertClaim: Statement<
    [number, number, string | null, string, string, string | null, number | null, string | null]
  >;
  couponByCode: Statement<[string], CouponRow>;
  couponByOrder: Statement<[string], CouponRow>;
  redeem: Statement<[string, string, number, number, string, number]>;
  release: Statement<[string, string]>;
  dueToExpire: Statement<[number, number], CouponRow>;
  markExpired: Statement<[string]>;
  purgeClaims: Statement<[number]>;
  purgeUserDays: Statement<[string]>;
  purgeUserRefs: Statement<[number, number]>;
  bumpCounter: Statement<[string]>;
  readCounter: Statement<[string], { value: number }>;
  zeroCounter: Statement<[string]>;
}

export function prepareCouponSql(db: Db): CouponSql {
  return {
    takeWriteLock: db.prepare('UPDATE counters SET value = value WHERE 0'),
    campaign: db.prepare('SELECT * FROM coupon_campaigns WHERE campaign_id = ?'),
    openCampaigns: db.prepare(
      'SELECT * FROM coupon_campaigns WHERE ended_at IS NULL ORDER BY starts_at, campaign_id',
    ),
    allCampaigns: db.prepare('SELECT * FROM coupon_campaigns ORDER BY starts_at, campaign_id'),
    insertCampaign: db.prepare(
      `INSERT INTO coupon_campaigns (campaign_id, source, revision, spec, starts_at, ends_at, budget_count,
         budget_money, currency, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    // A change that leaves room for another coupon lifts the exhausted mark.
    updateCampaign: db.prepare(
      `UPDATE coupon_campaigns SET revision = revision + 1, spec = ?, starts_at = ?, ends_at = ?, budget_count = ?,
         budget_money = ?, currency = ?, updated_at = ?,
         exhausted_at = CASE WHEN issued_count < ? AND issued_money + ? <= ? THEN NULL ELSE exhausted_at END
       WHERE campaign_id = ? AND ended_at IS NULL`,
    ),
    endCampaign: db.prepare(
      'UPDATE coupon_campaigns SET ended_at = ?, ended_reason = ?, updated_at = ? WHERE campaign_id = ? AND ended_at IS NULL',
    ),
    // The per-user-day cap: the row is created at 1 or bumped only while
    // under the cap; no change means the cap was reached.
    bumpUser: db.prepare(
      `INSERT INTO coupon_user_days (campaign_id, user_ref, day, issued) VALUES (?, ?, ?, 1)
       ON CONFLICT (campaign_id, user_ref, day) DO UPDATE SET issued = issued + 1 WHERE issued < ?`,
    ),
    unbumpUser: db.prepare(
      'UPDATE coupon_user_days SET issued = issued - 1 WHERE campaign_id = ? AND user_ref = ? AND day = ? AND issued > 0',
    ),
    // The budget: spent only while both the count and the money remain, and
    // only on the revision the decision was made against.
    spend: db.prepare(
      `UPDATE coupon_campaigns SET issued_count = issued_count + 1, issued_money = issued_money + ?, updated_at = ?
       WHERE campaign_id = ? AND revision = ? AND ended_at IS NULL
         AND issued_count < budget_count AND issued_money + ? <= budget_money
       RETURNING issued_count, issued_money`,
    ),
    markExhausted: db.prepare(
      'UPDATE coupon_campaigns SET exhausted_at = ? WHERE campaign_id = ? AND exhausted_at IS NULL',
    ),
    insertCoupon: db.prepare(
      `INSERT OR IGNORE INTO coupons (coupon_id, code, campaign_id, user_ref, value, currency, max_discount, min_spend,
         issued_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'issued')`,
    ),
    insertClaim: db.prepare(
      `INSERT INTO coupon_claims (decided_at, seen_at, campaign_id, user_ref, beacon_id, claim_id, code, coupon_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    couponByCode: db.prepare('SELECT * FROM coupons WHERE code = ?'),
    couponByOrder: db.prepare('SELECT * FROM coupons WHERE order_id = ?'),
    // One order per coupon: only an issued, unexpired coupon can be used.
    redeem: db.prepare(
      `UPDATE coupons SET state = 'redeemed', order_id = ?, machine_id = ?, discount = ?, redeemed_at = ?
       WHERE coupon_id = ? AND state = 'issued' AND expires_at > ?`,
    ),
    release: db.prepare(
      `UPDATE coupons SET state = 'issued', order_id = NULL, machine_id = NULL, discount = NULL, redeemed_at = NULL
       WHERE coupon_id = ? AND state = 'redeemed' AND order_id = ?`,
    ),
    dueToExpire: db.prepare(
      "SELECT * FROM coupons WHERE state = 'issued' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
    ),
    markExpired: db.prepare("UPDATE coupons SET state = 'expired' WHERE coupon_id = ? AND state = 'issued'"),
    purgeClaims: db.prepare('DELETE FROM coupon_claims WHERE decided_at < ?'),
    purgeUserDays: db.prepare('DELETE FROM coupon_user_days WHERE day < ?'),
    purgeUserRefs: db.prepare(
      `UPDATE coupons SET user_ref = 'purged' WHERE user_ref <> 'purged' AND (
         (state = 'redeemed' AND redeemed_at < ?) OR (state = 'expired' AND expires_at < ?))`,
    ),
    bumpCounter: db.prepare(
      'INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1',
    ),
    readCounter: db.prepare('SELECT value FROM counters WHERE name = ?'),
    zeroCounter: db.prepare('UPDATE counters SET value = 0 WHERE name = ?'),
  };
}

/** The value column of a coupon row. */
export function couponValueOf(row: CouponRow): CouponValue {
  return JSON.parse(row.value) as CouponValue;
}

export function toCouponRecord(r: CouponRow): CouponRecord {
  const minSpend = r.min_spend > 0 ? { amount: r.min_spend, currency: r.currency } : undefined;
  return {
    couponId: r.coupon_id,
    code: r.code,
    campaignId: r.campaign_id,
    value: couponValueOf(r),
    ...(minSpend ? { minSpend } : {}),
    issuedAt: r.issued_at,
    expiresAt: r.expires_at,
    state: r.state,
    userRef: r.user_ref,
    orderId: r.order_id,
    machineId: r.machine_id,
    discount: r.discount === null ? null : { amount: r.discount, currency: r.currency },
    redeemedAt: r.redeemed_at,
  };
}

/** A campaign row as of `at`: ended wins, then past its end, not started, out of budget, running. */
export function toCampaignStatus(row: CampaignRow, spec: CampaignSpec, at: number): CampaignStatus {
  const state: CampaignStatus['state'] =
    row.ended_at !== null
      ? 'ended'
      : at >= row.ends_at
        ? 'over'
        : at < row.starts_at
          ? 'scheduled'
          : row.exhausted_at !== null
            ? 'exhausted'
            : 'active';
  return {
    id: row.campaign_id,
    name: spec.name,
    source: row.source,
    revision: row.revision,
    state,
    spec,
    budget: { count: row.budget_count, money: { amount: row.budget_money, currency: row.currency } },
    issued: { count: row.issued_count, money: { amount: row.issued_money, currency: row.currency } },
    endedAt: row.ended_at,
    endedReason: row.ended_reason,
  };
}
