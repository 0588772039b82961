import { createHash, type KeyObject } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import {
  COMMAND_MAX_PAYLOAD_BYTES,
  CommandBody,
  type CommandData,
  CommandSchemas,
  type CommandType,
  isCommandType,
  SignedCommand,
} from '../../contract/commands.ts';
import { verifyBody } from '../../contract/signing.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';
import { excerpt } from '../commands/excerpt.ts';
import type { Db } from '../store/db.ts';

/** The contract's payload bound (contract/commands.ts), the one number the guard checks. */
export const MAX_COMMAND_BYTES = COMMAND_MAX_PAYLOAD_BYTES;

/** How much of a value from the wire a refusal's reason quotes. */
const QUOTE_MAX = 64;
/** How long a refusal's reason may get (the event schema allows more; this leaves room). */
const REASON_MAX = 400;

/** An accepted command, discriminated by type so handlers get the right data type. */
export type GuardedCommand = {
  [T in CommandType]: { id: string; type: T; issuedAt: number; expiresAt: number; data: CommandData<T> };
}[CommandType];

/** Why a valid command cannot be taken now; nothing of it is recorded. */
export interface Deferral {
  code: ErrorCodeValue;
  reason: string;
  /** The hint the platform gets for its retry. */
  retryAfterMs: number;
}

export type GuardResult =
  | {
      ok: true;
      command: GuardedCommand;
      /**
       * True for an identical copy (same id, nonce and body bytes) of a
       * command already accepted: a QoS 1 redelivery or a platform retry.
       * It is answered, never acted on again.
       */
      redelivered: boolean;
    }
  | {
      ok: false;
      code: ErrorCodeValue;
      reason: string;
      commandId?: string;
      commandType?: string;
      /**
       * Set when the command is valid but was deferred for capacity, not
       * refused: its id and nonce were not recorded, so the same signed
       * command is taken when it comes again after about this long.
       */
      retryAfterMs?: number;
    };

/**
 * A command that passed the checks before its signature: what the signature
 * covers (`body`) and the key to check it against.
 */
export interface OpenedCommand {
  body: string;
  sig: string;
  key: KeyObject;
}

export type OpenResult = { ok: true; opened: OpenedCommand } | Extract<GuardResult, { ok: false }>;

export interface CommandGuardOptions {
  gatewayId: string;
  /** Trusted platform keys by key id; `default` is used when a command names none. */
  keys: ReadonlyMap<string, KeyObject>;
  /** Clock skew tolerated on issuedAt (the platform clock may run ahead). */
  maxSkewMs: number;
  /** Longest validity window accepted, so a replay record never has to live forever. */
  maxLifetimeMs: number;
  /**
   * Asked about every valid new command before its id and nonce are
   * recorded: a deferral leaves nothing behind, so the platform's retry of
   * the same signed command is taken once there is room. Default: admit all.
   */
  admit?: (command: GuardedCommand) => Deferral | undefined;
  now?: () => number;
}

/**
 * Checks a command from the platform before anything acts on it, in this
 * order: size, JSON shape, signature, addressee, validity window, known
 * type, data schema, replay, capacity. The replay guard records the command
 * id and nonce on disk with a hash of the body, so a restart does not
 * reopen the door to replays, and an identical redelivery of an accepted
 * command (MQTT 3.1.1 section 4.3.2: QoS 1 is at least once) is told from
 * a replay that reuses an id or nonce with other bytes. A command deferred
 * for capacity records nothing, so its retry is not taken for a replay.
 */
export class CommandGuard {
  readonly #opts: Required<CommandGuardOptions>;
  readonly #record: Statement<[string, string, number, string]>;
  readonly #previous: Statement<
    [string, string],
    { command_id: string; nonce: string; body_sha256: string | null }
  >;
  readonly #prune: Statement<[number]>;
  #lastPrune = 0;

