import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { SqlDriver } from './sql.ts';

/**
 * The schema, as numbered migrations in the dialect both backends share
 * (sql.ts). Each runs once, in a transaction holding the write lock, and is
 * recorded in `schema_migrations`; a store written by a newer build is
 * refused rather than guessed at. Never edit a published migration: add one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const ORDER_STATES_SQL = "'created','paid','dispensed','refund_requested','refunded','closed','unresolved'";
const REFUND_STATES_SQL = "'pending','accepted','succeeded','refused','abnormal'";

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'fleet and payments tables',
    sql: `
CREATE TABLE gateways (
  gateway_id TEXT PRIMARY KEY,
  last_status TEXT,
  online INTEGER NOT NULL DEFAULT 0,
  last_seen_at BIGINT,
  acked_up_to BIGINT NOT NULL DEFAULT 0,
  watermark_source TEXT NOT NULL DEFAULT 'zero',
  outbox_depth BIGINT,
  public_key TEXT,
  created_at BIGINT NOT NULL
);
CREATE TABLE events (
  gateway_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  event_id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  ts BIGINT NOT NULL,
  data TEXT NOT NULL,
  problem TEXT,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (gateway_id, seq)
);
CREATE INDEX events_received_at ON events (received_at);
CREATE INDEX events_gateway_type ON events (gateway_id, type, seq);
CREATE TABLE dropped_seqs (
  gateway_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (gateway_id, seq)
);
CREATE TABLE orders (
  out_trade_no TEXT PRIMARY KEY,
  gateway_id TEXT NOT NULL,
  machine_id TEXT NOT NULL,
  slot INTEGER NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  currency TEXT NOT NULL,
  provider TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN (${ORDER_STATES_SQL})),
  session_id TEXT,
  coupon_code TEXT,
  transaction_id TEXT,
  payer_amount BIGINT CHECK (payer_amount >= 0),
  payer_currency TEXT,
  exchange_rate TEXT,
  payer_hash TEXT,
  reason TEXT,
  expires_at BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  paid_at BIGINT
);
CREATE INDEX orders_state_created ON orders (state, created_at);
CREATE INDEX orders_created ON orders (created_at);
CREATE UNIQUE INDEX orders_provider_transaction ON orders (provider, transaction_id);
CREATE TABLE notifications (
  provider TEXT NOT NULL,
  notify_key TEXT NOT NULL,
  out_trade_no TEXT,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (provider, notify_key)
);
CREATE INDEX notifications_received_at ON notifications (received_at);
CREATE TABLE refunds (
  out_refund_no TEXT PRIMARY KEY,
  out_trade_no TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount > 0),
  currency TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN (${REFUND_STATES_SQL})),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT,
  provider_refund_id TEXT,
  outcome TEXT,
  source_event_id TEXT UNIQUE,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
CREATE INDEX refunds_due ON refunds (state, next_attempt_at);
CREATE INDEX refunds_order ON refunds (out_trade_no);
CREATE TABLE commands (
  command_id TEXT PRIMARY KEY,
  gateway_id TEXT NOT NULL,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('recorded','published','failed')),
  created_at BIGINT NOT NULL,
  published_at BIGINT
);
CREATE INDEX commands_gateway_created ON commands (gateway_id, created_at);
`,
  },
  {
    version: 2,
    name: 'pay-first credit orders',
    // A credit order (pay first, then choose) is paid before its item is known:
    // its slot is filled in, and the vended part recorded, when the gateway
    // reports the vend; the unspent rest is a partial refund.
    sql: `
ALTER TABLE orders ADD COLUMN kind TEXT NOT NULL DEFAULT 'item' CHECK (kind IN ('item','credit'));
ALTER TABLE orders ADD COLUMN vended_amount BIGINT CHECK (vended_amount >= 0);
`,
  },
];

const CREATE_LEDGER = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at BIGINT NOT NULL
)`;

/** Applies every migration not yet recorded, each in its own locked transaction; returns the version reached. */
export async function migrate(
  driver: SqlDriver,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number> {
  await driver.transaction(
    async (q) => {
      await q.query(CREATE_LEDGER);
    },
    { exclusive: true },
  );
  const latest = migrations.at(-1)?.version ?? 0;
  const applied = await currentVersion(driver);
  if (applied > latest) {
    throw new VendgateError(
      ErrorCode.StoreSchemaTooNew,
      `the platform store is at schema version ${applied}, newer than this build knows (${latest}); upgrade vendgate`,
      { applied, latest },
    );
  }
  for (const m of migrations) {
    if (m.version <= applied) continue;
    try {
      await driver.transaction(
        async (q) => {
          // Another replica may have applied it while we waited for the lock.
          const done = await q.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
          if (done.rows.length > 0) return;
          for (const statement of splitStatements(m.sql)) await q.query(statement);
          await q.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [
            m.version,
            m.name,
            Date.now(),
          ]);
        },
        { exclusive: true },
      );
    } catch (err) {
      throw new VendgateError(
        ErrorCode.StoreMigrationFailed,
        `platform store migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
        { version: m.version },
      );
    }
  }
  return currentVersion(driver);
}

export async function currentVersion(driver: SqlDriver): Promise<number> {
  const r = await driver.query<{ v: number | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(r.rows[0]?.v ?? 0);
}

/** Our migrations have no semicolons inside strings or bodies, so a split on `;` is exact. */
function splitStatements(sql: string): string[] {
  return sql
    .split(';')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
