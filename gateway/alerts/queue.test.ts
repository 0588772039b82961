import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../contract/alerts.ts';
import { createRootLogger } from '../../core/log.ts';
import { openStore } from '../store/db.ts';
import { AlertQueue } from './queue.ts';

function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const log = createRootLogger({
    level: 'debug',
    repeats: false,
    destination: { write: (s: string) => lines.push(JSON.parse(s)) } as unknown as NodeJS.WritableStream,
  });
  return { log, lines };
}

function msg(key: string, state: 'raised' | 'cleared', alertId = randomUUID()): AlertMessage {
  return {
    alertId,
    gatewayId: 'gw',
    kind: 'jam',
    key,
    severity: 'critical',
    detail: key,
    state,
    since: 1,
    at: 1,
  };
}

const none = new Set<number>();

function setup(queueMax: number) {
  const db = openStore({ path: ':memory:' });
  const { log, lines } = recordingLog();
  const queue = new AlertQueue({ db, queueMax, log });
  const put = (m: AlertMessage, busy: ReadonlySet<number> = none) =>
    queue.enqueue('hook', m, JSON.stringify(m), 0, busy);
  const pendingStates = () => queue.list('hook', 'pending', 100).map((a) => `${a.key}/${a.state}`);
  return { db, queue, put, lines, pendingStates };
}

describe('the alert queue', () => {
  it('offers only the first pending alert of each condition, so a cleared never overtakes its raised', () => {
    const { queue, put } = setup(100);
    const a = msg('jam:m1:1', 'raised');
    put(a);
    put({ ...a, state: 'cleared' });
    put(msg('jam:m1:2', 'raised'));
    expect(queue.due('hook', 0, none, 10).map((r) => `${r.key}/${r.state}`)).toEqual([
      'jam:m1:1/raised',
      'jam:m1:2/raised',
    ]);
    const [first] = queue.due('hook', 0, none, 1);
    queue.delivered(first!.id, 'hook', 1);
    expect(queue.due('hook', 0, none, 10).map((r) => `${r.key}/${r.state}`)).toEqual([
      'jam:m1:1/cleared',
      'jam:m1:2/raised',
    ]);
  });

  it('keeps a retried alert back until its next attempt is due, and the cleared behind it too', () => {
    const { queue, put } = setup(100);
    const a = msg('jam:m1:1', 'raised');
    put(a);
    put({ ...a, state: 'cleared' });
    const [r] = queue.due('hook', 0, none, 1);
    queue.retryAt(r!.id, 5000, 'answered 500');
    expect(queue.due('hook', 4999, none, 10)).toEqual([]);
    expect(queue.nextDueAfter('hook', 0)).toBe(5000);
    expect(queue.due('hook', 5000, none, 10).map((x) => [x.state, x.attempts, x.lastError])).toEqual([
      ['raised', 1, 'answered 500'],
    ]);
  });

  it('at its bound drops the oldest cleared alert first, with its unsent raised, and logs and counts it', () => {
    const { queue, put, lines, pendingStates } = setup(4);
    const a = msg('jam:m1:1', 'raised');
    put(msg('jam:m1:9', 'raised'));
    put(a);
    put({ ...a, state: 'cleared' });
    put(msg('jam:m1:2', 'raised'));
    put(msg('jam:m1:3', 'raised')); // full: jam:m1:1 came and went unsent; both go
    expect(pendingStates()).toEqual(['jam:m1:9/raised', 'jam:m1:2/raised', 'jam:m1:3/raised']);
    expect(queue.counts('hook')).toMatchObject({ pending: 3, dropped: 2 });
    const drops = lines.filter((l) => l.msg === 'alert queue full: dropped an undelivered alert');
    expect(drops.map((l) => [l.key, l.state])).toEqual([
      ['jam:m1:1', 'cleared'],
      ['jam:m1:1', 'raised'],
    ]);
  });

  it('drops the oldest raised only when no cleared is pending, and never one being sent', () => {
    const { queue, put, pendingStates } = setup(10);
    for (let i = 0; i < 10; i++) put(msg(`jam:m1:${i}`, 'raised'));
    const [sending] = queue.due('hook', 0, none, 1);
    put(msg('jam:m1:10', 'raised'), new Set([sending!.id]));
    expect(pendingStates()).toHaveLength(10);
    expect(pendingStates()[0]).toBe('jam:m1:0/raised');
    expect(pendingStates()).not.toContain('jam:m1:1/raised');
  });

  it('drops the cleared of a raised it dropped, so no receiver hears of an end without a beginning', () => {
    const { queue, put, pendingStates } = setup(10);
    const first = msg('jam:m1:0', 'raised');
    put(first);
    for (let i = 1; i <= 10; i++) put(msg(`jam:m1:${i}`, 'raised')); // the bound drops jam:m1:0's raised
    put({ ...first, state: 'cleared' });
    expect(pendingStates()).not.toContain('jam:m1:0/cleared');
    expect(queue.counts('hook')).toMatchObject({ pending: 10, dropped: 2 });
  });

  it('keeps a short history of delivered and failed alerts and counts them for good', () => {
    const { queue, put } = setup(1000);
    for (let i = 0; i < 130; i++) {
      put(msg(`jam:m1:${i}`, 'raised'));
      const [r] = queue.due('hook', 0, none, 1);
      if (i % 2 === 0) queue.delivered(r!.id, 'hook', i);
      else queue.failed(r!.id, 'hook', i, 'answered 404');
    }
    expect(queue.counts('hook')).toEqual({ pending: 0, delivered: 65, failed: 65, dropped: 0 });
    expect(queue.list('hook', 'delivered', 1000).length + queue.list('hook', 'failed', 1000).length).toBe(
      100,
    );
  });
});
