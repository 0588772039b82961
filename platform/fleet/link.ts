import { randomBytes, randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import {
  type CommandBody,
  type CommandData,
  CommandSchemas,
  type CommandType,
} from '../../contract/commands.ts';
import type { EventEnvelope, GatewayStatus } from '../../contract/events.ts';
import { connectMqtt } from '../../contract/mqtt-client.ts';
import { GatewayIdPattern, gatewayTopics, parseTopic, TOPIC_ROOT } from '../../contract/topics.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { type Log, silentLogger } from '../../core/log.ts';
import {
  decodeBatchedEvent,
  decodeEvent,
  decodeEventBatch,
  decodeRequest,
  decodeStatus,
  encodeAck,
  encodeResponse,
  type TrustedGatewayKey,
  trustedGatewayKey,
} from '../signing/link-messages.ts';
import type { EventInsert, StoreTx } from '../store/port.ts';
import { dataProblem, ingestBatch, walkWatermark } from './ingest.ts';
import type {
  FleetEventHandler,
  FleetLink,
  FleetLinkOptions,
  FleetRequestHandler,
  FleetStats,
  FleetStatusHandler,
  PreparedFleetCommand,
  RecordedFleetCommand,
  SendCommandOptions,
  SentFleetCommand,
} from './port.ts';

/** How long a published mark waits for others to share its UPDATE (#markPublished). */
const MARK_WINDOW_MS = 10;

type WorkItem =
  | { kind: 'event'; row: EventInsert }
  | {
      kind: 'status';
      gatewayId: string;
      status: GatewayStatus;
      at: number;
      /** Set when this status taught the key (trust on first use): pinned in the store before it counts. */
      firstUseKey: TrustedGatewayKey | undefined;
    };

/**
 * The platform's one MQTT connection to a fleet (README "MQTT contract"):
 * subscribes to every gateway's events, status and requests, stores events
 * exactly once in batches and acks each gateway after the commit, answers
 * requests, and sends signed commands recorded in the store first.
 */
export function createFleetLink(opts: FleetLinkOptions): FleetLink {
  return new MqttFleetLink(opts);
}

class MqttFleetLink implements FleetLink {
  readonly #o: FleetLinkOptions;
  readonly #log: Log;
  readonly #now: () => number;
  #client: MqttClient | undefined;
  readonly #handlers = new Map<string, Set<FleetEventHandler>>();
  readonly #requestHandlers = new Map<string, FleetRequestHandler>();
  readonly #statusHandlers = new Set<FleetStatusHandler>();
  /**
   * Each gateway's key (docs/contract.md, "Signatures"): pinned in the store,
   * or learned from its first status that verifies with the key it announces.
   */
  readonly #gatewayKeys = new Map<string, TrustedGatewayKey>();
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

  constructor(o: FleetLinkOptions) {
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
    for (const g of await this.#o.store.gateways.list()) {
      if (!g.publicKey) continue;
      try {
        this.#gatewayKeys.set(g.gatewayId, trustedGatewayKey(g.publicKey));
      } catch (err) {
        // Its messages are refused until an operator fixes the stored key: nothing unverified gets in.
        this.#log.error(
          { err: (err as Error).message, gatewayId: g.gatewayId },
          'a stored gateway key is malformed',
        );
      }
    }
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
    // The gateways' signed event batches, on their own: a broker whose ACL predates them
    // refuses this one filter, and the per-event topics above must still work meanwhile.
    await client.subscribeAsync(`${share}${TOPIC_ROOT}/+/evts`, { qos: 1 }).catch((err: Error) => {
      this.#log.warn(
        { err: err.message },
        'the broker refused the event batch subscription (+/evts): grant it, or set the gateways to platform.eventBatching: false',
      );
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
    await this.#flushMarks();
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
      else if (t.kind === 'evts' && t.type === undefined) this.#onEventBatch(t.gatewayId, payload);
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
    const envelope = decodeEvent(payload, { gatewayId, type }, this.#gatewayKeys.get(gatewayId));
    this.#enqueueEvent(gatewayId, envelope);
    this.#scheduleWork();
  }

  /**
   * A signed batch: verified once, then each event taken exactly as if it
   * had arrived alone on `evt/{type}` (same dedupe, watermark and stats). A
   * batch that does not open counts as one invalid message (the caller's
   * catch) and nothing of it is stored, so nothing of it is acked.
   */
  #onEventBatch(gatewayId: string, payload: Buffer): void {
    let events: unknown[];
    try {
      events = decodeEventBatch(payload, gatewayId, this.#gatewayKeys.get(gatewayId));
    } catch (err) {
      this.#stats.received++;
      throw err;
    }
    for (const event of events) {
      this.#stats.received++;
      try {
        this.#enqueueEvent(gatewayId, decodeBatchedEvent(event, gatewayId));
      } catch (err) {
        this.#stats.invalid++;
        const e = err as VendgateError;
        this.#log.warn({ code: e.code, err: e.message, gatewayId, kind: 'evts' }, 'refused a message');
      }
    }
    this.#scheduleWork();
  }

  #enqueueEvent(gatewayId: string, envelope: EventEnvelope): void {
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
  }

  #onStatus(gatewayId: string, payload: Buffer): void {
    if (payload.length === 0) return; // a cleared retained status
    const { status, key, firstUse } = decodeStatus(payload, gatewayId, this.#gatewayKeys.get(gatewayId));
    // Trusted at once so the events right behind it verify; #recordStatus then pins it in the
    // store, or falls back to the key another replica pinned first.
    if (firstUse) this.#gatewayKeys.set(gatewayId, key);
    this.#queue.push({
      kind: 'status',
      gatewayId,
      status,
      at: this.#now(),
      firstUseKey: firstUse ? key : undefined,
    });
    this.#scheduleWork();
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
      if (s.firstUseKey && !(await this.#pinFirstUseKey(s.gatewayId, s.firstUseKey, s.at))) return;
      await this.#o.store.gateways.recordStatus(s.gatewayId, s.status, s.at);
    } catch (err) {
      this.#log.error({ err, gatewayId: s.gatewayId }, 'recording a gateway status failed');
      return;
    }
    for (const h of this.#statusHandlers) {
      try {
        h(s.gatewayId, s.status);
      } catch (err) {
        this.#log.error({ err }, 'a status handler threw');
      }
    }
  }

  /** Pins a key learned on first use; false (and the stored key trusted instead) when another was pinned first. */
  async #pinFirstUseKey(gatewayId: string, key: TrustedGatewayKey, at: number): Promise<boolean> {
    const gateways = this.#o.store.gateways;
    await gateways.ensure(gatewayId, at);
    const pinned = await gateways.pinPublicKey(gatewayId, key.publicKey);
    if (pinned === key.publicKey) {
      this.#log.info({ gatewayId, keyId: key.keyId }, 'pinned a gateway key on first use');
      return true;
    }
    if (pinned !== undefined) this.#gatewayKeys.set(gatewayId, trustedGatewayKey(pinned));
    else this.#gatewayKeys.delete(gatewayId);
    this.#log.warn(
      { code: ErrorCode.EventSignatureInvalid, gatewayId, keyId: key.keyId },
      'refused a status: another key was pinned for this gateway first',
    );
    return false;
  }

  #flushAcks(): void {
    const c = this.#client;
    if (!c?.connected || this.#ackDue.size === 0) return;
    const now = this.#now();
    for (const [gw, upTo] of this.#ackDue) {
      const payload = encodeAck(gw, upTo, this.#o.signer, now);
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
      const req = decodeRequest(payload, { gatewayId, type }, this.#gatewayKeys.get(gatewayId));
      const { correlationId } = req.envelope;
      const handler = this.#requestHandlers.get(type);
      let result: { data: unknown } | { error: { code?: number; reason: string } };
      if (!handler) {
        result = {
          error: { code: ErrorCode.RequestRefused, reason: `the platform does not answer ${type}` },
        };
      } else {
        try {
          result = { data: await handler(req.envelope.data, { gatewayId, correlationId, type }) };
        } catch (err) {
          const code = err instanceof VendgateError ? err.code : undefined;
          result = { error: { reason: (err as Error).message, ...(code !== undefined ? { code } : {}) } };
        }
      }
      const body = encodeResponse(
        { gatewayId, type, correlationId, requestBody: req.body, result },
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

  sendCommand<T extends CommandType>(
    gatewayId: string,
    type: T,
    data: CommandData<T>,
    opts: SendCommandOptions & { tx: StoreTx },
  ): Promise<RecordedFleetCommand>;
  sendCommand<T extends CommandType>(
    gatewayId: string,
    type: T,
    data: CommandData<T>,
    opts?: SendCommandOptions,
  ): Promise<SentFleetCommand>;
  async sendCommand<T extends CommandType>(
    gatewayId: string,
    type: T,
    data: CommandData<T>,
    opts: SendCommandOptions & { tx?: StoreTx } = {},
  ): Promise<SentFleetCommand | RecordedFleetCommand> {
    const prepared = this.prepareCommand(gatewayId, type, data, opts);
    // Recorded before it goes out: a crash between the two leaves a row to resend, never a command unaccounted for.
    const recorded = await (opts.tx ?? this.#o.store).commands.record(prepared.row);
    if (!recorded) {
      throw new VendgateError(
        ErrorCode.CommandReplayed,
        `command id ${prepared.commandId} was already recorded`,
        { commandId: prepared.commandId },
      );
    }
    const { commandId, topic, payload, publish } = prepared;
    // In the caller's transaction: nothing goes out before its commit, so the caller publishes after it.
    if (opts.tx) return { commandId, gatewayId, type, topic, payload, publish };
    await publish();
    return { commandId, gatewayId, type, topic, payload };
  }

  prepareCommand<T extends CommandType>(
    gatewayId: string,
    type: T,
    data: CommandData<T>,
    opts: SendCommandOptions = {},
  ): PreparedFleetCommand {
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
    if (!this.#client)
      throw new VendgateError(ErrorCode.BrokerUnreachable, 'the fleet link is not started', {});
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
    const commandId = body.id;
    return {
      commandId,
      gatewayId,
      type,
      topic,
      payload,
      row: { commandId, gatewayId, type, payload, at: issuedAt },
      publish: async () => {
        await this.#publishRecorded(commandId, topic, payload);
        this.#stats.commandsSent++;
      },
    };
  }

  async resendCommand(commandId: string): Promise<void> {
    const row = await this.#o.store.commands.get(commandId);
    if (!row)
      throw new VendgateError(ErrorCode.CommandUnknownType, `no recorded command ${commandId}`, {
        commandId,
      });
    await this.#publishRecorded(commandId, gatewayTopics(row.gatewayId).command(row.type), row.payload);
  }

  /** Publishes a recorded command's bytes QoS 1, then marks its row published. */
  async #publishRecorded(commandId: string, topic: string, payload: string): Promise<void> {
    const c = this.#client;
    if (!c) throw new VendgateError(ErrorCode.BrokerUnreachable, 'the fleet link is not started', {});
    await c.publishAsync(topic, payload, { qos: 1 });
    await this.#markPublished(commandId);
  }

  readonly #toMark: Array<{ commandId: string; resolve: () => void; reject: (err: unknown) => void }> = [];
  #markTimer: NodeJS.Timeout | undefined;
  #markRun: Promise<void> | undefined;

  /**
   * Marks published in batches: a mark waits MARK_WINDOW_MS for the marks behind it, and those
   * that queue while one UPDATE runs wait for the next window, so one statement (and one commit;
   * on SQLite one WAL sync, which a payment committing meanwhile would otherwise wait behind)
   * covers every command published in the window. The mark is bookkeeping, not a guarantee: a
   * command whose mark is lost is published again by the resend pass, and a gateway that had it
   * already refuses the copy as a replay (docs/contract.md, "Commands").
   */
  #markPublished(commandId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#toMark.push({ commandId, resolve, reject });
      this.#scheduleMarks();
    });
  }

  #scheduleMarks(): void {
    if (this.#markRun || this.#markTimer || this.#toMark.length === 0) return;
    this.#markTimer = setTimeout(() => {
      this.#markTimer = undefined;
      void this.#runMarks();
    }, MARK_WINDOW_MS);
  }

  #runMarks(): Promise<void> {
    this.#markRun ??= this.#markQueued().finally(() => {
      this.#markRun = undefined;
      this.#scheduleMarks();
    });
    return this.#markRun;
  }

  async #markQueued(): Promise<void> {
    while (this.#toMark.length > 0) {
      const batch = this.#toMark.splice(0, 500);
      try {
        await this.#o.store.commands.markPublished(
          batch.map((b) => b.commandId),
          this.#now(),
        );
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
  }

  /** At stop: the marks still waiting for their window run now (the store closes after the link). */
  async #flushMarks(): Promise<void> {
    while (this.#markRun || this.#toMark.length > 0) {
      if (this.#markTimer) clearTimeout(this.#markTimer);
      this.#markTimer = undefined;
      await this.#runMarks();
    }
  }
}
