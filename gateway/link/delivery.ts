import {
  EVENT_BATCH_MAX_BYTES,
  EVENT_BATCH_MAX_EVENTS,
  EventBatchSizer,
  escapedBytes,
  sealEventBatch,
} from '../../contract/event-batch.ts';
import { EventAck } from '../../contract/events.ts';
import { sealBody } from '../../contract/signed.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Outbox, OutboxRow } from '../outbox/outbox.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { GatewayKey } from './gateway-key.ts';
import type { PlatformMessages } from './platform-messages.ts';
import type { QosOnePublisher } from './publisher.ts';

/** Default for `maxInFlight`: how many unacknowledged events one (re)send round carries at most. */
export const DEFAULT_MAX_IN_FLIGHT = 256;

export interface EventDeliveryOptions {
  outbox: Outbox;
  /** The topic an event of this type is published on (`evt/{type}`). */
  eventTopic: (type: string) => string;
  /**
   * When given, events go out as signed batches on this gateway's `evts`
   * topic, one signature per message (contract/event-batch.ts); without it,
   * one signed message per event on `eventTopic`, for platforms written to
   * the contract before batches.
   */
  batches?: { gatewayId: string; topic: string } | undefined;
  /** When given, the deletes of acknowledged rows share the turn's one commit. */
  commits?: Pick<GroupCommit, 'run'> | undefined;
  log: Log;
  /** Signs every event: the platform refuses unsigned ones. */
  key: GatewayKey;
  /** Opens the platform's signed acks. */
  platform: PlatformMessages;
  resendAfterMs: number;
  maxInFlight: number;
  expireEveryMs: number;
  commandEventsDelayMs: number;
  /**
   * The monotonic clock (core/clock.ts `monoMs`) the resend timer reads: a
   * wall clock stepped back by NTP must not hold resends back for minutes.
   */
  monoNow: () => number;
  /** The ack watermark moved (the link republishes the status with it). */
  acked?: (ackedSeq: number) => void;
}

/**
 * Publishes the outbox to the platform, each drain as signed batches on
 * `evts` (or one signed message per event without `batches`), and lets rows
 * go only on its end-to-end `ack` (README "Delivery"). The durable queue is the SQLite
 * outbox, not mqtt.js' in-memory store: events are published in seq order,
 * at most `maxInFlight` beyond the last acknowledged one, and anything not
 * acknowledged within `resendAfterMs` is sent again from the last
 * acknowledged seq (a broker PUBACK proves nothing; the platform dedupes by
 * seq). Telemetry past its TTL is expired here too.
 *
 * The link tells it when the connection is usable (`online`, after the
 * birth message) and when it is not (`offline`); it publishes only in
 * between.
 */
export class EventDelivery {
  readonly #opts: EventDeliveryOptions;
  readonly #log: Log;
  /** The connection to publish on; set only while the link is online. */
  #publisher: QosOnePublisher | undefined;
  #stopped = false;
  /** Bumped on every online/offline so late publish callbacks of an old connection stay quiet. */
  #connection = 0;
  #drainScheduled = false;
  #draining = false;
  #soonTimer: NodeJS.Timeout | undefined;
  /** Highest seq the platform acknowledged (everything up to it left the outbox). */
  #ackedSeq = 0;
  /** Highest seq published on the current connection since the last (re)send from ackedSeq. */
  #sentUpTo = 0;
  /** Highest seq published by this process; acks beyond it are not believed. */
  #highestPublished = 0;
  /** Seqs published and not yet acknowledged, ascending. */
  #inFlight: number[] = [];
  /** When the oldest unacknowledged publish went out or the ack last advanced. */
  #lastProgressAt = 0;
  #timers: NodeJS.Timeout[] = [];
  /** Sizes batches before they are signed; undefined when sending one message per event. */
  readonly #sizer: EventBatchSizer | undefined;
  /** Acks refused since start (forged, expired, misaddressed, beyond what was published). */
  refusedAcks = 0;

  constructor(opts: EventDeliveryOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#sizer = opts.batches ? new EventBatchSizer(opts.batches.gatewayId, opts.key.keyId) : undefined;
  }

