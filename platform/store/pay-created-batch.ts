/**
 * Store.payCreatedOrder on PostgreSQL: the payments written in one turn of the event loop (the
 * notifications whose orders one batched read returned) go to the server as one statement, the
 * one-statement write of pay-created.ts over rows unnested from arrays: one round trip and one
 * commit (one WAL flush) for all of them instead of one each. All or nothing, as for one: when
 * any member's keys were seen, or the statement fails for any other reason (a deadlock with
 * another replica paying the same order, say), nothing of it was written and every member runs
 * again on its own, so each gets exactly the answer it would have got alone.
 */

import { KEYS_SEEN, payCreatedInOneStatement } from './pay-created.ts';
import { perTurn, slices } from './per-turn.ts';
import type { CreatedPayment, CreatedPaymentResult } from './port.ts';
import { orderRow } from './rows.ts';
import type { SqlExecutor, SqlValue } from './sql.ts';

/** Most payments per statement. */
const MAX_BATCH = 64;

const BATCH_SQL = `WITH input AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::text[],
    $7::bigint[], $8::text[], $9::text[], $10::text[], $11::bigint[], $12::text[], $13::text[],
    $14::integer[], $15::text[], $16::text[], $17::text[], $18::text[], $19::text[], $20::text[],
    $21::bigint[], $22::text[], $23::text[])
  AS i (out_trade_no, provider, amount, currency, at, transaction_id, payer_amount, payer_currency,
    exchange_rate, payer_hash, paid_at, gateway_id, machine_id, slot, kind, coupon_code, command_id,
    command_gateway, command_type, command_payload, command_at, key1, key2)
), paid AS (
  UPDATE orders o SET state = 'paid', updated_at = i.at,
    transaction_id = COALESCE(i.transaction_id, o.transaction_id),
    payer_amount = COALESCE(i.payer_amount, o.payer_amount),
    payer_currency = COALESCE(i.payer_currency, o.payer_currency),
    exchange_rate = COALESCE(i.exchange_rate, o.exchange_rate),
    payer_hash = COALESCE(i.payer_hash, o.payer_hash), paid_at = COALESCE(i.paid_at, o.paid_at)
  FROM input i
  WHERE o.out_trade_no = i.out_trade_no AND o.state = 'created' AND o.provider = i.provider
    AND o.amount = i.amount AND o.currency = i.currency AND o.gateway_id = i.gateway_id
    AND o.machine_id = i.machine_id AND o.slot = i.slot AND o.kind = i.kind
    AND o.coupon_code IS NOT DISTINCT FROM i.coupon_code
  RETURNING o.*
), fresh AS (
  INSERT INTO notifications (provider, notify_key, out_trade_no, received_at)
  SELECT i.provider, k.notify_key, i.out_trade_no, i.at
  FROM paid JOIN input i ON i.out_trade_no = paid.out_trade_no,
    LATERAL (VALUES (i.key1), (i.key2)) AS k (notify_key)
  ON CONFLICT DO NOTHING RETURNING out_trade_no
), cmd AS (
  INSERT INTO commands (command_id, gateway_id, type, payload, state, created_at)
  SELECT i.command_id, i.command_gateway, i.command_type, i.command_payload, 'recorded', i.command_at
  FROM paid JOIN input i ON i.out_trade_no = paid.out_trade_no
  ON CONFLICT DO NOTHING RETURNING command_id
)
SELECT paid.*, EXISTS (SELECT 1 FROM cmd WHERE cmd.command_id = i.command_id) AS vg_command_recorded,
  CAST(CASE WHEN (SELECT count(*) FROM fresh WHERE fresh.out_trade_no = paid.out_trade_no) = 2
    THEN '1' ELSE '${KEYS_SEEN}' END AS integer) AS vg_keys_fresh
FROM paid JOIN input i ON i.out_trade_no = paid.out_trade_no`;

interface Member {
  p: CreatedPayment;
  resolve: (r: CreatedPaymentResult) => void;
  reject: (err: unknown) => void;
}

export function batchedPayCreated(
  q: SqlExecutor,
  hashPayerId: (id: string) => string,
): (p: CreatedPayment) => Promise<CreatedPaymentResult> {
  const alone = (m: Member) => payCreatedInOneStatement(q, hashPayerId, m.p).then(m.resolve, m.reject);
  const run = async (batch: Member[]) => {
    if (batch.length === 1) return alone(batch[0]!);
    let rows: Array<Record<string, unknown>>;
    try {
      rows = (await q.query<Record<string, unknown>>(BATCH_SQL, columnsOf(batch, hashPayerId))).rows;
    } catch {
      // Nothing of the batch was written (whatever failed it): each on its own decides, and a
      // failure that is not about the batch (the server gone) is each one's own error.
      await Promise.all(batch.map(alone));
      return;
    }
    const byOrder = new Map(rows.map((r) => [String(r.out_trade_no), r]));
    for (const m of batch) {
      const row = byOrder.get(m.p.outTradeNo);
      m.resolve(
        row
          ? { kind: 'paid', order: orderRow(row), commandRecorded: row.vg_command_recorded === true }
          : { kind: 'not-created' },
      );
    }
  };
  // The payments signed in one turn: each order once per statement (a second payment of it in
  // the same turn goes on its own: the order's row lock orders the two, and the second finds it
  // paid).
  const write = perTurn<Member>((members) => {
    const seen = new Set<string>();
    const batch: Member[] = [];
    for (const m of members) {
      if (seen.has(m.p.outTradeNo) || m.p.keys.length !== 2) void alone(m);
      else {
        seen.add(m.p.outTradeNo);
        batch.push(m);
      }
    }
    for (const part of slices(batch, MAX_BATCH)) {
      // Never an unhandled rejection: whoever is still waiting gets the error.
      run(part).catch((err) => {
        for (const m of part) m.reject(err);
      });
    }
  });
  return (p) => new Promise((resolve, reject) => write({ p, resolve, reject }));
}

/** The batch as one array per column, in BATCH_SQL's order (pg sends a JS array as a PostgreSQL array). */
function columnsOf(batch: readonly Member[], hashPayerId: (id: string) => string): SqlValue[] {
  const col = <T>(f: (p: CreatedPayment) => T) => batch.map((m) => f(m.p)) as unknown as SqlValue;
  return [
    col((p) => p.outTradeNo),
    col((p) => p.provider),
    col((p) => p.expect.amount),
    col((p) => p.expect.currency),
    col((p) => p.at),
    col((p) => p.patch.transactionId ?? null),
    col((p) => p.patch.payerAmount ?? null),
    col((p) => p.patch.payerCurrency ?? null),
    col((p) => p.patch.exchangeRate ?? null),
    col((p) => (p.patch.payerId !== undefined ? hashPayerId(p.patch.payerId) : null)),
    col((p) => p.patch.paidAt ?? null),
    col((p) => p.expect.gatewayId),
    col((p) => p.expect.machineId),
    col((p) => p.expect.slot),
    col((p) => p.expect.kind),
    col((p) => p.expect.couponCode),
    col((p) => p.command.commandId),
    col((p) => p.command.gatewayId),
    col((p) => p.command.type),
    col((p) => p.command.payload),
    col((p) => p.command.at),
    col((p) => p.keys[0]!),
    col((p) => p.keys[1]!),
  ];
}
