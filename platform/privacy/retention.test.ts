import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import type { PurgeResult } from '../store/port.ts';
import { RetentionJob } from './retention.ts';

describe('the retention job', () => {
  it('purges everything older than the retention period, counted from now', async () => {
    const cutoffs: number[] = [];
    const store = {
      purge: async (before: number): Promise<PurgeResult> => {
        cutoffs.push(before);
        return { events: 3, notifications: 1, payerHashesCleared: 2 };
      },
    };
    const now = Date.UTC(2026, 11, 1);
    const job = new RetentionJob({ store, retentionDays: 30, log: silentLogger(), now: () => now });
    await job.runOnce();
    expect(cutoffs).toEqual([now - 30 * 24 * 3600_000]);
  });

  it('keeps running after a failed purge, and never runs two purges at once', async () => {
    let calls = 0;
    let release: () => void = () => {};
    const store = {
      purge: (): Promise<PurgeResult> => {
        calls++;
        if (calls === 1) return Promise.reject(new Error('disk I/O error'));
        return new Promise((resolve) => {
          release = () => resolve({ events: 0, notifications: 0, payerHashesCleared: 0 });
        });
      },
    };
    const job = new RetentionJob({ store, retentionDays: 1, log: silentLogger() });
    await job.runOnce();
    const second = job.runOnce();
    const third = job.runOnce();
    expect(third).toBe(second);
    release();
    await second;
    expect(calls).toBe(2);
  });
});
