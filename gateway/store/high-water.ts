import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Statement } from 'better-sqlite3';
import { z } from 'zod';
import type { Log } from '../../core/log.ts';
import type { Db } from './db.ts';

/**
 * The high-water mark: the last event seq and the last vend token the store
 * had committed, kept in a small file beside the database. SQLite recovers
 * a damaged WAL by dropping every frame from the first bad one on, and a
 * store file can be truncated or replaced by an old copy; each time the
 * store opens cleanly but remembers less than it had handed out. Comparing
 * it with this file at start-up is how the gateway notices (see
 * store-check.ts), instead of reusing event seqs the platform already holds
 * and vend tokens a controller remembers as dispensed.
 */
export const HighWaterMark = z
  .object({
    version: z.literal(1),
    /** outbox_state.next_seq: the highest seq handed out and committed. */
    seq: z.number().int().nonnegative(),
    /** meta.next_vend_token: the last vend token handed out and committed; null before the first. */
    vendToken: z.number().int().positive().nullable(),
    writtenAt: z.number().int(),
  })
  .strict();
export type HighWaterMark = z.infer<typeof HighWaterMark>;

export function highWaterPath(storePath: string): string {
  return `${storePath}.highwater`;
}

export type HighWaterRead =
  | { kind: 'absent' }
  | { kind: 'ok'; mark: HighWaterMark }
  | { kind: 'unreadable'; reason: string };

export function readHighWater(path: string): HighWaterRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'unreadable', reason: (err as Error).message };
  }
  try {
    const parsed = HighWaterMark.safeParse(JSON.parse(text));
    if (parsed.success) return { kind: 'ok', mark: parsed.data };
    return { kind: 'unreadable', reason: parsed.error.issues[0]?.message ?? 'invalid' };
  } catch (err) {
    return { kind: 'unreadable', reason: `not JSON: ${(err as Error).message}` };
  }
}

/**
 * Writes the file so that a crash leaves either the old or the new mark:
 * a temp file, fsynced, renamed over the old one, and the directory fsynced
 * so the rename itself survives a power cut.
 */
export function writeHighWater(path: string, mark: HighWaterMark): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(mark)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

/**
 * writeHighWater on libuv's thread pool, with the same crash rule (temp
 * file fsynced, renamed, directory fsynced). Its own temp file, so a
 * synchronous write at shutdown never renames a half-written one.
 */
