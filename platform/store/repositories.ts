import type { GatewayStatus } from '../../contract/events.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import {
  type CommandRepo,
  type EventRepo,
  type GatewayRepo,
  type NotificationRepo,
  ORDER_TRANSITIONS,
  type OrderPatch,
  type OrderRepo,
  type OrderRow,
  type PlatformOrderState,
  type RefundRepo,
  type Repositories,
} from './port.ts';
import { commandRow, eventRow, gatewayRow, orderRow, refundRow } from './rows.ts';
import type { SqlExecutor } from './sql.ts';

/**
 * The repositories' SQL, written once for both backends (sql.ts). Every
 * state change is `UPDATE ... WHERE state = $old` and reports whether this
 * caller made it: with two replicas racing, one sees true and one false.
 */
export function repositories(q: SqlExecutor, hashPayerId: (id: string) => string): Repositories {
  return {
    gateways: gatewayRepo(q),
    events: eventRepo(q),
    orders: orderRepo(q, hashPayerId),
    notifications: notificationRepo(q),
    refunds: refundRepo(q),
    commands: commandRepo(q),
  };
}

function gatewayRepo(q: SqlExecutor): GatewayRepo {
  return {
    async get(gatewayId) {
      const r = await q.query('SELECT * FROM gateways WHERE gateway_id = $1', [gatewayId]);
      return r.rows[0] ? gatewayRow(r.rows[0]) : undefined;
    },
    async list() {
      const r = await q.query('SELECT * FROM gateways ORDER BY gateway_id');
      return r.rows.map(gatewayRow);
    },
    async ensure(gatewayId, at) {
      const r = await q.query(
        'INSERT INTO gateways (gateway_id, created_at, last_seen_at) VALUES ($1, $2, $2) ON CONFLICT DO NOTHING',
        [gatewayId, at],
      );
      return r.rowCount === 1;
    },
    async ensureMany(gatewayIds, at) {
      if (gatewayIds.length === 0) return;
      const values = gatewayIds.map((_, i) => `($${i + 2}, $1, $1)`).join(', ');
      await q.query(
        `INSERT INTO gateways (gateway_id, created_at, last_seen_at) VALUES ${values} ON CONFLICT DO NOTHING`,
        [at, ...gatewayIds],
      );
    },
    async watermarks(gatewayIds) {
      const out = new Map<string, number>();
      if (gatewayIds.length === 0) return out;
      const r = await q.query<{ gateway_id: string; acked_up_to: number }>(
        `SELECT gateway_id, acked_up_to FROM gateways WHERE gateway_id IN (${placeholders(gatewayIds.length, 1)})`,
        gatewayIds,
      );
      for (const row of r.rows) out.set(String(row.gateway_id), Number(row.acked_up_to));
      return out;
    },
    async recordStatus(gatewayId, status, at) {
      await q.query(
        `INSERT INTO gateways (gateway_id, last_status, online, last_seen_at, outbox_depth, created_at)
         VALUES ($1, $2, $3, $4, $5, $4)
         ON CONFLICT (gateway_id) DO UPDATE SET last_status = excluded.last_status, online = excluded.online,
           last_seen_at = excluded.last_seen_at, outbox_depth = COALESCE(excluded.outbox_depth, gateways.outbox_depth)`,
        [gatewayId, JSON.stringify(status), status.state === 'online', at, status.outbox?.pending ?? null],
      );
      const learned = learnableWatermark(status);
      if (learned === undefined || learned <= 0) return;
      // Only a gateway the platform has stored nothing of learns its watermark from a birth.
      await q.query(
        `UPDATE gateways SET acked_up_to = $2, watermark_source = 'status'
         WHERE gateway_id = $1 AND acked_up_to = 0
           AND NOT EXISTS (SELECT 1 FROM events WHERE events.gateway_id = $1)`,
        [gatewayId, learned],
      );
    },
    async touch(gatewayId, at) {
      await q.query('UPDATE gateways SET last_seen_at = $2 WHERE gateway_id = $1', [gatewayId, at]);
    },
    async advanceWatermark(gatewayId, upTo) {
      const r = await q.query(
        'UPDATE gateways SET acked_up_to = $2 WHERE gateway_id = $1 AND acked_up_to < $2',
        [gatewayId, upTo],
      );
      return r.rowCount === 1;
    },
    async setPublicKey(gatewayId, publicKey) {
      await q.query('UPDATE gateways SET public_key = $2 WHERE gateway_id = $1', [gatewayId, publicKey]);
    },
    async pinPublicKey(gatewayId, publicKey) {
      await q.query('UPDATE gateways SET public_key = $2 WHERE gateway_id = $1 AND public_key IS NULL', [
        gatewayId,
        publicKey,
      ]);
      const r = await q.query<{ public_key: string | null }>(
        'SELECT public_key FROM gateways WHERE gateway_id = $1',
        [gatewayId],
      );
      const stored = r.rows[0]?.public_key;
      return stored === undefined || stored === null ? undefined : String(stored);
    },
  };
}