  constructor(db: Db, opts: CommandGuardOptions) {
    this.#opts = { now: Date.now, admit: () => undefined, ...opts };
    this.#record = db.prepare(
      'INSERT OR IGNORE INTO seen_commands (command_id, nonce, expires_at, body_sha256) VALUES (?, ?, ?, ?)',
    );
    this.#previous = db.prepare(
      'SELECT command_id, nonce, body_sha256 FROM seen_commands WHERE command_id = ? OR nonce = ? LIMIT 2',
    );
    this.#prune = db.prepare('DELETE FROM seen_commands WHERE expires_at < ?');
  }

  /**
   * Whom this guard trusts and how it reads the clock: the link opens the
   * platform's acks and responses with the same keys and skew as commands.
   */
  get trust(): {
    gatewayId: string;
    keys: ReadonlyMap<string, KeyObject>;
    maxSkewMs: number;
    now: () => number;
  } {
    const o = this.#opts;
    return { gatewayId: o.gatewayId, keys: o.keys, maxSkewMs: o.maxSkewMs, now: o.now };
  }

  check(topicType: string | undefined, payload: Buffer): GuardResult {
    const o = this.open(payload);
    if (!o.ok) return o;
    return this.decide(topicType, o.opened, verifyBody(o.opened.body, o.opened.sig, o.opened.key));
  }

  /**
   * The first checks, up to the signature: size, JSON shape, a trusted key.
   * Pure: no store access, so the signature can be verified off the event
   * loop (verifyBodyAsync) before decide() runs in a transaction.
   */
  open(payload: Buffer): OpenResult {
    if (payload.length > MAX_COMMAND_BYTES) {
      return fail(
        ErrorCode.PayloadTooLarge,
        `command payload is ${payload.length} bytes; at most ${MAX_COMMAND_BYTES}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return fail(ErrorCode.PayloadNotJson, `command payload is not JSON: ${(err as Error).message}`);
    }
    const signed = SignedCommand.safeParse(json);
    if (!signed.success) {
      const unsigned = typeof json === 'object' && json !== null && !Object.hasOwn(json, 'sig');
      return fail(
        unsigned ? ErrorCode.CommandUnsigned : ErrorCode.PayloadInvalid,
        unsigned
          ? 'command is not signed: expected {body, sig}'
          : `command envelope invalid: ${describe(signed.error)}`,
      );
    }
    const key = this.#opts.keys.get(signed.data.keyId ?? 'default');
    if (!key)
      return fail(ErrorCode.CommandSignatureInvalid, `unknown signing key id "${quote(signed.data.keyId)}"`);
    return { ok: true, opened: { body: signed.data.body, sig: signed.data.sig, key } };
  }

  /**
   * The rest, given whether the signature verified: addressee, validity
   * window, known type, data schema, then replay or redelivery, then
   * capacity (`admit`), and only then the id and nonce are recorded, in the
   * caller's transaction.
   */
  decide(topicType: string | undefined, opened: OpenedCommand, signatureValid: boolean): GuardResult {
    if (!signatureValid) {
      return fail(
        ErrorCode.CommandSignatureInvalid,
        'signature does not verify against the trusted platform key',
      );
    }
    let bodyJson: unknown;
    try {
      bodyJson = JSON.parse(opened.body);
    } catch (err) {
      return fail(ErrorCode.CommandBodyInvalid, `signed body is not JSON: ${(err as Error).message}`);
    }
    const body = CommandBody.safeParse(bodyJson);
    if (!body.success)
      return fail(ErrorCode.CommandBodyInvalid, `command body invalid: ${describe(body.error)}`);
    const b = body.data;
    const ids = { commandId: b.id, commandType: b.type };
    if (b.gatewayId !== this.#opts.gatewayId) {
      return fail(
        ErrorCode.CommandMisaddressed,
        `command is for gateway "${quote(b.gatewayId)}", this is "${this.#opts.gatewayId}"`,
        ids,
      );
    }
    if (topicType !== undefined && topicType !== b.type) {
      return fail(
        ErrorCode.CommandMisaddressed,
        `command type "${quote(b.type)}" arrived on topic cmd/${quote(topicType)}`,
        ids,
      );
    }
    const now = this.#opts.now();
    if (b.expiresAt <= now) {
      return fail(ErrorCode.CommandExpired, `command expired at ${new Date(b.expiresAt).toISOString()}`, ids);
    }
    if (b.issuedAt > now + this.#opts.maxSkewMs) {
      return fail(
        ErrorCode.CommandNotYetValid,
        `command issued in the future (${new Date(b.issuedAt).toISOString()})`,
        ids,
      );
    }
    if (b.expiresAt - b.issuedAt > this.#opts.maxLifetimeMs) {
      return fail(
        ErrorCode.CommandBodyInvalid,
        `command validity window ${b.expiresAt - b.issuedAt} ms exceeds the ${this.#opts.maxLifetimeMs} ms allowed`,
        ids,
      );
    }
    // Own properties only: `constructor` or `toString` must be unknown types,
    // not Object.prototype's members.
    if (!isCommandType(b.type)) {
      return fail(ErrorCode.CommandUnknownType, `unknown command type "${quote(b.type)}"`, ids);
    }
    const type = b.type;
    const data = CommandSchemas[type].safeParse(b.data);
    if (!data.success)
      return fail(ErrorCode.CommandBodyInvalid, `${type} data invalid: ${describe(data.error)}`, ids);
    // The schema chosen by `type` parsed `data`, so the pair matches.
    const command = {
      id: b.id,
      type,
      issuedAt: b.issuedAt,
      expiresAt: b.expiresAt,
      data: data.data,
    } as GuardedCommand;
    const bodySha256 = createHash('sha256').update(opened.body, 'utf8').digest('hex');
    const seen = this.#previous.all(b.id, b.nonce);
    if (seen.length > 0) {
      const first = seen[0]!;
      const identical =
        seen.length === 1 &&
        first.command_id === b.id &&
        first.nonce === b.nonce &&
        first.body_sha256 === bodySha256;
      if (identical) return { ok: true, command, redelivered: true };
      return fail(
        ErrorCode.CommandReplayed,
        first.command_id === b.id
          ? `command ${b.id} was already received with another body or nonce`
          : `the nonce of command ${b.id} was already used by command ${first.command_id}`,
        ids,
      );
    }
    const deferral = this.#opts.admit(command);
    if (deferral) {
      return {
        ok: false,
        code: deferral.code,
        reason: bound(deferral.reason),
        retryAfterMs: deferral.retryAfterMs,
        ...ids,
      };
    }
    if (this.#record.run(b.id, b.nonce, b.expiresAt, bodySha256).changes === 0) {
      // Not reachable in one transaction after the lookup above; kept so a
      // second writer on the same file can never make a replay pass.
      return fail(ErrorCode.CommandReplayed, `command ${b.id} (or its nonce) was already received`, ids);
    }
    this.#maybePrune(now);
    return { ok: true, command, redelivered: false };
  }

  #maybePrune(now: number): void {
    if (now - this.#lastPrune < 60_000) return;
    this.#lastPrune = now;
    this.#prune.run(now - this.#opts.maxSkewMs);
  }
}

function fail(
  code: ErrorCodeValue,
  reason: string,
  ids: { commandId?: string; commandType?: string } = {},
): Extract<GuardResult, { ok: false }> {
  return { ok: false, code, reason: bound(reason), ...ids };
}

/** "field.path: message" for each zod issue, so the sender sees what and where (bounded: paths are the sender's keys). */
export function describe(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return bound(
    error.issues
      .slice(0, 8)
      .map(
        (i) => `${i.path.length ? quote(i.path.map(String).join('.')) : '(root)'}: ${quote(i.message, 160)}`,
      )
      .join('; '),
  );
}

/** A value from the wire as a reason may quote it. */
function quote(value: string | undefined, max = QUOTE_MAX): string {
  return value === undefined ? '' : excerpt(value, max);
}

function bound(reason: string): string {
  return excerpt(reason, REASON_MAX);
}
