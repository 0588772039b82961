import type { KeyObject } from 'node:crypto';
import { randomBytes, randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { CommandBody, CommandData, CommandType, SignedCommand } from '../../contract/commands.ts';
import { RequestEnvelope, type ResponseEnvelope } from '../../contract/envelopes.ts';
import { openEventBatch } from '../../contract/event-batch.ts';
import { type EventAck, EventEnvelope, GatewayStatus } from '../../contract/events.ts';
import { connectMqtt } from '../../contract/mqtt-client.ts';
import { keyIdOf, requestDigest, SignedEnvelope, sealBody } from '../../contract/signed.ts';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  signBody,
  verifyBody,
} from '../../contract/signing.ts';
import { gatewayTopics, parseTopic } from '../../contract/topics.ts';
import { ErrorCode } from '../../core/errors.ts';
import { type Log, silentLogger } from '../../core/log.ts';

export interface SimPlatformOptions {
  brokerUrl: string;
  gatewayId: string;
  /** base64 raw Ed25519 seed the platform signs commands, acks and responses with. */
  privateKey: string;
  /** The key id the gateway trusts that seed under; default `default`. */
  keyId?: string;
  /**
   * The gateway's public key (base64 raw, `vendgate keys gateway`): events,
   * requests and statuses must verify against it. When not given, the key
   * the first status announces and verifies with is pinned (trust on first
   * use; a real platform pins it out of band).
   */
  gatewayPublicKey?: string;
  /** How long the acks and responses it signs stay valid. Default 60 s. */
  signedLifetimeMs?: number;
  username?: string;
  password?: string;
  clientId?: string;
  /** Acks are batched: at most one every this many ms. Default 20. */
  ackIntervalMs?: number;
  /**
   * The seq the platform has already stored everything up to. Default 0 (a
   * fresh gateway starts at 1). With `adoptFirstSeq`, the platform attaches
   * to a gateway that has been running: the `ackedSeq` watermark of the
   * first verified status sets it (or, before any status, the first event).
   */
  baselineSeq?: number;
  adoptFirstSeq?: boolean;
  log?: Log;
  /** Called with every valid event the first time it is stored (not for redeliveries). */
  onEvent?: (event: EventEnvelope) => void;
}

export interface PaidOrder {
  orderId: string;
  machineId: string;
  slot: number;
  price: { amount: number; currency: string };
  provider: string;
  expiresAt: number;
  couponCode?: string;
}

export interface CommandOptions {
  issuedAt?: number;
  /** The command's own validity; default issuedAt + 60 s. */
  commandExpiresAt?: number;
  id?: string;
  nonce?: string;
  /** Address it to another gateway. */
  gatewayId?: string;
  /** Sign with this key (base64 raw seed) instead of the platform's own. */
  signWith?: string;
  keyId?: string;
  /** Publish on cmd/{topicType} instead of cmd/{type}. */
  topicType?: string;
}

export interface SentCommand {
  id: string;
  topic: string;
  body: CommandBody;
  /** The exact payload published, to replay it. */
  payload: string;
}

export type RequestHandler = (data: unknown, ctx: { correlationId: string; type: string }) => unknown;

/**
 * A simulated operator platform speaking the real MQTT contract: it stores
 * the gateway's events by seq (deduping resends), acknowledges the highest
 * contiguous seq end to end, and signs commands like a platform that relays
 * payment-provider notifications (retries included).
 */
export class SimPlatform {
  readonly opts: SimPlatformOptions;
  readonly #topics: ReturnType<typeof gatewayTopics>;
  readonly #key: KeyObject;
  readonly #keyId: string;
  #gatewayKey: { keyId: string; key: KeyObject } | undefined;
  readonly #log: Log;
  #client: MqttClient | undefined;
  readonly #bySeq = new Map<number, EventEnvelope>();
  /** Seqs an outbox.dropped said will never come. */
  readonly #dropped = new Set<number>();
  #contiguous: number;
  #baselineAdopted: boolean;
  #lastAckSent = -1;
  #ackDue = false;
  #ackTimer: NodeJS.Timeout | undefined;
  readonly #waiters = new Set<() => void>();
  readonly #handlers = new Map<string, RequestHandler>();

