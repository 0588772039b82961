/**
 * The stop-and-wait request queue both vending drivers share: one request
 * on the wire at a time, the rest waiting in order, a timer per
 * transmission, a bounded number of transmissions before giving up, a
 * bounded number waiting, and the one offline error when the link goes.
 *
 * - Slot board (VSB section 4.2): a data frame is resent after the ACK
 *   timeout, up to `maxResends` times; `maxAttempts` = 1 + maxResends.
 * - MDB adapter (section 5): a host command is sent once and waits for its
 *   reply; `maxAttempts` = 1.
 *
 * What a request is, how it goes on the wire and which reply answers it
 * stay with the driver: the queue only decides when to transmit and when to
 * give up. It allocates nothing per request beyond the caller's own object
 * and the one timer per transmission.
 */
import { ErrorCode, VendgateError } from '../../core/errors.ts';

export interface RequestQueueOptions<R> {
  machineId: string;
  /** What the queue holds, for the error when it is full ("frames", "commands"). */
  what: string;
  /** Requests that may wait behind the one in flight. */
  maxLength: number;
  /** How long one transmission waits for its answer. */
  timeoutMs: number;
  /** Transmissions per request before giving up (1 = never resent). */
  maxAttempts: number;
  /** False while there is no link: requests wait until the next push or completion. */
  canSend: () => boolean;
  /** Puts the request on the wire; `attempt` is 1 for the first transmission. */
  transmit: (request: R, attempt: number) => void;
  /** The request will not be answered: given up after `maxAttempts`, or the link was lost. */
  fail: (request: R, err: VendgateError) => void;
  /** The error for a request that got no answer after `attempts` transmissions. */
  timeoutError: (request: R, attempts: number) => VendgateError;
}

/** DeviceOffline for `machineId`: the one error every request gets when the link is gone. */
export function deviceOfflineError(
  machineId: string,
  reason: string,
  context: Record<string, unknown> = {},
): VendgateError {
  return new VendgateError(ErrorCode.DeviceOffline, `machine ${machineId} offline: ${reason}`, {
    machineId,
    ...context,
  });
}

/** DeviceTimeout for `machineId`: the device did not answer in time. */
export function deviceTimeoutError(
  machineId: string,
  what: string,
  context: Record<string, unknown> = {},
): VendgateError {
  return new VendgateError(ErrorCode.DeviceTimeout, `machine ${machineId}: ${what}`, {
    machineId,
    ...context,
  });
}

export class RequestQueue<R> {
  private readonly waiting: R[] = [];
  private current: R | null = null;
  private attempts = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: RequestQueueOptions<R>) {
    if (!Number.isInteger(opts.maxLength) || opts.maxLength < 1) {
      throw new RangeError(`RequestQueue maxLength must be a positive integer, got ${opts.maxLength}`);
    }
    if (!Number.isInteger(opts.maxAttempts) || opts.maxAttempts < 1) {
      throw new RangeError(`RequestQueue maxAttempts must be a positive integer, got ${opts.maxAttempts}`);
    }
  }

  /** The request on the wire, awaiting its answer. */
  get inflight(): R | null {
    return this.current;
  }

  /** Requests waiting behind the one in flight. */
  get length(): number {
    return this.waiting.length;
  }

  /** Nothing in flight and nothing waiting. */
  get idle(): boolean {
    return this.current === null && this.waiting.length === 0;
  }

  /** No room for another request: push() would refuse it. */
  get full(): boolean {
    return this.waiting.length >= this.opts.maxLength;
  }

  /**
   * Queues a request and transmits it at once if the wire is free. Returns
   * false, queuing nothing, when `maxLength` requests already wait; the
   * caller answers its own caller with busyError().
   */
  push(request: R): boolean {
    if (this.waiting.length >= this.opts.maxLength) return false;
    this.waiting.push(request);
    this.pump();
    return true;
  }

  /** DeviceBusy for a request refused because the queue is full. */
  busyError(context: Record<string, unknown> = {}): VendgateError {
    return new VendgateError(
      ErrorCode.DeviceBusy,
      `machine ${this.opts.machineId}: ${this.opts.maxLength} ${this.opts.what} already waiting`,
      { machineId: this.opts.machineId, queued: this.waiting.length, ...context },
    );
  }

  /** DeviceOffline naming this queue's machine. */
  offlineError(reason: string, context: Record<string, unknown> = {}): VendgateError {
    return deviceOfflineError(this.opts.machineId, reason, context);
  }

  /**
   * The request in flight was answered: stops its timer, frees the wire
   * (transmitting the next one) and returns it, or null when nothing was in
   * flight.
   */
  complete(): R | null {
    const done = this.current;
    if (done === null) return null;
    this.stopTimer();
    this.current = null;
    this.pump();
    return done;
  }

  /** Transmits the next request if the wire is free and the link is up (e.g. after a reopen). */
  pump(): void {
    if (this.current !== null || this.waiting.length === 0 || !this.opts.canSend()) return;
    this.current = this.waiting.shift()!;
    this.attempts = 0;
    this.send();
  }

  /** Fails the request in flight and every waiting one with `err`, in order; the queue is empty after. */
  failAll(err: VendgateError): void {
    this.stopTimer();
    const first = this.current;
    this.current = null;
    const rest = this.waiting.splice(0);
    if (first !== null) this.opts.fail(first, err);
    for (const r of rest) this.opts.fail(r, err);
  }

  private send(): void {
    this.attempts++;
    this.timer = setTimeout(this.onTimeout, this.opts.timeoutMs);
    this.opts.transmit(this.current!, this.attempts);
  }

  private stopTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private readonly onTimeout = (): void => {
    this.timer = null;
    const r = this.current;
    if (r === null) return;
    if (this.attempts < this.opts.maxAttempts) {
      this.send();
      return;
    }
    const attempts = this.attempts;
    this.current = null;
    this.opts.fail(r, this.opts.timeoutError(r, attempts));
    this.pump();
  };
}
