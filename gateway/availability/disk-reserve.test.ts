import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/log.ts';
import { tempDir } from '../../testing/tmp.ts';
import { DiskReserve, statfsFreeBytes } from './disk-reserve.ts';

describe('the free-space reserve', () => {
  it('refuses new orders while the free space is below the reserve, and takes them again once it is back', () => {
    let free = 10_000_000;
    let now = 0;
    const disk = new DiskReserve({
      dir: '/data',
      reserveBytes: 1_000_000,
      log: silentLogger(),
      freeBytes: () => free,
      now: () => now,
    });
    expect(disk.belowReserve).toBe(false);
    free = 999_999;
    now += 1000;
    expect(disk.belowReserve).toBe(true);
    expect(disk.state()).toMatchObject({ freeBytes: 999_999, reserveBytes: 1_000_000, belowSince: 1000 });
    free = 2_000_000;
    now += 1000;
    expect(disk.state()).toMatchObject({ belowReserve: false, belowSince: undefined });
  });

  it('reuses a reading for a moment instead of calling statfs for every order', () => {
    let calls = 0;
    const disk = new DiskReserve({
      dir: '/data',
      reserveBytes: 1,
      log: silentLogger(),
      freeBytes: () => ++calls,
      now: () => 0,
    });
    for (let i = 0; i < 100; i++) void disk.belowReserve;
    expect(calls).toBe(1);
  });

  it('keeps the last reading when statfs fails, rather than refusing money for it', () => {
    let fail = false;
    let now = 0;
    const disk = new DiskReserve({
      dir: '/data',
      reserveBytes: 100,
      log: silentLogger(),
      freeBytes: () => {
        if (fail) throw new Error('ENOENT');
        return 1000;
      },
      now: () => now,
    });
    expect(disk.belowReserve).toBe(false);
    fail = true;
    now += 10_000;
    expect(disk.belowReserve).toBe(false);
  });

  it('reads the free bytes of a real directory from statfs', () => {
    const tmp = tempDir();
    try {
      expect(statfsFreeBytes(tmp.dir)).toBeGreaterThan(0);
    } finally {
      tmp.cleanup();
    }
  });
});
