import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database, { type Database as Db, type Statement } from 'better-sqlite3';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { Mutex } from './mutex.ts';
import {
  type SqlDriver,
  type SqlExecutor,
  type SqlResult,
  type SqlValue,
  toSqliteParams,
  toSqlitePlaceholders,
} from './sql.ts';

/**
 * The embedded backend: one better-sqlite3 connection on a file in the data
 * directory, no server process. WAL with synchronous=FULL: a commit is on
 * disk before `tx` resolves, which is what lets the fleet link ack after it
 * (SQLite docs, "PRAGMA synchronous": NORMAL in WAL mode may lose the last
 * commits on power loss).
 */
export function openSqliteDriver(path: string): SqlDriver {
  let db: Db;
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
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
  const lock = new Mutex();
  const inTx: SqlExecutor = {
    query: async <R>(sql: string, params?: readonly SqlValue[]) => run<R>(sql, params),
  };
  let closed = false;

  return {
    backend: 'sqlite',
    query: <R>(sql: string, params?: readonly SqlValue[]) => lock.run(async () => run<R>(sql, params)),
    exec: (sql) =>
      lock.run(async () => {
        db.exec(sql);
      }),
    transaction: (fn, opts) =>
      lock.run(async () => {
        db.exec(opts?.exclusive ? 'BEGIN IMMEDIATE' : 'BEGIN');
        try {
          const result = await fn(inTx);
          db.exec('COMMIT');
          return result;
        } catch (err) {
          if (db.inTransaction) db.exec('ROLLBACK');
          throw err;
        }
      }),
    close: () =>
      lock.run(async () => {
        if (closed) return;
        closed = true;
        db.close();
      }),
  };
}
