import type { KeyObject } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import {
  CommandBody,
  type CommandData,
  CommandSchemas,
  type CommandType,
  SignedCommand,
} from '../../contract/commands.ts';
import { verifyBody } from '../../contract/signing.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';
import type { Db } from '../store/db.ts';

export const MAX_COMMAND_BYTES = 16 * 1024;

/** An accepted command, discriminated by type so handlers get the right data type. */
export type GuardedCommand = {
  [T in CommandType]: { id: string; type: T; issuedAt: number; expiresAt: number; data: CommandData<T> };
}[CommandType];

export type GuardResult =
  | { ok: true; command: GuardedCommand }
  | { ok: false; code: ErrorCodeValue; reason: string; commandId?: string; commandType?: string };

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
  now?: () => number;
}

/**
 * Checks a command from the platform before anything acts on it, in this
 * order: size, JSON shape, signature, addressee, validity window, replay,
 * known type, data schema. The replay guard records the command id and
 * nonce on disk, so a restart does not reopen the door to replays.
 */
export class CommandGuard {
  readonly #opts: Required<CommandGuardOptions>;
  readonly #seen: Statement<[string, string, number]>;
  readonly #prune: Statement<[number]>;
  #lastPrune = 0;

  constructor(db: Db, opts: CommandGuardOptions) {
    this.#opts = { now: Date.now, ...opts };
    this.#seen = db.prepare(
      'INSERT OR IGNORE INTO seen_commands (command_id, nonce, expires_at) VALUES (?, ?, ?)',
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
      const unsigned = typeof json === 'object' && json !== null && !('sig' in json);
      return fail(
        unsigned ? ErrorCode.CommandUnsigned : ErrorCode.PayloadInvalid,
        unsigned
          ? 'command is not signed: expected {body, sig}'
          : `command envelope invalid: ${describe(signed.error)}`,
      );
    }
    const key = this.#opts.keys.get(signed.data.keyId ?? 'default');
    if (!key) return fail(ErrorCode.CommandSignatureInvalid, `unknown signing key id "${signed.data.keyId}"`);
    return { ok: true, opened: { body: signed.data.body, sig: signed.data.sig, key } };
  }

  /**
   * The rest, given whether the signature verified: addressee, validity
   * window, replay (recorded in the caller's transaction), known type, data
   * schema.
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
        `command is for gateway "${b.gatewayId}", this is "${this.#opts.gatewayId}"`,
        ids,
      );
    }
    if (topicType !== undefined && topicType !== b.type) {
      return fail(
        ErrorCode.CommandMisaddressed,
        `command type "${b.type}" arrived on topic cmd/${topicType}`,
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
    if (!(b.type in CommandSchemas)) {
      return fail(ErrorCode.CommandUnknownType, `unknown command type "${b.type}"`, ids);
    }
    const type = b.type as CommandType;
    const data = CommandSchemas[type].safeParse(b.data);
    if (!data.success)
      return fail(ErrorCode.CommandBodyInvalid, `${type} data invalid: ${describe(data.error)}`, ids);
    if (this.#seen.run(b.id, b.nonce, b.expiresAt).changes === 0) {
      return fail(ErrorCode.CommandReplayed, `command ${b.id} (or its nonce) was already received`, ids);
    }
    this.#maybePrune(now);
    // The schema chosen by `type` parsed `data`, so the pair matches.
    const command = {
      id: b.id,
      type,
      issuedAt: b.issuedAt,
      expiresAt: b.expiresAt,
      data: data.data,
    } as GuardedCommand;
    return { ok: true, command };
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
  return { ok: false, code, reason, ...ids };
}

/** "field.path: message" for each zod issue, so the sender sees what and where. */
export function describe(error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> }): string {
  return error.issues
    .map((i) => `${i.path.length ? i.path.map(String).join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}
