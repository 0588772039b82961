import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
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

export interface HighWaterKeeperOptions {
  db: Db;
  storePath: string;
  log: Log;
  /** Write after this many seqs were handed out since the last write. Default 256. */
  everySeqs?: number;
  /** And at least this often while anything changed. Default 1000 ms. */
  everyMs?: number;
  now?: () => number;
}

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

  constructor(opts: HighWaterKeeperOptions) {
    this.#opts = { everySeqs: 256, everyMs: 1000, now: Date.now, ...opts };
    this.#path = highWaterPath(opts.storePath);
    this.#seqStmt = opts.db.prepare('SELECT next_seq FROM outbox_state WHERE id = 1');
    this.#tokenStmt = opts.db.prepare("SELECT value FROM meta WHERE key = 'next_vend_token'");
  }

  start(): void {
    this.writeNow();
    this.#timer = setInterval(() => this.writeNow(), this.#opts.everyMs);
    this.#timer.unref();
  }

  /** The outbox handed out a seq (inside a transaction not yet committed). */
  noteAppended(): void {
    if (++this.#sinceWrite < this.#opts.everySeqs || this.#scheduled) return;
    this.#scheduled = true;
    // After the current synchronous work, so the transaction that appended has committed.
    setImmediate(() => {
      this.#scheduled = false;
      this.writeNow();
    });
  }

  /** Writes the committed mark if it moved. Returns false when it could not (logged). */
  writeNow(): boolean {
    const db = this.#opts.db;
    // An in-memory store (tests of pure logic) has nothing on disk to guard.
    if (!db.open || this.#opts.storePath === ':memory:') return false;
    // Inside a transaction this connection would read its own uncommitted writes.
    if (db.inTransaction) {
      this.#sinceWrite = this.#opts.everySeqs;
      return false;
    }
    try {
      const seq = this.#seqStmt.get()?.next_seq ?? 0;
      const raw = this.#tokenStmt.get()?.value;
      const vendToken = raw === undefined ? null : Number(raw);
      if (this.#written && this.#written.seq === seq && this.#written.vendToken === vendToken) return true;
      fsyncPath(`${this.#opts.storePath}-wal`, true);
      writeHighWater(this.#path, { version: 1, seq, vendToken, writtenAt: this.#opts.now() });
      this.#written = { seq, vendToken };
      this.#sinceWrite = 0;
      if (this.#failing) this.#opts.log.info({ path: this.#path }, 'high-water file written again');
      this.#failing = false;
      return true;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (!this.#failing)
        this.#opts.log.error(
          { path: this.#path, code: e.code, err: e.message },
          'could not write the high-water file; retrying',
        );
      this.#failing = true;
      return false;
    }
  }

  /** Stops the timer and writes a last mark (shutdown). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.writeNow();
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
