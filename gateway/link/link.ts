import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { GatewayStatus } from '../../contract/events.ts';
import { connectMqtt } from '../../contract/mqtt-client.ts';
import { sealBody } from '../../contract/signed.ts';
import { gatewayTopics, parseTopic } from '../../contract/topics.ts';
import { type Clock, systemClock } from '../../core/clock.ts';
import type { Log } from '../../core/log.ts';
import { type CommandAnswerLimits, CommandAnswers } from '../commands/answers.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import type { CommandGuard } from './command-guard.ts';
import { type AcceptedCommand, CommandIntake } from './command-intake.ts';
import { CorrelatedRequests } from './correlated-requests.ts';
import { DEFAULT_MAX_IN_FLIGHT, EventDelivery } from './delivery.ts';
import { ephemeralGatewayKey, type GatewayKey } from './gateway-key.ts';
import { PlatformMessages } from './platform-messages.ts';

export type { AcceptedCommand } from './command-intake.ts';

export interface PlatformLinkOptions {
  brokerUrl: string;
  gatewayId: string;
  /** Stable across restarts so the broker keeps the session; default `vendgate-{gatewayId}`. */
  clientId?: string;
  username?: string;
  password?: string;
  outbox: Outbox;
  guard: CommandGuard;
  /** The store the outbox lives in, for the transactions that queue events. */
  db: Db;
  /**
   * When given, commands and the deletes of acknowledged rows share the
   * turn's one commit instead of one commit each (see CommandIntake).
   */
  commits?: Pick<GroupCommit, 'run'>;
  /**
   * Makes the mqtt.js client; default `connectMqtt(brokerUrl)` over TCP. The
   * gateway passes one that reaches its embedded broker in-process.
   */
  connect?: (options: IClientOptions) => MqttClient;
  /**
   * What the birth message republishes besides what the link fills in
   * itself (state, gatewayId, issuedAt, the lastSeq/ackedSeq watermark and
   * the event key).
   */
  status: () => Omit<GatewayStatus, 'state' | 'gatewayId'>;
  log: Log;
  /**
   * The gateway's own key, which signs events, requests and the status
   * (gateway-key.ts `loadGatewayKey`). Default: a key for this process
   * only, which a platform that pinned the real one refuses.
   */
  gatewayKey?: GatewayKey;
  /**
   * Wall clock for what goes on the wire and the validity of acks and
   * responses; monotonic clock for the resend timer. Default the system's.
   */
  clock?: Clock;
  /** Longest validity window an ack or a response may claim. Default 1 hour. */
  maxPlatformMessageLifetimeMs?: number;
  /** The status is republished with the new ack watermark at most this often. Default 1000. */
  statusEveryMs?: number;
  /** Resend from the last acknowledged seq when no ack advances for this long. Default 2000. */
  resendAfterMs?: number;
  /**
   * Most events published beyond the last acknowledged one: also what one
   * resend round carries at most, however long the backlog. Default 256.
   */
  maxInFlight?: number;
  /**
   * Events go out in signed batches on `evts`, one signature per message
   * (contract/event-batch.ts). False: one signed message per event on
   * `evt/{type}`, for a platform written to the contract before batches.
   * Default true.
   */
  eventBatching?: boolean;
  /** How often telemetry past its TTL is expired. Default 5000. */
  expireEveryMs?: number;
  /**
   * How long the events a command queued (order.accepted, order.state,
   * command.rejected, the refund of an expired order) may wait for the next
   * drain before they are published anyway (see notifySoon). Default 20.
   */
  commandEventsDelayMs?: number;
  /** Rate limits of the answers to commands not acted on (see CommandAnswers); defaults there. */
  answerLimits?: Partial<CommandAnswerLimits>;
  /** Reconnect backoff bounds; default 250 ms growing to 10 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** MQTT keepalive in seconds; default 30. */
  keepaliveSec?: number;
  /** @deprecated the wall clock; pass `clock` instead (this overrides its wallMs). */
  now?: () => number;
}

export interface PlatformLinkEvents {
  command: [command: AcceptedCommand];
  /** An identical copy of an accepted command: answer it, do not act on it again. */
  redelivered: [command: AcceptedCommand];
  connect: [];
  disconnect: [];
}

/**
 * The gateway's side of the platform contract over MQTT (README "The MQTT
 * contract"): one connection, its retained status (birth on connect, the
 * will and a clean offline on stop), its subscriptions, and the routing of
 * what arrives to the three mechanisms that do the work:
 *
 * - delivery.ts: events from the durable outbox, in seq order, until the
 *   platform's end-to-end `ack` covers them;
 * - command-intake.ts: signed commands, decided in arrival order and
 *   committed before the broker is told they arrived;
 * - correlated-requests.ts: `req/{type}` -> `res/{type}` by correlation id.
 *
 * The session is persistent (clean: false, stable client id) so commands the
 * platform publishes while the link is down are delivered on reconnect; each
 * is still checked by the guard, which refuses the ones that expired
 * meanwhile instead of acting on them late.
 */
