// Store rows as the API shows them (no payer hash, money as Money).
import type { GatewayRow, OrderRow, RefundRow } from '../store/port.ts';
import type { Gateway, Order, Refund } from './schemas.ts';

export function orderView(o: OrderRow): Order {
  return {
    outTradeNo: o.outTradeNo,
    gatewayId: o.gatewayId,
    machineId: o.machineId,
    slot: o.slot,
    price: { amount: o.amount, currency: o.currency },
    kind: o.kind,
    vended: o.vendedAmount === null ? null : { amount: o.vendedAmount, currency: o.currency },
    provider: o.provider,
    state: o.state,
    sessionId: o.sessionId,
    transactionId: o.transactionId,
    reason: o.reason,
    expiresAt: o.expiresAt,
    createdAt: o.createdAt,
    updatedAt: o.updatedAt,
    paidAt: o.paidAt,
  };
}

export function refundView(r: RefundRow): Refund {
  return {
    outRefundNo: r.outRefundNo,
    outTradeNo: r.outTradeNo,
    amount: { amount: r.amount, currency: r.currency },
    reason: r.reason,
    state: r.state,
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    providerRefundId: r.providerRefundId,
    outcome: r.outcome,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

export function gatewayView(g: GatewayRow): Gateway {
  return {
    gatewayId: g.gatewayId,
    online: g.online,
    lastSeenAt: g.lastSeenAt,
    ackedUpTo: g.ackedUpTo,
    outboxDepth: g.outboxDepth,
    machines: g.lastStatus?.machines ?? [],
    version: g.lastStatus?.version ?? null,
  };
}