  /**
   * Every event with seq <= this left the outbox: acknowledged by the
   * platform (or, telemetry only, reported dropped). The status watermark.
   */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  /** Arms the resend check and the telemetry expiry. */
  start(): void {
    this.#stopped = false;
    if (this.#ackedSeq === 0) {
      // Rows leave the outbox only when acknowledged (or reported dropped),
      // so everything before the oldest row left: that is the watermark the
      // status announces, and where sending resumes.
      const [oldest] = this.#opts.outbox.pendingAfter(0, 1);
      this.#ackedSeq = oldest ? oldest.seq - 1 : this.#opts.outbox.stats().lastSeq;
      this.#sentUpTo = Math.max(this.#sentUpTo, this.#ackedSeq);
    }
    const tick = Math.max(20, Math.min(500, Math.floor(this.#opts.resendAfterMs / 4)));
    this.#timers.push(setInterval(() => this.checkResend(), tick).unref());
    this.#timers.push(setInterval(() => this.expire(), this.#opts.expireEveryMs).unref());
  }

  /** Publishes nothing more: timers cleared, waiting events stay in the outbox. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    clearTimeout(this.#soonTimer);
    this.#soonTimer = undefined;
    this.#publisher = undefined;
    this.#connection++;
  }

  /**
   * The connection is usable. Whatever was in flight on an earlier one may
   * be lost, so everything unacknowledged is sent again, from the next drain.
   */
  online(publisher: QosOnePublisher): void {
    this.#connection++;
    this.#publisher = publisher;
    this.#sentUpTo = this.#ackedSeq;
    this.#inFlight = [];
  }

  /** The connection is gone; events stay in the outbox until the next `online`. */
  offline(): void {
    this.#connection++;
    this.#publisher = undefined;
  }

  /** Call after appending to the outbox: drains on the next tick, coalescing many calls into one. */
  notify(): void {
    clearTimeout(this.#soonTimer);
    this.#soonTimer = undefined;
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    process.nextTick(this.#drainOnNextTick);
  }

  /**
   * Like notify(), for events nobody waits on to the millisecond: they go out
   * with the next notify() or after `commandEventsDelayMs`, whichever comes
   * first. Why: right after a command commits, its DISPENSE is on the serial
   * line. Publishing its order.accepted then (the broker's routing, the
   * platform waking up to store and ack it) competes with that round trip
   * for the CPU of a small box: on 2 cores it cost paid orders ~1 ms at p99
   * (interleaved A/B in CHANGELOG.md). The vend outcome calls notify() and
   * carries the waiting events along, in seq order, in the same drain.
   */
  notifySoon(): void {
    if (this.#drainScheduled || this.#soonTimer || this.#stopped) return;
    this.#soonTimer = setTimeout(this.#drainAfterDelay, this.#opts.commandEventsDelayMs);
  }

  // Built once: notify() and notifySoon() run for every order, so they pass
  // these instead of allocating a closure each time.
  readonly #drainOnNextTick = (): void => {
    this.#drainScheduled = false;
    this.drain();
  };
  readonly #drainAfterDelay = (): void => {
    this.#soonTimer = undefined;
    this.drain();
  };

  /** Publishes outbox rows after the last sent seq, in seq order, up to maxInFlight unacknowledged. */
  drain(): void {
    const publisher = this.#publisher;
    if (!publisher || this.#draining || this.#stopped) return;
    this.#draining = true;
    try {
      for (;;) {
        const room = this.#opts.maxInFlight - this.#inFlight.length;
        if (room <= 0 || !this.#opts.outbox.mayHaveAfter(this.#sentUpTo)) return;
        const rows = this.#opts.outbox.pendingAfter(this.#sentUpTo, Math.min(room, 100));
        if (rows.length === 0) return;
        if (this.#inFlight.length === 0) this.#lastProgressAt = this.#opts.monoNow();
        if (this.#sizer) this.#publishBatches(publisher, rows, this.#sizer);
        else for (const row of rows) this.#publishOne(publisher, row);
        for (const row of rows) {
          this.#inFlight.push(row.seq);
          this.#sentUpTo = row.seq;
          if (row.seq > this.#highestPublished) this.#highestPublished = row.seq;
        }
        // A short batch means the outbox is drained; skip the empty query.
        if (rows.length < Math.min(room, 100)) return;
      }
    } catch (err) {
      this.#log.error({ err }, 'draining the outbox failed');
    } finally {
      this.#draining = false;
    }
  }

  /**
   * Cuts `rows` (ascending seq) into batches of at most the contract's
   * events and bytes, each signed once and published as one message; an
   * event too big for a batch of its own goes alone on `evt/{type}`. A
   * resend round signs its batches again: cheaper than keeping every
   * in-flight payload, and its rows may be cut differently anyway.
   */
  #publishBatches(publisher: QosOnePublisher, rows: readonly OutboxRow[], sizer: EventBatchSizer): void {
    let batch: string[] = [];
    let bytes = 0;
    let firstSeq = 0;
    const flush = () => {
      if (batch.length === 0) return;
      const { gatewayId, topic } = this.#opts.batches!;
      const wire = sealEventBatch(gatewayId, batch, this.#opts.key.privateKey, this.#opts.key.keyId);
      const connection = this.#connection;
      const from = firstSeq;
      const events = batch.length;
      publisher.publish(topic, wire, { qos: 1 }, (err) => {
        // Not fatal: the resend check sends it again unless the platform acks it.
        if (err && connection === this.#connection) {
          this.#log.debug({ fromSeq: from, events, err: err.message }, 'event batch publish failed');
        }
      });
      batch = [];
      bytes = 0;
    };
    for (const row of rows) {
      const size = escapedBytes(row.envelope);
      if (sizer.bytesOf(1, size) > EVENT_BATCH_MAX_BYTES) {
        // Alone it still exceeds a batch: flush what came before so seq order holds.
        flush();
        this.#publishOne(publisher, row);
        continue;
      }
      if (
        batch.length >= EVENT_BATCH_MAX_EVENTS ||
        (batch.length > 0 && sizer.bytesOf(batch.length + 1, bytes + size) > EVENT_BATCH_MAX_BYTES)
      )
        flush();
      if (batch.length === 0) firstSeq = row.seq;
      batch.push(row.envelope);
      bytes += size;
    }
    flush();
  }

  /** One event, signed on its own, on `evt/{type}` (docs/contract.md, "Signatures"). */
  #publishOne(publisher: QosOnePublisher, row: OutboxRow): void {
    const wire = sealBody(row.envelope, this.#opts.key.privateKey, this.#opts.key.keyId);
    const connection = this.#connection;
    publisher.publish(this.#opts.eventTopic(row.type), wire, { qos: 1 }, (err) => {
      // Not fatal: the resend check sends it again unless the platform acks it.
      if (err && connection === this.#connection) {
        this.#log.debug({ seq: row.seq, err: err.message }, 'event publish failed');
      }
    });
  }

  /**
   * The platform's signed `ack`: it stored every event up to `upTo`. A
   * forged, expired or misaddressed ack changes nothing; one beyond what
   * this gateway ever allocated is refused and reported, never clamped
   * (clamping let a forged `upTo: 2147483647` delete everything sent).
   */
  onAck(payload: Buffer): void {
    const opened = this.#opts.platform.open('ack', payload, EventAck, ErrorCode.AckInvalid);
    if (!opened.ok) {
      this.refusedAcks++;
      this.#log.warn({ code: opened.code, reason: opened.reason, bytes: payload.length }, 'refused an ack');
      return;
    }
    const upTo = opened.body.upTo;
    if (upTo <= this.#ackedSeq) return;
    if (upTo > this.#highestPublished) {
      this.refusedAcks++;
      const lastSeq = this.#opts.outbox.stats().lastSeq;
      if (upTo > lastSeq) {
        // Signed by a trusted key, yet past every seq this store ever made:
        // the store was restored from an older copy, or a platform key leaked.
        this.#log.error(
          { code: ErrorCode.AckBeyondPublished, upTo, lastSeq, highestPublished: this.#highestPublished },
          'refused an ack beyond the last event this gateway made; nothing deleted',
        );
      } else {
        // Made before this process started, not yet resent: the platform
        // acks again once the resend reaches it.
        this.#log.info(
          { code: ErrorCode.AckBeyondPublished, upTo, highestPublished: this.#highestPublished },
          'ignored an ack beyond what this process has published so far',
        );
      }
      return;
    }
    // Deleting acknowledged rows is housekeeping: if it fails they are sent
    // again after a restart and the platform dedupes them by seq.
    const outbox = this.#opts.outbox;
    if (this.#opts.commits) {
      this.#opts.commits
        .run(() => outbox.ack(upTo))
        .catch((err: unknown) => this.#log.error({ err, upTo }, 'deleting acknowledged events failed'));
    } else {
      outbox.ack(upTo);
    }
    this.#ackedSeq = upTo;
    if (this.#sentUpTo < upTo) this.#sentUpTo = upTo;
    let i = 0;
    while (i < this.#inFlight.length && this.#inFlight[i]! <= upTo) i++;
    if (i > 0) this.#inFlight.splice(0, i);
    this.#lastProgressAt = this.#opts.monoNow();
    this.#log.debug({ upTo, inFlight: this.#inFlight.length }, 'platform acknowledged events');
    this.#opts.acked?.(upTo);
    this.notify();
  }

  /** Resends from the last acknowledged seq when no ack advanced for resendAfterMs (run by start()'s timer). */
  checkResend(): void {
    try {
      if (!this.#publisher || this.#inFlight.length === 0) return;
      const silentFor = this.#opts.monoNow() - this.#lastProgressAt;
      if (silentFor < this.#opts.resendAfterMs) return;
      this.#log.info(
        { fromSeq: this.#ackedSeq + 1, unacked: this.#inFlight.length, silentFor },
        'no ack advanced; resending from the last acknowledged event',
      );
      this.#sentUpTo = this.#ackedSeq;
      this.#inFlight = [];
      this.drain();
    } catch (err) {
      this.#log.error({ err }, 'resend check failed');
    }
  }

  /** Drops telemetry past its TTL and publishes the gap report (run by start()'s timer). */
  expire(): void {
    try {
      const expired = this.#opts.outbox.expire();
      if (expired > 0) {
        this.#log.info({ expired }, 'telemetry expired undelivered');
        this.notify();
      }
    } catch (err) {
      this.#log.error({ err }, 'outbox expiry failed');
    }
  }
}