export class PlatformLink extends EventEmitter<PlatformLinkEvents> {
  readonly #opts: Required<
    Omit<
      PlatformLinkOptions,
      'username' | 'password' | 'commits' | 'connect' | 'answerLimits' | 'now' | 'clock'
    >
  > &
    Pick<PlatformLinkOptions, 'username' | 'password' | 'commits' | 'connect' | 'answerLimits'>;
  readonly #clock: Clock;
  readonly #topics: ReturnType<typeof gatewayTopics>;
  readonly #log: Log;
  readonly #delivery: EventDelivery;
  #lastAckAt: number | undefined;
  readonly #intake: CommandIntake;
  readonly #requests: CorrelatedRequests;
  #client: MqttClient | undefined;
  #connected = false;
  /** Bumped on every (re)connect so late callbacks of an old connection do nothing. */
  #generation = 0;
  #reconnectDelay: number;
  #statusTimer: NodeJS.Timeout | undefined;
  #lastStatusAt = Number.NEGATIVE_INFINITY;

  constructor(opts: PlatformLinkOptions) {
    super();
    const { now, clock, ...rest } = opts;
    const base = clock ?? systemClock;
    this.#clock = now ? { wallMs: now, monoMs: () => base.monoMs() } : base;
    this.#opts = {
      clientId: `vendgate-${opts.gatewayId}`,
      gatewayKey: opts.gatewayKey ?? ephemeralGatewayKey(),
      maxPlatformMessageLifetimeMs: 3600_000,
      statusEveryMs: 1000,
      resendAfterMs: 2000,
      maxInFlight: DEFAULT_MAX_IN_FLIGHT,
      eventBatching: true,
      expireEveryMs: 5000,
      commandEventsDelayMs: 20,
      reconnectMinMs: 250,
      reconnectMaxMs: 10_000,
      keepaliveSec: 30,
      ...rest,
    };
    const o = this.#opts;
    this.#topics = gatewayTopics(opts.gatewayId);
    this.#log = opts.log;
    this.#reconnectDelay = o.reconnectMinMs;
    if (!opts.gatewayKey) {
      this.#log.warn(
        { keyId: o.gatewayKey.keyId },
        'no gateway key given: events are signed with a key for this process only',
      );
    }
    const wallMs = () => this.#clock.wallMs();
    const trust = o.guard.trust;
    const platform = new PlatformMessages({
      gatewayId: o.gatewayId,
      keys: trust.keys,
      maxSkewMs: trust.maxSkewMs,
      maxLifetimeMs: o.maxPlatformMessageLifetimeMs,
      now: opts.now ?? (clock ? wallMs : trust.now),
    });
    this.#delivery = new EventDelivery({
      outbox: o.outbox,
      eventTopic: this.#topics.event,
      batches: o.eventBatching ? { gatewayId: o.gatewayId, topic: this.#topics.eventBatch } : undefined,
      commits: o.commits,
      log: o.log,
      resendAfterMs: o.resendAfterMs,
      maxInFlight: o.maxInFlight,
      expireEveryMs: o.expireEveryMs,
      commandEventsDelayMs: o.commandEventsDelayMs,
      key: o.gatewayKey,
      platform,
      monoNow: () => this.#clock.monoMs(),
      acked: () => {
        this.#lastAckAt = this.#clock.wallMs();
        this.#statusSoon();
      },
    });
    const delivery = this.#delivery;
    this.#intake = new CommandIntake({
      guard: o.guard,
      db: o.db,
      outbox: o.outbox,
      commits: o.commits,
      log: o.log,
      accept: (command) => this.#safeEmit('command', command),
      redelivered: (command) => this.#safeEmit('redelivered', command),
      answers: new CommandAnswers({
        db: o.db,
        outbox: o.outbox,
        log: o.log,
        notify: () => delivery.notify(),
        ...(o.answerLimits ? { limits: o.answerLimits } : {}),
        now: wallMs,
      }),
      decided: () => delivery.notifySoon(),
    });
    this.#requests = new CorrelatedRequests({
      requestTopic: this.#topics.request,
      gatewayId: o.gatewayId,
      key: o.gatewayKey,
      platform,
      now: wallMs,
      log: o.log,
    });
  }

  /** The key id and public key this link signs with (also in every status). */
  get eventKey(): { keyId: string; publicKey: string } {
    return { keyId: this.#opts.gatewayKey.keyId, publicKey: this.#opts.gatewayKey.publicKey };
  }

  /** Acks refused since start: forged, expired, misaddressed, or beyond what was published. */
  get refusedAcks(): number {
    return this.#delivery.refusedAcks;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Wall time of the last valid ack from the platform since start, Unix ms. */
  get lastAckAt(): number | undefined {
    return this.#lastAckAt;
  }

  /** Every event with seq <= this has left the outbox (the status watermark). */
  get ackedSeq(): number {
    return this.#delivery.ackedSeq;
  }

  start(): void {
    if (this.#client) return;
    // The will is fixed when connecting, so it carries no watermark: a
    // platform keeps the one from the last birth or status.
    const willPayload = this.#sealStatus({ state: 'offline', gatewayId: this.#opts.gatewayId }, false);
    const options: IClientOptions = {
      clientId: this.#opts.clientId,
      clean: false,
      protocolVersion: 4,
      keepalive: this.#opts.keepaliveSec,
      reconnectPeriod: this.#opts.reconnectMinMs,
      connectTimeout: 10_000,
      // We subscribe ourselves after every connect, and we never let mqtt.js
      // queue publishes while offline: the outbox is the queue.
      resubscribe: false,
      queueQoSZero: false,
      will: { topic: this.#topics.status, payload: Buffer.from(willPayload), qos: 1, retain: true },
    };
    if (this.#opts.username !== undefined) options.username = this.#opts.username;
    if (this.#opts.password !== undefined) options.password = this.#opts.password;
    this.#log.info(
      { brokerUrl: redactUrl(this.#opts.brokerUrl), clientId: this.#opts.clientId },
      'connecting to the platform broker',
    );
    const client = this.#opts.connect?.(options) ?? connectMqtt(this.#opts.brokerUrl, options);
    this.#client = client;

    client.on('connect', (connack) => {
      this.#reconnectDelay = this.#opts.reconnectMinMs;
      client.options.reconnectPeriod = this.#reconnectDelay;
      void this.#onConnect(client, connack.sessionPresent);
    });
    client.on('reconnect', () => {
      // mqtt.js retries at a fixed period; it reads options.reconnectPeriod each
      // time it re-arms its timer (after this attempt fails), so grow it here.
      this.#reconnectDelay = Math.min(this.#reconnectDelay * 2, this.#opts.reconnectMaxMs);
      client.options.reconnectPeriod = this.#reconnectDelay;
      this.#log.debug({ nextRetryMs: this.#reconnectDelay }, 'reconnecting to the platform broker');
    });
    client.on('close', () => {
      this.#generation++;
      if (this.#connected) {
        this.#connected = false;
        this.#delivery.offline();
        this.#log.warn('platform broker connection lost; events stay in the outbox');
        this.#safeEmit('disconnect');
      }
    });
    client.on('error', (err) => {
      this.#log.warn({ err: err.message, code: (err as { code?: unknown }).code }, 'platform link error');
    });
    client.on('message', (topic, payload) => {
      try {
        this.#onMessage(topic, payload);
      } catch (err) {
        this.#log.error({ err, topic }, 'failed to handle a platform message');
      }
    });
    this.#delivery.start();
  }

  /** Publishes the retained offline status cleanly, then disconnects. */
  async stop(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#delivery.stop();
    this.#intake.stop();
    this.#requests.abortAll();
    clearTimeout(this.#statusTimer);
    this.#statusTimer = undefined;
    if (this.#connected) {
      const offline = this.#sealStatus({ state: 'offline', gatewayId: this.#opts.gatewayId }, true);
      try {
        await withTimeout(client.publishAsync(this.#topics.status, offline, { qos: 1, retain: true }), 3000);
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, 'could not publish the offline status on stop');
      }
    }
    const wasConnected = this.#connected;
    this.#connected = false;
    this.#generation++;
    try {
      await withTimeout(client.endAsync(!wasConnected), 3000);
    } catch {
      await client.endAsync(true).catch(() => {});
    }
    this.#client = undefined;
    if (wasConnected) this.#safeEmit('disconnect');
    this.#log.info('platform link stopped');
  }

  /** Call after appending to the outbox: drains on the next tick, coalescing many calls into one. */
  notify(): void {
    this.#delivery.notify();
  }

  /**
   * For events nobody waits on to the millisecond (those a command queued):
   * they go out with the next notify() or after `commandEventsDelayMs`,
   * whichever comes first (see EventDelivery.notifySoon for why).
   */
  notifySoon(): void {
    this.#delivery.notifySoon();
  }

  /**
   * Sends a request on `req/{type}` and resolves with the `data` of the
   * platform's `res/{type}` answer carrying the same correlationId.
   */
  request(type: string, data: unknown, timeoutMs: number): Promise<unknown> {
    return this.#requests.send(this.#connected ? this.#client : undefined, type, data, timeoutMs);
  }

  /**
   * Publishes one body signed with the gateway key on this link's
   * connection (QoS 1, not retained), outside the outbox: for messages
   * whose own durable queue decides what to send again (alerts:
   * gateway/alerts/mqtt-sink.ts). Only under this gateway's topic tree.
   * Rejects when the link is not connected; the caller keeps the message.
   */
  publishSigned(topic: string, body: string): Promise<void> {
    const client = this.#client;
    if (!topic.startsWith(`${this.#topics.base}/`))
      return Promise.reject(new Error(`${topic} is not under ${this.#topics.base}/`));
    if (!client || !this.#connected) return Promise.reject(new Error('the platform link is not connected'));
    const key = this.#opts.gatewayKey;
    const payload = sealBody(body, key.privateKey, key.keyId);
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  }

  async #onConnect(client: MqttClient, sessionPresent: boolean): Promise<void> {
    const generation = ++this.#generation;
    this.#log.info({ sessionPresent }, 'connected to the platform broker');
    try {
      const t = this.#topics;
      await client.subscribeAsync([t.commandWildcard, t.ack, t.responseWildcard], { qos: 1 });
      if (generation !== this.#generation) return;
      let extra: Omit<GatewayStatus, 'state' | 'gatewayId'> = {};
      try {
        extra = this.#opts.status();
      } catch (err) {
        this.#log.error({ err }, 'status() threw; the birth message carries the state only');
      }
      const birth = this.#sealStatus({ ...extra, state: 'online', gatewayId: this.#opts.gatewayId }, true);
      this.#lastStatusAt = this.#clock.monoMs();
      await client.publishAsync(t.status, birth, { qos: 1, retain: true });
      if (generation !== this.#generation) return;
    } catch (err) {
      // The connection dropped (or the broker refused a subscription); the next connect redoes all this.
      this.#log.warn({ err: (err as Error).message }, 'birth after connect failed');
      if (generation === this.#generation && this.#client === client && client.connected) {
        // A refused subscription leaves us deaf to commands: reconnect rather than limp on.
        client.stream.destroy();
      }
      return;
    }
    this.#connected = true;
    // Resends everything unacknowledged: whatever was in flight may be lost.
    this.#delivery.online(client);
    this.#safeEmit('connect');
    this.#delivery.drain();
  }

  /**
   * The signed status: what `status()` gave, with the link's own fields on
   * top, so nothing a caller returns can misstate the watermark or the key.
   */
  #sealStatus(status: GatewayStatus, watermark: boolean): string {
    const key = this.#opts.gatewayKey;
    const { lastSeq: _lastSeq, ackedSeq: _ackedSeq, ...given } = status;
    const body: GatewayStatus = {
      ...given,
      issuedAt: this.#clock.wallMs(),
      ...(watermark ? { lastSeq: this.#opts.outbox.stats().lastSeq, ackedSeq: this.#delivery.ackedSeq } : {}),
      eventKey: { alg: 'Ed25519', keyId: key.keyId, publicKey: key.publicKey },
    };
    return sealBody(JSON.stringify(body), key.privateKey, key.keyId);
  }

  /**
   * The ack watermark moved: republish the retained status with it, at most
   * every `statusEveryMs`, so a platform that starts now reads an ackedSeq
   * at most that old (docs/contract.md, "Resuming").
   */
  #statusSoon(): void {
    if (this.#statusTimer || !this.#connected) return;
    const wait = Math.max(0, this.#lastStatusAt + this.#opts.statusEveryMs - this.#clock.monoMs());
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      const client = this.#client;
      if (!client || !this.#connected) return;
      let extra: Omit<GatewayStatus, 'state' | 'gatewayId'> = {};
      try {
        extra = this.#opts.status();
      } catch (err) {
        this.#log.error({ err }, 'status() threw; the status carries the state only');
      }
      this.#lastStatusAt = this.#clock.monoMs();
      const payload = this.#sealStatus({ ...extra, state: 'online', gatewayId: this.#opts.gatewayId }, true);
      client.publish(this.#topics.status, payload, { qos: 1, retain: true }, (err) => {
        if (err) this.#log.debug({ err: err.message }, 'status republish failed');
      });
    }, wait);
    this.#statusTimer.unref();
  }

  #onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.gatewayId !== this.#opts.gatewayId) {
      this.#log.debug({ topic }, 'ignored a message outside this gateway topic tree');
      return;
    }
    switch (parsed.kind) {
      case 'ack':
        this.#delivery.onAck(payload);
        return;
      case 'cmd':
        this.#intake.receive(topic, parsed.type, payload, this.#client?.stream);
        return;
      case 'res':
        this.#requests.onResponse(parsed.type, payload);
        return;
      default:
        this.#log.debug({ topic }, 'ignored a message on an unexpected topic');
    }
  }

  #safeEmit<K extends keyof PlatformLinkEvents>(event: K, ...args: PlatformLinkEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.#log.error({ err, event }, 'a platform link listener threw');
    }
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
