/**
 * Delivers asynchronous notifications the way Alipay does
 * (opendocs.alipay.com/open/270/105902, 异步通知): a form POST to the
 * trade's notify_url, signed RSA2 over every parameter but sign/sign_type;
 * anything but the literal body `success` counts as not received, and the
 * same notification (same notify_id, a fresh notify_time and signature) is
 * posted again after 4m, 10m, 10m, 1h, 2h, 6h and 15h: eight attempts over
 * about 25 h. `retryScale` compresses that schedule for tests.
 */
import type { KeyObject } from 'node:crypto';
import { beijing, formBody, sign, signContent } from './wire.ts';

export const RETRY_DELAYS_MS = [4, 10, 10, 60, 120, 360, 900].map((m) => m * 60_000);

export interface Delivery {
  notifyId: string;
  outTradeNo: string;
  tradeStatus: string;
  attempt: number;
  /** HTTP status, or 0 when the request failed. */
  status: number;
  body: string;
  received: boolean;
  at: number;
}

export interface NotifierOptions {
  alipayKey: KeyObject;
  retryScale: number;
  timeoutMs: number;
  onDelivery: (d: Delivery) => void;
}

export class Notifier {
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly opts: NotifierOptions) {}

  /** Starts delivering one notification (its own retry chain). */
  send(url: string, params: Record<string, string>): void {
    void this.attempt(url, params, 1);
  }

  private async attempt(url: string, params: Record<string, string>, n: number): Promise<void> {
    if (this.stopped) return;
    const p: Record<string, string> = { ...params, notify_time: beijing(Date.now()) };
    p.sign = sign(signContent(p, ['sign', 'sign_type']), this.opts.alipayKey);
    let status = 0;
    let body = '';
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
        body: formBody(p),
        signal: AbortSignal.timeout(this.opts.timeoutMs),
      });
      status = res.status;
      body = (await res.text()).slice(0, 200);
    } catch (err) {
      body = (err as Error).name;
    }
    const received = status === 200 && body.trim() === 'success';
    this.opts.onDelivery({
      notifyId: p.notify_id!,
      outTradeNo: p.out_trade_no!,
      tradeStatus: p.trade_status!,
      attempt: n,
      status,
      body,
      received,
      at: Date.now(),
    });
    const delay = RETRY_DELAYS_MS[n - 1];
    if (received || delay === undefined || this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      void this.attempt(url, params, n + 1);
    }, delay * this.opts.retryScale);
    this.timers.add(t);
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
