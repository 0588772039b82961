import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { waitUntil } from '../testing/wait.ts';
import { startRig } from './support/rig.ts';

const MB = 1024 * 1024;

/** The store's size on disk: the database file and its write-ahead log. */
function storeBytes(dir: string): number {
  const db = join(dir, 'vendgate.db');
  return [db, `${db}-wal`].reduce((sum, f) => sum + (existsSync(f) ? statSync(f).size : 0), 0);
}

/**
 * A flood of refused commands on the whole gateway (embedded aedes broker,
 * the store on disk): each carries a 60 KB topic. Refusals are critical
 * outbox rows, so without a rate limit and a bound on what they echo, each
 * one stored the topic twice (in the event and its reason).
 */
describe('a flood of refused commands', () => {
  it('refusals of a flood of oversized commands keep the store under 2 MB of growth', async () => {
    const h = await startRig({ slotBoards: 1 });
    const dataOf = (type: string) =>
      h.platform.eventsOfType(type).map((e) => e.data as Record<string, unknown>);
    // Let start-up writes settle before measuring.
    await h.settled([]);
    const before = storeBytes(h.dir);
    const longType = 'x'.repeat(60 * 1024);
    const signed = h.platform.buildCommand('order.paid', h.order('m1', 1)).payload;
    const sent = 400;
    const startedAt = Date.now();
    for (let i = 0; i < sent; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, k) =>
          h.platform.publishRaw(longType, (i + k) % 2 ? signed : Buffer.alloc(20_000, 0x41)),
        ),
      );
    }
    const floodMs = Date.now() - startedAt;
    // Every refusal is either stored or counted in a summary.
    const accounted = () =>
      dataOf('command.rejected').length +
      dataOf('command.suppressed').reduce((sum, s) => sum + (s.count as number), 0);
    await waitUntil(() => accounted() === sent, { timeoutMs: 20_000, what: 'every refusal accounted for' });

    const rejected = dataOf('command.rejected');
    // The default refusal bucket: a burst of 20, then 1 per second.
    expect(rejected.length).toBeLessThanOrEqual(20 + Math.ceil((Date.now() - startedAt) / 1000) + 1);
    expect(rejected.length).toBeGreaterThanOrEqual(20);
    for (const r of rejected) {
      expect((r.topic as string).length).toBeLessThanOrEqual(256);
      expect((r.reason as string).length).toBeLessThanOrEqual(512);
    }
    const summary = dataOf('command.suppressed');
    expect(summary.length).toBeGreaterThanOrEqual(1);
    const codes = new Set(summary.flatMap((s) => (s.byCode as { code: number }[]).map((c) => c.code)));
    expect([...codes].sort()).toEqual([ErrorCode.PayloadTooLarge, ErrorCode.CommandMisaddressed].sort());
    expect((summary[0]!.lastTopic as string).length).toBeLessThanOrEqual(256);

    const grown = storeBytes(h.dir) - before;
    expect(grown, `store grew ${grown} bytes in a ${floodMs} ms flood`).toBeLessThan(2 * MB);

    // The gateway still takes paid orders.
    const o = h.order('m1', 2);
    await h.platform.placeOrder(o);
    await h.settled([o.orderId]);
    expect(h.gw.ledger.get(o.orderId)?.state).toBe('dispensed');
  });
});
