import type { Statement, Transaction } from 'better-sqlite3';
import type { CommandData } from '../../contract/commands.ts';
import {
  beaconInScope,
  type CampaignConfig,
  CampaignSpec,
  type ClaimRequest,
  type CouponValue,
  canonicalBeaconId,
} from '../../contract/coupons.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type { CouponRedeemer, RedeemOrder, RedeemResult } from '../ledger/ledger.ts';
import type { Outbox } from '../outbox/outbox.ts';
import { type Db, readCounter } from '../store/db.ts';
import { newCouponCode, newCouponId, normalizeCouponCode, Pseudonymizer } from './codes.ts';
import { describeWindows, inWindows, localTime } from './time.ts';
import type { BeaconVerifier } from './verifier.ts';

export const DAY_MS = 86_400_000;
const UNREPORTED = 'coupon_refusals_unreported';
const SUPPRESSED_TOTAL = 'coupon_refusals_suppressed';

export interface CouponEngineOptions {
  db: Db;
  outbox: Outbox;
  /** Says whether a beacon id is this site's and current (see verifier.ts). */
  verifier: BeaconVerifier;
  /** Gateway secret for pseudonymising user ids (>= 16 bytes). Held in memory only, never stored. */
  userKey: Buffer | string;
  now?: () => number;
  /** Claims are kept this long, then `purge` removes them. Default 30 days. */
  retentionMs?: number;
  /** A claim whose shake (`seenAt`) is older than this is refused as stale. Default 5 minutes. */
  maxClaimAgeMs?: number;
  /** How far `seenAt` may be ahead of the gateway clock. Default 30 s. */
  maxClockSkewMs?: number;
  /** Most claims decided in one transaction by the async `claim` (group commit). Default 512. */
  maxBatch?: number;
  /**
   * Refusal events sent individually, as a token bucket: `burst` at once,
   * then `perSecond`. Refusals beyond it are counted (durably) and the count
   * rides on the next refusal event as `suppressed`, so a scripted burst
   * cannot flood the outbox or the uplink. Every decision is still recorded
   * in the claims table. Default: every refusal is its own event (the issue
   * asks for every decision to reach the platform; refusals are telemetry, so
   * the outbox bound, not this bucket, protects it from a scripted flood).
   * Set e.g. `{perSecond: 50, burst: 200}` to thin them at the source.
   */
  refusalEvents?: { perSecond: number; burst: number };
  log?: Log;
}

export interface IssuedCoupon {
  couponId: string;
  code: string;
  campaignId: string;
  value: CouponValue;
  minSpend?: Money;
  issuedAt: number;
  expiresAt: number;
}

export type Refusal = { ok: false; code: ErrorCodeValue; reason: string; campaignId?: string };
export type ClaimResult = { ok: true; coupon: IssuedCoupon } | Refusal;

export type QuoteResult =
  | { ok: true; couponId: string; campaignId: string; listPrice: Money; discount: Money; price: Money }
  | { ok: false; code: ErrorCodeValue; reason: string };

export type CampaignResult = { ok: true; revision: number; changed: boolean } | Refusal;

export type CouponState = 'issued' | 'redeemed' | 'expired';

export interface CouponRecord extends IssuedCoupon {
  state: CouponState;
  userRef: string;
  orderId: string | null;
  machineId: string | null;
  discount: Money | null;
  redeemedAt: number | null;
}

export interface CampaignStatus {
  id: string;
  name: string;
  source: 'config' | 'platform';
  revision: number;
  /** As of `at` (default now): not started, running, out of budget, past its end or ended. */
  state: 'scheduled' | 'active' | 'exhausted' | 'over' | 'ended';
  spec: CampaignSpec;
  budget: { count: number; money: Money };
  issued: { count: number; money: Money };
  endedAt: number | null;
  endedReason: string | null;
}

