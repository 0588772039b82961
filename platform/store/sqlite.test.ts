import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach, tempDir, waitUntil } from '../../testing/index.ts';
import { openSqliteDriver, type SqliteDriverOptions } from './sqlite.ts';

const cleanups = cleanupsAfterEach();

function driver(opts: SqliteDriverOptions = {}) {
  const tmp = tempDir('vendgate-sqlite-');
  const d = openSqliteDriver(join(tmp.dir, 'store.db'), opts);
  cleanups.push(async () => {
    await d.close();
    tmp.cleanup();
  });
  return d;
}

async function rows(d: ReturnType<typeof driver>): Promise<number[]> {
  const r = await d.query<{ x: number }>('SELECT x FROM t ORDER BY x');
  return r.rows.map((row) => row.x);
}

describe('the SQLite driver group commit', () => {
  it('keeps transactions that share a commit apart: a failed one undoes only its own writes', async () => {
    const d = driver();
    await d.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    // Started together, so they queue while the first commit runs and share the next one.
    const results = await Promise.allSettled([
      d.transaction(async (q) => {
        await q.query('INSERT INTO t (x) VALUES ($1)', [1]);
      }),
      d.transaction(async (q) => {
        await q.query('INSERT INTO t (x) VALUES ($1)', [2]);
        throw new Error('the second one fails after its write');
      }),
      d.transaction(async (q) => {
        await q.query('INSERT INTO t (x) VALUES ($1)', [3]);
        return 'third';
      }),
      d.query('INSERT INTO t (x) VALUES ($1)', [4]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((results[2] as PromiseFulfilledResult<string>).value).toBe('third');
    expect(await rows(d)).toEqual([1, 3, 4]);
  });

  it('lets a transaction in a group see what an earlier one of the same group wrote', async () => {
    const d = driver();
    await d.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    const [, seen] = await Promise.all([
      d.transaction(async (q) => {
        await q.query('INSERT INTO t (x) VALUES ($1)', [7]);
      }),
      d.transaction(async (q) => (await q.query<{ n: number }>('SELECT count(*) AS n FROM t')).rows[0]?.n),
    ]);
    expect(seen).toBe(1);
  });

  it('refuses a write that breaks a constraint and keeps the rest of its group', async () => {
    const d = driver();
    await d.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    await d.query('INSERT INTO t (x) VALUES ($1)', [1]);
    const results = await Promise.allSettled([
      d.query('INSERT INTO t (x) VALUES ($1)', [1]),
      d.query('INSERT INTO t (x) VALUES ($1)', [2]),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(await rows(d)).toEqual([1, 2]);
  });
});

describe('the SQLite driver durability', () => {
  it('resolves a transaction only once a WAL sync started after its commit completes, the loop free meanwhile', async () => {
    let hold = false;
    const held: Array<() => void> = [];
    const d = driver({
      syncWal: async () => {
        if (hold) await new Promise<void>((resolve) => held.push(resolve));
      },
    });
    await d.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    hold = true;
    let resolved = false;
    const tx = d
      .transaction(async (q) => {
        await q.query('INSERT INTO t (x) VALUES ($1)', [1]);
      })
      .then(() => {
        resolved = true;
      });
    await waitUntil(() => held.length === 1, { timeoutMs: 5_000, what: 'the sync of the commit' });
    // Committed and visible, not yet durable: the caller has not been told.
    expect(await rows(d)).toEqual([1]);
    expect(resolved).toBe(false);
    // A commit while that sync runs waits for a sync of its own.
    const second = d.query('INSERT INTO t (x) VALUES ($1)', [2]);
    held.shift()?.();
    await tx;
    expect(resolved).toBe(true);
    await waitUntil(() => held.length === 1, { timeoutMs: 5_000, what: 'the sync of the second commit' });
    held.shift()?.();
    await second;
    hold = false;
    expect(await rows(d)).toEqual([1, 2]);
  });

  it('fails the transactions of a failed WAL sync and every later one, as nothing after it can be called durable', async () => {
    let fail = false;
    const d = driver({
      syncWal: async () => {
        if (fail) throw new Error('EIO: the disk failed');
      },
    });
    await d.exec('CREATE TABLE t (x INTEGER PRIMARY KEY)');
    fail = true;
    await expect(d.query('INSERT INTO t (x) VALUES ($1)', [1])).rejects.toThrow('EIO');
    fail = false;
    await expect(d.query('INSERT INTO t (x) VALUES ($1)', [2])).rejects.toThrow('EIO');
  });
});
