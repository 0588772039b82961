import { z } from 'zod';
import { Money } from '../core/money.ts';
import { EpochMs, MachineId } from './common.ts';

/**
 * Campaign and coupon schemas, shared by the platform contract
 * (`campaign.upsert`, `coupon.issued`...) and the config file (`CampaignConfig`).
 * Pure zod: no I/O.
 */

// ---------------------------------------------------------------- beacon ids

const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const U16 = /^(?:0|[1-9][0-9]{0,4})$/;
const HEX = (n: number) => new RegExp(`^[0-9a-fA-F]{${n}}$`);
const NS = HEX(20);
const INSTANCE = HEX(12);
const EID = HEX(16);

function u16(s: string | undefined): string | null {
  if (s === undefined || !U16.test(s)) return null;
  return Number(s) <= 0xffff ? String(Number(s)) : null;
}

/**
 * The canonical form of a beacon id, or null when it is not one. Forms:
 * `ibeacon:<UUID>:<major>:<minor>` (UUID upper-case and dashed, as the
 * beacon tracker prints it, major and minor decimal 0-65535),
 * `eddystone:<namespace>:<instance>` (lower-case hex; `eddystone-uid:` is
 * accepted as an alias) and `eddystone-eid:<eid>` (a rotating id; only a
 * verifier holding the key can map it to a beacon).
 *
 * With `wildcard`, the last parts may be replaced by a single `*`
 * (`ibeacon:<UUID>:<major>:*`, `ibeacon:<UUID>:*`, `eddystone:<namespace>:*`)
 * so a campaign can cover every minor of a rotating-minor beacon.
 */
/** Exact (non-wildcard) ids seen recently: every claim canonicalises its beacon id. Bounded. */
const canonicalMemo = new Map<string, string | null>();

export function canonicalBeaconId(id: string, opts: { wildcard?: boolean } = {}): string | null {
  if (opts.wildcard === true) return canonicalize(id, opts);
  const hit = canonicalMemo.get(id);
  if (hit !== undefined) return hit;
  const out = canonicalize(id, opts);
  if (canonicalMemo.size >= 1024) canonicalMemo.clear();
  canonicalMemo.set(id, out);
  return out;
}

function canonicalize(id: string, opts: { wildcard?: boolean }): string | null {
  if (id.length > 128) return null;
  const parts = id.split(':');
  const star = opts.wildcard === true && parts.at(-1) === '*' ? parts.pop() : undefined;
  const kind = parts[0]?.toLowerCase();
  let out: string[] | null = null;
  if (kind === 'ibeacon') {
    const [, uuid, major, minor] = parts;
    if (uuid === undefined || !UUID.test(uuid)) return null;
    const want = star ? parts.length >= 2 && parts.length <= 3 : parts.length === 4;
    if (!want) return null;
    const maj = major === undefined ? undefined : u16(major);
    const min = minor === undefined ? undefined : u16(minor);
    if (maj === null || min === null) return null;
    out = [
      'ibeacon',
      uuid.toUpperCase(),
      ...(maj === undefined ? [] : [maj]),
      ...(min === undefined ? [] : [min]),
    ];
  } else if (kind === 'eddystone' || kind === 'eddystone-uid') {
    const [, ns, inst] = parts;
    if (ns === undefined || !NS.test(ns)) return null;
    if (star ? parts.length !== 2 : parts.length !== 3 || inst === undefined || !INSTANCE.test(inst))
      return null;
    out = ['eddystone', ns.toLowerCase(), ...(inst === undefined ? [] : [inst.toLowerCase()])];
  } else if (kind === 'eddystone-eid') {
    if (star || parts.length !== 2 || !EID.test(parts[1]!)) return null;
    out = ['eddystone-eid', parts[1]!.toLowerCase()];
  }
  if (!out) return null;
  if (star) out.push('*');
  return out.join(':');
}

/** Does a canonical beacon id fall under a canonical scope entry (exact, or `...:*`)? */
export function beaconInScope(canonicalId: string, scope: readonly string[]): boolean {
  for (const entry of scope) {
    if (entry === canonicalId) return true;
    if (entry.endsWith(':*') && canonicalId.startsWith(entry.slice(0, -1))) return true;
  }
  return false;
}

