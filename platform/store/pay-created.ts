/**
 * Store.payCreatedOrder: a payment's common case (the order still `created`, its keys new) as one
 * atomic write. On PostgreSQL it is one statement in its own implicit transaction: the order's
 * UPDATE, both dedupe keys and the command row as data-modifying CTEs, so a notification costs one
 * round trip here instead of BEGIN, three statements and COMMIT (five writes to the server's socket
 * and five replies, the replica's largest cost in a profile of the paid path). SQLite, in process,
 * runs the same three statements in one transaction. (On PostgreSQL the payments of one event-loop
 * turn share one statement, pay-created-batch.ts; this one is for a payment alone, and for each
 * member of a batch that failed.)
 */
import { VendgateError } from '../../core/errors.ts';
import type { CreatedPayment, CreatedPaymentResult, OrderRow, Store } from './port.ts';
import { orderRow } from './rows.ts';
import type { SqlExecutor } from './sql.ts';

/** The text the statement fails with when a key was recorded already (see below). */
export const KEYS_SEEN = 'vendgate: a dedupe key of this payment was recorded already';

/** Statement texts by key count (two in practice: the transaction id and the out_trade_no). */
const statements = new Map<number, string>();

function statementFor(keyCount: number): string {
  let sql = statements.get(keyCount);
  if (sql) return sql;
  const keys = Array.from({ length: keyCount }, (_, i) => `($${i + 23}::text)`).join(', ');
  // Every CTE runs to completion on one snapshot whatever the outer query reads (PostgreSQL docs,
  // "Data-Modifying Statements in WITH"); the inserts take their rows from the UPDATE's RETURNING,
  // so with no row updated nothing is written. A key already recorded (ON CONFLICT skipped it,
  // possibly after waiting for a concurrent insert of it) must undo the whole statement, as the
  // general path would not pay this order: the outer SELECT then casts a non-number to integer,
  // which fails the statement and so its implicit transaction. The CASE depends on the CTE's row
  // count, so the planner cannot fold the cast into a constant error.
  sql = `WITH paid AS (
  UPDATE orders SET state = 'paid', updated_at = $5,
    transaction_id = COALESCE($6, transaction_id), payer_amount = COALESCE($7, payer_amount),
    payer_currency = COALESCE($8, payer_currency), exchange_rate = COALESCE($9, exchange_rate),
    payer_hash = COALESCE($10, payer_hash), paid_at = COALESCE($11, paid_at)
  WHERE out_trade_no = $1 AND state = 'created' AND provider = $2 AND amount = $3 AND currency = $4
    AND gateway_id = $12 AND machine_id = $13 AND slot = $14 AND kind = $15
    AND coupon_code IS NOT DISTINCT FROM $16::text
  RETURNING *
), fresh AS (
  INSERT INTO notifications (provider, notify_key, out_trade_no, received_at)
  SELECT $2, k.notify_key, paid.out_trade_no, $5 FROM paid, (VALUES ${keys}) AS k (notify_key)
  ON CONFLICT DO NOTHING RETURNING 1
), cmd AS (
  INSERT INTO commands (command_id, gateway_id, type, payload, state, created_at)
  SELECT $17::text, $18::text, $19::text, $20::text, 'recorded', $21::bigint FROM paid
  ON CONFLICT DO NOTHING RETURNING 1
)
SELECT paid.*, (SELECT count(*) FROM cmd) AS vg_command_recorded,
  CAST(CASE WHEN (SELECT count(*) FROM fresh) = $22::bigint THEN '1' ELSE '${KEYS_SEEN}' END AS integer)
    AS vg_keys_fresh
FROM paid`;
  statements.set(keyCount, sql);
  return sql;
}

function isKeysSeen(err: unknown): boolean {
  return (
    err instanceof VendgateError &&
    err.context.sqlstate === '22P02' && // invalid_text_representation: the cast above
    err.message.includes(KEYS_SEEN)
  );
}

/** PostgreSQL: one statement, committed on its own (`q` is the pool, not a transaction). */
export async function payCreatedInOneStatement(
  q: SqlExecutor,
  hashPayerId: (id: string) => string,
  p: CreatedPayment,
): Promise<CreatedPaymentResult> {
  const e = p.expect;
  const c = p.command;
  try {
    const r = await q.query<Record<string, unknown>>(statementFor(p.keys.length), [
      p.outTradeNo,
      p.provider,
      e.amount,
      e.currency,
      p.at,
      p.patch.transactionId ?? null,
      p.patch.payerAmount ?? null,
      p.patch.payerCurrency ?? null,
      p.patch.exchangeRate ?? null,
      p.patch.payerId !== undefined ? hashPayerId(p.patch.payerId) : null,
      p.patch.paidAt ?? null,
      e.gatewayId,
      e.machineId,
      e.slot,
      e.kind,
      e.couponCode,
      c.commandId,
      c.gatewayId,
      c.type,
      c.payload,
      c.at,
      p.keys.length,
      ...p.keys,
    ]);
    const row = r.rows[0];
    if (!row) return { kind: 'not-created' };
    return { kind: 'paid', order: orderRow(row), commandRecorded: Number(row.vg_command_recorded) === 1 };
  } catch (err) {
    if (isKeysSeen(err)) return { kind: 'keys-seen' };
    throw err;
  }
}

/** Thrown inside the transaction to undo what it wrote; never leaves this file. */
class Undo extends Error {
  constructor(readonly result: CreatedPaymentResult) {
    super(result.kind);
  }
}

function sameOrder(o: OrderRow, e: CreatedPayment['expect']): boolean {
  return (
    o.gatewayId === e.gatewayId &&
    o.machineId === e.machineId &&
    o.slot === e.slot &&
    o.kind === e.kind &&
    o.couponCode === e.couponCode
  );
}

/** Any backend: the same writes as three statements in one transaction. */
export async function payCreatedInTx(tx: Store['tx'], p: CreatedPayment): Promise<CreatedPaymentResult> {
  try {
    return await tx(async (t) => {
      const order = await t.orders.payCreated(
        p.outTradeNo,
        { provider: p.provider, amount: p.expect.amount, currency: p.expect.currency },
        p.at,
        p.patch,
      );
      if (!order) return { kind: 'not-created' };
      if (!sameOrder(order, p.expect)) throw new Undo({ kind: 'not-created' });
      const fresh = await t.notifications.recordMany(p.provider, p.keys, order.outTradeNo, p.at);
      if (fresh.size !== p.keys.length) throw new Undo({ kind: 'keys-seen' });
      const commandRecorded = await t.commands.record(p.command);
      return { kind: 'paid', order, commandRecorded };
    });
  } catch (err) {
    if (err instanceof Undo) return err.result;
    throw err;
  }
}
