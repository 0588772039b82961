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
  const gateways = [...new Set(batch.map((e) => e.gatewayId))];
  let watermarks = new Map<string, number>();
  const highestStored = new Map<string, number>();
  const noteStored = (e: EventInsert) => {
    stats.stored++;
    highestStored.set(e.gatewayId, Math.max(highestStored.get(e.gatewayId) ?? 0, e.seq));
  };
  await store.tx(async (t) => {
    // Round trips per batch, not per event: a fleet's batch touches hundreds of gateways.
    await t.gateways.ensureMany(gateways, batch[0]!.receivedAt);
    watermarks = await t.gateways.watermarks(gateways);
    const plain: EventInsert[] = [];
    const withWork: { e: EventInsert; handlers: readonly FleetEventHandler[] }[] = [];
    for (const e of batch) {
      // At or below the watermark it was stored (or acked to the gateway) before: a redelivery.
      if (e.seq <= (watermarks.get(e.gatewayId) ?? 0)) {
        stats.duplicates++;
        continue;
      }
      const handlers = e.problem === null ? handlersFor(e.type) : [];
      if (handlers.length > 0 || (e.problem === null && e.type === 'outbox.dropped'))
        withWork.push({ e, handlers });
      else plain.push(e);
    }
    const stored = await t.events.insertMany(plain);
    for (const e of plain) {
      // A key counts once: the same event twice in one batch is stored once and is a duplicate once.
      if (stored.delete(`${e.gatewayId} ${e.seq}`)) noteStored(e);
      else stats.duplicates++;
    }
    for (const { e, handlers } of withWork) {
      const one = async (tx: StoreTx) => {
        if ((await tx.events.insert(e)) === 'duplicate') return false;
        if (e.type === 'outbox.dropped') {
          await tx.events.recordDropped(e.gatewayId, (e.data as { seqs: number[] }).seqs);
        }
        for (const h of handlers) await h(e as FleetEvent, tx);
        return true;
      };
      try {
        // A savepoint where a handler could fail alone: only its event and writes are undone.
        if (await (handlers.length > 0 ? t.savepoint(one) : one(t))) noteStored(e);
        else stats.duplicates++;
      } catch (err) {
        stats.handlerFailures++;
        log.error(
          { err, gatewayId: e.gatewayId, seq: e.seq, type: e.type },
          'an event handler failed; the event is not stored nor acked and will come again',
        );
      }
    }
    const covered = await t.events.coveredAboveWatermarks(gateways);
    for (const gw of gateways) {
      const from = watermarks.get(gw) ?? 0;
      let to = from;
      for (const s of covered.get(gw) ?? []) {
        if (s !== to + 1) break;
        to = s;
      }
      if (to > from) await t.gateways.advanceWatermark(gw, to);
      watermarks.set(gw, to);
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