  duplicateDeliveries = 0;
  /** Refund requests per order id (exactly-once means every count is 1). */
  readonly refunds = new Map<string, number>();
  /** Successful vends per order id. */
  readonly vends = new Map<string, number>();
  /** Every status message seen, oldest first (retained ones included). */
  readonly statuses: GatewayStatus[] = [];
  readonly sentCommands: SentCommand[] = [];
  /** Every ack published, oldest first. */
  readonly acksSent: number[] = [];
  /** Events refused: unsigned, forged, malformed, or for another gateway (a refused batch counts once). */
  invalidEvents = 0;
  /** Event batches (`evts`) that verified. */
  batchesReceived = 0;
  /** Statuses and requests refused for a missing or bad gateway signature. */
  refusedMessages = 0;
  /** When false, the platform stores events but stops acknowledging them. */
  acking = true;

  constructor(opts: SimPlatformOptions) {
    this.opts = opts;
    this.#topics = gatewayTopics(opts.gatewayId);
    this.#key = privateKeyFromBase64(opts.privateKey);
    this.#keyId = opts.keyId ?? 'default';
    if (opts.gatewayPublicKey !== undefined) {
      this.#gatewayKey = {
        keyId: keyIdOf(opts.gatewayPublicKey),
        key: publicKeyFromBase64(opts.gatewayPublicKey),
      };
    }
    this.#log = opts.log ?? silentLogger();
    this.#contiguous = opts.baselineSeq ?? 0;
    this.#baselineAdopted = !opts.adoptFirstSeq;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  async connect(): Promise<void> {
    const client = connectMqtt(this.opts.brokerUrl, {
      clientId: this.opts.clientId ?? `sim-platform-${this.opts.gatewayId}-${randomBytes(4).toString('hex')}`,
      clean: true,
      reconnectPeriod: 200,
      connectTimeout: 5000,
      ...(this.opts.username !== undefined ? { username: this.opts.username } : {}),
      ...(this.opts.password !== undefined ? { password: this.opts.password } : {}),
    });
    this.#client = client;
    client.on('message', (topic, payload) => {
      try {
        this.#onMessage(topic, payload);
      } catch (err) {
        this.#log.error({ err, topic }, 'sim platform failed to handle a message');
      }
      this.#wake();
    });
    client.on('error', (err) => this.#log.debug({ err: err.message }, 'sim platform mqtt error'));
    // Subscribe on every connect: the session is clean.
    client.on('connect', () => {
      const t = this.#topics;
      client.subscribe([t.eventWildcard, t.eventBatch, t.status, t.requestWildcard], { qos: 1 }, (err) => {
        if (err) this.#log.warn({ err: err.message }, 'sim platform subscribe failed');
        this.#wake();
      });
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      client.once('error', onError);
      client.once('connect', () => {
        client.off('error', onError);
        resolve();
      });
    });
    // Wait for the subscriptions so nothing published right after connect() is missed.
    await client.subscribeAsync(
      [
        this.#topics.eventWildcard,
        this.#topics.eventBatch,
        this.#topics.status,
        this.#topics.requestWildcard,
      ],
      {
        qos: 1,
      },
    );
    const interval = this.opts.ackIntervalMs ?? 20;
    this.#ackTimer = setInterval(() => this.#flushAck(), interval);
    this.#ackTimer.unref();
  }

