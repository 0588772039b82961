import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';
import { z } from 'zod';
import { EventAck, type GatewayStatus } from '../../contract/events.ts';
import { connectMqtt } from '../../contract/mqtt-client.ts';
import { verifyBody, verifyBodyAsync } from '../../contract/signing.ts';
import { gatewayTopics, parseTopic } from '../../contract/topics.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { Db } from '../store/db.ts';
import type { GroupCommit } from '../store/group-commit.ts';
import { inTx } from '../store/tx.ts';
import type { CommandGuard, GuardResult } from './command-guard.ts';

/** A request from the gateway to the platform on `req/{type}`. */
export const RequestEnvelope = z
  .object({
    correlationId: z.string().min(8).max(64).describe('Echoed in the response.'),
    data: z.unknown(),
  })
  .strict()
  .describe('A request from the gateway; the platform answers on res/{type} with the same correlationId.');
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/** The platform's answer on `res/{type}`: data, or an error saying why not. */
export const ResponseEnvelope = z
  .object({
    correlationId: z.string().min(8).max(64),
    data: z.unknown().optional(),
    error: z.object({ code: z.number().int().optional(), reason: z.string() }).optional(),
  })
  .strict()
  .describe('The platform answer to a gateway request, correlated by correlationId.');
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;

export type AcceptedCommand = Extract<GuardResult, { ok: true }>['command'];

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
   * turn's one commit instead of one commit each (see #onCommand).
   */
  commits?: Pick<GroupCommit, 'run'>;
  /**
   * Makes the mqtt.js client; default `connectMqtt(brokerUrl)` over TCP. The
   * gateway passes one that reaches its embedded broker in-process.
   */
  connect?: (options: IClientOptions) => MqttClient;
  /** What the birth message republishes besides state and gatewayId. */
  status: () => Omit<GatewayStatus, 'state' | 'gatewayId'>;
  log: Log;
  /** Resend from the last acknowledged seq when no ack advances for this long. Default 2000. */
  resendAfterMs?: number;
  /** Most events published beyond the last acknowledged one. Default 500. */
  maxInFlight?: number;
  /** How often telemetry past its TTL is expired. Default 5000. */
  expireEveryMs?: number;
  /**
   * How long the events a command queued (order.accepted, order.state,
   * command.rejected, the refund of an expired order) may wait for the next
   * drain before they are published anyway (see notifySoon). Default 20.
   */
  commandEventsDelayMs?: number;
  /** Reconnect backoff bounds; default 250 ms growing to 10 s. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** MQTT keepalive in seconds; default 30. */
  keepaliveSec?: number;
  now?: () => number;
}

export interface PlatformLinkEvents {
  command: [command: AcceptedCommand];
  connect: [];
  disconnect: [];
}

