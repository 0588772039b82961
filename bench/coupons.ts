import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CampaignSpec } from '../contract/coupons.ts';
import { CouponEngine } from '../gateway/coupons/engine.ts';
import { StaticBeaconVerifier } from '../gateway/coupons/verifier.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { openStore } from '../gateway/store/db.ts';
import { tempDir } from '../testing/tmp.ts';

/**
 * Coupon engine throughput on a durable store: a SQLite file on disk in WAL
 * mode with synchronous NORMAL (the gateway default), the gateway's default
 * outbox bound, every decision committed with its outbox event before its
 * promise settles.
 *
 * Phases:
 * - issue: unique users against an ample budget, so every claim issues a
 *   coupon (the most expensive decision: coupon row, counters, critical event);
 * - burst: many users, some claiming repeatedly, against a budget of a tenth
 *   of the claims: the mixed issue/refuse load of a campaign being drained;
 * - one-by-one: `claimNow`, one transaction per claim, no group commit;
 * - redeem: orders with coupons through the ledger's `receivePaid`.
 *
 * With `ack` (default) the outbox is acknowledged after each wave, as a
 * connected platform link does; without it the outbox only grows.
 */
export interface CouponBenchOptions {
  /** Claims in the burst phase. Default 50,000. */
  claims?: number;
  /** Claims in the issue phase. Default 20,000. */
  issueClaims?: number;
  /** Claims in the one-by-one phase. Default 5,000. */
  syncClaims?: number;
  /** Orders in the redeem phase. Default 5,000. */
  redeems?: number;
  /** Claims in flight at once (one wave of Promise.all). Default 1,000. */
  concurrency?: number;
  ack?: boolean;
}

export interface CouponBenchResult {
  /** Claims decided (issued or refused) per second in the burst phase. */
  claimsPerSec: number;
  /** Coupons issued per second when every claim issues. */
  issuedPerSec: number;
  /** Claims decided per second, one transaction each (no group commit). */
  syncClaimsPerSec: number;
  /** Orders with a coupon recorded (and the coupon redeemed) per second. */
  redeemsPerSec: number;
  burst: { claims: number; issued: number; refused: number; budget: number; seconds: number };
  issue: { claims: number; issued: number; seconds: number };
  sync: { claims: number; seconds: number };
  redeem: { orders: number; accepted: number; seconds: number };
  refusalEvents: { sent: number; suppressed: number };
  store: { journal: string; synchronous: string; file: string };
  outboxAcked: boolean;
  target: { claimsPerSec: number; met: boolean };
  node: string;
  platform: string;
  at: string;
}

const UUID = 'FDA50693-A4E2-4FB1-AFCF-C6EB07647825';
const BEACON = `ibeacon:${UUID}:10001:1`;
const DAY = 86_400_000;

function spec(id: string, budget: number, perUserPerDay: number, now: number): CampaignSpec {
  return {
    id,
    name: `bench ${id}`,
    value: { kind: 'fixed', amount: { amount: 100, currency: 'CNY' } },
    validityMs: DAY,
    beacons: [`ibeacon:${UUID}:10001:*`],
    timeZone: 'Asia/Shanghai',
    windows: [],
    budget: { count: budget, money: { amount: budget * 100, currency: 'CNY' } },
    perUserPerDay,
    startsAt: now - DAY,
    endsAt: now + 30 * DAY,
  };
}

