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
];
