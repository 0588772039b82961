import { EventSchemas, type EventType } from '../../contract/events.ts';
import type { Log } from '../../core/log.ts';
import type { EventInsert, Store, StoreTx } from '../store/port.ts';
import type { FleetEvent, FleetEventHandler, FleetStats } from './port.ts';

/** Most covered seqs read per step of a watermark walk. */
const WALK_STEP = 1000;

export interface IngestResult {
  /** Per gateway touched: the stored watermark after the commit. */
  watermarks: Map<string, number>;
}

/**
 * Stores one batch of validated events in one transaction, each once by
 * (gateway, seq) and event id, runs the subscribers of each newly stored
 * event in a savepoint inside the same transaction (their writes commit with
 * the event or not at all), and moves each gateway's watermark over what is
 * now contiguous. The caller acks only after this resolves: after the commit.
 */
export async function ingestBatch(
  store: Store,
  batch: readonly EventInsert[],
  handlersFor: (type: string) => readonly FleetEventHandler[],
  stats: FleetStats,
  log: Log,
): Promise<IngestResult> {
  const watermarks = new Map<string, number>();
  const highestStored = new Map<string, number>();
  await store.tx(async (t) => {
    for (const gw of new Set(batch.map((e) => e.gatewayId))) {
      await t.gateways.ensure(gw, batch[0]!.receivedAt);
      watermarks.set(gw, (await t.gateways.get(gw))?.ackedUpTo ?? 0);
    }
    for (const e of batch) {
      // At or below the watermark it was stored (or acked to the gateway) before: a redelivery.
      if (e.seq <= watermarks.get(e.gatewayId)!) {
        stats.duplicates++;
        continue;
      }
      const handlers = e.problem === null ? handlersFor(e.type) : [];
      const store1 = async (tx: StoreTx) => {
        if ((await tx.events.insert(e)) === 'duplicate') return false;
        if (e.problem === null && e.type === 'outbox.dropped') {
          await tx.events.recordDropped(e.gatewayId, (e.data as { seqs: number[] }).seqs);
        }
        for (const h of handlers) await h(e as FleetEvent, tx);
        return true;
      };
      try {
        // A savepoint only where a handler could fail alone; a bare insert cannot (DO NOTHING).
        const stored = handlers.length > 0 ? await t.savepoint(store1) : await store1(t);
        if (stored) {
          stats.stored++;
          highestStored.set(e.gatewayId, Math.max(highestStored.get(e.gatewayId) ?? 0, e.seq));
        } else {
          stats.duplicates++;
        }
      } catch (err) {
        stats.handlerFailures++;
        log.error(
          { err, gatewayId: e.gatewayId, seq: e.seq, type: e.type },
          'an event handler failed; the event is not stored nor acked and will come again',
        );
      }
    }
    for (const [gw, from] of watermarks) {
      const to = await walkWatermark(t, gw, from);
      if (to > from) await t.gateways.advanceWatermark(gw, to);
      watermarks.set(gw, Math.max(from, to));
      const high = highestStored.get(gw);
      if (high !== undefined && high > to) {
        stats.gapsDetected++;
        log.warn(
          { gatewayId: gw, watermark: to, highestStored: high },
          'events missing below a stored event',
        );
      }
    }
  });
  return { watermarks };
}

/** The highest seq up to which every seq above `from` is stored or reported dropped. */
export async function walkWatermark(t: StoreTx | Store, gatewayId: string, from: number): Promise<number> {
  let at = from;
  for (;;) {
    const seqs = await t.events.coveredSeqsAbove(gatewayId, at, WALK_STEP);
    let advanced = 0;
    for (const s of seqs) {
      if (s !== at + 1) break;
      at = s;
      advanced++;
    }
    if (advanced < WALK_STEP || seqs.length < WALK_STEP) return at;
  }
}

/** Why an event's data cannot be handled (unknown type, schema break), or null when it is good. */
export function dataProblem(type: string, data: unknown): string | null {
  const schema = (EventSchemas as Record<string, (typeof EventSchemas)[EventType] | undefined>)[type];
  if (!schema) return `unknown event type ${type}`;
  const r = schema.safeParse(data);
  if (r.success) return null;
  const issue = r.error.issues[0];
  return `data breaks the ${type} schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`;
}
