import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { type Db, migrate, openUnmigrated, readOnlyError, type StoreOptions, schemaVersion } from './db.ts';
import { type HighWaterMark, type HighWaterRead, highWaterPath, readHighWater } from './high-water.ts';
import { MIGRATIONS } from './migrations.ts';

/** Why a store that opened is not trusted. */
export type StoreFault = 'damaged' | 'went-backwards' | 'vanished';

export interface StoreDistrust {
  fault: StoreFault;
  /** What happened, for the log, /health and the MQTT status. */
  message: string;
  /** What the operator must do. */
  action: string;
  details: Record<string, unknown>;
}

export interface CommittedMark {
  seq: number;
  vendToken: number | null;
  orders: number;
}

export interface StoreInspection {
  path: string;
  quickCheckMs: number;
  committed: CommittedMark;
  highWater: HighWaterRead;
  distrust: StoreDistrust | undefined;
}

/** Vend tokens count 1..2^32-1 and wrap (ledger.ts). */
const TOKEN_SPACE = 4_294_967_295;

/**
 * Opens the store and decides whether it can be trusted, before anything is
 * written to it: the file must be writable, readable as SQLite, pass
 * `PRAGMA quick_check`, and remember at least as much as its high-water
 * file says it had handed out (high-water.ts). A store that cannot be
 * opened throws a catalogued error naming the file and what to do; one that
 * opens but is not trusted is returned with `distrust` set, and the caller
 * enters safe mode instead of dispensing or publishing.
 */
export function openInspectedStore(opts: Omit<StoreOptions, 'migrations'> & { log: Log }): {
  db: Db;
  inspection: StoreInspection;
} {
  const { path } = opts;
  const existed = existsSync(path) && statSync(path).size > 0;
  assertWritable(path);
  const db = openUnmigrated(opts);
  try {
    const started = performance.now();
    const problems = quickCheck(db);
    const quickCheckMs = Math.round(performance.now() - started);
    opts.log.info({ path, quickCheckMs, ok: problems.length === 0 }, 'store integrity checked');
    const highWater = readHighWater(highWaterPath(path));
    if (highWater.kind === 'unreadable') {
      opts.log.error(
        { path: highWaterPath(path), reason: highWater.reason },
        'the high-water file is unreadable; it is rewritten from the store, which cannot be checked against it this time',
      );
    }
    if (highWater.kind === 'absent' && existed) {
      opts.log.warn(
        { path: highWaterPath(path) },
        'no high-water file beside the store: it cannot be checked against one this time; one is kept from now on',
      );
    }
    if (problems.length > 0) {
      const distrust: StoreDistrust = {
        fault: 'damaged',
        message: `PRAGMA quick_check found ${problems.length} problem(s) in the store ${path}: ${problems.slice(0, 3).join('; ')}`,
        action: `restore ${path} from a backup (or move it aside, keeping it for analysis), then run "vendgate store accept --config <your config>" and start again; reconcile this gateway's orders at the platform`,
        details: { problems: problems.slice(0, 20) },
      };
      return {
        db,
        inspection: { path, quickCheckMs, committed: emptyMark(), highWater, distrust },
      };
    }
    migrate(db, MIGRATIONS);
    const committed = readMark(db);
    const distrust = highWater.kind === 'ok' ? compare(path, existed, committed, highWater.mark) : undefined;
    return { db, inspection: { path, quickCheckMs, committed, highWater, distrust } };
  } catch (err) {
    db.close();
    throw err;
  }
}

/** Fails early, with one clear line, when the gateway could read the store but never write it. */
export function assertWritable(path: string): void {
  const targets = [path, `${path}-wal`, `${path}-shm`].filter((p) => existsSync(p));
  const dir = dirname(path);
  if (existsSync(dir)) targets.push(dir);
  for (const t of targets) {
    try {
      accessSync(t, constants.W_OK);
    } catch (err) {
      throw readOnlyError(path, `${t} is not writable: ${(err as NodeJS.ErrnoException).code}`, err);
    }
  }
}

/** `PRAGMA quick_check`: the b-tree structure and every record's format, without the index cross-check. */
function quickCheck(db: Db): string[] {
  try {
    const rows = db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  } catch (err) {
    return [`quick_check could not run: ${(err as Error).message}`];
  }
}

function emptyMark(): CommittedMark {
  return { seq: 0, vendToken: null, orders: 0 };
}

/** The store's own memory: last seq, last vend token, how many orders. */
export function readMark(db: Db): CommittedMark {
  if (schemaVersion(db) < 4) return emptyMark();
  const seq = (db.prepare('SELECT next_seq FROM outbox_state WHERE id = 1').get() as { next_seq: number })
    .next_seq;
  const token = db.prepare("SELECT value FROM meta WHERE key = 'next_vend_token'").get() as
    | { value: string }
    | undefined;
  const orders = (db.prepare('SELECT COUNT(*) AS n FROM orders').get() as { n: number }).n;
  return { seq, vendToken: token ? Number(token.value) : null, orders };
}

/** True when `token` is behind `mark` on the wrapping token counter. */
export function tokenBehind(token: number | null, mark: number | null): boolean {
  if (mark === null) return false;
  if (token === null) return true;
  const d = (((mark - token) % TOKEN_SPACE) + TOKEN_SPACE) % TOKEN_SPACE;
  return d > 0 && d < TOKEN_SPACE / 2;
}

function compare(
  path: string,
  existed: boolean,
  store: CommittedMark,
  mark: HighWaterMark,
): StoreDistrust | undefined {
  const details = {
    store: { seq: store.seq, vendToken: store.vendToken, orders: store.orders },
    highWater: { seq: mark.seq, vendToken: mark.vendToken, writtenAt: mark.writtenAt },
  };
  const accept = `then run "vendgate store accept --config <your config>": the gateway continues past seq ${mark.seq} and vend token ${mark.vendToken ?? '-'} so neither is used twice`;
  const empty = store.seq === 0 && store.orders === 0 && store.vendToken === null;
  if (empty && (mark.seq > 0 || mark.vendToken !== null)) {
    return {
      fault: 'vanished',
      message: `the store ${path} is ${existed ? 'empty' : 'missing or 0 bytes long'}, but its high-water file says it had handed out events up to seq ${mark.seq}: every order it remembered is forgotten`,
      action: `put the latest backup of ${path} back, or reconcile this gateway's orders at the platform (it must not send orders this gateway already answered again), ${accept}`,
      details,
    };
  }
  const seqBehind = store.seq < mark.seq;
  const tokensBehind = tokenBehind(store.vendToken, mark.vendToken);
  if (seqBehind || tokensBehind) {
    return {
      fault: 'went-backwards',
      message: `the store ${path} went backwards: it remembers events up to seq ${store.seq} and vend token ${store.vendToken ?? '-'}, but its high-water file says seq ${mark.seq} and vend token ${mark.vendToken ?? '-'} were handed out (committed writes were lost: a damaged WAL or an older copy of the file)`,
      action: `restore the latest backup of ${path} if it is newer, or reconcile this gateway's orders at the platform (orders after seq ${store.seq} may be forgotten here), ${accept}`,
      details,
    };
  }
  return undefined;
}

/** The error startGateway throws for a store it will not trust (the CLI then runs safe mode). */
export function untrustedError(distrust: StoreDistrust): VendgateError {
  return new VendgateError(ErrorCode.StoreUntrusted, `${distrust.message}. To do: ${distrust.action}`, {
    fault: distrust.fault,
    message: distrust.message,
    action: distrust.action,
    ...distrust.details,
    distrust,
  });
}
