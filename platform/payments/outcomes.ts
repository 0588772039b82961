/**
 * What the gateways report about paid orders, applied to the order rows.
 * Each handler runs inside the fleet link's ingest transaction (after the
 * event's insert, before its commit), so an outcome is applied exactly once
 * with the event: a redelivered event is a duplicate and never reaches here.
 * Provider calls (refunds, closes) never run inside; the refund row written
 * here is what the refund worker sends, after the commit.
 */
import type { z } from 'zod';
import { type EventData, EventSchemas, type EventType } from '../../contract/events.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { FleetEvent } from '../fleet/port.ts';
import type { StoreTx } from '../store/port.ts';
import type { PaymentsContext } from './context.ts';
import { orderOfPaidCommand } from './ids.ts';
import { requestRefund } from './settle.ts';

export interface OutcomeHooks {
  /** A refund row was written: wake the refund worker (after the commit). */
  refundRequested(outTradeNo: string): void;
  /** The gateway asked to close an unpaid order: close it at the provider (after the commit). */
  closeRequested(outTradeNo: string, why: string): void;
}

function parse<T extends EventType>(ctx: PaymentsContext, type: T, e: FleetEvent): EventData<T> | undefined {
  const r = (EventSchemas[type] as unknown as z.ZodType<EventData<T>>).safeParse(e.data);
  if (!r.success) {
    ctx.log.warn(
      { gatewayId: e.gatewayId, seq: e.seq, type },
      'event data does not match its schema: ignored',
    );
    return undefined;
  }
  return r.data;
}

async function ourOrder(ctx: PaymentsContext, t: StoreTx, e: FleetEvent, orderId: string) {
  const order = await t.orders.get(orderId);
  if (!order) {
    ctx.log.warn(
      { gatewayId: e.gatewayId, orderId, type: e.type },
      'an outcome for no order of ours: ignored',
    );
    return undefined;
  }
  if (order.gatewayId !== e.gatewayId) {
    ctx.log.error(
      { gatewayId: e.gatewayId, orderId, orderGateway: order.gatewayId, type: e.type },
      'an outcome from a gateway the order is not for: ignored',
    );
    return undefined;
  }
  return order;
}

export function outcomeHandlers(ctx: PaymentsContext, hooks: OutcomeHooks) {
  return {
    async 'vend.succeeded'(e: FleetEvent, t: StoreTx) {
      const d = parse(ctx, 'vend.succeeded', e);
      const order = d && (await ourOrder(ctx, t, e, d.orderId));
      if (!d || !order) return;
      if (order.kind === 'credit' && (order.state === 'paid' || order.state === 'unresolved')) {
        // Pay first: the machine chose the item; record it and the part of the credit it spent.
        if (d.price.currency !== order.currency || d.price.amount > order.amount) {
          ctx.log.error(
            { outTradeNo: order.outTradeNo, vended: d.price, credit: order.amount },
            'vend.succeeded for more than the credit (or in another currency): recorded, reconciliation lists it',
          );
        }
        await t.orders.transition(order.outTradeNo, order.state, 'dispensed', ctx.now(), {
          slot: d.slot,
          vendedAmount: d.price.amount,
        });
        ctx.log.info(
          { outTradeNo: order.outTradeNo, slot: d.slot, vended: d.price.amount, credit: order.amount },
          'credit spent: dispensed',
        );
      } else if (order.state === 'paid' || order.state === 'unresolved') {
        await t.orders.transition(order.outTradeNo, order.state, 'dispensed', ctx.now());
        ctx.log.info({ outTradeNo: order.outTradeNo }, 'dispensed');
      } else {
        ctx.log.warn(
          { outTradeNo: order.outTradeNo, state: order.state },
          'vend.succeeded for an order not paid',
        );
      }
    },
    async 'refund.requested'(e: FleetEvent, t: StoreTx) {
      const d = parse(ctx, 'refund.requested', e);
      const order = d && (await ourOrder(ctx, t, e, d.orderId));
      if (!d || !order) return;
      const reason = `gateway ${d.code}: ${d.reason}`;
      if (order.kind === 'credit') {
        // Pay first: the refund is the unspent rest, never more than the credit less what was vended.
        const left = order.amount - (order.vendedAmount ?? 0);
        if (d.refund.currency !== order.currency || d.refund.amount > left || d.refund.amount <= 0) {
          ctx.log.error(
            {
              outTradeNo: order.outTradeNo,
              refund: d.refund,
              credit: order.amount,
              vended: order.vendedAmount,
            },
            'refund.requested for more than the unspent credit: not refunded, left to an operator',
          );
          if (order.state === 'paid')
            await t.orders.transition(order.outTradeNo, order.state, 'unresolved', ctx.now(), {
              reason: `refund of ${d.refund.currency} ${d.refund.amount} asked, ${left} unspent`,
            });
          return;
        }
      }
      if (await requestRefund(t, order, d.refund, reason, ctx.now(), e.eventId)) {
        ctx.log.info({ outTradeNo: order.outTradeNo, reason }, 'refund requested');
        hooks.refundRequested(order.outTradeNo);
      } else {
        ctx.log.warn(
          { outTradeNo: order.outTradeNo, state: order.state },
          'refund.requested: already refunding',
        );
      }
    },
    async 'order.unresolved'(e: FleetEvent, t: StoreTx) {
      const d = parse(ctx, 'order.unresolved', e);
      const order = d && (await ourOrder(ctx, t, e, d.orderId));
      if (!d || !order) return;
      if (order.state !== 'paid') {
        ctx.log.warn(
          { outTradeNo: order.outTradeNo, state: order.state },
          'order.unresolved for an order not paid',
        );
        return;
      }
      await t.orders.transition(order.outTradeNo, 'paid', 'unresolved', ctx.now(), {
        reason: `gateway ${d.code}: ${d.reason}`,
      });
      ctx.log.warn({ outTradeNo: order.outTradeNo }, 'order unresolved: queued for an operator');
    },
    async 'order.close_requested'(e: FleetEvent, t: StoreTx) {
      const d = parse(ctx, 'order.close_requested', e);
      const order = d && (await ourOrder(ctx, t, e, d.orderId));
      if (!d || !order) return;
      hooks.closeRequested(order.outTradeNo, `the gateway session ended (${d.code}: ${d.reason})`);
    },
    async 'command.rejected'(e: FleetEvent, t: StoreTx) {
      const d = parse(ctx, 'command.rejected', e);
      const outTradeNo = orderOfPaidCommand(d?.commandId);
      // A replay is the gateway refusing a second copy of a command it already has: never a reason to refund.
      if (!d || !outTradeNo || d.code === ErrorCode.CommandReplayed) return;
      const order = await ourOrder(ctx, t, e, outTradeNo);
      if (order?.state !== 'paid') return;
      // The gateway refused our order.paid or credit.paid (expired in transit, say): it will never dispense it.
      const reason = `${order.kind === 'credit' ? 'credit.paid' : 'order.paid'} rejected by the gateway (${d.code}: ${d.reason})`;
      if (
        await requestRefund(t, order, { amount: order.amount, currency: order.currency }, reason, ctx.now())
      ) {
        ctx.log.warn({ outTradeNo, reason }, 'refunding an order the gateway refused');
        hooks.refundRequested(outTradeNo);
      }
    },
  } satisfies Partial<Record<EventType, (e: FleetEvent, t: StoreTx) => Promise<void>>>;
}