  async close(): Promise<void> {
    if (this.#ackTimer) clearInterval(this.#ackTimer);
    this.#ackTimer = undefined;
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.endAsync(true);
  }

  /** Events stored, in seq order, each once. */
  get events(): EventEnvelope[] {
    return [...this.#bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  eventsOfType(type: string): EventEnvelope[] {
    return this.events.filter((e) => e.type === type);
  }

  /** The highest seq up to which every event was stored or reported dropped. */
  get contiguousSeq(): number {
    return this.#contiguous;
  }

  get lastStatus(): GatewayStatus | undefined {
    return this.statuses.at(-1);
  }

  /** Seqs missing below the highest seen that no outbox.dropped accounts for. */
  seqGaps(): number[] {
    const seqs = [...this.#bySeq.keys()];
    if (seqs.length === 0) return [];
    const max = Math.max(...seqs);
    const start = this.opts.adoptFirstSeq ? Math.min(...seqs) : (this.opts.baselineSeq ?? 0) + 1;
    const gaps: number[] = [];
    for (let s = start; s <= max; s++) {
      if (!this.#bySeq.has(s) && !this.#dropped.has(s)) gaps.push(s);
    }
    return gaps;
  }

  /** Builds a signed command payload without publishing it. */
  buildCommand<T extends CommandType>(
    type: T | string,
    data: CommandData<T> | unknown,
    opts: CommandOptions = {},
  ): SentCommand {
    const issuedAt = opts.issuedAt ?? Date.now();
    const body: CommandBody = {
      id: opts.id ?? randomUUID(),
      type,
      gatewayId: opts.gatewayId ?? this.opts.gatewayId,
      issuedAt,
      expiresAt: opts.commandExpiresAt ?? issuedAt + 60_000,
      nonce: opts.nonce ?? randomBytes(16).toString('hex'),
      data,
    };
    const bodyJson = JSON.stringify(body);
    const key = opts.signWith ? privateKeyFromBase64(opts.signWith) : this.#key;
    const signed: SignedCommand = {
      body: bodyJson,
      sig: signBody(bodyJson, key),
      ...(opts.keyId !== undefined ? { keyId: opts.keyId } : {}),
    };
    return {
      id: body.id,
      topic: this.#topics.command(opts.topicType ?? type),
      body,
      payload: JSON.stringify(signed),
    };
  }

  /** Signs and publishes a command (fresh id and nonce unless given). */
  async sendCommand<T extends CommandType>(
    type: T | string,
    data: CommandData<T> | unknown,
    opts: CommandOptions = {},
  ): Promise<SentCommand> {
    const cmd = this.buildCommand(type, data, opts);
    await this.#publish(cmd.topic, cmd.payload);
    this.sentCommands.push(cmd);
    return cmd;
  }

  /**
   * Publishes `order.paid`. Each call is a new notification with a fresh
   * command id and nonce, as a payment provider's retry would produce.
   */
  placeOrder(
    order: PaidOrder,
    opts: { issuedAt?: number; commandExpiresAt?: number } = {},
  ): Promise<SentCommand> {
    return this.sendCommand('order.paid', order, opts);
  }

  /** Publishes exactly these bytes on cmd/{topicType}. */
  async publishRaw(topicType: string, payload: string | Buffer): Promise<void> {
    await this.#publish(this.#topics.command(topicType), payload);
  }

  /** Publishes the same bytes again (a replay attack or a broker redelivery). */
  replay(cmd: SentCommand): Promise<void> {
    return this.#publish(cmd.topic, cmd.payload);
  }

  /** Signed with a key the gateway does not trust. */
  sendForged<T extends CommandType>(type: T, data: CommandData<T>, opts: CommandOptions = {}) {
    return this.sendCommand(type, data, { ...opts, signWith: generateRawKeyPair().privateKey });
  }

  /** A body with no signature at all. */
  async sendUnsigned<T extends CommandType>(type: T, data: CommandData<T>, opts: CommandOptions = {}) {
    const cmd = this.buildCommand(type, data, opts);
    await this.#publish(cmd.topic, JSON.stringify({ body: JSON.stringify(cmd.body) }));
    return cmd;
  }

  /** Validly signed but already past its expiry. */
  sendExpired<T extends CommandType>(type: T, data: CommandData<T>, opts: CommandOptions = {}) {
    const now = Date.now();
    return this.sendCommand(type, data, { issuedAt: now - 120_000, commandExpiresAt: now - 60_000, ...opts });
  }

  /** Validly signed but addressed to another gateway. */
  sendMisaddressed<T extends CommandType>(type: T, data: CommandData<T>, opts: CommandOptions = {}) {
    return this.sendCommand(type, data, { gatewayId: `${this.opts.gatewayId}-other`, ...opts });
  }

  /** Acks an arbitrary payload (for tests of the gateway's ack validation). */
  async publishAck(payload: string): Promise<void> {
    await this.#publish(this.#topics.ack, payload);
  }

  /** A signed ack payload as this platform makes them; `body` overrides fields (to test refusals). */
  signAck(upTo: number, body: Partial<EventAck> = {}, signWith?: string): string {
    const issuedAt = Date.now();
    const ack: EventAck = {
      gatewayId: this.opts.gatewayId,
      upTo,
      issuedAt,
      expiresAt: issuedAt + (this.opts.signedLifetimeMs ?? 60_000),
      keyId: this.#keyId,
      ...body,
    };
    const key = signWith ? privateKeyFromBase64(signWith) : this.#key;
    return sealBody(JSON.stringify(ack), key, this.#keyId);
  }

  /** Signs a response body as this platform does (overrides to test refusals) and publishes it on res/{type}. */
  async publishResponse(type: string, body: Partial<ResponseEnvelope>, signWith?: string): Promise<void> {
    const payload = this.#signResponse(type, body, signWith);
    await this.#publish(this.#topics.response(type), payload);
  }

  /** The key the gateway signs with, once pinned or learned. */
  get gatewayKeyId(): string | undefined {
    return this.#gatewayKey?.keyId;
  }

  /** Answers `req/{type}` requests from the gateway; a throw becomes an error response. */
  onRequest(type: string, handler: RequestHandler): void {
    this.#handlers.set(type, handler);
  }

  /** Resolves once `predicate` holds, checked after every message; rejects after timeoutMs. */
  waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try {
          ok = predicate();
        } catch (err) {
          done();
          reject(err);
          return;
        }
        if (ok) {
          done();
          resolve();
        }
      };
      const poll = setInterval(check, 25);
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(
            `sim platform: ${what} not reached within ${timeoutMs} ms (events ${this.#bySeq.size}, contiguous ${this.#contiguous})`,
          ),
        );
      }, timeoutMs);
      const done = () => {
        clearInterval(poll);
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  async #publish(topic: string, payload: string | Buffer): Promise<void> {
    const c = this.#client;
    if (!c) throw new Error('sim platform is not connected');
    await c.publishAsync(topic, payload, { qos: 1 });
  }

  /**
   * The body of a message the gateway signed, or undefined (counted and
   * logged) when it is unsigned or does not verify against the gateway key.
   */
  #openGatewaySigned(what: string, payload: Buffer): unknown {
    let signed: SignedEnvelope | undefined;
    try {
      const parsed = SignedEnvelope.safeParse(JSON.parse(payload.toString('utf8')));
      if (parsed.success) signed = parsed.data;
    } catch {
      // not JSON: refused below
    }
    const known = this.#gatewayKey;
    if (
      !signed ||
      !known ||
      signed.keyId !== known.keyId ||
      !verifyBody(signed.body, signed.sig, known.key)
    ) {
      this.#log.warn(
        { code: ErrorCode.EventSignatureInvalid, what, keyId: signed?.keyId, pinned: known?.keyId },
        known
          ? 'sim platform refused a message not signed by the gateway key'
          : 'sim platform knows no gateway key yet',
      );
      return undefined;
    }
    try {
      return JSON.parse(signed.body);
    } catch {
      return undefined;
    }
  }

  #onStatus(payload: Buffer): void {
    if (!this.#gatewayKey) {
      // Trust on first use: the key the status names, if the status verifies with it.
      try {
        const signed = SignedEnvelope.parse(JSON.parse(payload.toString('utf8')));
        const announced = GatewayStatus.parse(JSON.parse(signed.body)).eventKey;
        if (announced && announced.keyId === keyIdOf(announced.publicKey)) {
          const key = publicKeyFromBase64(announced.publicKey);
          if (verifyBody(signed.body, signed.sig, key)) this.#gatewayKey = { keyId: announced.keyId, key };
        }
      } catch {
        // refused below
      }
    }
    const body = this.#openGatewaySigned('status', payload);
    const s = GatewayStatus.safeParse(body);
    if (!s.success || s.data.gatewayId !== this.opts.gatewayId) {
      this.refusedMessages++;
      return;
    }
    this.statuses.push(s.data);
    const acked = s.data.ackedSeq;
    if (acked === undefined) return;
    if (!this.#baselineAdopted) {
      // Attaching to a running gateway: resume after its watermark.
      this.#baselineAdopted = true;
      this.#contiguous = acked;
    } else if (acked > this.#contiguous) {
      // Everything up to it was acknowledged (by this platform or one before
      // it) and has left the gateway: waiting for it would wait forever.
      this.#contiguous = acked;
      this.#advance();
    }
  }

  #advance(): void {
    while (this.#bySeq.has(this.#contiguous + 1) || this.#dropped.has(this.#contiguous + 1)) {
      this.#contiguous++;
    }
  }

  #onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t || t.gatewayId !== this.opts.gatewayId) return;
    if (t.kind === 'status') {
      this.#onStatus(payload);
      return;
    }
    if (t.kind === 'req' && t.type !== undefined) {
      void this.#answer(t.type, payload);
      return;
    }
    if (t.kind === 'evts' && t.type === undefined) {
      this.#onEventBatch(payload);
      return;
    }
    if (t.kind !== 'evt') return;
    const parsed = EventEnvelope.safeParse(this.#openGatewaySigned('event', payload));
    if (!parsed.success || parsed.data.type !== t.type || parsed.data.gatewayId !== this.opts.gatewayId) {
      this.invalidEvents++;
      this.#log.warn({ topic }, 'sim platform refused an event');
      return;
    }
    this.#takeEvent(parsed.data);
  }

  /**
   * A signed batch on `evts`: verified once, then each event taken as if it
   * had come alone; a batch that does not verify, or names another gateway,
   * counts as one invalid event and changes nothing.
   */
  #onEventBatch(payload: Buffer): void {
    const known = this.#gatewayKey;
    let events: unknown[];
    try {
      if (!known) throw new Error('no gateway key yet');
      const opened = openEventBatch(payload, this.opts.gatewayId, known);
      if (opened.gatewayId !== this.opts.gatewayId) throw new Error(`a batch of ${opened.gatewayId}`);
      events = opened.events;
    } catch (err) {
      this.invalidEvents++;
      this.#log.warn(
        { code: ErrorCode.EventSignatureInvalid, err: (err as Error).message },
        'sim platform refused an event batch',
      );
      return;
    }
    this.batchesReceived++;
    for (const e of events) {
      const parsed = EventEnvelope.safeParse(e);
      if (!parsed.success || parsed.data.gatewayId !== this.opts.gatewayId) {
        this.invalidEvents++;
        this.#log.warn({ topic: this.#topics.eventBatch }, 'sim platform refused an event of a batch');
        continue;
      }
      this.#takeEvent(parsed.data);
    }
  }

  #takeEvent(evt: EventEnvelope): void {
    if (!this.#baselineAdopted) {
      this.#baselineAdopted = true;
      this.#contiguous = evt.seq - 1;
    }
    if (this.#bySeq.has(evt.seq) || evt.seq <= this.#contiguous) {
      this.duplicateDeliveries++;
      this.#ackDue = true; // our ack may have been lost: say it again
      return;
    }
    this.#bySeq.set(evt.seq, evt);
    const data = evt.data as Record<string, unknown>;
    if (evt.type === 'outbox.dropped') {
      for (const s of (data.seqs as number[] | undefined) ?? []) this.#dropped.add(s);
    } else if (evt.type === 'refund.requested') {
      const id = String(data.orderId);
      this.refunds.set(id, (this.refunds.get(id) ?? 0) + 1);
    } else if (evt.type === 'vend.succeeded') {
      const id = String(data.orderId);
      this.vends.set(id, (this.vends.get(id) ?? 0) + 1);
    }
    this.#advance();
    this.#ackDue = true;
    this.opts.onEvent?.(evt);
  }

  #flushAck(): void {
    const c = this.#client;
    if (!c?.connected || !this.acking || !this.#ackDue) return;
    if (this.#contiguous === this.#lastAckSent && this.#contiguous === 0) return;
    this.#ackDue = false;
    this.#lastAckSent = this.#contiguous;
    this.acksSent.push(this.#contiguous);
    c.publish(this.#topics.ack, this.signAck(this.#contiguous), { qos: 1 });
  }

  async #answer(type: string, payload: Buffer): Promise<void> {
    const body = this.#openGatewaySigned(`request ${type}`, payload);
    const req = RequestEnvelope.safeParse(body);
    if (!req.success || req.data.type !== type || req.data.gatewayId !== this.opts.gatewayId) {
      this.refusedMessages++;
      return;
    }
    const signedBody = (JSON.parse(payload.toString('utf8')) as SignedEnvelope).body;
    const { correlationId } = req.data;
    const bound = { correlationId, requestSha256: requestDigest(signedBody) };
    const handler = this.#handlers.get(type);
    let res: Partial<ResponseEnvelope>;
    if (!handler) {
      res = { ...bound, error: { reason: `no handler for ${type}` } };
    } else {
      try {
        res = { ...bound, data: await handler(req.data.data, { correlationId, type }) };
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        res = {
          ...bound,
          error: { reason: (err as Error).message, ...(typeof code === 'number' ? { code } : {}) },
        };
      }
    }
    await this.#publish(this.#topics.response(type), this.#signResponse(type, res)).catch(() => {});
  }

  #signResponse(type: string, body: Partial<ResponseEnvelope>, signWith?: string): string {
    const issuedAt = Date.now();
    const res: Partial<ResponseEnvelope> = {
      type,
      gatewayId: this.opts.gatewayId,
      issuedAt,
      expiresAt: issuedAt + (this.opts.signedLifetimeMs ?? 60_000),
      keyId: this.#keyId,
      ...body,
    };
    const key = signWith ? privateKeyFromBase64(signWith) : this.#key;
    return sealBody(JSON.stringify(res), key, this.#keyId);
  }
}
