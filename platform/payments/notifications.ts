/**
 * A provider's asynchronous notification, from raw bytes to the answer the
 * provider gets. The adapter verifies the signature over the raw body first;
 * a paid verdict is settled in the store (settle.ts) and committed before
 * the provider is told "received", so an acknowledged payment is never only
 * in memory. Anything refused is logged with its reason and answered with an
 * error, so the provider retries (and reconciliation sees it if it never
 * becomes acceptable).
 */
import type { NotificationReply, ProviderName, RawNotification } from '../providers/port.ts';
import type { PaymentsContext } from './context.ts';
import { publishOrderPaid } from './paid-sender.ts';
import { settlePayment } from './settle.ts';

export interface NotificationResult {
  reply: NotificationReply;
  /** What happened, for the log and tests. */
  outcome: 'paid' | 'refunding' | 'duplicate' | 'not-paid' | 'refund' | 'rejected' | 'unknown' | 'failed';
  reason?: string;
}

export async function handleNotification(
  ctx: PaymentsContext,
  providerName: ProviderName,
  raw: RawNotification,
): Promise<NotificationResult> {
  const provider = ctx.providers[providerName];
  const log = ctx.log.child({ provider: providerName, notification: true });
  if (!provider) {
    log.warn('a notification for a provider that is not configured: refused');
    return {
      reply: { status: 404, contentType: 'text/plain; charset=utf-8', body: 'no such provider' },
      outcome: 'rejected',
      reason: 'provider not configured',
    };
  }
  const answer = (received: boolean, outcome: NotificationResult['outcome'], reason?: string) => ({
    reply: provider.replyToNotification(received),
    outcome,
    ...(reason ? { reason } : {}),
  });
  const verdict = provider.verifyNotification(raw);
  switch (verdict.kind) {
    case 'rejected':
      log.warn({ reason: verdict.reason }, 'notification rejected');
      return answer(false, 'rejected', verdict.reason);
    case 'not-paid':
      log.debug({ outTradeNo: verdict.outTradeNo }, 'notification: not paid yet');
      return answer(true, 'not-paid');
    case 'refund': {
      await ctx.store.tx(async (t) => {
        const refund = await t.refunds.get(verdict.outRefundNo);
        if (!refund || refund.state === 'succeeded') return;
        const state =
          verdict.status === 'success' ? 'succeeded' : verdict.status === 'closed' ? 'refused' : 'abnormal';
        await t.refunds.recordAttempt(
          refund.outRefundNo,
          refund.state,
          refund.attempts,
          { state, nextAttemptAt: null, outcome: `provider notification: refund ${verdict.status}` },
          ctx.now(),
        );
      });
      log.info({ outRefundNo: verdict.outRefundNo, status: verdict.status }, 'refund notification');
      return answer(true, 'refund');
    }
    case 'paid':
      break;
  }
  let settled: Awaited<ReturnType<typeof settlePayment>>;
  try {
    settled = await settlePayment(ctx, providerName, verdict.payment, 'notification');
  } catch (err) {
    // Not stored, so not acknowledged: the provider sends it again.
    log.error(
      { err: (err as Error).message, outTradeNo: verdict.payment.outTradeNo },
      'notification not stored',
    );
    return answer(false, 'failed', (err as Error).message);
  }
  if (settled.kind === 'unknown') return answer(false, 'unknown', settled.reason);
  // Not awaited: the provider's answer must not wait on the broker. Committed with the payment, the
  // command is published by the repair pass if this publish does not get through.
  if (settled.kind === 'paid') void publishOrderPaid(ctx, settled.order, settled.command);
  return answer(true, settled.kind, settled.kind === 'refunding' ? settled.reason : undefined);
}
