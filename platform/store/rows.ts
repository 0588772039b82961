import type { GatewayStatus } from '../../contract/events.ts';
import type {
  CommandRow,
  CommandState,
  EventRow,
  GatewayRow,
  OrderRow,
  PlatformOrderState,
  RefundRow,
  RefundState,
} from './port.ts';

/**
 * Column rows to row types. Both backends return the same shapes (BIGINT is
 * parsed to a number on PostgreSQL, postgres.ts); these only rename and
 * parse the JSON columns.
 */
type Raw = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function gatewayRow(r: Raw): GatewayRow {
  return {
    gatewayId: String(r.gateway_id),
    lastStatus: r.last_status === null ? null : (JSON.parse(String(r.last_status)) as GatewayStatus),
    online: num(r.online) === 1,
    lastSeenAt: numOrNull(r.last_seen_at),
    ackedUpTo: num(r.acked_up_to),
    watermarkSource: r.watermark_source === 'status' ? 'status' : 'zero',
    outboxDepth: numOrNull(r.outbox_depth),
    publicKey: strOrNull(r.public_key),
    createdAt: num(r.created_at),
  };
}

export function eventRow(r: Raw): EventRow {
  return {
    gatewayId: String(r.gateway_id),
    seq: num(r.seq),
    eventId: String(r.event_id),
    type: String(r.type),
    ts: num(r.ts),
    data: JSON.parse(String(r.data)),
    problem: strOrNull(r.problem),
    receivedAt: num(r.received_at),
  };
}

export function orderRow(r: Raw): OrderRow {
  return {
    outTradeNo: String(r.out_trade_no),
    kind: r.kind === 'credit' ? 'credit' : 'item',
    gatewayId: String(r.gateway_id),
    machineId: String(r.machine_id),
    slot: num(r.slot),
    amount: num(r.amount),
    currency: String(r.currency),
    provider: String(r.provider),
    state: String(r.state) as PlatformOrderState,
    vendedAmount: numOrNull(r.vended_amount),
    sessionId: strOrNull(r.session_id),
    couponCode: strOrNull(r.coupon_code),
    transactionId: strOrNull(r.transaction_id),
    payerAmount: numOrNull(r.payer_amount),
    payerCurrency: strOrNull(r.payer_currency),
    exchangeRate: strOrNull(r.exchange_rate),
    payerHash: strOrNull(r.payer_hash),
    reason: strOrNull(r.reason),
    expiresAt: num(r.expires_at),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
    paidAt: numOrNull(r.paid_at),
  };
}

export function refundRow(r: Raw): RefundRow {
  return {
    outRefundNo: String(r.out_refund_no),
    outTradeNo: String(r.out_trade_no),
    amount: num(r.amount),
    currency: String(r.currency),
    reason: String(r.reason),
    state: String(r.state) as RefundState,
    attempts: num(r.attempts),
    nextAttemptAt: numOrNull(r.next_attempt_at),
    providerRefundId: strOrNull(r.provider_refund_id),
    outcome: strOrNull(r.outcome),
    sourceEventId: strOrNull(r.source_event_id),
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

export function commandRow(r: Raw): CommandRow {
  return {
    commandId: String(r.command_id),
    gatewayId: String(r.gateway_id),
    type: String(r.type),
    payload: String(r.payload),
    state: String(r.state) as CommandState,
    createdAt: num(r.created_at),
    publishedAt: numOrNull(r.published_at),
  };
}