interface CampaignRow {
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

interface CouponRow {
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

interface Pending {
  req: ClaimRequest;
  resolve: (r: ClaimResult) => void;
  reject: (err: unknown) => void;
}

const refuse = (code: ErrorCodeValue, reason: string, campaignId?: string): Refusal =>
  campaignId === undefined ? { ok: false, code, reason } : { ok: false, code, reason, campaignId };

/** The most one coupon of this value can take off: what the money budget counts. */
export function maxDiscountOf(value: CouponValue): number {
  return value.kind === 'fixed' ? value.amount.amount : value.maxDiscount.amount;
}

/** The discount a coupon gives on a list price: never more than the price or the coupon's cap. */
export function discountFor(value: CouponValue, listAmount: number): number {
  const raw = value.kind === 'fixed' ? value.amount.amount : Math.floor((listAmount * value.percent) / 100);
  return Math.max(0, Math.min(raw, maxDiscountOf(value), listAmount));
}

/**
 * The coupon engine (shake for a coupon, redeem it). Campaigns, claims, coupons,
 * redemption, expiry and retention, on the gateway's SQLite store.
 *
 * Every claim is decided inside one IMMEDIATE transaction (the write lock is
 * taken first, so even a second process on the same file cannot interleave):
 * the per-user-day cap is a conditional upsert and the budget a conditional
 * UPDATE, each checked by its change count, and the decision's event goes to
 * the outbox in the same transaction. Issued and redeemed events are
 * critical; refusals are telemetry, so a scripted burst of refusals can only
 * push out other telemetry, never money events.
 *
 * User ids are pseudonymised with an HMAC keyed by a secret held in memory:
 * raw ids never reach the store, the outbox or the logs.
 */
export class CouponEngine implements CouponRedeemer {
  readonly #db: Db;
  readonly #outbox: Outbox;
  readonly #verifier: BeaconVerifier;
  readonly #pseudo: Pseudonymizer;
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #maxAgeMs: number;
  readonly #skewMs: number;
  readonly #maxBatch: number;
  readonly #log: Log | undefined;
  readonly #specs = new Map<string, { revision: number; spec: CampaignSpec }>();
  readonly #refusalRate: { perSecond: number; burst: number };
  #refusalTokens: number;
  #maybeUnreported = true;
  #refusalRefillAt = 0;
  #queue: Pending[] = [];
  #scheduled = false;

  readonly #st: {
    campaign: Statement<[string], CampaignRow>;
    openCampaigns: Statement<[], CampaignRow>;
    insertCampaign: Statement<unknown[]>;
    updateCampaign: Statement<unknown[]>;
    endCampaign: Statement<[number, string | null, number, string]>;
    bumpUser: Statement<[string, string, string, number]>;
    unbumpUser: Statement<[string, string, string]>;
    spend: Statement<
      [number, number, string, number, number],
      { issued_count: number; issued_money: number }
    >;
    markExhausted: Statement<[number, string]>;
    insertCoupon: Statement<unknown[]>;
    insertClaim: Statement<unknown[]>;
    couponByCode: Statement<[string], CouponRow>;
    couponByOrder: Statement<[string], CouponRow>;
    redeem: Statement<[string, string, number, number, string, number]>;
    dueToExpire: Statement<[number, number], CouponRow>;
    markExpired: Statement<[string]>;
    countSuppressed: Statement<[string]>;
    readUnreported: Statement<[], { value: number }>;
    zeroUnreported: Statement<[]>;
  };
  readonly #decideTx: Transaction<(req: ClaimRequest) => ClaimResult>;

