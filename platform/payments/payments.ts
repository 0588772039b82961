/**
 * The payments plane as one part with a start and a stop: it subscribes to
 * the fleet's outcome events and `order.create` requests, runs the poller
 * and the refund worker on timers, and offers what the HTTP layer calls
 * (notifications, the phone page's purchase, the unresolved queue).
 */
import type { Log } from '../../core/log.ts';
import type { ProviderName, RawNotification } from '../providers/port.ts';
import { Catalogue } from './catalogue.ts';
import { closeOrder } from './closes.ts';
import type { PaymentsConfig } from './config.ts';
import type { PaymentsContext } from './context.ts';
import { answerOrderCreate, createCreditOrder, createRemoteOrder } from './create.ts';
import { handleNotification } from './notifications.ts';
import { outcomeHandlers } from './outcomes.ts';
import { repairPaidOrders } from './paid-sender.ts';
import { pollOnce } from './poller.ts';
import type { Clock, PaymentsFleet, PaymentsStore, Providers } from './ports.ts';
import { runDueRefunds } from './refunds.ts';
import { type Resolution, resolveOrder } from './unresolved.ts';

export interface PaymentsOptions {
  store: PaymentsStore;
  fleet: PaymentsFleet;
  providers: Providers;
  config: PaymentsConfig;
  log: Log;
  now?: Clock;
}

/** Runs `fn` at most once at a time; a call while it runs asks for one more run after. */
function serialised(fn: () => Promise<unknown>, onError: (err: unknown) => void) {
  let running: Promise<void> | undefined;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await fn();
        } catch (err) {
          onError(err);
        }
      } while (again);
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
  return { run, idle: () => running ?? Promise.resolve() };
}

export class Payments {
  readonly ctx: PaymentsContext;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #closes = new Set<Promise<unknown>>();
  readonly #poll;
  readonly #refunds;
  #stopped = false;

  constructor(opts: PaymentsOptions) {
    this.ctx = {
      store: opts.store,
      fleet: opts.fleet,
      providers: opts.providers,
      config: opts.config,
      catalogue: new Catalogue(opts.config),
      log: opts.log,
      now: opts.now ?? Date.now,
    };
    const onError = (what: string) => (err: unknown) =>
      this.ctx.log.error({ err: (err as Error).message }, `${what} pass failed`);
    this.#poll = serialised(() => pollOnce(this.ctx), onError('poller'));
    this.#refunds = serialised(() => runDueRefunds(this.ctx), onError('refund'));
  }

  /** Subscribes to the fleet (before the fleet link starts, so no event is missed). */
  attach(): void {
    const handlers = outcomeHandlers(this.ctx, {
      refundRequested: () => this.#kickRefunds(),
      closeRequested: (no, why) => {
        const p = new Promise<void>((r) => setTimeout(r, 0))
          .then(() => closeOrder(this.ctx, no, why))
          .finally(() => this.#closes.delete(p));
        this.#closes.add(p);
      },
    });
    for (const [type, handler] of Object.entries(handlers)) {
      this.#unsubscribe.push(this.ctx.fleet.onEvent(type as keyof typeof handlers, handler));
    }
    this.ctx.fleet.onRequest('order.create', (data, c) => answerOrderCreate(this.ctx, c.gatewayId, data));
    this.#unsubscribe.push(
      this.ctx.fleet.onEvent('catalogue.changed', this.ctx.catalogue.handler(this.ctx.log)),
    );
  }

  /** Repairs what a crash left (paid orders not sent, refunds not sent), then runs the timers. */
  async start(): Promise<void> {
    // Prices and products the gateways changed since the config was written.
    await this.ctx.catalogue.restore(this.ctx.store.events);
    const repaired = await repairPaidOrders(this.ctx);
    if (repaired > 0) this.ctx.log.warn({ repaired }, 'sent order.paid for payments stored before a restart');
    await this.#refunds.run();
    const { pollIntervalMs, refundRetryMs } = this.ctx.config;
    this.#timers.push(setInterval(() => void this.#poll.run(), pollIntervalMs));
    this.#timers.push(setInterval(() => void this.#refunds.run(), Math.min(pollIntervalMs, refundRetryMs)));
    for (const t of this.#timers) t.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.splice(0)) clearInterval(t);
    for (const u of this.#unsubscribe.splice(0)) u();
    await Promise.allSettled([this.#poll.idle(), this.#refunds.idle(), ...this.#closes]);
  }

  #kickRefunds(): void {
    if (this.#stopped) return;
    // After the ingest transaction commits: the worker reads the row the handler wrote.
    setTimeout(() => void this.#refunds.run(), 5).unref();
  }

  notification(provider: ProviderName, raw: RawNotification) {
    return handleNotification(this.ctx, provider, raw);
  }

  createRemoteOrder(input: { gatewayId: string; machineId: string; slot: number; provider: ProviderName }) {
    return createRemoteOrder(this.ctx, input);
  }

  createCreditOrder(input: { gatewayId: string; machineId: string; provider: ProviderName }) {
    return createCreditOrder(this.ctx, input);
  }

  async resolve(outTradeNo: string, resolution: Resolution, note = '') {
    const order = await resolveOrder(this.ctx, outTradeNo, resolution, note);
    if (resolution === 'refund') this.#kickRefunds();
    return order;
  }

  /** One poller pass now (tests, the operator API). */
  pollNow() {
    return this.#poll.run();
  }

  refundsNow() {
    return this.#refunds.run();
  }
}