export async function runCouponBench(opts: CouponBenchOptions = {}): Promise<CouponBenchResult> {
  const claims = opts.claims ?? 50_000;
  const issueClaims = opts.issueClaims ?? 20_000;
  const syncClaims = opts.syncClaims ?? 5_000;
  const redeems = opts.redeems ?? 5_000;
  const wave = opts.concurrency ?? 1_000;
  const ack = opts.ack ?? true;
  const tmp = tempDir('vendgate-bench-coupons-');
  const file = join(tmp.dir, 'vendgate.db');
  const db = openStore({ path: file, synchronous: 'normal' });
  try {
    const outbox = new Outbox(db, { gatewayId: 'bench', maxRows: 100_000, telemetryTtlMs: 3_600_000 });
    const engine = new CouponEngine({
      db,
      outbox,
      verifier: new StaticBeaconVerifier([BEACON]),
      userKey: 'bench-gateway-user-key-0123456789',
    });
    const acknowledge = () => {
      if (ack) outbox.ack(outbox.stats().lastSeq);
    };
    const now = Date.now();
    engine.upsertCampaign(spec('issue', issueClaims + syncClaims + redeems + 10, 1000, now));

    // Issue: every claim issues.
    let t0 = performance.now();
    let issued = 0;
    const codes: string[] = [];
    for (let i = 0; i < issueClaims; i += wave) {
      const n = Math.min(wave, issueClaims - i);
      const rs = await Promise.all(
        Array.from({ length: n }, (_, k) =>
          engine.claim({
            campaignId: 'issue',
            userId: `issue-user-${i + k}`,
            beaconId: BEACON,
            seenAt: Date.now(),
          }),
        ),
      );
      for (const r of rs) {
        if (r.ok) {
          issued++;
          if (codes.length < redeems) codes.push(r.coupon.code);
        }
      }
      acknowledge();
    }
    const issueSec = (performance.now() - t0) / 1000;

    // Burst: a tenth of the claims can be honoured; 20% of users hammer.
    const budget = Math.floor(claims / 10);
    engine.upsertCampaign(spec('burst', budget, 3, now));
    const users = Math.floor(claims / 3);
    t0 = performance.now();
    let bIssued = 0;
    let bRefused = 0;
    for (let i = 0; i < claims; i += wave) {
      const n = Math.min(wave, claims - i);
      const rs = await Promise.all(
        Array.from({ length: n }, (_, k) => {
          const j = i + k;
          const u = j % 5 === 0 ? j % 50 : j % users;
          return engine.claim({
            campaignId: 'burst',
            userId: `user-${u}`,
            beaconId: BEACON,
            seenAt: Date.now(),
          });
        }),
      );
      for (const r of rs) {
        if (r.ok) bIssued++;
        else bRefused++;
      }
      acknowledge();
    }
    const burstSec = (performance.now() - t0) / 1000;
    if (bIssued !== budget) throw new Error(`burst issued ${bIssued}, budget ${budget}`);

    // One by one: a transaction per claim.
    t0 = performance.now();
    for (let i = 0; i < syncClaims; i++) {
      engine.claimNow({
        campaignId: 'issue',
        userId: `sync-user-${i}`,
        beaconId: BEACON,
        seenAt: Date.now(),
      });
      if (i % wave === wave - 1) acknowledge();
    }
    const syncSec = (performance.now() - t0) / 1000;
    acknowledge();

    // Redeem: one order per coupon through the ledger.
    const ledger = new OrderLedger({
      db,
      outbox,
      coupons: engine,
      catalog: catalogFrom([
        { machineId: 'm1', slots: [{ slot: 1, price: { amount: 350, currency: 'CNY' } }] },
      ]),
    });
    t0 = performance.now();
    let accepted = 0;
    codes.forEach((code, i) => {
      const r = ledger.receivePaid({
        orderId: `bench-order-${i}`,
        machineId: 'm1',
        slot: 1,
        price: { amount: 250, currency: 'CNY' },
        provider: 'wechat',
        expiresAt: Date.now() + 60_000,
        couponCode: code,
      });
      if (r.kind === 'accepted') accepted++;
      if (i % wave === wave - 1) acknowledge();
    });
    const redeemSec = (performance.now() - t0) / 1000;

    const suppressed = engine.refusalStats().suppressed;
    const claimsPerSec = Math.round(claims / burstSec);
    return {
      claimsPerSec,
      issuedPerSec: Math.round(issued / issueSec),
      syncClaimsPerSec: Math.round(syncClaims / syncSec),
      redeemsPerSec: Math.round(codes.length / redeemSec),
      burst: { claims, issued: bIssued, refused: bRefused, budget, seconds: round(burstSec) },
      issue: { claims: issueClaims, issued, seconds: round(issueSec) },
      sync: { claims: syncClaims, seconds: round(syncSec) },
      redeem: { orders: codes.length, accepted, seconds: round(redeemSec) },
      refusalEvents: { sent: bRefused - suppressed, suppressed },
      store: {
        journal: String(db.pragma('journal_mode', { simple: true })),
        synchronous:
          ['OFF', 'NORMAL', 'FULL', 'EXTRA'][Number(db.pragma('synchronous', { simple: true }))] ?? '?',
        file: 'on disk (tmpdir)',
      },
      outboxAcked: ack,
      target: { claimsPerSec: 10_000, met: claimsPerSec >= 10_000 },
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      at: new Date().toISOString(),
    };
  } finally {
    db.close();
    tmp.cleanup();
  }
}

function round(s: number): number {
  return Math.round(s * 1000) / 1000;
}

export function formatCouponBench(r: CouponBenchResult): string {
  return [
    `coupon engine, SQLite ${r.store.journal}/${r.store.synchronous} on disk, outbox ${r.outboxAcked ? 'acked per wave' : 'never acked'}`,
    `  burst    ${r.claimsPerSec.toLocaleString('en-US').padStart(9)} claims/s   (${r.burst.claims} claims, ${r.burst.issued} issued = budget, ${r.burst.refused} refused)`,
    `  issue    ${r.issuedPerSec.toLocaleString('en-US').padStart(9)} issued/s   (${r.issue.issued} coupons)`,
    `  one-tx   ${r.syncClaimsPerSec.toLocaleString('en-US').padStart(9)} claims/s   (a transaction per claim, no group commit)`,
    `  redeem   ${r.redeemsPerSec.toLocaleString('en-US').padStart(9)} orders/s   (${r.redeem.accepted}/${r.redeem.orders} accepted)`,
    `  refusal events sent ${r.refusalEvents.sent}, suppressed ${r.refusalEvents.suppressed}`,
    `  target >= ${r.target.claimsPerSec.toLocaleString('en-US')} claims/s: ${r.target.met ? 'met' : 'NOT met'}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const result = await runCouponBench({ ack: !process.argv.includes('--no-ack') });
  process.stdout.write(`${formatCouponBench(result)}\n`);
  const out = fileURLToPath(new URL('./results/coupons.json', import.meta.url));
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`\nwrote ${out}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  });
}
