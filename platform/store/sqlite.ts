import { closeSync, fdatasync, fsync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import {
  type SqlDriver,
  type SqlExecutor,
  type SqlResult,
  type SqlValue,
  toSqliteParams,
  toSqlitePlaceholders,
} from './sql.ts';

/** Most transactions sharing one commit. */
const MAX_GROUP = 64;

/** A transaction (or a statement, or raw SQL) waiting for the one connection. */
interface Pending {
  /** shared: may share a commit; exclusive: BEGIN IMMEDIATE alone; raw: no transaction (exec, close). */
  kind: 'shared' | 'exclusive' | 'raw';
  fn: (q: SqlExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

const fdatasyncAsync = promisify(fdatasync);
const fsyncAsync = promisify(fsync);

/**
 * The embedded backend: one better-sqlite3 connection on a file in the data
 * directory, no server process. A commit is on disk before `tx` resolves,
 * which is what lets the fleet link ack after it and the provider be told
 * "received".
 *
 * How: WAL with synchronous=NORMAL, and the WAL file fdatasync'ed by us, on
 * the thread pool, after each COMMIT and before the transactions it carried
 * resolve. SQLite docs, "PRAGMA synchronous": in WAL mode NORMAL syncs the
 * WAL only before a checkpoint, so a commit may be lost on power loss until
 * the WAL is synced; FULL syncs it inside COMMIT, but better-sqlite3 runs
 * that on the event loop, where every fsync (1-30 ms on a shared disk)
 * stalled every request, the tail of the notification path. A commit's
 * frames are appended to the WAL file before COMMIT returns, so an
 * fdatasync of that file started after it makes them as durable as FULL
 * would; one fdatasync covers every commit written before it starts. A
 * committed transaction is visible to later statements before its sync
 * completes (its effects outside the store wait: nothing resolves before).
 * A failed sync fails the store for good (as PostgreSQL stops on a failed
 * fsync): after it, the kernel may have dropped the dirty pages, and no
 * later commit could be called durable; a restart recovers from the file.
 */
export interface SqliteDriverOptions {
  /** How the WAL file is synced; default fdatasync on the thread pool (tests hold or fail it). */
  syncWal?: (fd: number) => Promise<void>;
}

export function openSqliteDriver(path: string, opts: SqliteDriverOptions = {}): SqlDriver {
  const syncWal = opts.syncWal ?? fdatasyncAsync;
  let db: Db;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma(path === ':memory:' ? 'synchronous = FULL' : 'synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
  } catch (err) {
    throw new VendgateError(
      ErrorCode.StoreOpenFailed,
      `cannot open the platform store ${path}: ${(err as Error).message}`,
      { path },
    );
  }
  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(toSqlitePlaceholders(sql));
      statements.set(sql, s);
    }
    return s;
  };
  const run = <R>(sql: string, params: readonly SqlValue[] = []): SqlResult<R> => {
    const stmt = prepare(sql);
    const bound = toSqliteParams(params);
    if (stmt.reader) {
      const rows = (params.length > 0 ? stmt.all(bound) : stmt.all()) as R[];
      return { rows, rowCount: rows.length };
    }
    const info = params.length > 0 ? stmt.run(bound) : stmt.run();
    return { rows: [], rowCount: info.changes };
  };
  const inTx: SqlExecutor = {
    query: async <R>(sql: string, params?: readonly SqlValue[]) => run<R>(sql, params),
  };
  let closed = false;
  const queue: Pending[] = [];
  let draining = false;

  // ---- durability: the WAL synced off the event loop (see above)
  let walFd: number | undefined;
  let syncFailed: unknown;
  let syncing: Promise<void> | undefined;
  let syncWaiters: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  /** Resolves once everything committed so far is on disk. */
  const durable = (): Promise<void> => {
    if (path === ':memory:') return Promise.resolve();
    if (syncFailed !== undefined) return Promise.reject(syncFailed);
    return new Promise((resolve, reject) => {
      syncWaiters.push({ resolve, reject });
      syncing ??= runSyncs().finally(() => {
        syncing = undefined;
      });
    });
  };
  const runSyncs = async (): Promise<void> => {
    while (syncWaiters.length > 0) {
      // Those waiting now were committed before this sync starts; later ones wait for the next.
      const batch = syncWaiters;
      syncWaiters = [];
      try {
        if (walFd === undefined) {
          walFd = openSync(`${path}-wal`, 'r');
          // The WAL file's directory entry too, once: a new file is not durable until it is.
          const dirFd = openSync(dirname(path), 'r');
          try {
            await fsyncAsync(dirFd);
          } finally {
            closeSync(dirFd);
          }
        }
        await syncWal(walFd);
        for (const w of batch) w.resolve();
      } catch (err) {
        syncFailed = err;
        for (const w of [...batch, ...syncWaiters.splice(0)]) w.reject(err);
      }
    }
  };

  const submit = <T>(kind: Pending['kind'], fn: (q: SqlExecutor) => Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      queue.push({ kind, fn, resolve: resolve as (v: unknown) => void, reject });
      if (!draining) void drain();
    });

  /**
   * Group commit. Every transaction that queued while the previous group
   * ran shares the next COMMIT (and its sync): each runs in its own
   * savepoint (a failure undoes only its own writes, as its own ROLLBACK
   * did), and each resolves only after the shared COMMIT is on disk, so
   * "resolved means durable" still holds for every caller.
   */
  const drain = async (): Promise<void> => {
    draining = true;
    try {
      while (queue.length > 0) {
        // One turn of the event loop first: the requests that arrived during the last commit (its fsync
        // blocks the loop) run up to their own transaction and join this group. No timer, no added wait.
        await new Promise<void>((resolve) => setImmediate(resolve));
        const head = queue[0]!;
        if (head.kind !== 'shared') {
          queue.shift();
          await runAlone(head);
          continue;
        }
        let n = 0;
        while (n < queue.length && n < MAX_GROUP && queue[n]!.kind === 'shared') n++;
        await runGroup(queue.splice(0, n));
      }
    } finally {
      draining = false;
    }
  };

  const runAlone = async (p: Pending): Promise<void> => {
    try {
      if (p.kind === 'raw') {
        const result = await p.fn(inTx);
        if (!closed) await durable();
        return p.resolve(result);
      }
      db.exec('BEGIN IMMEDIATE');
      try {
        const result = await p.fn(inTx);
        db.exec('COMMIT');
        await durable();
        p.resolve(result);
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    } catch (err) {
      p.reject(err);
    }
  };

  // The group's own statements, prepared once (db.exec parses its text on every call).
  const control = {
    begin: db.prepare('BEGIN'),
    savepoint: db.prepare('SAVEPOINT vg_group'),
    release: db.prepare('RELEASE SAVEPOINT vg_group'),
    rollbackTo: db.prepare('ROLLBACK TO SAVEPOINT vg_group'),
    commit: db.prepare('COMMIT'),
  };

  const runGroup = async (group: Pending[]): Promise<void> => {
    try {
      control.begin.run();
    } catch (err) {
      for (const p of group) p.reject(err);
      return;
    }
    // A group of one needs no savepoint: its failure is the whole transaction's, rolled back below.
    const alone = group.length === 1;
    const done: Array<{ p: Pending; ok: boolean; value: unknown }> = [];
    for (let i = 0; i < group.length; i++) {
      const p = group[i]!;
      if (!alone) control.savepoint.run();
      try {
        const value = await p.fn(inTx);
        if (!alone) control.release.run();
        done.push({ p, ok: true, value });
      } catch (err) {
        if (!db.inTransaction) {
          // SQLite rolled the whole transaction back itself (e.g. disk full): every member's writes are
          // gone, so every member fails; those not run yet go again in the next group.
          for (const d of done) d.p.reject(err);
          p.reject(err);
          queue.unshift(...group.slice(i + 1));
          return;
        }
        if (alone) {
          db.exec('ROLLBACK');
          p.reject(err);
          return;
        }
        control.rollbackTo.run();
        control.release.run();
        done.push({ p, ok: false, value: err });
      }
    }
    try {
      control.commit.run();
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const d of done) d.p.reject(err);
      return;
    }
    for (const d of done) if (!d.ok) d.p.reject(d.value);
    // Not awaited: the next group runs (and commits) while this one's sync is on the thread pool.
    durable().then(
      () => {
        for (const d of done) if (d.ok) d.p.resolve(d.value);
      },
      (err) => {
        for (const d of done) if (d.ok) d.p.reject(err);
      },
    );
  };

  return {
    backend: 'sqlite',
    query: <R>(sql: string, params?: readonly SqlValue[]) => {
      // A read outside any open transaction sees only committed rows: it need not wait for a commit.
      if (!closed && !db.inTransaction && prepare(sql).reader) {
        try {
          return Promise.resolve(run<R>(sql, params));
        } catch (err) {
          return Promise.reject(err);
        }
      }
      return submit('shared', async () => run<R>(sql, params));
    },
    exec: (sql) =>
      submit('raw', async () => {
        db.exec(sql);
      }),
    transaction: (fn, opts) => submit(opts?.exclusive ? 'exclusive' : 'shared', fn),
    close: () =>
      submit('raw', async () => {
        if (closed) return;
        closed = true;
        await syncing?.catch(() => {});
        db.close();
        if (walFd !== undefined) closeSync(walFd);
      }),
  };
}
