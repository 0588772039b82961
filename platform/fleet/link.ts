import { randomBytes, randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import {
  type CommandBody,
  type CommandData,
  CommandSchemas,
  type CommandType,
} from '../../contract/commands.ts';
import { GatewayStatus } from '../../contract/events.ts';
import { connectMqtt } from '../../contract/mqtt-client.ts';
import { GatewayIdPattern, gatewayTopics, parseTopic, TOPIC_ROOT } from '../../contract/topics.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { type Log, silentLogger } from '../../core/log.ts';
import {
  decodeEvent,
  decodeRequest,
  encodeAck,
  encodeResponse,
  type LinkWire,
} from '../signing/link-messages.ts';
import type { EventInsert } from '../store/port.ts';
import { dataProblem, ingestBatch, walkWatermark } from './ingest.ts';
import type {
  FleetEventHandler,
  FleetLink,
  FleetLinkOptions,
  FleetRequestHandler,
  FleetStats,
  FleetStatusHandler,
  SendCommandOptions,
  SentFleetCommand,
} from './port.ts';

type WorkItem =
  | { kind: 'event'; row: EventInsert }
  | { kind: 'status'; gatewayId: string; status: GatewayStatus; at: number };

export interface FleetLinkExtraOptions {
  /** The link's message forms (signing/link-messages.ts); default 'plain', today's contract. */
  wire?: LinkWire;
}

/**
 * The platform's one MQTT connection to a fleet (README "MQTT contract"):
 * subscribes to every gateway's events, status and requests, stores events
 * exactly once in batches and acks each gateway after the commit, answers
 * requests, and sends signed commands recorded in the store first.
 */
export function createFleetLink(opts: FleetLinkOptions & FleetLinkExtraOptions): FleetLink {
  return new MqttFleetLink(opts);
}

class MqttFleetLink implements FleetLink {
  readonly #o: FleetLinkOptions & FleetLinkExtraOptions;
  readonly #log: Log;
  readonly #now: () => number;
  #client: MqttClient | undefined;
  readonly #handlers = new Map<string, Set<FleetEventHandler>>();
  readonly #requestHandlers = new Map<string, FleetRequestHandler>();
  readonly #statusHandlers = new Set<FleetStatusHandler>();
  /** Gateway event keys (base64), from the store and from statuses carrying `eventKey`. */
  readonly #gatewayKeys = new Map<string, string>();
  readonly #queue: WorkItem[] = [];
  #working = false;
  #flushTimer: NodeJS.Timeout | undefined;
  readonly #ackDue = new Map<string, number>();
  #ackTimer: NodeJS.Timeout | undefined;
  #pendingPublishes = 0;
  #pendingRequests = 0;
  readonly #idleWaiters = new Set<() => void>();
  #stopped = false;
  readonly #stats: FleetStats = {
    received: 0,
    stored: 0,
    duplicates: 0,
    gapsDetected: 0,
    invalid: 0,
    handlerFailures: 0,
    acksSent: 0,
    requestsAnswered: 0,
    commandsSent: 0,
  };

  constructor(o: FleetLinkOptions & FleetLinkExtraOptions) {
    if (o.sharedGroup !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(o.sharedGroup)) {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        'fleet sharedGroup must be 1-64 letters, digits, _ -',
        {},
      );
    }
    if (o.sharedGroup !== undefined && o.protocolVersion === 4) {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        'shared subscriptions need MQTT 5 (protocolVersion 5)',
        {},
      );
    }
    this.#o = o;
    this.#log = o.log ?? silentLogger();
    this.#now = o.now ?? Date.now;
  }

  get connected(): boolean {
    return this.#client?.connected ?? false;
  }

  stats(): FleetStats {
    return { ...this.#stats };
  }

  onEvent(type: string, handler: FleetEventHandler): () => void {
    let set = this.#handlers.get(type);
    if (!set) {
      set = new Set();
      this.#handlers.set(type, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  onRequest(type: string, handler: FleetRequestHandler): void {
    this.#requestHandlers.set(type, handler);
  }

  onStatus(handler: FleetStatusHandler): () => void {
    this.#statusHandlers.add(handler);
    return () => this.#statusHandlers.delete(handler);
  }

  async start(): Promise<void> {
    for (const g of await this.#o.store.gateways.list())
      if (g.publicKey) this.#gatewayKeys.set(g.gatewayId, g.publicKey);
    const version = this.#o.protocolVersion ?? 5;
    const client = connectMqtt(this.#o.brokerUrl, {
      clientId: this.#o.clientId ?? `vendgate-platform-${randomBytes(4).toString('hex')}`,
      protocolVersion: version,
      clean: true,
      reconnectPeriod: 500,
      connectTimeout: 10_000,
      ...(this.#o.username !== undefined ? { username: this.#o.username } : {}),
      ...(this.#o.password !== undefined ? { password: this.#o.password } : {}),
    });
    this.#client = client;
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
    client.on('error', (err) => this.#log.warn({ err: err.message }, 'fleet link mqtt error'));
    // The session is clean: subscribe again on every connect.
    client.on('connect', () => {
      this.#subscribe(client).catch((err) =>
        this.#log.warn({ err: (err as Error).message }, 'fleet link subscribe failed'),
      );
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => {
        client.end(true);
        reject(
          new VendgateError(
            ErrorCode.BrokerUnreachable,
            `the fleet broker refused or failed: ${err.message}`,
            {},
          ),
        );
      };
      client.once('error', onError);
      client.once('connect', () => {
        client.off('error', onError);
        resolve();
      });
    });
    await this.#subscribe(client);
    this.#ackTimer = setInterval(() => this.#flushAcks(), this.#o.ackIntervalMs ?? 5);
    this.#ackTimer.unref();
    this.#log.info({ sharedGroup: this.#o.sharedGroup, version }, 'fleet link started');
  }

  async #subscribe(client: MqttClient): Promise<void> {
    const share = this.#o.sharedGroup ? `$share/${this.#o.sharedGroup}/` : '';
    // A broker sends no retained message to a shared subscription (MQTT 5.0 section 4.8.2),
    // so every replica takes the status topic itself; recording a status is idempotent.
    await client.subscribeAsync({
      [`${share}${TOPIC_ROOT}/+/evt/#`]: { qos: 1 },
      [`${share}${TOPIC_ROOT}/+/req/#`]: { qos: 1 },
      [`${TOPIC_ROOT}/+/status`]: { qos: 1 },
    });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.idle().catch(() => {});
    this.#flushAcks();
    if (this.#ackTimer) clearInterval(this.#ackTimer);
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    const c = this.#client;
    this.#client = undefined;
    if (c) await c.endAsync(false).catch(() => c.endAsync(true));
  }

  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.add(resolve));
  }

  #isIdle(): boolean {
    return (
      this.#queue.length === 0 &&
      !this.#working &&
      this.#ackDue.size === 0 &&
      this.#pendingPublishes === 0 &&
      this.#pendingRequests === 0
    );
  }

  #checkIdle(): void {
    if (!this.#isIdle()) return;
    for (const w of [...this.#idleWaiters]) w();
    this.#idleWaiters.clear();
  }

  #onMessage(topic: string, payload: Buffer): void {
    const t = parseTopic(topic);
    if (!t) return;
    if (!GatewayIdPattern.test(t.gatewayId)) {
      this.#stats.invalid++;
      this.#log.warn(
        { code: ErrorCode.GatewayIdInvalid, topic: topic.slice(0, 128) },
        'ignored a bad gateway id',
      );
      return;
    }
    try {
      if (t.kind === 'evt') this.#onEvent(t.gatewayId, t.type, payload);
      else if (t.kind === 'status') this.#onStatus(t.gatewayId, payload);
      else if (t.kind === 'req' && t.type !== undefined) void this.#answer(t.gatewayId, t.type, payload);
    } catch (err) {
      this.#stats.invalid++;
      const e = err as VendgateError;
      this.#log.warn(
        { code: e.code, err: e.message, gatewayId: t.gatewayId, kind: t.kind },
        'refused a message',
      );
    }
  }

  #onEvent(gatewayId: string, type: string | undefined, payload: Buffer): void {
    this.#stats.received++;
    const { envelope } = decodeEvent(
      payload,
      { gatewayId, type },
      this.#gatewayKeys.get(gatewayId) ?? null,
      this.#o.requireSignedEvents ?? false,
    );
    this.#queue.push({
      kind: 'event',
      row: {
        gatewayId,
        seq: envelope.seq,
        eventId: envelope.id,
        type: envelope.type,
        ts: envelope.ts,
        data: envelope.data,
        problem: dataProblem(envelope.type, envelope.data),
        receivedAt: this.#now(),
      },
    });
    this.#scheduleWork();
  }

  #onStatus(gatewayId: string, payload: Buffer): void {
    if (payload.length === 0) return; // a cleared retained status
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      throw new VendgateError(ErrorCode.PayloadNotJson, `the status of ${gatewayId} is not JSON`, {
        gatewayId,
      });
    }
    // The signed contract wraps the status like an event; its body is the status.
    if (typeof json === 'object' && json !== null && typeof (json as { body?: unknown }).body === 'string') {
      json = JSON.parse((json as { body: string }).body);
    }
    const parsed = GatewayStatus.safeParse(json);
    if (!parsed.success || parsed.data.gatewayId !== gatewayId) {
      throw new VendgateError(ErrorCode.PayloadInvalid, `the status of ${gatewayId} breaks its schema`, {
        gatewayId,
      });
    }
    // passthrough of fields the signed contract adds (ackedSeq, eventKey), read by the store.
    const status = { ...(json as object), ...parsed.data } as GatewayStatus;
    const key = (json as { eventKey?: { publicKey?: unknown } }).eventKey?.publicKey;
    if (typeof key === 'string') this.#gatewayKeys.set(gatewayId, key);
    this.#queue.push({ kind: 'status', gatewayId, status, at: this.#now() });
    this.#scheduleWork();
    for (const h of this.#statusHandlers) {
      try {
        h(gatewayId, status);
      } catch (err) {
        this.#log.error({ err }, 'a status handler threw');
      }
    }
  }

  #scheduleWork(): void {
    if (this.#working || this.#flushTimer) return;
    const max = this.#o.ingestBatchMax ?? 500;
    if (this.#queue.length >= max) {
      void this.#work();
      return;
    }
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      void this.#work();
    }, this.#o.ingestBatchMs ?? 2);
  }

  /** One worker: a run of events is one transaction; a status is its own, in arrival order. */
  async #work(): Promise<void> {
    if (this.#working) return;
    this.#working = true;
    try {
      while (this.#queue.length > 0) {
        const head = this.#queue[0]!;
        if (head.kind === 'status') {
          this.#queue.shift();
          await this.#recordStatus(head);
          continue;
        }
        const max = this.#o.ingestBatchMax ?? 500;
        let n = 0;
        while (n < this.#queue.length && n < max && this.#queue[n]!.kind === 'event') n++;
        const batch = this.#queue.splice(0, n).map((w) => (w as { row: EventInsert }).row);
        await this.#ingest(batch);
      }
    } finally {
      this.#working = false;
      this.#checkIdle();
    }
  }

  async #ingest(batch: EventInsert[]): Promise<void> {
    try {
      const { watermarks } = await ingestBatch(
        this.#o.store,
        batch,
        (type) => [...(this.#handlers.get(type) ?? []), ...(this.#handlers.get('*') ?? [])],
        this.#stats,
        this.#log,
      );
      if (this.#o.store.backend === 'postgres') {
        // Another replica may have committed the seq we lacked while we held our snapshot: look again.
        for (const [gw, wm] of watermarks) {
          const again = await walkWatermark(this.#o.store, gw, wm);
          if (again > wm && (await this.#o.store.gateways.advanceWatermark(gw, again)))
            watermarks.set(gw, again);
        }
      }
      for (const [gw, wm] of watermarks) this.#ackDue.set(gw, Math.max(wm, this.#ackDue.get(gw) ?? 0));
    } catch (err) {
      // Nothing of the batch committed, so nothing is acked: the gateways send it all again.
      this.#log.error({ err, events: batch.length }, 'storing a batch of events failed');
    }
  }

  async #recordStatus(s: Extract<WorkItem, { kind: 'status' }>): Promise<void> {
    try {
      await this.#o.store.gateways.recordStatus(s.gatewayId, s.status, s.at);
      const key = (s.status as { eventKey?: { publicKey?: string } }).eventKey?.publicKey;
      if (key) await this.#o.store.gateways.setPublicKey(s.gatewayId, key);
    } catch (err) {
      this.#log.error({ err, gatewayId: s.gatewayId }, 'recording a gateway status failed');
    }
  }

  #flushAcks(): void {
    const c = this.#client;
    if (!c?.connected || this.#ackDue.size === 0) return;
    const now = this.#now();
    for (const [gw, upTo] of this.#ackDue) {
      const payload = encodeAck(gw, upTo, this.#o.wire ?? 'plain', this.#o.signer, now);
      this.#pendingPublishes++;
      c.publish(gatewayTopics(gw).ack, payload, { qos: 1 }, (err) => {
        this.#pendingPublishes--;
        if (err)
          this.#log.warn(
            { err: err.message, gatewayId: gw },
            'an ack publish failed; the next one covers it',
          );
        else this.#stats.acksSent++;
        this.#checkIdle();
      });
    }
    this.#ackDue.clear();
  }

  async #answer(gatewayId: string, type: string, payload: Buffer): Promise<void> {
    this.#pendingRequests++;
    try {
      const req = decodeRequest(payload, gatewayId, this.#gatewayKeys.get(gatewayId) ?? null);
      const handler = this.#requestHandlers.get(type);
      let result: { data: unknown } | { error: { code?: number; reason: string } };
      if (!handler) {
        result = {
          error: { code: ErrorCode.RequestRefused, reason: `the platform does not answer ${type}` },
        };
      } else {
        try {
          result = { data: await handler(req.data, { gatewayId, correlationId: req.correlationId, type }) };
        } catch (err) {
          const code = err instanceof VendgateError ? err.code : undefined;
          result = { error: { reason: (err as Error).message, ...(code !== undefined ? { code } : {}) } };
        }
      }
      const body = encodeResponse(
        { gatewayId, type, correlationId: req.correlationId, requestBody: req.body, result },
        this.#o.wire ?? 'plain',
        this.#o.signer,
        this.#now(),
      );
      await this.#client?.publishAsync(gatewayTopics(gatewayId).response(type), body, { qos: 1 });
      this.#stats.requestsAnswered++;
    } catch (err) {
      this.#stats.invalid++;
      this.#log.warn({ err: (err as Error).message, gatewayId, type }, 'could not answer a request');
    } finally {
      this.#pendingRequests--;
      this.#checkIdle();
    }
  }

  async sendCommand<T extends CommandType>(
    gatewayId: string,
    type: T,
    data: CommandData<T>,
    opts: SendCommandOptions = {},
  ): Promise<SentFleetCommand> {
    if (!GatewayIdPattern.test(gatewayId)) {
      throw new VendgateError(
        ErrorCode.GatewayIdInvalid,
        `"${gatewayId.slice(0, 80)}" is not a gateway id`,
        {},
      );
    }
    const schema = CommandSchemas[type];
    if (!schema) throw new VendgateError(ErrorCode.CommandUnknownType, `no command type ${type}`, { type });
    const checked = schema.safeParse(data);
    if (!checked.success) {
      const issue = checked.error.issues[0];
      throw new VendgateError(
        ErrorCode.CommandBodyInvalid,
        `${type} data breaks its schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
        { type },
      );
    }
    const c = this.#client;
    if (!c) throw new VendgateError(ErrorCode.BrokerUnreachable, 'the fleet link is not started', {});
    const issuedAt = this.#now();
    const body: CommandBody = {
      id: opts.commandId ?? randomUUID(),
      type,
      gatewayId,
      issuedAt,
      expiresAt: opts.expiresAt ?? issuedAt + (this.#o.commandTtlMs ?? 60_000),
      nonce: randomBytes(16).toString('hex'),
      data,
    };
    const payload = JSON.stringify(this.#o.signer.sign(JSON.stringify(body)));
    const topic = gatewayTopics(gatewayId).command(type);
    // Recorded before it goes out: a crash between the two leaves a row to resend, never a command unaccounted for.
    const recorded = await this.#o.store.commands.record({
      commandId: body.id,
      gatewayId,
      type,
      payload,
      at: issuedAt,
    });
    if (!recorded) {
      throw new VendgateError(ErrorCode.CommandReplayed, `command id ${body.id} was already recorded`, {
        commandId: body.id,
      });
    }
    await c.publishAsync(topic, payload, { qos: 1 });
    await this.#o.store.commands.transition(body.id, 'recorded', 'published', this.#now());
    this.#stats.commandsSent++;
    return { commandId: body.id, gatewayId, type, topic, payload };
  }

  async resendCommand(commandId: string): Promise<void> {
    const row = await this.#o.store.commands.get(commandId);
    if (!row)
      throw new VendgateError(ErrorCode.CommandUnknownType, `no recorded command ${commandId}`, {
        commandId,
      });
    const c = this.#client;
    if (!c) throw new VendgateError(ErrorCode.BrokerUnreachable, 'the fleet link is not started', {});
    await c.publishAsync(gatewayTopics(row.gatewayId).command(row.type), row.payload, { qos: 1 });
    await this.#o.store.commands.transition(commandId, 'recorded', 'published', this.#now());
  }
}