interface PendingRequest {
  type: string;
  resolve: (data: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * The gateway's side of the platform contract over MQTT (README "The MQTT
 * contract"). The durable queue is the SQLite outbox, not mqtt.js'
 * in-memory store: events are published from the outbox in seq order and
 * leave it only when the platform's end-to-end `ack` covers them. A broker
 * PUBACK proves nothing, so anything not acknowledged within `resendAfterMs`
 * is sent again from the last acknowledged seq (the platform dedupes by seq).
 *
 * The session is persistent (clean: false, stable client id) so commands the
 * platform publishes while the link is down are delivered on reconnect; each
 * is still checked by the guard, which refuses the ones that expired
 * meanwhile instead of acting on them late.
 */
export class PlatformLink extends EventEmitter<PlatformLinkEvents> {
  readonly #opts: Required<Omit<PlatformLinkOptions, 'username' | 'password' | 'commits' | 'connect'>> &
    Pick<PlatformLinkOptions, 'username' | 'password' | 'commits' | 'connect'>;
  readonly #topics: ReturnType<typeof gatewayTopics>;
  readonly #log: Log;
  #client: MqttClient | undefined;
  #connected = false;
  #stopping = false;
  /** Bumped on every (re)connect so late callbacks of an old connection do nothing. */
  #generation = 0;
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
  #reconnectDelay: number;
  #timers: NodeJS.Timeout[] = [];
  readonly #pending = new Map<string, PendingRequest>();
  /** Commands are decided in arrival order; each waits for the one before it. */
  #commandQueue: Promise<void> = Promise.resolve();
  /** Commands received and not yet handed to the group commit. */
  #commandsWaiting = 0;

  constructor(opts: PlatformLinkOptions) {
    super();
    this.#opts = {
      clientId: `vendgate-${opts.gatewayId}`,
      resendAfterMs: 2000,
      maxInFlight: 500,
      expireEveryMs: 5000,
      commandEventsDelayMs: 20,
      reconnectMinMs: 250,
      reconnectMaxMs: 10_000,
      keepaliveSec: 30,
      now: Date.now,
      ...opts,
    };
    this.#topics = gatewayTopics(opts.gatewayId);
    this.#log = opts.log;
    this.#reconnectDelay = this.#opts.reconnectMinMs;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** The highest seq the platform has acknowledged since this link started. */
  get ackedSeq(): number {
    return this.#ackedSeq;
  }

  start(): void {
    if (this.#client) return;
    this.#stopping = false;
    const willPayload = JSON.stringify({ state: 'offline', gatewayId: this.#opts.gatewayId });
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

    const tick = Math.max(20, Math.min(500, Math.floor(this.#opts.resendAfterMs / 4)));
    this.#timers.push(setInterval(() => this.#checkResend(), tick).unref());
    this.#timers.push(setInterval(() => this.#expire(), this.#opts.expireEveryMs).unref());
  }

  /** Publishes the retained offline status cleanly, then disconnects. */
  async stop(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#stopping = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    clearTimeout(this.#soonTimer);
    this.#soonTimer = undefined;
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer);
      p.reject(
        new VendgateError(ErrorCode.BrokerUnreachable, `request ${p.type} aborted: link stopped`, { id }),
      );
    }
    this.#pending.clear();
    if (this.#connected) {
      const offline = JSON.stringify({ state: 'offline', gatewayId: this.#opts.gatewayId });
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
    clearTimeout(this.#soonTimer);
    this.#soonTimer = undefined;
    if (this.#drainScheduled) return;
    this.#drainScheduled = true;
    process.nextTick(() => {
      this.#drainScheduled = false;
      this.#drain();
    });
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
    if (this.#drainScheduled || this.#soonTimer || this.#stopping) return;
    this.#soonTimer = setTimeout(() => {
      this.#soonTimer = undefined;
      this.#drain();
    }, this.#opts.commandEventsDelayMs);
  }

  /**
   * Sends a request on `req/{type}` and resolves with the `data` of the
   * platform's `res/{type}` answer carrying the same correlationId.
   */
  request(type: string, data: unknown, timeoutMs: number): Promise<unknown> {
    const client = this.#client;
    if (!client || !this.#connected) {
      return Promise.reject(
        new VendgateError(ErrorCode.BrokerUnreachable, `cannot send request ${type}: not connected`, {
          type,
        }),
      );
    }
    const correlationId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(correlationId);
        reject(
          new VendgateError(
            ErrorCode.RequestTimeout,
            `the platform did not answer ${type} within ${timeoutMs} ms`,
            { type, correlationId, timeoutMs },
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.#pending.set(correlationId, { type, resolve, reject, timer });
      const body: RequestEnvelope = { correlationId, data };
      client.publish(this.#topics.request(type), JSON.stringify(body), { qos: 1 }, (err) => {
        if (!err) return;
        const p = this.#pending.get(correlationId);
        if (!p) return;
        this.#pending.delete(correlationId);
        clearTimeout(p.timer);
        p.reject(
          new VendgateError(
            ErrorCode.BrokerUnreachable,
            `request ${type} could not be published: ${err.message}`,
            {
              type,
              correlationId,
            },
            { cause: err },
          ),
        );
      });
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
      const birth: GatewayStatus = { ...extra, state: 'online', gatewayId: this.#opts.gatewayId };
      await client.publishAsync(t.status, JSON.stringify(birth), { qos: 1, retain: true });
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
    // Resend everything unacknowledged: whatever was in flight may be lost.
    this.#sentUpTo = this.#ackedSeq;
    this.#inFlight = [];
    this.#safeEmit('connect');
    this.#drain();
  }

  #onMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.gatewayId !== this.#opts.gatewayId) {
      this.#log.debug({ topic }, 'ignored a message outside this gateway topic tree');
      return;
    }
    switch (parsed.kind) {
      case 'ack':
        this.#onAck(payload);
        return;
      case 'cmd':
        this.#onCommand(topic, parsed.type, payload);
        return;
      case 'res':
        this.#onResponse(parsed.type, payload);
        return;
      default:
        this.#log.debug({ topic }, 'ignored a message on an unexpected topic');
    }
  }

  #onAck(payload: Buffer): void {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.#log.warn(
        { code: ErrorCode.AckInvalid, bytes: payload.length },
        'ignored an ack that is not JSON',
      );
      return;
    }
    const ack = EventAck.safeParse(json);
    if (!ack.success) {
      this.#log.warn({ code: ErrorCode.AckInvalid, issues: ack.error.issues }, 'ignored an invalid ack');
      return;
    }
    let upTo = ack.data.upTo;
    if (upTo > this.#highestPublished) {
      // Acking what was never sent would delete undelivered events and stall
      // the cursor past every future seq; believe it only as far as we sent.
      this.#log.warn(
        { code: ErrorCode.AckInvalid, upTo, highestPublished: this.#highestPublished },
        'ack covers events not yet published; clamped',
      );
      upTo = this.#highestPublished;
    }
    if (upTo <= this.#ackedSeq) return;
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
    this.#lastProgressAt = this.#opts.now();
    this.#log.debug({ upTo, inFlight: this.#inFlight.length }, 'platform acknowledged events');
    this.notify();
  }

  #onCommand(topic: string, type: string | undefined, payload: Buffer): void {
    const guard = this.#opts.guard;
    const commits = this.#opts.commits;
    const client = this.#client;
    if (!commits || !client) {
      const result = this.#decideInSavepoint(topic, () => guard.check(type, payload));
      if (result) this.#reportCommand(topic, result);
      this.notifySoon();
      return;
    }
    // Group commit: the commands decided in one turn (a burst arrives many to
    // a socket read) share that turn's one transaction. mqtt.js sends the
    // PUBACK as soon as this handler returns, and a PUBACK tells the broker
    // it may forget the command, so the connection's output is corked until
    // the command's transaction has committed: no PUBACK (nor anything else)
    // leaves before the command is durable. Cork counts nest; the last uncork
    // writes everything at once.
    const stream = client.stream;
    stream.cork();
    // Commands are decided one after another in the order they arrived, so a
    // replay or a duplicate order is judged against everything received
    // before it. A command with nothing ahead of it has its Ed25519 check
    // (~60 us) done here; behind others (a burst) the check runs on the
    // thread pool, in parallel with theirs. Not always the pool: waking a
    // pool thread on a busy 2-core box took up to 3 ms at p99, far more than
    // the check itself, which is what a lone order waits for.
    const opened = guard.open(payload);
    let verdict: Promise<() => GuardResult>;
    if (!opened.ok) {
      verdict = Promise.resolve(() => opened);
    } else if (this.#commandsWaiting === 0) {
      const valid = verifyBody(opened.opened.body, opened.opened.sig, opened.opened.key);
      verdict = Promise.resolve(() => guard.decide(type, opened.opened, valid));
    } else {
      verdict = verifyBodyAsync(opened.opened.body, opened.opened.sig, opened.opened.key).then(
        (valid) => () => guard.decide(type, opened.opened, valid),
      );
    }
    this.#commandsWaiting++;
    this.#commandQueue = this.#commandQueue
      .then(() => verdict)
      .then((decide) => {
        this.#commandsWaiting--;
        commits
          .run(() => this.#decideInSavepoint(topic, decide))
          .then(
            (result) => {
              stream.uncork();
              if (result) this.#reportCommand(topic, result);
              this.notifySoon();
            },
            (err: unknown) => {
              // The commit failed: nothing was recorded. Drop the connection
              // before the held PUBACK goes out, so the broker delivers the
              // command again on the reconnect (persistent session).
              this.#log.error(
                { err, topic },
                'could not record a platform command; reconnecting for redelivery',
              );
              stream.destroy();
              stream.uncork();
            },
          );
      })
      // Never leave the queue rejected: every later command would wait on it.
      .catch((err: unknown) => this.#log.error({ err, topic }, 'failed to queue a platform command'));
  }

  /**
   * Decides a command in its own savepoint. One whose handling throws (a
   * bug, not a storage failure) is rolled back alone and logged, as without
   * group commit: only a failed COMMIT rejects, so only that drops the
   * connection for redelivery.
   */
  #decideInSavepoint(topic: string, check: () => GuardResult): GuardResult | null {
    try {
      return inTx(this.#opts.db, () => this.#decideCommand(topic, check));
    } catch (err) {
      this.#log.error({ err, topic }, 'failed to handle a platform command');
      return null;
    }
  }

  /**
   * Runs the guard's verdict and hands an accepted command to the listeners,
   * inside the caller's transaction: the replay record, whatever the
   * handlers write (the ledger's own transactions nest as savepoints) and a
   * refusal's command.rejected event commit together. Handlers are
   * synchronous by contract.
   */
  #decideCommand(topic: string, check: () => GuardResult): GuardResult {
    const result = check();
    if (result.ok) {
      this.#safeEmit('command', result.command);
      return result;
    }
    try {
      // Its own savepoint: a refusal that cannot be queued leaves no half-written row.
      inTx(this.#opts.db, () =>
        this.#opts.outbox.append('command.rejected', {
          topic,
          code: result.code,
          reason: result.reason,
          ...(result.commandId !== undefined ? { commandId: result.commandId } : {}),
          ...(result.commandType !== undefined ? { commandType: result.commandType } : {}),
        }),
      );
    } catch (err) {
      this.#log.error({ err, topic }, 'could not queue command.rejected');
    }
    return result;
  }

  #reportCommand(topic: string, result: GuardResult): void {
    if (result.ok) {
      this.#log.debug(
        { commandId: result.command.id, commandType: result.command.type },
        'accepted a platform command',
      );
      return;
    }
    this.#log.warn(
      { code: result.code, reason: result.reason, topic, commandId: result.commandId },
      'refused a platform command',
    );
  }

  #onResponse(type: string | undefined, payload: Buffer): void {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.#log.warn({ type, code: ErrorCode.PayloadNotJson }, 'ignored a response that is not JSON');
      return;
    }
    const res = ResponseEnvelope.safeParse(json);
    if (!res.success) {
      this.#log.warn(
        { type, code: ErrorCode.PayloadInvalid, issues: res.error.issues },
        'ignored an invalid response',
      );
      return;
    }
    const p = this.#pending.get(res.data.correlationId);
    if (!p || p.type !== type) {
      this.#log.debug(
        { type, correlationId: res.data.correlationId },
        'ignored an unexpected or late response',
      );
      return;
    }
    this.#pending.delete(res.data.correlationId);
    clearTimeout(p.timer);
    if (res.data.error) {
      p.reject(
        new VendgateError(
          ErrorCode.RequestRefused,
          `the platform refused ${type}: ${res.data.error.reason}`,
          {
            type,
            correlationId: res.data.correlationId,
            platformCode: res.data.error.code,
          },
        ),
      );
    } else {
      p.resolve(res.data.data);
    }
  }

  /** Publishes outbox rows after #sentUpTo, in seq order, up to maxInFlight unacknowledged. */
  #drain(): void {
    const client = this.#client;
    if (!client || !this.#connected || this.#draining || this.#stopping) return;
    this.#draining = true;
    try {
      for (;;) {
        const room = this.#opts.maxInFlight - this.#inFlight.length;
        if (room <= 0 || !this.#opts.outbox.mayHaveAfter(this.#sentUpTo)) return;
        const rows = this.#opts.outbox.pendingAfter(this.#sentUpTo, Math.min(room, 100));
        if (rows.length === 0) return;
        if (this.#inFlight.length === 0) this.#lastProgressAt = this.#opts.now();
        const generation = this.#generation;
        for (const row of rows) {
          client.publish(this.#topics.event(row.type), row.envelope, { qos: 1 }, (err) => {
            // Not fatal: the resend timer sends it again unless the platform acks it.
            if (err && generation === this.#generation) {
              this.#log.debug({ seq: row.seq, err: err.message }, 'event publish failed');
            }
          });
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

  #checkResend(): void {
    try {
      if (!this.#connected || this.#inFlight.length === 0) return;
      const silentFor = this.#opts.now() - this.#lastProgressAt;
      if (silentFor < this.#opts.resendAfterMs) return;
      this.#log.info(
        { fromSeq: this.#ackedSeq + 1, unacked: this.#inFlight.length, silentFor },
        'no ack advanced; resending from the last acknowledged event',
      );
      this.#sentUpTo = this.#ackedSeq;
      this.#inFlight = [];
      this.#drain();
    } catch (err) {
      this.#log.error({ err }, 'resend check failed');
    }
  }

  #expire(): void {
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