  constructor(opts: CouponEngineOptions) {
    this.#db = opts.db;
    this.#outbox = opts.outbox;
    this.#verifier = opts.verifier;
    this.#pseudo = new Pseudonymizer(opts.userKey);
    this.#now = opts.now ?? Date.now;
    this.#retentionMs = opts.retentionMs ?? 30 * DAY_MS;
    this.#maxAgeMs = opts.maxClaimAgeMs ?? 5 * 60_000;
    this.#skewMs = opts.maxClockSkewMs ?? 30_000;
    this.#maxBatch = Math.max(1, opts.maxBatch ?? 512);
    this.#log = opts.log;
    this.#refusalRate = opts.refusalEvents ?? {
      perSecond: Number.POSITIVE_INFINITY,
      burst: Number.POSITIVE_INFINITY,
    };
    this.#refusalTokens = this.#refusalRate.burst;
    const db = this.#db;
    this.#st = {
      campaign: db.prepare('SELECT * FROM coupon_campaigns WHERE campaign_id = ?'),
      openCampaigns: db.prepare(
        'SELECT * FROM coupon_campaigns WHERE ended_at IS NULL ORDER BY starts_at, campaign_id',
      ),
      insertCampaign: db.prepare(
        `INSERT INTO coupon_campaigns (campaign_id, source, revision, spec, starts_at, ends_at, budget_count,
           budget_money, currency, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
      ),
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
      // The budget: spent only while both the count and the money remain.
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
      redeem: db.prepare(
        `UPDATE coupons SET state = 'redeemed', order_id = ?, machine_id = ?, discount = ?, redeemed_at = ?
         WHERE coupon_id = ? AND state = 'issued' AND expires_at > ?`,
      ),
      dueToExpire: db.prepare(
        "SELECT * FROM coupons WHERE state = 'issued' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
      ),
      markExpired: db.prepare(
        "UPDATE coupons SET state = 'expired' WHERE coupon_id = ? AND state = 'issued'",
      ),
      countSuppressed: db.prepare(
        'INSERT INTO counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1',
      ),
      readUnreported: db.prepare(`SELECT value FROM counters WHERE name = '${UNREPORTED}'`),
      zeroUnreported: db.prepare(`UPDATE counters SET value = 0 WHERE name = '${UNREPORTED}'`),
    };
    this.#decideTx = db.transaction((req: ClaimRequest) => this.#decide(req));
  }

  /** The pseudonymous reference stored for a user id. */
  userRef(userId: string): string {
    return this.#pseudo.ref(userId);
  }

  // ------------------------------------------------------------ campaigns

  /**
   * Creates or changes a campaign. Issued counts survive a change; lowering
   * a budget below what was issued just exhausts it. An ended campaign stays
   * ended (use a new id), and a campaign from config cannot be changed by the
   * platform or the other way round. Re-sending identical terms changes
   * nothing and reports nothing.
   */
  upsertCampaign(input: unknown, source: 'config' | 'platform' = 'platform'): CampaignResult {
    const parsed = CampaignSpec.safeParse(input);
    if (!parsed.success) {
      return refuse(
        ErrorCode.CouponCampaignInvalid,
        `campaign invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const spec = canonicalSpec(parsed.data);
    const json = JSON.stringify(spec);
    return this.#db.transaction((): CampaignResult => {
      const now = this.#now();
      const row = this.#st.campaign.get(spec.id);
      const perCoupon = maxDiscountOf(spec.value);
      const currency = spec.budget.money.currency;
      if (!row) {
        this.#st.insertCampaign.run(
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
        if (row.currency !== currency && row.issued_count > 0) {
          return refuse(
            ErrorCode.CouponCurrencyMismatch,
            `campaign ${spec.id} already issued coupons in ${row.currency}`,
            spec.id,
          );
        }
        if (row.spec === json) return { ok: true, revision: row.revision, changed: false };
        this.#st.updateCampaign.run(
          json,
          spec.startsAt,
          spec.endsAt,
          spec.budget.count,
          spec.budget.money.amount,
          currency,
          now,
          spec.budget.count,
          perCoupon,
          spec.budget.money.amount,
          spec.id,
        );
      }
      const after = this.#st.campaign.get(spec.id)!;
      this.#stateEvent(after, spec, 'upserted');
      return { ok: true, revision: after.revision, changed: true };
    })();
  }

  /** Ends a campaign now. Coupons already issued stay redeemable until they expire. Idempotent. */
  endCampaign(campaignId: string, reason?: string): CampaignResult {
    return this.#db.transaction((): CampaignResult => {
      const row = this.#st.campaign.get(campaignId);
      if (!row) return refuse(ErrorCode.CouponCampaignUnknown, `no campaign ${campaignId}`, campaignId);
      if (row.ended_at !== null) return { ok: true, revision: row.revision, changed: false };
      const now = this.#now();
      this.#st.endCampaign.run(now, reason ?? null, now, campaignId);
      const after = this.#st.campaign.get(campaignId)!;
      this.#stateEvent(after, this.#spec(after), 'ended', reason);
      return { ok: true, revision: after.revision, changed: true };
    })();
  }

  /**
   * Makes the config's campaigns current: upserts each (source `config`)
   * and ends config campaigns no longer listed. Platform campaigns are left
   * alone. Returns the refusals, by campaign id.
   */
  syncConfig(campaigns: readonly CampaignConfig[]): Refusal[] {
    return this.#db.transaction((): Refusal[] => {
      const refusals: Refusal[] = [];
      const ids = new Set<string>();
      for (const c of campaigns) {
        ids.add(c.id);
        const r = this.upsertCampaign(c, 'config');
        if (!r.ok) refusals.push(r);
      }
      for (const row of this.#st.openCampaigns.all()) {
        if (row.source === 'config' && !ids.has(row.campaign_id))
          this.endCampaign(row.campaign_id, 'removed from config');
      }
      return refusals;
    })();
  }

  campaign(campaignId: string, at = this.#now()): CampaignStatus | undefined {
    const row = this.#st.campaign.get(campaignId);
    return row ? this.#status(row, at) : undefined;
  }

  campaigns(at = this.#now()): CampaignStatus[] {
    const rows = this.#db
      .prepare('SELECT * FROM coupon_campaigns ORDER BY starts_at, campaign_id')
      .all() as CampaignRow[];
    return rows.map((r) => this.#status(r, at));
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
   * reason. Claims arriving together are decided in one transaction each
   * batch (group commit); each decision is still all-or-nothing (a savepoint)
   * and the promise settles only once it is on disk.
   */
  claim(req: ClaimRequest): Promise<ClaimResult> {
    return new Promise<ClaimResult>((resolve, reject) => {
      this.#queue.push({ req, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Decides one claim in its own transaction, synchronously. */
  claimNow(req: ClaimRequest): ClaimResult {
    return this.#decideTx.immediate(req);
  }

  #flush(): void {
    this.#scheduled = false;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      let outcomes: ({ ok: true; r: ClaimResult } | { ok: false; err: unknown })[];
      try {
        // Fast path: the whole batch in one transaction, no savepoint per
        // claim. If any claim throws, the batch rolls back and is decided
        // again below, each claim in its own savepoint, so one bad claim
        // cannot take the others with it.
        outcomes = this.#db
          .transaction(() => batch.map((p) => ({ ok: true as const, r: this.#decide(p.req) })))
          .immediate();
      } catch {
        try {
          outcomes = this.#db
            .transaction(() =>
              batch.map((p) => {
                try {
                  return { ok: true as const, r: this.#decideTx(p.req) };
                } catch (err) {
                  return { ok: false as const, err };
                }
              }),
            )
            .immediate();
        } catch (err) {
          for (const p of batch) p.reject(err);
          continue;
        }
      }
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o.ok) p.resolve(o.r);
        else p.reject(o.err);
      });
    }
  }

  /** One claim, inside the caller's transaction. */
  #decide(req: ClaimRequest): ClaimResult {
    const now = this.#now();
    const userRef = this.#pseudo.ref(String(req.userId));
    const seenAt = req.seenAt;
    const beaconId = canonicalBeaconId(String(req.beaconId));
    const result = ((): ClaimResult => {
      if (typeof req.userId !== 'string' || req.userId.length === 0 || req.userId.length > 128) {
        return refuse(ErrorCode.PayloadInvalid, 'the user id must be 1-128 characters');
      }
      if (!Number.isSafeInteger(seenAt) || now - seenAt > this.#maxAgeMs || seenAt - now > this.#skewMs) {
        return refuse(
          ErrorCode.CouponClaimStale,
          `the shake was seen at ${seenAt}, outside the ${this.#maxAgeMs} ms a claim is honoured for (now ${now})`,
        );
      }
      if (beaconId === null)
        return refuse(
          ErrorCode.CouponBeaconUnknown,
          `"${String(req.beaconId).slice(0, 64)}" is not a beacon id`,
        );
      const verdict = this.#verifier.verify(beaconId, seenAt);
      if (!verdict.ok) return refuse(verdict.code, verdict.reason);
      const scopeId = verdict.canonicalId ?? beaconId;
      if (req.campaignId !== undefined) {
        const row = this.#st.campaign.get(req.campaignId);
        if (!row)
          return refuse(ErrorCode.CouponCampaignUnknown, `no campaign ${req.campaignId}`, req.campaignId);
        const spec = this.#spec(row);
        if (!beaconInScope(scopeId, spec.beacons)) {
          return refuse(
            ErrorCode.CouponBeaconUnknown,
            `beacon ${beaconId} is not in campaign ${row.campaign_id}`,
            row.campaign_id,
          );
        }
        return this.#tryIssue(row, spec, userRef, req, now);
      }
      let first: Refusal | undefined;
      for (const row of this.#st.openCampaigns.all()) {
        const spec = this.#spec(row);
        if (!beaconInScope(scopeId, spec.beacons)) continue;
        const r = this.#tryIssue(row, spec, userRef, req, now);
        if (r.ok) return r;
        first ??= r;
      }
      return (
        first ?? refuse(ErrorCode.CouponCampaignNotActive, `no running campaign covers beacon ${beaconId}`)
      );
    })();

    const claimId = req.claimId ?? null;
    const beacon = (beaconId ?? String(req.beaconId)).slice(0, 128);
    if (result.ok) {
      const c = result.coupon;
      this.#st.insertClaim.run(now, seenAt, c.campaignId, userRef, beacon, claimId, null, c.couponId);
      this.#outbox.append('coupon.issued', {
        couponId: c.couponId,
        code: c.code,
        campaignId: c.campaignId,
        userRef,
        beaconId: beacon,
        ...(req.claimId === undefined ? {} : { claimId: req.claimId }),
        value: c.value,
        ...(c.minSpend ? { minSpend: c.minSpend } : {}),
        issuedAt: c.issuedAt,
        expiresAt: c.expiresAt,
      });
      this.#log?.debug({ campaignId: c.campaignId, couponId: c.couponId, userRef }, 'coupon issued');
    } else {
      this.#st.insertClaim.run(
        now,
        Number.isSafeInteger(seenAt) ? seenAt : 0,
        result.campaignId ?? null,
        userRef,
        beacon,
        claimId,
        result.code,
        null,
      );
      if (this.#takeRefusalToken(now)) {
        // Read the durable count only when refusals may have been held back
        // (thinning on now, or a count left from an earlier run).
        const suppressed = this.#maybeUnreported ? (this.#st.readUnreported.get()?.value ?? 0) : 0;
        if (suppressed > 0) this.#st.zeroUnreported.run();
        this.#maybeUnreported = this.#refusalRate.perSecond !== Number.POSITIVE_INFINITY;
        this.#outbox.tryAppend('coupon.refused', {
          ...(result.campaignId === undefined ? {} : { campaignId: result.campaignId }),
          userRef,
          beaconId: beacon,
          ...(req.claimId === undefined ? {} : { claimId: req.claimId }),
          code: result.code,
          reason: result.reason,
          ...(suppressed > 0 ? { suppressed } : {}),
        });
      } else {
        this.#st.countSuppressed.run(UNREPORTED);
        this.#st.countSuppressed.run(SUPPRESSED_TOTAL);
        this.#maybeUnreported = true;
      }
      this.#log?.debug({ campaignId: result.campaignId, userRef, code: result.code }, 'coupon refused');
    }
    return result;
  }

  #tryIssue(
    row: CampaignRow,
    spec: CampaignSpec,
    userRef: string,
    req: ClaimRequest,
    now: number,
  ): ClaimResult {
    const id = row.campaign_id;
    const seenAt = req.seenAt;
    if (row.ended_at !== null)
      return refuse(ErrorCode.CouponCampaignNotActive, `campaign ${id} has ended`, id);
    if (seenAt < row.starts_at) {
      return refuse(
        ErrorCode.CouponCampaignNotActive,
        `campaign ${id} starts at ${new Date(row.starts_at).toISOString()}`,
        id,
      );
    }
    if (seenAt >= row.ends_at) {
      return refuse(
        ErrorCode.CouponCampaignNotActive,
        `campaign ${id} ended at ${new Date(row.ends_at).toISOString()}`,
        id,
      );
    }
    const local = localTime(seenAt, spec.timeZone);
    if (!inWindows(local, spec.windows)) {
      return refuse(
        ErrorCode.CouponOutsideWindow,
        `campaign ${id} runs ${describeWindows(spec.windows, spec.timeZone)}`,
        id,
      );
    }
    const perCoupon = maxDiscountOf(spec.value);
    const currency = spec.budget.money.currency;
    if (row.issued_count >= row.budget_count) {
      return refuse(
        ErrorCode.CouponBudgetExhausted,
        `campaign ${id} has issued all ${row.budget_count} coupons`,
        id,
      );
    }
    if (row.issued_money + perCoupon > row.budget_money) {
      return refuse(
        ErrorCode.CouponMoneyBudgetExhausted,
        `campaign ${id} has committed ${row.issued_money} of its ${row.budget_money} ${currency}; a coupon needs ${perCoupon}`,
        id,
      );
    }
    if (this.#st.bumpUser.run(id, userRef, local.day, spec.perUserPerDay).changes !== 1) {
      return refuse(
        ErrorCode.CouponUserCapReached,
        `this user already has ${spec.perUserPerDay} coupon(s) from campaign ${id} on ${local.day}`,
        id,
      );
    }
    const spent = this.#st.spend.get(perCoupon, now, id, row.revision, perCoupon);
    if (!spent) {
      // Only reachable if another writer changed the campaign since it was read.
      this.#st.unbumpUser.run(id, userRef, local.day);
      return refuse(ErrorCode.CouponBudgetExhausted, `campaign ${id} has no budget left`, id);
    }
    const coupon: IssuedCoupon = {
      couponId: '',
      code: '',
      campaignId: id,
      value: spec.value,
      ...(spec.minSpend ? { minSpend: spec.minSpend } : {}),
      issuedAt: now,
      expiresAt: now + spec.validityMs,
    };
    const valueJson = JSON.stringify(spec.value);
    for (let attempt = 0; ; attempt++) {
      coupon.couponId = newCouponId();
      coupon.code = newCouponCode();
      const ins = this.#st.insertCoupon.run(
        coupon.couponId,
        coupon.code,
        id,
        userRef,
        valueJson,
        currency,
        perCoupon,
        spec.minSpend?.amount ?? 0,
        coupon.issuedAt,
        coupon.expiresAt,
      );
      if (ins.changes === 1) break;
      if (attempt >= 8) throw new Error('could not draw a unique coupon code');
    }
    if (spent.issued_count >= row.budget_count || spent.issued_money + perCoupon > row.budget_money) {
      if (this.#st.markExhausted.run(now, id).changes === 1) {
        this.#stateEvent(this.#st.campaign.get(id)!, spec, 'exhausted');
      }
    }
    return { ok: true, coupon };
  }

  // ------------------------------------------------------------ redemption

  /**
   * What a coupon would take off a list price at a machine, without using
   * it: for the select-then-pay flow to price an order before creating it.
   */
  quote(code: string, listPrice: Money, machineId: string, at = this.#now()): QuoteResult {
    const norm = normalizeCouponCode(code);
    const row = norm === null ? undefined : this.#st.couponByCode.get(norm);
    if (!row) return refuse(ErrorCode.CouponUnknown, 'no such coupon');
    return this.#quoteRow(row, listPrice, machineId, at);
  }

  #quoteRow(row: CouponRow, listPrice: Money, machineId: string, at: number): QuoteResult {
    if (row.state === 'redeemed')
      return refuse(ErrorCode.CouponAlreadyRedeemed, `coupon ${row.coupon_id} was already redeemed`);
    if (row.state === 'expired' || row.expires_at <= at) {
      return refuse(
        ErrorCode.CouponExpired,
        `coupon ${row.coupon_id} expired at ${new Date(row.expires_at).toISOString()}`,
      );
    }
    if (listPrice.currency !== row.currency) {
      return refuse(
        ErrorCode.CouponCurrencyMismatch,
        `coupon ${row.coupon_id} is in ${row.currency}, the price in ${listPrice.currency}`,
      );
    }
    const campaign = this.#st.campaign.get(row.campaign_id);
    const machines = campaign ? this.#spec(campaign).machines : undefined;
    if (machines && !machines.includes(machineId)) {
      return refuse(
        ErrorCode.CouponMachineNotInScope,
        `coupon ${row.coupon_id} is not valid at machine ${machineId}`,
      );
    }
    if (listPrice.amount < row.min_spend) {
      return refuse(
        ErrorCode.CouponMinSpendNotMet,
        `coupon ${row.coupon_id} needs a price of at least ${row.min_spend} ${row.currency}; this is ${listPrice.amount}`,
      );
    }
    const discount = discountFor(JSON.parse(row.value) as CouponValue, listPrice.amount);
    return {
      ok: true,
      couponId: row.coupon_id,
      campaignId: row.campaign_id,
      listPrice,
      discount: { amount: discount, currency: row.currency },
      price: { amount: listPrice.amount - discount, currency: row.currency },
    };
  }

  /**
   * Uses a coupon on an order, inside the caller's transaction (the ledger's
   * `receivePaid`, or the select-then-pay flow's own). Checks the paid amount
   * is the list price less the discount before using it; a coupon is used by
   * one order only (a guarded UPDATE), and the same order asking again gets
   * the same answer.
   */
  /**
   * The order this coupon was redeemed on was refunded: the coupon is issued
   * again (the expiry job still expires it on time). Runs in the refund's
   * transaction; a second call for the same order does nothing.
   */
  releaseInTx(orderId: string, reason: string): boolean {
    if (!this.#db.inTransaction) throw new Error('releaseInTx must run inside the caller’s transaction');
    const row = this.#st.couponByOrder.get(orderId);
    if (row?.state !== 'redeemed') return false;
    const changed = this.#db
      .prepare(
        `UPDATE coupons SET state = 'issued', order_id = NULL, machine_id = NULL, discount = NULL, redeemed_at = NULL
         WHERE coupon_id = ? AND state = 'redeemed' AND order_id = ?`,
      )
      .run(row.coupon_id, orderId).changes;
    if (changed !== 1) return false;
    this.#outbox.append('coupon.released', {
      couponId: row.coupon_id,
      campaignId: row.campaign_id,
      orderId,
      reason: reason.slice(0, 200),
    });
    return true;
  }

  redeemInTx(code: string, order: RedeemOrder): RedeemResult {
    if (!this.#db.inTransaction) throw new Error('redeemInTx must run inside the caller’s transaction');
    const now = this.#now();
    const norm = normalizeCouponCode(code);
    const row = norm === null ? undefined : this.#st.couponByCode.get(norm);
    if (!row) return refuse(ErrorCode.CouponUnknown, 'no such coupon');
    if (row.state === 'redeemed' && row.order_id === order.orderId) {
      return {
        ok: true,
        couponId: row.coupon_id,
        discount: { amount: row.discount ?? 0, currency: row.currency },
      };
    }
    const onOrder = this.#st.couponByOrder.get(order.orderId);
    if (onOrder)
      return refuse(
        ErrorCode.CouponAlreadyRedeemed,
        `order ${order.orderId} already used coupon ${onOrder.coupon_id}`,
      );
    const q = this.#quoteRow(row, order.listPrice, order.machineId, now);
    if (!q.ok) return q;
    if (order.paid.currency !== q.price.currency || order.paid.amount !== q.price.amount) {
      return refuse(
        ErrorCode.CouponAmountInvalid,
        `paid ${order.paid.amount} ${order.paid.currency} but the list price ${order.listPrice.amount} less coupon ${row.coupon_id} (${q.discount.amount}) is ${q.price.amount} ${q.price.currency}`,
      );
    }
    const changed = this.#st.redeem.run(
      order.orderId,
      order.machineId,
      q.discount.amount,
      now,
      row.coupon_id,
      now,
    ).changes;
    if (changed !== 1)
      return refuse(ErrorCode.CouponAlreadyRedeemed, `coupon ${row.coupon_id} was already redeemed`);
    this.#outbox.append('coupon.redeemed', {
      couponId: row.coupon_id,
      campaignId: row.campaign_id,
      orderId: order.orderId,
      machineId: order.machineId,
      listPrice: order.listPrice,
      discount: q.discount,
      paid: order.paid,
    });
    return { ok: true, couponId: row.coupon_id, discount: q.discount };
  }

  coupon(code: string): CouponRecord | undefined {
    const norm = normalizeCouponCode(code);
    const row = norm === null ? undefined : this.#st.couponByCode.get(norm);
    return row ? toCoupon(row) : undefined;
  }

  // ------------------------------------------------------------ housekeeping

  /** Marks issued coupons past their expiry expired, each with a `coupon.expired` event. */
  expire(now = this.#now()): number {
    let total = 0;
    for (;;) {
      const n = this.#db.transaction((): number => {
        let count = 0;
        for (const row of this.#st.dueToExpire.all(now, 500)) {
          if (this.#st.markExpired.run(row.coupon_id).changes !== 1) continue;
          this.#outbox.append('coupon.expired', {
            couponId: row.coupon_id,
            campaignId: row.campaign_id,
            expiresAt: row.expires_at,
          });
          count++;
        }
        return count;
      })();
      total += n;
      if (n < 500) return total;
    }
  }

  /**
   * Retention: removes claims decided before `now - retentionMs`, per-user
   * day counters of days that are over in every time zone, and the user
   * reference of coupons settled (redeemed or expired) before the limit.
   */
  purge(now = this.#now()): { claims: number; userDays: number; coupons: number } {
    const cutoff = now - this.#retentionMs;
    // A local day is over everywhere once UTC is two dates past it.
    const oldDay = new Date(now - 2 * DAY_MS).toISOString().slice(0, 10);
    return this.#db.transaction(() => ({
      claims: this.#db.prepare('DELETE FROM coupon_claims WHERE decided_at < ?').run(cutoff).changes,
      userDays: this.#db.prepare('DELETE FROM coupon_user_days WHERE day < ?').run(oldDay).changes,
      coupons: this.#db
        .prepare(
          `UPDATE coupons SET user_ref = 'purged' WHERE user_ref <> 'purged' AND (
             (state = 'redeemed' AND redeemed_at < ?) OR (state = 'expired' AND expires_at < ?))`,
        )
        .run(cutoff, cutoff).changes,
    }))();
  }

  /** Refusals not sent individually: in all, and not yet reported on a later refusal event. */
  refusalStats(): { suppressed: number; unreported: number } {
    return {
      suppressed: readCounter(this.#db, SUPPRESSED_TOTAL),
      unreported: readCounter(this.#db, UNREPORTED),
    };
  }

  // ------------------------------------------------------------ internals

  #takeRefusalToken(now: number): boolean {
    const { perSecond, burst } = this.#refusalRate;
    if (perSecond === Number.POSITIVE_INFINITY) return true;
    if (now > this.#refusalRefillAt) {
      this.#refusalTokens = Math.min(
        burst,
        this.#refusalTokens + ((now - this.#refusalRefillAt) * perSecond) / 1000,
      );
      this.#refusalRefillAt = now;
    }
    if (this.#refusalTokens < 1) return false;
    this.#refusalTokens -= 1;
    return true;
  }

  #spec(row: CampaignRow): CampaignSpec {
    const hit = this.#specs.get(row.campaign_id);
    if (hit && hit.revision === row.revision) return hit.spec;
    const spec = JSON.parse(row.spec) as CampaignSpec;
    this.#specs.set(row.campaign_id, { revision: row.revision, spec });
    return spec;
  }

  #status(row: CampaignRow, at: number): CampaignStatus {
    const spec = this.#spec(row);
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

  #stateEvent(
    row: CampaignRow,
    spec: CampaignSpec,
    change: 'upserted' | 'ended' | 'exhausted',
    reason?: string,
  ): void {
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

/** Beacon scope entries in canonical form, so the stored spec compares and matches exactly. */
function canonicalSpec(spec: CampaignSpec): CampaignSpec {
  return { ...spec, beacons: spec.beacons.map((b) => canonicalBeaconId(b, { wildcard: true }) ?? b) };
}

function toCoupon(r: CouponRow): CouponRecord {
  const minSpend = r.min_spend > 0 ? { amount: r.min_spend, currency: r.currency } : undefined;
  return {
    couponId: r.coupon_id,
    code: r.code,
    campaignId: r.campaign_id,
    value: JSON.parse(r.value) as CouponValue,
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