export const BeaconId = z
  .string()
  .max(128)
  .refine((s) => canonicalBeaconId(s) !== null, {
    message:
      'a beacon id: ibeacon:<uuid>:<major>:<minor>, eddystone:<namespace>:<instance> or eddystone-eid:<eid>',
  })
  .describe('The beacon id the phone saw, e.g. `ibeacon:FDA50693-A4E2-4FB1-AFCF-C6EB07647825:10001:42`.');

export const BeaconScopeEntry = z
  .string()
  .max(128)
  .refine((s) => canonicalBeaconId(s, { wildcard: true }) !== null, {
    message:
      'a beacon id (ibeacon:<uuid>:<major>:<minor>, eddystone:<namespace>:<instance>) or one ending in :* (ibeacon:<uuid>:<major>:*)',
  })
  .describe('A beacon in a campaign scope; a trailing `:*` covers every id under that prefix.');

// ---------------------------------------------------------------- values

export const CampaignId = z
  .string()
  .regex(/^[A-Za-z0-9_\-.]{1,64}$/, '1-64 letters, digits, _ - .')
  .describe('A campaign id, unique on this gateway.');

export const CouponValue = z
  .discriminatedUnion('kind', [
    z
      .object({
        kind: z.literal('fixed'),
        amount: Money.describe('Fixed discount; never more than the list price.'),
      })
      .strict(),
    z
      .object({
        kind: z.literal('percent'),
        percent: z.number().int().min(1).max(100).describe('Percent off the list price, rounded down.'),
        maxDiscount: Money.describe(
          'The most one coupon can take off. Required: the money budget counts this per issued coupon.',
        ),
      })
      .strict(),
  ])
  .describe('What a coupon takes off the list price.');
export type CouponValue = z.infer<typeof CouponValue>;

const HHMM = /^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/;

export const TimeWindow = z
  .object({
    days: z
      .array(z.number().int().min(1).max(7))
      .min(1)
      .max(7)
      .describe('ISO weekdays the window opens on: 1 = Monday ... 7 = Sunday.'),
    from: z.string().regex(HHMM, 'HH:MM, 00:00-23:59').describe('Local opening time, inclusive.'),
    to: z
      .string()
      .regex(HHMM, 'HH:MM, 00:00-24:00')
      .describe('Local closing time, exclusive. Earlier than `from` spans midnight into the next day.'),
  })
  .strict()
  .refine((w) => w.from !== w.to, { message: 'from and to must differ' });
export type TimeWindow = z.infer<typeof TimeWindow>;

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const TimeZone = z
  .string()
  .min(1)
  .max(64)
  .refine(isTimeZone, { message: 'an IANA time zone such as "Asia/Shanghai"' })
  .describe('IANA time zone for the daily windows and the per-user day.');

// ---------------------------------------------------------------- campaigns

function campaignShape<T extends z.ZodType<number>>(instant: T) {
  return {
    id: CampaignId,
    name: z.string().min(1).max(120),
    value: CouponValue,
    minSpend: Money.optional().describe('List price the order must reach for the coupon to apply.'),
    validityMs: z
      .number()
      .int()
      .min(60_000)
      .max(366 * 86_400_000)
      .default(86_400_000)
      .describe('How long a coupon stays redeemable after it is issued.'),
    beacons: z
      .array(BeaconScopeEntry)
      .min(1)
      .max(1000)
      .describe('The beacons whose shakes this campaign honours.'),
    machines: z
      .array(MachineId)
      .max(1000)
      .optional()
      .describe('Machines where its coupons can be redeemed; all machines of this gateway when absent.'),
    timeZone: TimeZone,
    windows: z
      .array(TimeWindow)
      .max(50)
      .default([])
      .describe('Daily local-time windows when claims are honoured; always when empty.'),
    budget: z
      .object({
        count: z.number().int().min(1).max(100_000_000).describe('Most coupons ever issued.'),
        money: Money.describe('Most money ever committed: the sum of each issued coupon’s largest discount.'),
      })
      .strict(),
    perUserPerDay: z.number().int().min(1).max(1000).describe('Most coupons one user gets per local day.'),
    startsAt: instant.describe('Claims seen before this instant are refused.'),
    endsAt: instant.describe('Claims seen at or after this instant are refused.'),
  };
}

