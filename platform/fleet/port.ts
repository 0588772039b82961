/**
 * The fleet link, as the rest of the platform sees it: one MQTT connection
 * serving every gateway on a broker (contract/topics.ts). Events come in,
 * are stored exactly once and acknowledged after the commit; requests are
 * answered; commands go out signed, recorded in the store first.
 */
import type { CommandData, CommandType } from '../../contract/commands.ts';
import type { EventType, GatewayStatus } from '../../contract/events.ts';
import type { Log } from '../../core/log.ts';
import type { CommandSigner } from '../signing/port.ts';
import type { EventRow, Store, StoreTx } from '../store/port.ts';

export interface FleetLinkOptions {
  /** mqtt:// or mqtts:// URL of the broker the gateways use. */
  brokerUrl: string;
  username?: string;
  password?: string;
  /** Default `vendgate-platform-{random}`. */
  clientId?: string;
  /**
   * With a group, subscribe through MQTT 5 shared subscriptions
   * (`$share/{group}/vendgate/v1/+/...`) so replicas in the group share the
   * fleet, each message going to one of them. Needs MQTT 5.
   */
  sharedGroup?: string;
  /** 5 (default) or 4 for a broker that only speaks MQTT 3.1.1 (then no shared group). */
  protocolVersion?: 4 | 5;
  store: Store;
  signer: CommandSigner;
  /** Acks are batched per gateway: at most one per gateway every this many ms. Default 5. */
  ackIntervalMs?: number;
  /** Events arriving within this many ms are stored in one transaction. Default 2. */
  ingestBatchMs?: number;
  /** Most events per ingest transaction. Default 500. */
  ingestBatchMax?: number;
  /** A command's validity window from issue. Default 60 s. */
  commandTtlMs?: number;
  log?: Log;
  now?: () => number;
}

/** An event as handed to a subscriber: the stored row. */
export type FleetEvent = EventRow;

/**
 * Runs inside the ingest transaction, after the event's insert and before
 * the commit (in its own savepoint): its writes commit with the event or not
 * at all, so they are exactly-once too. A throw undoes the event and its
 * writes; the event is not acknowledged and the gateway sends it again.
 */
export type FleetEventHandler = (event: FleetEvent, t: StoreTx) => Promise<void> | void;

export interface FleetRequestContext {
  gatewayId: string;
  correlationId: string;
  type: string;
}

/** Answers a `req/{type}`; a throw becomes an error response (code from a VendgateError). */
export type FleetRequestHandler = (data: unknown, ctx: FleetRequestContext) => Promise<unknown> | unknown;

export type FleetStatusHandler = (gatewayId: string, status: GatewayStatus) => void;

export interface SentFleetCommand {
  commandId: string;
  gatewayId: string;
  type: string;
  topic: string;
  /** The exact payload published (SignedCommand JSON). */
  payload: string;
}

export interface SendCommandOptions {
  /** Default a fresh UUID. */
  commandId?: string;
  /** Default now + commandTtlMs. */
  expiresAt?: number;
}

/**
 * A command recorded in the caller's transaction and not published yet: the
 * caller calls `publish` once that transaction has committed (publishing
 * before the commit could put on the wire a command that a rollback then
 * forgets). A crash in between leaves the row `recorded`, which the resend
 * pass publishes.
 */
export interface RecordedFleetCommand extends SentFleetCommand {
  /** Publishes QoS 1, then marks the row published; call only after the recording transaction committed. */
  publish(): Promise<void>;
}

/**
 * A command signed and not yet recorded: the caller writes `row` to the commands table in its own
 * write (with other rows, in one statement or transaction) and calls `publish` only once that
 * write committed and only if it recorded the row. Nothing is on the wire before.
 */
export interface PreparedFleetCommand extends RecordedFleetCommand {
  /** The commands row to record (state `recorded`), as CommandRepo.record takes it. */
  readonly row: { commandId: string; gatewayId: string; type: string; payload: string; at: number };
}

export interface FleetStats {
  /** Events received, each event of a batch counted (redeliveries included; a refused batch counts once). */
  received: number;
  /** Events stored for the first time. */
  stored: number;
  /** Events already stored (same (gateway, seq) or same event id). */
  duplicates: number;
  /** Times an event arrived beyond the next expected seq (seqs missing below it). */
  gapsDetected: number;
  /** Refused: bad topic, not JSON, schema, topic/envelope mismatch, bad signature. */
  invalid: number;
  /** Events whose handler threw (rolled back, not acked). */
  handlerFailures: number;
  acksSent: number;
  requestsAnswered: number;
  commandsSent: number;
}

export interface FleetLink {
  /** Connects and subscribes; resolves once the subscriptions are granted. */
  start(): Promise<void>;
  /** Flushes pending work (stores, acks), then disconnects. */
  stop(): Promise<void>;
  readonly connected: boolean;
  /** Subscribes to one event type ('*' for every type); returns the unsubscribe. */
  onEvent(type: EventType | '*', handler: FleetEventHandler): () => void;
  /** One handler per request type. */
  onRequest(type: string, handler: FleetRequestHandler): void;
  onStatus(handler: FleetStatusHandler): () => void;
  /**
   * Signs, records (state recorded), publishes QoS 1 on cmd/{type}, marks published. With `tx`, it
   * records in that transaction instead and resolves without publishing: the caller commits, then
   * calls the result's `publish` (one commit fewer before the command is on the wire).
   */
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
  /**
   * Validates and signs as sendCommand does, and writes nothing: the caller records the result's
   * `row` in its own write, then publishes (PreparedFleetCommand). Throws the same refusals as
   * sendCommand before any write (bad gateway id, unknown type, bad data, link not started).
   */
  prepareCommand<T extends CommandType>(
    gatewayId: string,
    type: T,
    data: CommandData<T>,
    opts?: SendCommandOptions,
  ): PreparedFleetCommand;
  /** Publishes a recorded command's exact bytes again (a resend after a lost link). */
  resendCommand(commandId: string): Promise<void>;
  stats(): FleetStats;
  /** Resolves when every message received so far has been stored and its ack published. */
  idle(): Promise<void>;
}
