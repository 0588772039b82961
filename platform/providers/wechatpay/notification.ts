/**
 * Payment and refund notifications ("支付通知" / "退款结果通知" API v3):
 * verified before anything is parsed (signature over the raw body, known
 * serial, fresh timestamp, not a replay of one already seen), then the
 * `resource` is decrypted (AEAD_AES_256_GCM with the APIv3 key) and mapped.
 *
 * The answer WeChat expects: "接收成功: HTTP应答状态码需返回200或204, 无需
 * 返回应答报文"; otherwise "4XX或5XX" with `{"code":"FAIL","message":"失败"}`,
 * and it retries (15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h).
 */
import { z } from 'zod';
import { isVendgateError } from '../../../core/errors.ts';
import type { NotificationReply, NotificationVerdict, RawNotification } from '../port.ts';
import { decryptResource } from './aead.ts';
import type { WechatPayConfig } from './config.ts';
import {
  checkOwner,
  paidPayment,
  RefundResourceSchema,
  refundStatus,
  TransactionSchema,
} from './transaction.ts';
import { checkSignature, signatureHeaders } from './verify.ts';

const NotificationSchema = z.object({
  id: z.string(),
  create_time: z.string().optional(),
  event_type: z.string(),
  resource_type: z.string().optional(),
  resource: z.object({
    algorithm: z.string(),
    ciphertext: z.string(),
    nonce: z.string(),
    associated_data: z.string().optional(),
    original_type: z.string().optional(),
  }),
});

/**
 * Remembers the (serial, nonce, signature) of every notification accepted
 * within the freshness window, so a captured notification re-sent while it is
 * still fresh is rejected. WeChat signs each retry anew, so a genuine retry is
 * never an exact replay. Bounded: the oldest entries go first.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 100_000,
  ) {}

  /** True the first time `key` is offered within the window. */
  firstSight(key: string, nowMs: number): boolean {
    for (const [k, at] of this.seen) {
      if (at > nowMs - this.windowMs && this.seen.size < this.maxEntries) break;
      this.seen.delete(k);
    }
    if (this.seen.has(key)) return false;
    this.seen.set(key, nowMs);
    return true;
  }
}

function rejected(reason: string): NotificationVerdict {
  return { kind: 'rejected', reason };
}

export function verifyWechatNotification(
  n: RawNotification,
  cfg: WechatPayConfig,
  nowMs: number,
  replays: ReplayGuard,
): NotificationVerdict {
  const h = signatureHeaders(n.headers);
  if ('missing' in h) return rejected(`missing header ${h.missing}`);
  const check = checkSignature({
    headers: h,
    signed: n.body,
    platformKeys: cfg.platformKeys,
    nowMs,
    maxSkewSeconds: cfg.maxClockSkewSeconds,
  });
  if (!check.ok) return rejected(check.reason);
  if (!replays.firstSight(`${h.serial}\n${h.nonce}\n${h.signature}`, nowMs)) {
    return rejected('replayed: this exact signed notification was already received');
  }

  // Verified: only now is the body parsed.
  let json: unknown;
  try {
    json = JSON.parse(n.body.toString('utf8'));
  } catch {
    return rejected('body is not JSON');
  }
  const env = NotificationSchema.safeParse(json);
  if (!env.success)
    return rejected(`notification envelope: ${env.error.issues[0]?.path.join('.')} is invalid`);
  const plaintext = decryptResource(env.data.resource, cfg.apiV3Key);
  if (plaintext === undefined) return rejected('resource does not decrypt with the APIv3 key');
  let resource: unknown;
  try {
    resource = JSON.parse(plaintext);
  } catch {
    return rejected('decrypted resource is not JSON');
  }

  const event = env.data.event_type;
  try {
    if (event.startsWith('TRANSACTION.')) {
      const t = TransactionSchema.safeParse(resource);
      if (!t.success)
        return rejected(`transaction resource: ${t.error.issues[0]?.path.join('.')} is invalid`);
      checkOwner(t.data, cfg, 'notification');
      // "只有支付成功才会通知", and only trade_state SUCCESS is paid whatever the event says.
      if (t.data.trade_state !== 'SUCCESS') return { kind: 'not-paid', outTradeNo: t.data.out_trade_no };
      return { kind: 'paid', payment: paidPayment(t.data, cfg, 'notification') };
    }
    if (event.startsWith('REFUND.')) {
      const r = RefundResourceSchema.safeParse(resource);
      if (!r.success) return rejected(`refund resource: ${r.error.issues[0]?.path.join('.')} is invalid`);
      checkOwner(r.data, cfg, 'refund notification');
      const status = refundStatus(r.data.refund_status);
      if (!status) return rejected(`unknown refund_status in ${event}`);
      return { kind: 'refund', outTradeNo: r.data.out_trade_no, outRefundNo: r.data.out_refund_no, status };
    }
  } catch (err) {
    if (isVendgateError(err)) return rejected(err.message);
    throw err;
  }
  return rejected(`unknown event_type ${event.slice(0, 40)}`);
}

export function wechatNotificationReply(received: boolean): NotificationReply {
  if (received) return { status: 204, contentType: 'application/json', body: '' };
  return {
    status: 500,
    contentType: 'application/json',
    body: JSON.stringify({ code: 'FAIL', message: '失败' }),
  };
}