export async function writeHighWaterAsync(path: string, mark: HighWaterMark): Promise<void> {
  const tmp = `${path}.tmp-async`;
  const file = await open(tmp, 'w', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(mark)}\n`);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(tmp, path);
  await fsyncPathAsync(dirname(path));
}

async function fsyncPathAsync(path: string, missingOk = false): Promise<void> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if (missingOk && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

export interface HighWaterKeeperOptions {
  db: Db;
  storePath: string;
  log: Log;
  /** Write after this many seqs were handed out since the last write. Default DEFAULT_EVERY_SEQS. */
  everySeqs?: number;
  /** And at least this often while anything changed. Default 1000 ms. */
  everyMs?: number;
  now?: () => number;
}

/**
 * Default of `everySeqs`. Each write costs three fsyncs (the WAL, the file,
 * its directory): at 256 they were ~1% of the gateway's CPU under a burst of
 * orders (three events each). The lag it allows stays a quarter of what
 * `store accept` skips past (SEQ_MARGIN, TOKEN_MARGIN in store-accept.ts).
 */
export const DEFAULT_EVERY_SEQS = 1024;

/**
 * Keeps the high-water file up to date: at most every `everySeqs` events
 * and every `everyMs`, and on stop. It only ever records what is committed,
 * and only after the WAL holding it is fsynced, so a power cut never leaves
 * the file ahead of what the store kept (with `synchronous = normal`,
 * SQLite syncs the WAL only at checkpoints). The lag it allows is what
 * `store accept` skips past (SEQ_MARGIN in store-accept.ts).
 */
export class HighWaterKeeper {
  readonly #opts: Required<HighWaterKeeperOptions>;
  readonly #path: string;
  readonly #seqStmt: Statement<[], { next_seq: number }>;
  readonly #tokenStmt: Statement<[], { value: string }>;
  #written: { seq: number; vendToken: number | null } | undefined;
  #sinceWrite = 0;
  #scheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #failing = false;
  /** The background write running, if any. */
  #writing: Promise<void> | undefined;
  /** A background write was asked for while one ran. */
  #again = false;

  constructor(opts: HighWaterKeeperOptions) {
    this.#opts = { everySeqs: DEFAULT_EVERY_SEQS, everyMs: 1000, now: Date.now, ...opts };
    this.#path = highWaterPath(opts.storePath);
    this.#seqStmt = opts.db.prepare('SELECT next_seq FROM outbox_state WHERE id = 1');
    this.#tokenStmt = opts.db.prepare("SELECT value FROM meta WHERE key = 'next_vend_token'");
  }

  start(): void {
    this.writeNow();
    this.#timer = setInterval(() => this.#writeInBackground(), this.#opts.everyMs);
    this.#timer.unref();
  }

  /** The outbox handed out a seq (inside a transaction not yet committed). */
  noteAppended(): void {
    if (++this.#sinceWrite < this.#opts.everySeqs || this.#scheduled) return;
    this.#scheduled = true;
    // After the current synchronous work, so the transaction that appended has committed.
    setImmediate(() => {
      this.#scheduled = false;
      this.#writeInBackground();
    });
  }

  /**
   * The periodic writes, off the event loop: their three fsyncs (WAL, temp
   * file, directory) held it for milliseconds on a busy box, once every 128
   * orders, which put them inside the p99 of every order queued behind.
   * What is recorded is read first, synchronously, outside any transaction,
   * so it is committed; the WAL is fsynced after that read and before the
   * file is written, so the file is never ahead of what a power cut keeps.
   * One write at a time; a request meanwhile runs once it is done.
   */
  #writeInBackground(): void {
    if (this.#writing) {
      this.#again = true;
      return;
    }
    const mark = this.#committedMark();
    if (!mark) return;
    this.#writing = (async () => {
      try {
        await fsyncPathAsync(`${this.#opts.storePath}-wal`, true);
        await writeHighWaterAsync(this.#path, { version: 1, ...mark, writtenAt: this.#opts.now() });
        this.#wrote(mark);
      } catch (err) {
        this.#failed(err);
      } finally {
        this.#writing = undefined;
        if (this.#again) {
          this.#again = false;
          this.#writeInBackground();
        }
      }
    })();
  }

  /** What the store has committed, or undefined when there is nothing (new) to write. */
  #committedMark(): { seq: number; vendToken: number | null } | undefined {
    const db = this.#opts.db;
    // An in-memory store (tests of pure logic) has nothing on disk to guard.
    if (!db.open || this.#opts.storePath === ':memory:') return undefined;
    // Inside a transaction this connection would read its own uncommitted writes.
    if (db.inTransaction) {
      this.#sinceWrite = this.#opts.everySeqs;
      return undefined;
    }
    try {
      const seq = this.#seqStmt.get()?.next_seq ?? 0;
      const raw = this.#tokenStmt.get()?.value;
      const vendToken = raw === undefined ? null : Number(raw);
      if (this.#written && this.#written.seq === seq && this.#written.vendToken === vendToken)
        return undefined;
      return { seq, vendToken };
    } catch (err) {
      this.#failed(err);
      return undefined;
    }
  }

  #wrote(mark: { seq: number; vendToken: number | null }): void {
    this.#written = mark;
    this.#sinceWrite = 0;
    if (this.#failing) this.#opts.log.info({ path: this.#path }, 'high-water file written again');
    this.#failing = false;
  }

  #failed(err: unknown): void {
    const e = err as NodeJS.ErrnoException;
    if (!this.#failing)
      this.#opts.log.error(
        { path: this.#path, code: e.code, err: e.message },
        'could not write the high-water file; retrying',
      );
    this.#failing = true;
  }

  /** Writes the committed mark if it moved, synchronously. Returns false when it could not (logged). */
  writeNow(): boolean {
    const db = this.#opts.db;
    if (!db.open || this.#opts.storePath === ':memory:') return false;
    if (db.inTransaction) {
      this.#sinceWrite = this.#opts.everySeqs;
      return false;
    }
    const mark = this.#committedMark();
    if (!mark) return !this.#failing;
    try {
      fsyncPath(`${this.#opts.storePath}-wal`, true);
      writeHighWater(this.#path, { version: 1, ...mark, writtenAt: this.#opts.now() });
      this.#wrote(mark);
      return true;
    } catch (err) {
      this.#failed(err);
      return false;
    }
  }

  /** Stops the timer and writes a last mark (shutdown), after a background write still running. */
  stop(): void | Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#again = false;
    const writing = this.#writing;
    if (!writing) {
      this.writeNow();
      return;
    }
    return writing.then(() => {
      this.writeNow();
    });
  }
}

function fsyncPath(path: string, missingOk = false): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if (missingOk && (err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
