import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EVENT_BATCH_MAX_BYTES, EVENT_BATCH_MAX_EVENTS, openEventBatch } from '../../contract/event-batch.ts';
import { sealBody } from '../../contract/signed.ts';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  verifyBody,
} from '../../contract/signing.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, tempDir, waitUntil } from '../../testing/index.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { GroupCommit } from '../store/group-commit.ts';
import { EventDelivery, type EventDeliveryOptions } from './delivery.ts';
import { ephemeralGatewayKey } from './gateway-key.ts';
import { PlatformMessages } from './platform-messages.ts';
import type { QosOnePublisher } from './publisher.ts';

const gatewayKey = ephemeralGatewayKey();
const platformKeys = generateRawKeyPair();
const platformKey = privateKeyFromBase64(platformKeys.privateKey);

const topics = gatewayTopics('gw1');
const cleanups = cleanupsAfterEach();
afterEach(() => {
  vi.useRealTimers();
});

const trustedGatewayKey = { keyId: gatewayKey.keyId, key: publicKeyFromBase64(gatewayKey.publicKey) };

/**
 * A connection that records every event published, one entry per event
 * whether it came alone or in a batch, the messages themselves, and answers
 * each publish with `failWith`.
 */
function recordingConnection() {
  const sent: Array<{ topic: string; seq: number; type: string }> = [];
  const messages: Array<{ topic: string; events: number; bytes: number }> = [];
  const connection = {
    failWith: undefined as Error | undefined,
    sent,
    messages,
    seqs: () => sent.map((s) => s.seq),
    publish(topic: string, message: string, _opts: { qos: 1 }, callback: (err?: Error) => void) {
      let envelopes: Array<{ seq: number; type: string }>;
      if (topic === topics.eventBatch) {
        // Throws unless signed by the gateway key and within the contract's bounds.
        const opened = openEventBatch(Buffer.from(message), 'gw1', trustedGatewayKey);
        envelopes = opened.events as typeof envelopes;
      } else {
        const signed = JSON.parse(message) as { body: string; sig: string; keyId: string };
        if (signed.keyId !== gatewayKey.keyId || !verifyBody(signed.body, signed.sig, trustedGatewayKey.key))
          throw new Error('published an event not signed by the gateway key');
        envelopes = [JSON.parse(signed.body)];
      }
      messages.push({ topic, events: envelopes.length, bytes: Buffer.byteLength(message) });
      for (const e of envelopes) sent.push({ topic, seq: e.seq, type: e.type });
      callback(connection.failWith);
    },
  } satisfies QosOnePublisher & Record<string, unknown>;
  return connection;
}

function setupWith(opts: Partial<EventDeliveryOptions> & { telemetryTtlMs?: number } = {}) {
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'vendgate.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const clock = { now: 1_750_000_000_000 };
  const outbox = new Outbox(db, {
    gatewayId: 'gw1',
    maxRows: 10_000,
    telemetryTtlMs: opts.telemetryTtlMs ?? 60_000,
    now: () => clock.now,
  });
  const delivery = new EventDelivery({ ...optionsFor(outbox, clock), ...opts });
  cleanups.push(() => delivery.stop());
  let n = 0;
  const append = (count: number) => {
    for (let i = 0; i < count; i++) {
      n++;
      db.transaction(() =>
        outbox.append('order.state', { orderId: `order-${n}`, state: 'received', duplicate: false }),
      )();
    }
  };
  const ack = (upTo: number | string) =>
    delivery.onAck(Buffer.from(typeof upTo === 'number' ? signedAck(upTo, clock.now) : upTo));
  return { db, outbox, delivery, clock, append, ack };
}

/** The options every test shares; `clock.now` is the wall clock acks are judged by and the monotonic one. */
function optionsFor(outbox: Outbox, clock: { now: number }): EventDeliveryOptions {
  return {
    outbox,
    eventTopic: topics.event,
    log: silentLogger(),
    key: gatewayKey,
    platform: new PlatformMessages({
      gatewayId: 'gw1',
      keys: new Map([['default', publicKeyFromBase64(platformKeys.publicKey)]]),
      maxSkewMs: 30_000,
      maxLifetimeMs: 3600_000,
      now: () => clock.now,
    }),
    resendAfterMs: 2000,
    maxInFlight: 500,
    expireEveryMs: 5000,
    commandEventsDelayMs: 20,
    monoNow: () => clock.now,
  };
}

/** An ack as the platform signs it. */
function signedAck(upTo: number, now: number, body: Record<string, unknown> = {}): string {
  const json = JSON.stringify({
    gatewayId: 'gw1',
    upTo,
    issuedAt: now,
    expiresAt: now + 60_000,
    keyId: 'default',
    ...body,
  });
  return sealBody(json, platformKey, undefined);
}

