import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode, type VendgateError } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/errors.ts';
import { deviceTimeoutError, RequestQueue, type RequestQueueOptions } from './request-queue.ts';

interface Req {
  name: string;
}

interface Harness {
  queue: RequestQueue<Req>;
  /** Every transmission, as `name#attempt`. */
  sent: string[];
  failed: Array<{ name: string; err: VendgateError }>;
  link: { up: boolean };
}

function harness(opts: Partial<RequestQueueOptions<Req>> = {}): Harness {
  const sent: string[] = [];
  const failed: Array<{ name: string; err: VendgateError }> = [];
  const link = { up: true };
  const queue = new RequestQueue<Req>({
    machineId: 'm1',
    what: 'frames',
    maxLength: 4,
    timeoutMs: 100,
    maxAttempts: 3,
    canSend: () => link.up,
    transmit: (r, attempt) => sent.push(`${r.name}#${attempt}`),
    fail: (r, err) => failed.push({ name: r.name, err }),
    timeoutError: (r, attempts) => deviceTimeoutError('m1', `${r.name} unanswered after ${attempts}`),
    ...opts,
  });
  return { queue, sent, failed, link };
}

describe('RequestQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('puts one request on the wire at a time and the next only after the first is answered', () => {
    const { queue, sent } = harness();
    queue.push({ name: 'a' });
    queue.push({ name: 'b' });
    expect(sent).toEqual(['a#1']);
    expect(queue.inflight?.name).toBe('a');
    expect(queue.length).toBe(1);
    expect(queue.complete()?.name).toBe('a');
    expect(sent).toEqual(['a#1', 'b#1']);
    expect(queue.complete()?.name).toBe('b');
    expect(queue.idle).toBe(true);
  });

  it('returns null from complete() when nothing is in flight', () => {
    const { queue } = harness();
    expect(queue.complete()).toBeNull();
  });

  it('retransmits an unanswered request up to maxAttempts, then fails it with the timeout error and moves on', () => {
    const { queue, sent, failed } = harness();
    queue.push({ name: 'a' });
    queue.push({ name: 'b' });
    vi.advanceTimersByTime(100);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual(['a#1', 'a#2', 'a#3']);
    vi.advanceTimersByTime(100);
    expect(failed.map((f) => [f.name, f.err.code, f.err.message])).toEqual([
      ['a', ErrorCode.DeviceTimeout, 'machine m1: a unanswered after 3'],
    ]);
    expect(sent.at(-1)).toBe('b#1');
  });

  it('sends a request with maxAttempts 1 exactly once', () => {
    const { queue, sent, failed } = harness({ maxAttempts: 1 });
    queue.push({ name: 'a' });
    vi.advanceTimersByTime(1000);
    expect(sent).toEqual(['a#1']);
    expect(failed).toHaveLength(1);
  });

  it('stops the retransmission timer once the request is answered', () => {
    const { queue, sent, failed } = harness();
    queue.push({ name: 'a' });
    queue.complete();
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(['a#1']);
    expect(failed).toEqual([]);
  });

  it('refuses a request when maxLength already wait, and says so with DeviceBusy', async () => {
    const { queue, sent } = harness({ maxLength: 2 });
    expect(queue.push({ name: 'a' })).toBe(true); // in flight: not counted as waiting
    expect(queue.push({ name: 'b' })).toBe(true);
    expect(queue.push({ name: 'c' })).toBe(true);
    expect(queue.full).toBe(true);
    expect(queue.push({ name: 'd' })).toBe(false);
    expect(queue.length).toBe(2);
    const err = await expectVendgateError(
      Promise.reject(queue.busyError({ vendToken: 9 })),
      ErrorCode.DeviceBusy,
    );
    expect(err.message).toBe('machine m1: 2 frames already waiting');
    expect(err.context).toMatchObject({ machineId: 'm1', queued: 2, vendToken: 9 });
    queue.complete();
    queue.complete();
    queue.complete();
    expect(sent).toEqual(['a#1', 'b#1', 'c#1']);
  });

  it('holds requests back while the link is down and sends them on pump()', () => {
    const { queue, sent, link } = harness();
    link.up = false;
    queue.push({ name: 'a' });
    expect(sent).toEqual([]);
    link.up = true;
    queue.pump();
    expect(sent).toEqual(['a#1']);
  });

  it('fails the request in flight and every waiting one, in order, with the one offline error', async () => {
    const { queue, failed, sent } = harness();
    queue.push({ name: 'a' });
    queue.push({ name: 'b' });
    queue.push({ name: 'c' });
    queue.failAll(queue.offlineError('port closed', { extra: 1 }));
    expect(failed.map((f) => f.name)).toEqual(['a', 'b', 'c']);
    const err = await expectVendgateError(Promise.reject(failed[0]!.err), ErrorCode.DeviceOffline);
    expect(err.message).toBe('machine m1 offline: port closed');
    expect(err.context).toEqual({ machineId: 'm1', extra: 1 });
    expect(queue.idle).toBe(true);
    vi.advanceTimersByTime(10_000);
    expect(sent).toEqual(['a#1']);
  });

  it('whatever is pushed, answered, timed out or failed, never has two requests on the wire and never loses one', () => {
    type Op =
      | { op: 'push' }
      | { op: 'answer' }
      | { op: 'tick' }
      | { op: 'fail' }
      | { op: 'link'; up: boolean };
    const op = fc.oneof(
      fc.constant<Op>({ op: 'push' }),
      fc.constant<Op>({ op: 'answer' }),
      fc.constant<Op>({ op: 'tick' }),
      fc.constant<Op>({ op: 'fail' }),
      fc.boolean().map<Op>((up) => ({ op: 'link', up })),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { queue, sent, failed, link } = harness({ maxLength: 3 });
        let n = 0;
        const accepted: string[] = [];
        const answered: string[] = [];
        for (const o of ops) {
          if (o.op === 'push') {
            const name = `r${n++}`;
            if (queue.push({ name })) accepted.push(name);
          } else if (o.op === 'answer') {
            const done = queue.complete();
            if (done) answered.push(done.name);
          } else if (o.op === 'tick') vi.advanceTimersByTime(100);
          else if (o.op === 'fail') queue.failAll(queue.offlineError('test'));
          else {
            link.up = o.up;
            queue.pump();
          }
          // A transmission is always of the request in flight: never two at once.
          if (queue.inflight) expect(sent.at(-1)?.startsWith(`${queue.inflight.name}#`)).toBe(true);
          expect(queue.length).toBeLessThanOrEqual(3);
        }
        // Every accepted request was answered, failed, or is still in the queue: none lost, none twice.
        const settled = [...answered, ...failed.map((f) => f.name)];
        expect(new Set(settled).size).toBe(settled.length);
        const pending = (queue.inflight ? 1 : 0) + queue.length;
        expect(settled.length + pending).toBe(accepted.length);
        for (const s of sent) expect(Number(s.split('#')[1])).toBeLessThanOrEqual(3);
      }),
      { numRuns: 200 },
    );
  });
});
