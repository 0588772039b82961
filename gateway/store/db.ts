import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { MIGRATIONS, type Migration } from './migrations.ts';

export type Db = Database.Database;

export interface StoreOptions {
  /** File path, or ':memory:' (tests of pure logic only). */
  path: string;
  /**
   * 'normal' survives a killed process (WAL); 'full' also survives power loss
   * at the cost of an fsync per commit.
   */
  synchronous?: 'normal' | 'full';
  migrations?: readonly Migration[];
}

/** Opens (creating if needed) the SQLite store on disk, in WAL mode, migrated. */
export function openStore(opts: StoreOptions): Db {
  const db = openUnmigrated(opts);
  try {
    migrate(db, opts.migrations ?? MIGRATIONS);
  } catch (err) {
    db.close();
    throw storeError(opts.path, err);
  }
  return db;
}

/**
 * Opens the store with its pragmas set but no migration run, so that
 * store-check.ts can inspect it before anything is written to it. An error
 * SQLite reports while opening becomes a catalogued one naming the file and
 * what to do (see storeError).
 */
export function openUnmigrated(opts: Omit<StoreOptions, 'migrations'>): Db {
  let db: Db;
  try {
    if (opts.path !== ':memory:') mkdirSync(dirname(opts.path), { recursive: true });
    db = new Database(opts.path);
  } catch (err) {
    throw storeError(opts.path, err);
  }
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // Each command is decided in its own SAVEPOINT (group commit). A savepoint's
    // sub-journal keeps the original of every page it changes, and an order
    // changes ~16 pages: just over the 64 KiB at which SQLite spills a
    // sub-journal to a temp file in /var/tmp (create, unlink, ~17 writes, close
    // per order). In memory it costs ~70 KB per open savepoint and no syscalls.
    db.pragma('temp_store = MEMORY');
    // Checkpoint the WAL every ~40 MB instead of every ~4 MB: fewer checkpoint
    // stalls (and, in NORMAL mode, fewer fsyncs) under a burst of orders; the
    // WAL file is truncated back to 64 MB at most after each checkpoint.
    db.pragma('wal_autocheckpoint = 10000');
    db.pragma('journal_size_limit = 67108864');
    // Reading the schema is the first real read: a damaged header fails here.
    schemaVersion(db);
  } catch (err) {
    db.close();
    throw storeError(opts.path, err);
  }
  return db;
}

/**
 * What SQLite said while opening, as one catalogued error an operator can act
 * on (SQLite result codes, sqlite.org/rescode.html). Errors that are already
 * catalogued pass through.
 */
export function storeError(path: string, err: unknown): VendgateError {
  if (err instanceof VendgateError) return err;
  const code = String((err as { code?: unknown }).code ?? '');
  const detail = (err as Error).message;
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new VendgateError(
      ErrorCode.StoreNotADatabase,
      `the store ${path} is not a readable SQLite database (${detail}): restore it from a backup, or move it aside and start again (the gateway then asks for "vendgate store accept")`,
      { path, sqlite: code },
      { cause: err },
    );
  }
  if (
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_CANTOPEN') ||
    code === 'SQLITE_PERM' ||
    code === 'SQLITE_AUTH' ||
    (err as NodeJS.ErrnoException).code === 'EACCES' ||
    (err as NodeJS.ErrnoException).code === 'EROFS'
  ) {
    return readOnlyError(path, detail, err);
  }
  return new VendgateError(
    ErrorCode.StoreOpenFailed,
    `cannot open the SQLite store at ${path}: ${detail}`,
    { path, sqlite: code || undefined },
    { cause: err },
  );
}

export function readOnlyError(path: string, detail: string, cause?: unknown): VendgateError {
  const uid = typeof process.getuid === 'function' ? ` (uid ${process.getuid()})` : '';
  return new VendgateError(
    ErrorCode.StoreReadOnly,
    `the store ${path} cannot be written (${detail}): make it, its -wal and -shm files and its directory writable by the gateway's user${uid}, or remount the data directory read-write, then start again`,
    { path },
    cause === undefined ? undefined : { cause },
  );
}

export function schemaVersion(db: Db): number {
  return db.pragma('user_version', { simple: true }) as number;
}

export function migrate(db: Db, migrations: readonly Migration[]): void {
  const current = schemaVersion(db);
  const latest = migrations.at(-1)?.version ?? 0;
  if (current > latest) {
    throw new VendgateError(
      ErrorCode.StoreSchemaTooNew,
      `the store is at schema version ${current} but this vendgate knows only up to ${latest}; upgrade vendgate`,
      { current, latest },
    );
  }
  for (const m of migrations) {
    if (m.version <= current) continue;
    try {
      db.transaction(() => {
        db.exec(m.sql);
        db.pragma(`user_version = ${m.version}`);
      })();
    } catch (err) {
      throw new VendgateError(
        ErrorCode.StoreMigrationFailed,
        `migration ${m.version} (${m.name}) failed: ${(err as Error).message}`,
        { version: m.version },
        { cause: err },
      );
    }
  }
}

/** Reads and bumps a named counter inside the caller's transaction. */
export function bumpCounter(db: Db, name: string, by = 1): void {
  db.prepare(
    'INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value',
  ).run(name, by);
}

export function readCounter(db: Db, name: string): number {
  const row = db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as
    | { value: number }
    | undefined;
  return row?.value ?? 0;
}