type Shape = ReturnType<typeof campaignShape>;
interface CampaignLike {
  value: CouponValue;
  minSpend?: Money | undefined;
  budget: { count: number; money: Money };
  startsAt: number;
  endsAt: number;
}

function checkCampaign(c: CampaignLike, ctx: z.RefinementCtx): void {
  const currency = c.budget.money.currency;
  const amounts: [string[], Money | undefined][] = [
    [
      ['value', c.value.kind === 'fixed' ? 'amount' : 'maxDiscount'],
      c.value.kind === 'fixed' ? c.value.amount : c.value.maxDiscount,
    ],
    [['minSpend'], c.minSpend],
  ];
  for (const [path, m] of amounts) {
    if (m && m.currency !== currency) {
      ctx.addIssue({
        code: 'custom',
        path,
        message: `currency ${m.currency} differs from the budget's ${currency}`,
      });
    }
  }
  const perCoupon = c.value.kind === 'fixed' ? c.value.amount.amount : c.value.maxDiscount.amount;
  if (perCoupon <= 0) {
    ctx.addIssue({ code: 'custom', path: ['value'], message: 'a coupon must take something off' });
  }
  if (c.endsAt <= c.startsAt) {
    ctx.addIssue({ code: 'custom', path: ['endsAt'], message: 'endsAt must be after startsAt' });
  }
}

/** A campaign as the platform sends it (`campaign.upsert`): instants in epoch ms. */
export const CampaignSpec = z
  .object(campaignShape(EpochMs) as Shape)
  .strict()
  .superRefine(checkCampaign)
  .describe('A shake-for-coupon campaign.');
export type CampaignSpec = z.infer<typeof CampaignSpec>;

const Instant = z
  .union([EpochMs, z.iso.datetime({ offset: true })])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v)))
  .describe('Epoch ms, or an ISO 8601 date-time with offset such as 2026-05-01T00:00:00+08:00.');

/**
 * A campaign in the config file. The same as `CampaignSpec`, except that
 * `startsAt` and `endsAt` may also be ISO 8601 date-times with an offset.
 */
export const CampaignConfig = z
  .object(campaignShape(Instant as unknown as typeof EpochMs) as Shape)
  .strict()
  .superRefine(checkCampaign)
  .describe('A shake-for-coupon campaign defined in the config file.');
export type CampaignConfig = z.infer<typeof CampaignConfig>;

// ---------------------------------------------------------------- claims

export const UserId = z
  .string()
  .min(1)
  .max(128)
  .describe('The platform user id (e.g. WeChat openid). Never stored: the gateway keeps an HMAC of it.');

export const ClaimId = z
  .string()
  .regex(/^[A-Za-z0-9_\-:.]{1,64}$/, '1-64 letters, digits, _ - : .')
  .describe('The platform’s id for this claim, echoed in the decision event.');

export const ClaimRequest = z
  .object({
    claimId: ClaimId.optional(),
    campaignId: CampaignId.optional().describe(
      'When absent, the active campaigns covering the beacon are tried.',
    ),
    userId: UserId,
    beaconId: BeaconId,
    seenAt: EpochMs.describe('When the phone saw the beacon (the shake).'),
  })
  .strict();
export type ClaimRequest = z.infer<typeof ClaimRequest>;

export const UserRef = z
  .string()
  .regex(/^[0-9a-f]{32}$/)
  .describe('Pseudonymous user reference: truncated HMAC-SHA256 of the user id with the gateway key.');

/** Crockford base32 without I L O U: what a code is made of. */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export const CouponCode = z
  .string()
  .min(10)
  .max(16)
  .regex(/^[0-9A-Za-z -]+$/, 'a coupon code: 10 letters and digits (dashes and spaces ignored)')
  .describe('A coupon code as the user typed or scanned it; case, dashes and spaces do not matter.');