const modes: Array<[string, EventDeliveryOptions['batches']]> = [
  ['one signed message per event', undefined],
  ['signed event batches', { gatewayId: 'gw1', topic: topics.eventBatch }],
];

describe.each(modes)('event delivery, %s', (_mode, batches) => {
  const setup = (opts: Parameters<typeof setupWith>[0] = {}) => setupWith({ batches, ...opts });
  const deliveryOptions = (outbox: Outbox, clock: { now: number }) => ({
    ...optionsFor(outbox, clock),
    batches,
  });

  it('publishes the outbox in seq order, on the topic of its type or in one batch, once the connection is online', () => {
    const s = setup();
    const c = recordingConnection();
    s.append(3);
    s.delivery.drain();
    s.delivery.online(c);
    s.delivery.drain();
    expect(c.seqs()).toEqual([1, 2, 3]);
    const topic = batches ? topics.eventBatch : topics.event('order.state');
    expect(c.sent[0]).toEqual({ topic, seq: 1, type: 'order.state' });
    expect(c.messages).toHaveLength(batches ? 1 : 3);
  });

  it('publishes nothing while offline and, back online, everything not yet acknowledged', () => {
    const s = setup();
    const first = recordingConnection();
    s.delivery.online(first);
    s.append(3);
    s.delivery.drain();
    s.ack(1);
    s.delivery.offline();
    s.append(2);
    s.delivery.drain();
    expect(first.seqs()).toEqual([1, 2, 3]);
    const second = recordingConnection();
    s.delivery.online(second);
    s.delivery.drain();
    expect(second.seqs()).toEqual([2, 3, 4, 5]);
  });

  it('removes rows from the outbox only when the platform acknowledges them, however many publishes succeeded', () => {
    const s = setup();
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(4);
    s.delivery.drain();
    expect(c.sent).toHaveLength(4);
    expect(s.outbox.stats().pending).toBe(4);
    s.ack(3);
    expect(s.outbox.stats().pending).toBe(1);
    expect(s.delivery.ackedSeq).toBe(3);
  });

  it('keeps at most maxInFlight events beyond the last acknowledged one, and sends more as acks advance', async () => {
    const s = setup({ maxInFlight: 2 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(5);
    s.delivery.drain();
    expect(c.seqs()).toEqual([1, 2]);
    s.ack(1);
    await waitUntil(() => c.sent.length === 3, { what: 'the drain after the ack' });
    expect(c.seqs()).toEqual([1, 2, 3]);
  });

  it('resends from the last acknowledged seq when no ack advanced for resendAfterMs', () => {
    const s = setup({ resendAfterMs: 2000 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(3);
    s.delivery.drain();
    s.clock.now += 100;
    s.ack(1);
    s.clock.now += 1999;
    s.delivery.checkResend();
    expect(c.seqs()).toEqual([1, 2, 3]);
    s.clock.now += 1;
    s.delivery.checkResend();
    expect(c.seqs()).toEqual([1, 2, 3, 2, 3]);
  });

  it('does not resend when everything published has been acknowledged, or while offline', () => {
    const s = setup({ resendAfterMs: 2000 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(2);
    s.delivery.drain();
    s.ack(2);
    s.clock.now += 10_000;
    s.delivery.checkResend();
    s.append(1);
    s.delivery.drain();
    s.delivery.offline();
    s.clock.now += 10_000;
    s.delivery.checkResend();
    expect(c.seqs()).toEqual([1, 2, 3]);
  });

  it('treats a failed publish as unacknowledged: the resend sends it again', () => {
    const s = setup({ resendAfterMs: 2000 });
    const c = recordingConnection();
    c.failWith = new Error('connection lost');
    s.delivery.online(c);
    s.append(1);
    s.delivery.drain();
    c.failWith = undefined;
    s.clock.now += 2000;
    s.delivery.checkResend();
    expect(c.seqs()).toEqual([1, 1]);
    expect(s.outbox.stats().pending).toBe(1);
  });

  it('refuses an ack beyond the highest seq it published instead of clamping it, and acks that are not valid', () => {
    const s = setup();
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(2);
    s.delivery.drain();
    s.append(2);
    const now = s.clock.now;
    for (const bad of [
      'nonsense',
      '{"upTo":4}',
      signedAck(1, now, { upTo: 'all' }),
      signedAck(1, now, { extra: true }),
      signedAck(1, now, { gatewayId: 'gw2' }),
      signedAck(1, now, { keyId: 'other' }),
      signedAck(1, now, { issuedAt: now - 120_000, expiresAt: now }),
      sealBody(
        JSON.stringify({ gatewayId: 'gw1', upTo: 2, issuedAt: now, expiresAt: now + 1000, keyId: 'default' }),
        privateKeyFromBase64(generateRawKeyPair().privateKey),
        undefined,
      ),
    ])
      s.ack(bad);
    expect(s.delivery.ackedSeq).toBe(0);
    expect(s.outbox.stats().pending).toBe(4);
    s.ack(1_000_000);
    s.ack(3);
    expect(s.delivery.ackedSeq).toBe(0);
    expect(s.outbox.stats().pending).toBe(4);
    expect(s.delivery.refusedAcks).toBe(10);
    s.ack(2);
    expect(s.delivery.ackedSeq).toBe(2);
    expect(s.outbox.stats().pending).toBe(2);
  });

  it('applies the clock skew to issuedAt only: an ack past its expiresAt is refused however small the lag', () => {
    const s = setup();
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(3);
    s.delivery.drain();
    const now = s.clock.now;
    s.ack(signedAck(1, now, { issuedAt: now - 10_000, expiresAt: now }));
    s.ack(signedAck(1, now, { issuedAt: now + 30_001, expiresAt: now + 60_000 }));
    expect(s.delivery.ackedSeq).toBe(0);
    s.ack(signedAck(1, now, { issuedAt: now + 30_000, expiresAt: now + 60_000 }));
    expect(s.delivery.ackedSeq).toBe(1);
    s.ack(signedAck(2, now, { issuedAt: now - 10_000, expiresAt: now + 1 }));
    expect(s.delivery.ackedSeq).toBe(2);
  });

  it('sends the same signed bytes again on a resend (Ed25519 signatures are deterministic, RFC 8032)', () => {
    const s = setup({ resendAfterMs: 2000 });
    const wires: string[] = [];
    const c = recordingConnection();
    const publish = c.publish.bind(c);
    c.publish = (topic, message, opts, callback) => {
      wires.push(message);
      publish(topic, message, opts, callback);
    };
    s.delivery.online(c);
    s.append(2);
    s.delivery.drain();
    s.clock.now += 2000;
    s.delivery.checkResend();
    expect(c.seqs()).toEqual([1, 2, 1, 2]);
    const half = wires.length / 2;
    expect(wires.slice(half)).toEqual(wires.slice(0, half));
  });

  it('resumes after the oldest row left in the outbox when it starts, and says so as its watermark', () => {
    const s = setup();
    s.append(5);
    s.outbox.ack(3);
    const d = new EventDelivery(deliveryOptions(s.outbox, s.clock));
    d.start();
    cleanups.push(() => d.stop());
    expect(d.ackedSeq).toBe(3);
    const c = recordingConnection();
    d.online(c);
    d.drain();
    expect(c.seqs()).toEqual([4, 5]);
  });

  it('carries at most maxInFlight events in one resend round, however long the backlog', () => {
    const s = setup({ maxInFlight: 256, resendAfterMs: 2000 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(3000);
    s.delivery.drain();
    expect(c.sent).toHaveLength(256);
    s.clock.now += 2000;
    s.delivery.checkResend();
    expect(c.sent).toHaveLength(512);
    expect(c.seqs().slice(256)).toEqual(Array.from({ length: 256 }, (_, i) => i + 1));
    s.ack(100);
    expect(c.seqs().at(-1)).toBeLessThanOrEqual(356);
  });

  it('deletes acknowledged rows in the group commit when one is given', async () => {
    const s = setup();
    const commits = new GroupCommit(s.db);
    const d = new EventDelivery({ ...deliveryOptions(s.outbox, s.clock), commits });
    d.online(recordingConnection());
    s.append(2);
    d.drain();
    d.onAck(Buffer.from(signedAck(2, s.clock.now)));
    expect(d.ackedSeq).toBe(2);
    await waitUntil(() => commits.stats.units === 1, { what: 'the ack in a group commit' });
    expect(s.outbox.stats().pending).toBe(0);
  });

  it('drains once on the next tick for any number of notify calls in one turn', async () => {
    const s = setup();
    const c = recordingConnection();
    s.delivery.online(c);
    for (let i = 0; i < 5; i++) {
      s.append(1);
      s.delivery.notify();
    }
    expect(c.sent).toEqual([]);
    await waitUntil(() => c.sent.length === 5, { what: 'the drain' });
    expect(c.seqs()).toEqual([1, 2, 3, 4, 5]);
  });

  it('publishes events after notifySoon when the delay passes, or with an earlier notify, never twice', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const s = setup({ commandEventsDelayMs: 20 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(1);
    s.delivery.notifySoon();
    vi.advanceTimersByTime(19);
    expect(c.sent).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(c.seqs()).toEqual([1]);

    s.append(1);
    s.delivery.notifySoon();
    s.append(1);
    s.delivery.notify(); // as a vend outcome does: carries the waiting event along
    await new Promise((r) => process.nextTick(r)); // waitUntil's own timer is faked here
    expect(c.seqs()).toEqual([1, 2, 3]);
    vi.advanceTimersByTime(100);
    expect(c.seqs()).toEqual([1, 2, 3]);
  });

  it('arms no delayed drain once stopped', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const s = setup();
    const c = recordingConnection();
    s.delivery.online(c);
    s.delivery.stop();
    s.append(1);
    s.delivery.notifySoon();
    expect(vi.getTimerCount()).toBe(0);
    s.delivery.drain();
    expect(c.sent).toEqual([]);
  });

  it('expires telemetry past its TTL and publishes the report of the gap', async () => {
    const s = setup({ telemetryTtlMs: 1000 });
    const c = recordingConnection();
    s.db.transaction(() => s.outbox.append('machine.status', { machineId: 'm1', online: true }))();
    s.clock.now += 1000;
    s.delivery.online(c);
    s.delivery.expire();
    await waitUntil(() => c.sent.length === 1, { what: 'the outbox.dropped event' });
    expect(c.sent[0]).toMatchObject({ seq: 2, type: 'outbox.dropped' });
    expect(s.outbox.stats().expired).toBe(1);
  });
});

describe('event delivery in signed batches', () => {
  const batches = { gatewayId: 'gw1', topic: topics.eventBatch };

  /** An audit.read of `selections` 32-character selections: a big event (~60 bytes a selection). */
  const audit = (selections: number) => ({
    machineId: 'm1',
    readId: 1,
    trigger: 'api' as const,
    status: 'good' as const,
    startedAt: 1,
    finishedAt: 2,
    problems: [],
    totals: {
      paidVends: { count: 0, value: 0 },
      cashSales: { count: 0, value: 0 },
      cashIn: 0,
      cashless: { count: 0, value: 0 },
      selections: Array.from({ length: selections }, (_, i) => ({
        selection: `selection-${String(i).padStart(22, '0')}`,
        count: i,
        value: i,
      })),
    },
  });

  it('cuts a long drain into batches of at most the contract events, one signature each', () => {
    const s = setupWith({ batches, maxInFlight: 256 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(250);
    s.delivery.drain();
    expect(c.seqs()).toEqual(Array.from({ length: 250 }, (_, i) => i + 1));
    expect(c.messages.map((m) => m.events)).toEqual([EVENT_BATCH_MAX_EVENTS, EVENT_BATCH_MAX_EVENTS, 50]);
  });

  it('keeps every batch within the byte budget, and sends an event too big for any batch alone on its own topic, in seq order', () => {
    const s = setupWith({ batches });
    const c = recordingConnection();
    s.delivery.online(c);
    s.db.transaction(() => {
      for (let i = 0; i < 6; i++) s.outbox.append('audit.read', audit(250));
      s.outbox.append('audit.read', audit(1000));
      s.outbox.append('order.state', { orderId: 'order-after', state: 'received', duplicate: false });
    })();
    s.delivery.drain();
    expect(c.seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const m of c.messages)
      if (m.topic === topics.eventBatch) expect(m.bytes).toBeLessThanOrEqual(EVENT_BATCH_MAX_BYTES);
    expect(c.messages.filter((m) => m.topic === topics.eventBatch).length).toBeGreaterThan(1);
    expect(c.sent[6]).toEqual({ topic: topics.event('audit.read'), seq: 7, type: 'audit.read' });
    expect(c.sent[7]).toMatchObject({ topic: topics.eventBatch, seq: 8 });
  });

  it('counts every event of a batch in flight: the window and the ack watermark work per event', async () => {
    const s = setupWith({ batches, maxInFlight: 10 });
    const c = recordingConnection();
    s.delivery.online(c);
    s.append(25);
    s.delivery.drain();
    expect(c.seqs()).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    s.ack(4);
    await waitUntil(() => c.sent.length === 14, { what: 'the window moved by the ack' });
    expect(c.seqs().slice(10)).toEqual([11, 12, 13, 14]);
    expect(c.messages.at(-1)?.events).toBe(4);
    expect(s.delivery.ackedSeq).toBe(4);
    expect(s.outbox.stats().pending).toBe(21);
  });
});