/**
 * What a birth says the platform may take as stored: the signed contract's
 * `ackedSeq` (everything up to it left the outbox) when the status carries
 * it; otherwise `lastSeq` when the outbox is empty. With events pending and
 * no `ackedSeq`, `lastSeq - pending` could skip a pending event (dropped
 * telemetry leaves holes), so nothing is learned and the platform counts
 * from zero.
 */
export function learnableWatermark(status: GatewayStatus): number | undefined {
  const acked = (status as { ackedSeq?: unknown }).ackedSeq;
  if (typeof acked === 'number' && Number.isInteger(acked) && acked >= 0) return acked;
  if (status.lastSeq !== undefined && status.outbox?.pending === 0) return status.lastSeq;
  return undefined;
}

function eventRepo(q: SqlExecutor): EventRepo {
  return {
    async insert(e) {
      const r = await q.query(
        `INSERT INTO events (gateway_id, seq, event_id, type, ts, data, problem, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
        [
          e.gatewayId,
          e.seq,
          e.eventId,
          e.type,
          e.ts,
          JSON.stringify(e.data ?? null),
          e.problem,
          e.receivedAt,
        ],
      );
      return r.rowCount === 1 ? 'stored' : 'duplicate';
    },
    async insertMany(rows) {
      const stored = new Set<string>();
      for (let i = 0; i < rows.length; i += EVENT_INSERT_CHUNK) {
        const chunk = rows.slice(i, i + EVENT_INSERT_CHUNK);
        const values = chunk.map((_, j) => `(${placeholders(8, j * 8 + 1)})`).join(', ');
        const r = await q.query<{ gateway_id: string; seq: number }>(
          `INSERT INTO events (gateway_id, seq, event_id, type, ts, data, problem, received_at)
           VALUES ${values} ON CONFLICT DO NOTHING RETURNING gateway_id, seq`,
          chunk.flatMap((e) => [
            e.gatewayId,
            e.seq,
            e.eventId,
            e.type,
            e.ts,
            JSON.stringify(e.data ?? null),
            e.problem,
            e.receivedAt,
          ]),
        );
        for (const row of r.rows) stored.add(`${row.gateway_id} ${Number(row.seq)}`);
      }
      return stored;
    },
    async coveredAboveWatermarks(gatewayIds) {
      const out = new Map<string, number[]>(gatewayIds.map((g) => [g, []]));
      if (gatewayIds.length === 0) return out;
      const list = placeholders(gatewayIds.length, 1);
      const r = await q.query<{ gateway_id: string; seq: number }>(
        `SELECT e.gateway_id, e.seq FROM events e JOIN gateways g ON g.gateway_id = e.gateway_id
           WHERE e.gateway_id IN (${list}) AND e.seq > g.acked_up_to
         UNION SELECT d.gateway_id, d.seq FROM dropped_seqs d JOIN gateways g ON g.gateway_id = d.gateway_id
           WHERE d.gateway_id IN (${list}) AND d.seq > g.acked_up_to
         ORDER BY 1, 2`,
        gatewayIds,
      );
      for (const row of r.rows) out.get(String(row.gateway_id))?.push(Number(row.seq));
      return out;
    },
    async get(gatewayId, seq) {
      const r = await q.query('SELECT * FROM events WHERE gateway_id = $1 AND seq = $2', [gatewayId, seq]);
      return r.rows[0] ? eventRow(r.rows[0]) : undefined;
    },
    async byId(eventId) {
      const r = await q.query('SELECT * FROM events WHERE event_id = $1', [eventId]);
      return r.rows[0] ? eventRow(r.rows[0]) : undefined;
    },
    async list(gatewayId, opts = {}) {
      const r = await q.query(
        `SELECT * FROM events WHERE gateway_id = $1 AND seq > $2 AND ($3 = '' OR type = $3)
         ORDER BY seq LIMIT $4`,
        [gatewayId, opts.afterSeq ?? 0, opts.type ?? '', opts.limit ?? 1000],
      );
      return r.rows.map(eventRow);
    },
    async count(gatewayId) {
      const r =
        gatewayId === undefined
          ? await q.query<{ n: number }>('SELECT COUNT(*) AS n FROM events')
          : await q.query<{ n: number }>('SELECT COUNT(*) AS n FROM events WHERE gateway_id = $1', [
              gatewayId,
            ]);
      return Number(r.rows[0]?.n ?? 0);
    },
    async coveredSeqsAbove(gatewayId, afterSeq, limit) {
      const r = await q.query<{ seq: number }>(
        `SELECT seq FROM (
           SELECT seq FROM events WHERE gateway_id = $1 AND seq > $2
           UNION SELECT seq FROM dropped_seqs WHERE gateway_id = $1 AND seq > $2
         ) covered ORDER BY seq LIMIT $3`,
        [gatewayId, afterSeq, limit],
      );
      return r.rows.map((row) => Number(row.seq));
    },
    async recordDropped(gatewayId, seqs) {
      for (const seq of seqs) {
        await q.query('INSERT INTO dropped_seqs (gateway_id, seq) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
          gatewayId,
          seq,
        ]);
      }
    },
  };
}

/** Rows per multi-row INSERT: 8 parameters each stays far below SQLite's 32766 and PostgreSQL's 65535. */
const EVENT_INSERT_CHUNK = 250;

/** `$from, $from+1, ...` n placeholders. */
function placeholders(n: number, from: number): string {
  return Array.from({ length: n }, (_, i) => `$${from + i}`).join(', ');
}

function orderRepo(q: SqlExecutor, hashPayerId: (id: string) => string): OrderRepo {
  return {
    async create(o) {
      const r = await q.query(
        `INSERT INTO orders (out_trade_no, gateway_id, machine_id, slot, amount, currency, provider, state,
           session_id, coupon_code, expires_at, created_at, updated_at, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'created', $8, $9, $10, $11, $11, $12) ON CONFLICT DO NOTHING`,
        [
          o.outTradeNo,
          o.gatewayId,
          o.machineId,
          o.slot,
          o.amount,
          o.currency,
          o.provider,
          o.sessionId ?? null,
          o.couponCode ?? null,
          o.expiresAt,
          o.createdAt,
          o.kind ?? 'item',
        ],
      );
      return r.rowCount === 1;
    },
    async get(outTradeNo) {
      const r = await q.query('SELECT * FROM orders WHERE out_trade_no = $1', [outTradeNo]);
      return r.rows[0] ? orderRow(r.rows[0]) : undefined;
    },
    async transition(outTradeNo, from, to, at, patch = {}) {
      assertOrderTransition(from, to);
      const p: OrderPatch = patch;
      // COALESCE keeps a column as it was unless the patch sets it.
      const r = await q.query(
        `UPDATE orders SET state = $3, updated_at = $4,
           transaction_id = COALESCE($5, transaction_id), payer_amount = COALESCE($6, payer_amount),
           payer_currency = COALESCE($7, payer_currency), exchange_rate = COALESCE($8, exchange_rate),
           payer_hash = COALESCE($9, payer_hash), reason = COALESCE($10, reason), paid_at = COALESCE($11, paid_at),
           slot = COALESCE($12, slot), vended_amount = COALESCE($13, vended_amount)
         WHERE out_trade_no = $1 AND state = $2`,
        [
          outTradeNo,
          from,
          to,
          at,
          p.transactionId ?? null,
          p.payerAmount ?? null,
          p.payerCurrency ?? null,
          p.exchangeRate ?? null,
          p.payerId !== undefined ? hashPayerId(p.payerId) : null,
          p.reason ?? null,
          p.paidAt ?? null,
          p.slot ?? null,
          p.vendedAmount ?? null,
        ],
      );
      return r.rowCount === 1;
    },
    async getMany(outTradeNos) {
      const out = new Map<string, OrderRow>();
      if (outTradeNos.length === 0) return out;
      // Padded to a power of two with the last one again: a handful of statement texts, each prepared once.
      let size = 1;
      while (size < outTradeNos.length) size *= 2;
      const params = Array.from(
        { length: size },
        (_, i) => outTradeNos[Math.min(i, outTradeNos.length - 1)]!,
      );
      const r = await q.query(
        `SELECT * FROM orders WHERE out_trade_no IN (${placeholders(size, 1)})`,
        params,
      );
      for (const row of r.rows) {
        const o = orderRow(row);
        out.set(o.outTradeNo, o);
      }
      return out;
    },
    async payCreated(outTradeNo, expect, at, p) {
      const r = await q.query(
        `UPDATE orders SET state = 'paid', updated_at = $5,
           transaction_id = COALESCE($6, transaction_id), payer_amount = COALESCE($7, payer_amount),
           payer_currency = COALESCE($8, payer_currency), exchange_rate = COALESCE($9, exchange_rate),
           payer_hash = COALESCE($10, payer_hash), paid_at = COALESCE($11, paid_at)
         WHERE out_trade_no = $1 AND state = 'created' AND provider = $2 AND amount = $3 AND currency = $4
         RETURNING *`,
        [
          outTradeNo,
          expect.provider,
          expect.amount,
          expect.currency,
          at,
          p.transactionId ?? null,
          p.payerAmount ?? null,
          p.payerCurrency ?? null,
          p.exchangeRate ?? null,
          p.payerId !== undefined ? hashPayerId(p.payerId) : null,
          p.paidAt ?? null,
        ],
      );
      return r.rows[0] ? orderRow(r.rows[0]) : undefined;
    },
    async listByState(state, opts = {}) {
      const r = await q.query(
        'SELECT * FROM orders WHERE state = $1 AND created_at < $2 ORDER BY created_at LIMIT $3',
        [state, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit ?? 1000],
      );
      return r.rows.map(orderRow);
    },
    async listExpired(at, limit = 1000) {
      const r = await q.query(
        "SELECT * FROM orders WHERE state = 'created' AND expires_at < $1 ORDER BY expires_at LIMIT $2",
        [at, limit],
      );
      return r.rows.map(orderRow);
    },
    async listCreatedBetween(from, to) {
      const r = await q.query(
        'SELECT * FROM orders WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at',
        [from, to],
      );
      return r.rows.map(orderRow);
    },
  };
}

export function assertOrderTransition(from: PlatformOrderState, to: PlatformOrderState): void {
  if (!ORDER_TRANSITIONS[from]?.includes(to)) {
    throw new VendgateError(
      ErrorCode.StoreTransitionInvalid,
      `an order cannot go from ${from} to ${to} (allowed from ${from}: ${ORDER_TRANSITIONS[from]?.join(', ') || 'none'})`,
      { from, to },
    );
  }
}

function notificationRepo(q: SqlExecutor): NotificationRepo {
  return {
    async record(provider, key, outTradeNo, at) {
      const r = await q.query(
        `INSERT INTO notifications (provider, notify_key, out_trade_no, received_at)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`,
        [provider, key, outTradeNo, at],
      );
      return r.rowCount === 1;
    },
    async recordMany(provider, keys, outTradeNo, at) {
      if (keys.length === 0) return new Set();
      const values = keys.map((_, i) => `($1, $${i + 4}, $2, $3)`).join(', ');
      const r = await q.query<{ notify_key: string }>(
        `INSERT INTO notifications (provider, notify_key, out_trade_no, received_at)
         VALUES ${values} ON CONFLICT DO NOTHING RETURNING notify_key`,
        [provider, outTradeNo, at, ...keys],
      );
      return new Set(r.rows.map((row) => String(row.notify_key)));
    },
    async seen(provider, key) {
      const r = await q.query('SELECT 1 AS one FROM notifications WHERE provider = $1 AND notify_key = $2', [
        provider,
        key,
      ]);
      return r.rows.length > 0;
    },
  };
}

function refundRepo(q: SqlExecutor): RefundRepo {
  return {
    async create(x) {
      const r = await q.query(
        `INSERT INTO refunds (out_refund_no, out_trade_no, amount, currency, reason, state, attempts,
           next_attempt_at, source_event_id, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $8) ON CONFLICT DO NOTHING`,
        [
          x.outRefundNo,
          x.outTradeNo,
          x.amount,
          x.currency,
          x.reason,
          x.nextAttemptAt,
          x.sourceEventId ?? null,
          x.createdAt,
        ],
      );
      return r.rowCount === 1;
    },
    async get(outRefundNo) {
      const r = await q.query('SELECT * FROM refunds WHERE out_refund_no = $1', [outRefundNo]);
      return r.rows[0] ? refundRow(r.rows[0]) : undefined;
    },
    async forOrder(outTradeNo) {
      const r = await q.query('SELECT * FROM refunds WHERE out_trade_no = $1 ORDER BY created_at', [
        outTradeNo,
      ]);
      return r.rows.map(refundRow);
    },
    async due(at, limit = 100) {
      const r = await q.query(
        `SELECT * FROM refunds WHERE state IN ('pending', 'accepted') AND next_attempt_at <= $1
         ORDER BY next_attempt_at LIMIT $2`,
        [at, limit],
      );
      return r.rows.map(refundRow);
    },
    async recordAttempt(outRefundNo, from, seenAttempts, next, at) {
      const r = await q.query(
        `UPDATE refunds SET state = $4, attempts = attempts + 1, next_attempt_at = $5,
           outcome = COALESCE($6, outcome), provider_refund_id = COALESCE($7, provider_refund_id), updated_at = $8
         WHERE out_refund_no = $1 AND state = $2 AND attempts = $3`,
        [
          outRefundNo,
          from,
          seenAttempts,
          next.state,
          next.nextAttemptAt,
          next.outcome ?? null,
          next.providerRefundId ?? null,
          at,
        ],
      );
      return r.rowCount === 1;
    },
  };
}

function commandRepo(q: SqlExecutor): CommandRepo {
  return {
    async record(c) {
      const r = await q.query(
        `INSERT INTO commands (command_id, gateway_id, type, payload, state, created_at)
         VALUES ($1, $2, $3, $4, 'recorded', $5) ON CONFLICT DO NOTHING`,
        [c.commandId, c.gatewayId, c.type, c.payload, c.at],
      );
      return r.rowCount === 1;
    },
    async get(commandId) {
      const r = await q.query('SELECT * FROM commands WHERE command_id = $1', [commandId]);
      return r.rows[0] ? commandRow(r.rows[0]) : undefined;
    },
    async transition(commandId, from, to, at) {
      const r = await q.query(
        `UPDATE commands SET state = $3, published_at = CASE WHEN $3 = 'published' THEN $4 ELSE published_at END
         WHERE command_id = $1 AND state = $2`,
        [commandId, from, to, at],
      );
      return r.rowCount === 1;
    },
    async markPublished(commandIds, at) {
      if (commandIds.length === 0) return 0;
      const r = await q.query(
        `UPDATE commands SET state = 'published', published_at = $1
         WHERE state = 'recorded' AND command_id IN (${placeholders(commandIds.length, 2)})`,
        [at, ...commandIds],
      );
      return r.rowCount;
    },
    async list(opts = {}) {
      const r = await q.query(
        `SELECT * FROM commands WHERE ($1 = '' OR gateway_id = $1) AND ($2 = '' OR state = $2)
         ORDER BY created_at LIMIT $3`,
        [opts.gatewayId ?? '', opts.state ?? '', opts.limit ?? 1000],
      );
      return r.rows.map(commandRow);
    },
  };
}
