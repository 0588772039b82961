/**
 * Versioned schema migrations, applied in order inside one transaction each.
 * `PRAGMA user_version` records the version reached. Never edit a published
 * migration: append a new one.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'order ledger, outbox, replay guard',
    sql: `
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;

      -- The order ledger: source of truth for money. One row per platform order id.
      CREATE TABLE orders (
        order_id      TEXT PRIMARY KEY,
        flow          TEXT NOT NULL CHECK (flow IN ('remote', 'cashless')),
        machine_id    TEXT NOT NULL,
        slot          INTEGER NOT NULL,
        amount        INTEGER NOT NULL CHECK (amount >= 0),
        currency      TEXT NOT NULL,
        provider      TEXT NOT NULL,
        expires_at    INTEGER NOT NULL,
        state         TEXT NOT NULL,
        vend_token    INTEGER UNIQUE,
        attempts      INTEGER NOT NULL DEFAULT 0,
        outcome_code  INTEGER,
        outcome_note  TEXT,
        coupon_id     TEXT,
        created_at    INTEGER NOT NULL,
        updated_at    INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX orders_state ON orders (state, updated_at);
      CREATE INDEX orders_machine ON orders (machine_id, state);

      -- Every state change of an order, for audit and reconciliation.
      CREATE TABLE order_transitions (
        id        INTEGER PRIMARY KEY,
        order_id  TEXT NOT NULL REFERENCES orders (order_id),
        from_state TEXT,
        to_state  TEXT NOT NULL,
        at        INTEGER NOT NULL,
        note      TEXT
      ) STRICT;
      CREATE INDEX order_transitions_order ON order_transitions (order_id);

      -- Durable outbox of events to the platform, written in the same
      -- transaction as the state change that caused them. Rows leave only when
      -- the platform acknowledges them end to end (not on PUBACK).
      CREATE TABLE outbox (
        seq         INTEGER PRIMARY KEY,
        event_id    TEXT NOT NULL UNIQUE,
        type        TEXT NOT NULL,
        class       TEXT NOT NULL CHECK (class IN ('critical', 'telemetry')),
        envelope    TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER,
        last_sent_at INTEGER,
        send_count  INTEGER NOT NULL DEFAULT 0
      ) STRICT;

      -- Monotonic counters that survive restarts (outbox drops, expiries...).
      CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
      ) STRICT;

      -- Replay guard for signed platform commands: ids and nonces are kept
      -- until the command's own expiry, after which the expiry check refuses it.
      CREATE TABLE seen_commands (
        command_id TEXT PRIMARY KEY,
        nonce      TEXT NOT NULL UNIQUE,
        expires_at INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX seen_commands_expiry ON seen_commands (expires_at);
    `,
  },
  {
    version: 2,
    name: 'coupon campaigns, coupons, per-user day counters, claims',
    sql: `
      -- Shake-for-coupon campaigns. The budget is spent by a conditional
      -- UPDATE (issued_count < budget_count AND issued_money + ? <= budget_money)
      -- whose change count is checked, so it is never overspent, even by two
      -- processes sharing the file.
      CREATE TABLE coupon_campaigns (
        campaign_id   TEXT PRIMARY KEY,
        source        TEXT NOT NULL CHECK (source IN ('config', 'platform')),
        revision      INTEGER NOT NULL,
        spec          TEXT NOT NULL,
        starts_at     INTEGER NOT NULL,
        ends_at       INTEGER NOT NULL,
        ended_at      INTEGER,
        ended_reason  TEXT,
        budget_count  INTEGER NOT NULL CHECK (budget_count > 0),
        budget_money  INTEGER NOT NULL CHECK (budget_money >= 0),
        currency      TEXT NOT NULL,
        issued_count  INTEGER NOT NULL DEFAULT 0 CHECK (issued_count >= 0),
        issued_money  INTEGER NOT NULL DEFAULT 0 CHECK (issued_money >= 0),
        exhausted_at  INTEGER,
        updated_at    INTEGER NOT NULL
      ) STRICT;

      -- Coupons. Terms are copied from the campaign at issue, so a later
      -- campaign change never alters a coupon in a user's hands. user_ref is a
      -- truncated HMAC of the user id; the raw id is never stored.
      CREATE TABLE coupons (
        coupon_id     TEXT PRIMARY KEY,
        code          TEXT NOT NULL UNIQUE,
        campaign_id   TEXT NOT NULL REFERENCES coupon_campaigns (campaign_id),
        user_ref      TEXT NOT NULL,
        value         TEXT NOT NULL,
        currency      TEXT NOT NULL,
        max_discount  INTEGER NOT NULL,
        min_spend     INTEGER NOT NULL DEFAULT 0,
        issued_at     INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('issued', 'redeemed', 'expired')),
        order_id      TEXT UNIQUE,
        machine_id    TEXT,
        discount      INTEGER,
        redeemed_at   INTEGER,
        CHECK ((state = 'redeemed') = (order_id IS NOT NULL))
      ) STRICT;
      CREATE INDEX coupons_state_expiry ON coupons (state, expires_at);
      CREATE INDEX coupons_campaign ON coupons (campaign_id, state);

      -- Coupons issued per user per campaign per local day, only for the
      -- current days; the cap is enforced by a conditional upsert.
      CREATE TABLE coupon_user_days (
        campaign_id TEXT NOT NULL,
        user_ref    TEXT NOT NULL,
        day         TEXT NOT NULL,
        issued      INTEGER NOT NULL CHECK (issued >= 0),
        PRIMARY KEY (campaign_id, user_ref, day)
      ) STRICT, WITHOUT ROWID;
      CREATE INDEX coupon_user_days_day ON coupon_user_days (day);

      -- Every claim decided (issued or refused), pseudonymous, purged after
      -- the retention limit.
      CREATE TABLE coupon_claims (
        id          INTEGER PRIMARY KEY,
        decided_at  INTEGER NOT NULL,
        seen_at     INTEGER NOT NULL,
        campaign_id TEXT,
        user_ref    TEXT NOT NULL,
        beacon_id   TEXT NOT NULL,
        claim_id    TEXT,
        code        INTEGER,
        coupon_id   TEXT
      ) STRICT;
      CREATE INDEX coupon_claims_decided ON coupon_claims (decided_at);
    `,
  },
  {
    version: 3,
    name: 'cashless sessions (select-then-pay)',
    sql: `
      -- One row per cashless vend request: the machine's session and the
      -- platform order created for it, so that a payment arriving after the
      -- session ended is refunded and an unpaid order is closed exactly once,
      -- across restarts.
      CREATE TABLE cashless_sessions (
        session_id  TEXT PRIMARY KEY,
        machine_id  TEXT NOT NULL,
        item        INTEGER NOT NULL,
        amount      INTEGER NOT NULL,
        currency    TEXT NOT NULL,
        deadline    INTEGER NOT NULL,
        order_id    TEXT UNIQUE,
        state       TEXT NOT NULL CHECK (state IN ('creating', 'awaiting', 'approved', 'closed')),
        outcome     TEXT,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX cashless_sessions_state ON cashless_sessions (state);
    `,
  },
  {
    version: 4,
    name: 'outbox sequence and row counts in one row',
    sql: `
      -- The outbox's sequence counter and its row counts, in one row, so an
      -- append is one UPDATE ... RETURNING plus the INSERT, in the caller's
      -- transaction (a rollback rolls them back too).
      CREATE TABLE outbox_state (
        id        INTEGER PRIMARY KEY CHECK (id = 1),
        next_seq  INTEGER NOT NULL,
        rows      INTEGER NOT NULL,
        critical  INTEGER NOT NULL
      ) STRICT;
      INSERT INTO outbox_state (id, next_seq, rows, critical)
        SELECT 1,
               COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'next_seq'), 0),
               (SELECT COUNT(*) FROM outbox),
               (SELECT COUNT(*) FROM outbox WHERE class = 'critical');
      DELETE FROM meta WHERE key = 'next_seq';
      DELETE FROM counters WHERE name IN ('outbox_rows', 'outbox_critical');

      -- Event ids are random UUIDs, unique by construction; a UNIQUE index on
      -- them cost a random B-tree insert per event. The seq is the key.
      CREATE TABLE outbox_v4 (
        seq          INTEGER PRIMARY KEY,
        event_id     TEXT NOT NULL,
        type         TEXT NOT NULL,
        class        TEXT NOT NULL CHECK (class IN ('critical', 'telemetry')),
        envelope     TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER,
        last_sent_at INTEGER,
        send_count   INTEGER NOT NULL DEFAULT 0
      ) STRICT;
      INSERT INTO outbox_v4 (seq, event_id, type, class, envelope, created_at, expires_at, last_sent_at, send_count)
        SELECT seq, event_id, type, class, envelope, created_at, expires_at, last_sent_at, send_count FROM outbox;
      DROP TABLE outbox;
      ALTER TABLE outbox_v4 RENAME TO outbox;
    `,
  },
  {
    version: 5,
    name: 'replay guard keeps a hash of each command body',
    sql: `
      -- SHA-256 (hex) of the signed body bytes, so an identical redelivery of
      -- an accepted command (same id, nonce and body) is told from a replay
      -- that reuses its id or nonce with other bytes. NULL for rows written
      -- before this version: those cannot prove sameness and stay replays.
      ALTER TABLE seen_commands ADD COLUMN body_sha256 TEXT;
    `,
  },
  {
    version: 6,
    name: 'board boot epoch with the vend intent',
    sql: `
      -- The boot epoch the slot board reported when the dispense intent was
      -- committed (docs/protocols/slot-board.md section 6.1). After a
      -- restart, a "never seen" from a board with another epoch proves
      -- nothing: the order is reported for reconciliation, never resent.
      -- NULL: the controller reported no epoch.
      ALTER TABLE orders ADD COLUMN board_epoch INTEGER;
    `,
  },
  {
    version: 7,
    name: 'alerts: what was announced, and the delivery queue of each sink',
    sql: `
      -- The conditions announced as raised and not yet as cleared, so a
      -- restart (whose sources raise what is still wrong again) sends no
      -- second 'raised', and a 'cleared' carries the occurrence's id and since.
      CREATE TABLE alert_active (
        condition_key TEXT PRIMARY KEY,
        alert_id      TEXT NOT NULL,
        message       TEXT NOT NULL,
        raised_at     INTEGER NOT NULL
      ) STRICT;

      -- One row per alert per sink (a webhook, MQTT). Pending rows are sent
      -- in id order per condition key; delivered, failed and dropped ones stay
      -- as a short history for GET /api/alerts (gateway/alerts/queue.ts bounds both).
      CREATE TABLE alert_queue (
        id            INTEGER PRIMARY KEY,
        sink          TEXT NOT NULL,
        alert_id      TEXT NOT NULL,
        condition_key TEXT NOT NULL,
        kind          TEXT NOT NULL,
        state         TEXT NOT NULL CHECK (state IN ('raised', 'cleared')),
        body          TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed', 'dropped')),
        attempts      INTEGER NOT NULL DEFAULT 0,
        next_at       INTEGER NOT NULL,
        last_error    TEXT,
        created_at    INTEGER NOT NULL,
        done_at       INTEGER
      ) STRICT;
      CREATE INDEX alert_queue_sink ON alert_queue (sink, status, id);
      CREATE INDEX alert_queue_key ON alert_queue (sink, condition_key, status, id);
    `,
  },
  {
    version: 8,
    name: 'pay-first credit sessions',
    sql: `
      -- Pay first, then choose (docs/protocols/mdb-adapter.md section 7.5):
      -- one row per paid credit, written before the adapter is told. States:
      -- 'received' (recorded, no C,START yet), 'started' (C,START may have
      -- gone out: the machine may hold the funds), 'approved' (the approval
      -- intent, committed before C,VEND; a restart never approves again),
      -- 'closed' (outcome says how, the events are in the outbox).
      CREATE TABLE credit_sessions (
        order_id     TEXT PRIMARY KEY,
        session_id   TEXT NOT NULL UNIQUE,
        machine_id   TEXT NOT NULL,
        credit       INTEGER NOT NULL CHECK (credit > 0),
        currency     TEXT NOT NULL,
        provider     TEXT NOT NULL,
        expires_at   INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('received', 'started', 'approved', 'closed')),
        item         INTEGER,
        approved     INTEGER CHECK (approved IS NULL OR (approved >= 0 AND approved <= credit)),
        refund       INTEGER CHECK (refund IS NULL OR (refund >= 0 AND refund <= credit)),
        outcome      TEXT,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL
      ) STRICT;
      -- One open session per machine: a second credit while one is open is refunded.
      CREATE UNIQUE INDEX credit_sessions_open ON credit_sessions (machine_id) WHERE state <> 'closed';
    `,
  },
  {
    version: 9,
    name: 'catalogue overrides and stock levels',
    sql: `
      -- What the platform (or the operator) changed of a slot's catalogue
      -- entry. NULL: the config's value holds. A price set here wins over
      -- the config file.
      CREATE TABLE catalogue_overrides (
        machine_id   TEXT NOT NULL,
        slot         INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 255),
        product      TEXT,
        price        INTEGER CHECK (price >= 0),
        currency     TEXT,
        enabled      INTEGER CHECK (enabled IN (0, 1)),
        capacity     INTEGER CHECK (capacity > 0),
        low_stock_at INTEGER CHECK (low_stock_at >= 0),
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (machine_id, slot)
      ) STRICT;

      -- Each slot's stock level as last counted or sensed. NULL: unknown
      -- (never refilled and never sensed).
      CREATE TABLE stock_levels (
        machine_id TEXT NOT NULL,
        slot       INTEGER NOT NULL CHECK (slot BETWEEN 1 AND 255),
        level      INTEGER CHECK (level >= 0),
        source     TEXT NOT NULL CHECK (source IN ('sensed', 'counted')),
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (machine_id, slot)
      ) STRICT;
    `,
  },
  {
    version: 10,
    name: 'DEX/UCS audit reads',
    sql: `
      -- Every DEX/UCS audit read of a machine, good, flagged or failed. The
      -- counters (JSON, contract AuditCounters) are the audit's totals and
      -- the change since the previous good read; only good reads are a
      -- baseline. raw_text is the audit as received (bounded by the link),
      -- cleared after machines[].dex.keepRawDays; the row with its counters stays.
      CREATE TABLE dex_reads (
        read_id        INTEGER PRIMARY KEY,
        machine_id     TEXT NOT NULL,
        trigger        TEXT NOT NULL CHECK (trigger IN ('schedule', 'command', 'api', 'cli')),
        status         TEXT NOT NULL CHECK (status IN ('good', 'flagged', 'failed')),
        started_at     INTEGER NOT NULL,
        finished_at    INTEGER NOT NULL,
        error_code     INTEGER,
        error_reason   TEXT,
        problems       TEXT NOT NULL DEFAULT '[]',
        machine_serial TEXT,
        currency       TEXT,
        totals         TEXT,
        since_last     TEXT,
        ledger         TEXT,
        mismatch       INTEGER NOT NULL DEFAULT 0 CHECK (mismatch IN (0, 1)),
        unknown_segments INTEGER,
        raw_bytes      INTEGER,
        raw_text       TEXT
      ) STRICT;
      CREATE INDEX dex_reads_machine ON dex_reads (machine_id, status, read_id);
      CREATE INDEX dex_reads_raw ON dex_reads (finished_at) WHERE raw_text IS NOT NULL;
    `,
  },
  {
    version: 11,
    name: 'sales and latest-orders indexes',
    sql: `
      -- The sales report (gateway/telemetry/sales.ts) sums dispensed orders
      -- per machine, slot and currency for each local day. In this order,
      -- covering the amount, each (machine, slot, currency) of a day is one
      -- seek and an in-order range: no table reads and no sort of every
      -- order of the day. Partial: a row enters it once, when its order ends
      -- dispensed (terminal), so the ledger's other transitions never touch it.
      CREATE INDEX orders_sales ON orders (machine_id, slot, currency, updated_at, amount)
        WHERE state = 'dispensed';
      -- The latest orders (GET /api/orders, the dashboard's every poll) in
      -- the ledger's list order, so LIMIT reads that many rows instead of
      -- sorting the whole table. Written once per order: neither column changes.
      CREATE INDEX orders_created ON orders (created_at DESC, order_id);
    `,
  },
  {
    version: 12,
    name: 'order indexes written once per order',
    sql: `
      -- orders_machine (machine_id, state) changed on every state change of
      -- an order (received, dispensing, then dispensed: five index writes),
      -- each in another commit, near the end of that machine's range: in the
      -- remote-vend bench it was the index most pages were written for, 2.1
      -- of 8.6 WAL pages per order. Nothing reads it by state: it serves the
      -- one machine's orders (GET /api/orders?machineId=, the DEX audit's
      -- ledger window). This one is written once per order (none of its
      -- columns change) and lists a machine's latest orders in the ledger's
      -- list order without a sort.
      DROP INDEX orders_machine;
      CREATE INDEX orders_machine_created ON orders (machine_id, created_at DESC, order_id);

      -- order_transitions_order (order_id) took a write per transition (three
      -- per order, each in another commit) into the leaf of that order's id:
      -- another 0.7 WAL pages per order. Its one reader is the DEX audit's
      -- ledger window (gateway/audit/ledger-window.ts), the dispensed
      -- transitions of a time window, which through it had to visit every
      -- order the machine ever had. This partial index holds just those
      -- transitions in time order: one append per dispensed order, at the
      -- index's end, and the window is one range. (Orders are never deleted,
      -- so the foreign key needs no index on the child column.)
      DROP INDEX order_transitions_order;
      CREATE INDEX order_transitions_dispensed ON order_transitions (at) WHERE to_state = 'dispensed';
    `,
  },
];
