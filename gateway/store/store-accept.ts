import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { Outbox } from '../outbox/outbox.ts';
import type { StoreOptions } from './db.ts';
import { highWaterPath, writeHighWater } from './high-water.ts';
import {
  type CommittedMark,
  openInspectedStore,
  readMark,
  type StoreFault,
  tokenBehind,
} from './store-check.ts';
import { inTx } from './tx.ts';

/**
 * How far past the high-water mark an accepted store continues. The mark may
 * lag the store by what was committed since it was last written
 * (DEFAULT_EVERY_SEQS seqs or one second: HighWaterKeeper), so the first seq and token after an
 * accept are this far beyond it and cannot be ones already handed out.
 */
export const SEQ_MARGIN = 4096;
export const TOKEN_MARGIN = 4096;
/** Seqs listed per `outbox.dropped` event reporting the skipped range. */
const SEQS_PER_EVENT = 1000;
const TOKEN_SPACE = 4_294_967_295;

export interface AcceptResult {
  /** What was wrong; undefined when the store was trusted already. */
  fault: StoreFault | undefined;
  before: CommittedMark;
  after: CommittedMark;
  /** Seqs skipped and reported as `outbox.dropped` (cause `store-accepted`). */
  skippedSeqs: number;
}

/**
 * `vendgate store accept`: the operator has restored the store or decided to
 * go on with it as it is. A damaged store is never accepted (it must be
 * restored or moved aside first). One that went backwards or vanished is
 * moved past its high-water mark, so no event seq and no vend token is
 * handed out twice; the skipped seqs are reported to the platform as one
 * gap, and the high-water file is rewritten from the accepted store.
 */
export function acceptStore(
  opts: Omit<StoreOptions, 'migrations'> & { gatewayId: string; log: Log; now?: () => number },
): AcceptResult {
  const now = opts.now ?? Date.now;
  const { db, inspection } = openInspectedStore(opts);
  try {
    const distrust = inspection.distrust;
    if (distrust?.fault === 'damaged') {
      throw new VendgateError(
        ErrorCode.StoreUntrusted,
        `${distrust.message}; it cannot be accepted as it is`,
        {
          fault: distrust.fault,
          action: distrust.action,
        },
      );
    }
    const before = inspection.committed;
    const mark = inspection.highWater.kind === 'ok' ? inspection.highWater.mark : undefined;
    let skippedSeqs = 0;
    if (distrust && mark) {
      const outbox = new Outbox(db, {
        gatewayId: opts.gatewayId,
        maxRows: 1_000_000,
        telemetryTtlMs: 60_000,
      });
      inTx(db, () => {
        const from = before.seq + 1;
        const to = Math.max(before.seq, mark.seq) + SEQ_MARGIN;
        db.prepare('UPDATE outbox_state SET next_seq = ? WHERE id = 1').run(to);
        skippedSeqs = to - from + 1;
        for (let start = from; start <= to; start += SEQS_PER_EVENT) {
          const seqs: number[] = [];
          for (let s = start; s <= Math.min(to, start + SEQS_PER_EVENT - 1); s++) seqs.push(s);
          const counters = outbox.stats();
          outbox.append('outbox.dropped', {
            cause: 'store-accepted',
            count: seqs.length,
            seqs,
            totalDropped: counters.dropped,
            totalExpired: counters.expired,
          });
        }
        const token =
          mark.vendToken === null ? null : ((mark.vendToken - 1 + TOKEN_MARGIN) % TOKEN_SPACE) + 1;
        if (token !== null && tokenBehind(before.vendToken, token)) {
          db.prepare(
            "INSERT INTO meta (key, value) VALUES ('next_vend_token', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
          ).run(String(token));
        }
        db.prepare(
          "INSERT INTO meta (key, value) VALUES ('last_accept', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        ).run(JSON.stringify({ at: now(), fault: distrust.fault, before, highWater: mark }));
      });
    }
    const after = readMark(db);
    db.pragma('wal_checkpoint(TRUNCATE)');
    writeHighWater(highWaterPath(opts.path), {
      version: 1,
      seq: after.seq,
      vendToken: after.vendToken,
      writtenAt: now(),
    });
    opts.log.warn(
      { path: opts.path, fault: distrust?.fault, before, after, skippedSeqs },
      distrust ? 'store accepted by the operator' : 'store is consistent; high-water file rewritten',
    );
    return { fault: distrust?.fault, before, after, skippedSeqs };
  } finally {
    db.close();
  }
}
