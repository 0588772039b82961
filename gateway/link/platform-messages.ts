import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { type SignedEnvelope, SignedEnvelope as SignedEnvelopeSchema } from '../../contract/signed.ts';
import { verifyBody } from '../../contract/signing.ts';
import { ErrorCode, type ErrorCodeValue } from '../../core/errors.ts';
import { describe } from './command-guard.ts';

/** What every signed message from the platform that is not a command carries in its body. */
interface PlatformStamp {
  gatewayId: string;
  issuedAt: number;
  expiresAt: number;
  keyId: string;
}

export type OpenedMessage<T> = { ok: true; body: T } | { ok: false; code: ErrorCodeValue; reason: string };

export interface PlatformMessagesOptions {
  gatewayId: string;
  /** The trusted platform keys by key id, the command guard's (two at once during a rotation). */
  keys: ReadonlyMap<string, KeyObject>;
  /** Clock skew tolerated on issuedAt only; expiresAt gets none. */
  maxSkewMs: number;
  /** Longest validity window an ack or a response may claim. */
  maxLifetimeMs: number;
  /** The wall clock the validity window is judged by. */
  now: () => number;
}

/** Acks and responses are small; anything bigger is refused before parsing. */
export const MAX_PLATFORM_MESSAGE_BYTES = 64 * 1024;

/**
 * Opens the platform's signed acks and responses (`{body, sig, keyId}`)
 * the way commands are opened: size, JSON, envelope shape, a trusted key,
 * the Ed25519 signature over the UTF-8 bytes of `body`, then the body's
 * schema, addressee and validity window. Nothing is acted on before every
 * check passed; each refusal names its reason and a catalogue code.
 *
 * The clock rule (docs/contract.md, "Clocks"): `issuedAt` may run ahead of
 * the gateway clock by `maxSkewMs`; `expiresAt` is absolute, refused at or
 * after it with no allowance, so a platform must give its messages enough
 * life for its own clock error.
 */
export class PlatformMessages {
  readonly #opts: PlatformMessagesOptions;

  constructor(opts: PlatformMessagesOptions) {
    this.#opts = opts;
  }

  open<T extends PlatformStamp>(
    what: string,
    payload: Buffer,
    schema: z.ZodType<T>,
    /** The code for a payload that is signed and verifies but breaks its schema. */
    invalidCode: ErrorCodeValue = ErrorCode.PayloadInvalid,
  ): OpenedMessage<T> {
    if (payload.length > MAX_PLATFORM_MESSAGE_BYTES) {
      return fail(
        ErrorCode.PayloadTooLarge,
        `${what} is ${payload.length} bytes; at most ${MAX_PLATFORM_MESSAGE_BYTES}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch (err) {
      return fail(ErrorCode.PayloadNotJson, `${what} is not JSON: ${(err as Error).message}`);
    }
    const signed = SignedEnvelopeSchema.safeParse(json);
    if (!signed.success) {
      const unsigned = typeof json === 'object' && json !== null && !('sig' in json);
      return unsigned
        ? fail(ErrorCode.PlatformMessageUnsigned, `${what} is not signed: expected {body, sig, keyId}`)
        : fail(ErrorCode.PayloadInvalid, `${what} envelope invalid: ${describe(signed.error)}`);
    }
    return this.#verified(what, signed.data, schema, invalidCode);
  }

  #verified<T extends PlatformStamp>(
    what: string,
    signed: SignedEnvelope,
    schema: z.ZodType<T>,
    invalidCode: ErrorCodeValue,
  ): OpenedMessage<T> {
    const keyId = signed.keyId ?? 'default';
    const key = this.#opts.keys.get(keyId);
    if (!key) return fail(ErrorCode.PlatformSignatureInvalid, `${what} names an unknown key id "${keyId}"`);
    if (!verifyBody(signed.body, signed.sig, key)) {
      return fail(
        ErrorCode.PlatformSignatureInvalid,
        `${what} signature does not verify against platform key "${keyId}"`,
      );
    }
    let bodyJson: unknown;
    try {
      bodyJson = JSON.parse(signed.body);
    } catch (err) {
      return fail(invalidCode, `${what} signed body is not JSON: ${(err as Error).message}`);
    }
    const parsed = schema.safeParse(bodyJson);
    if (!parsed.success) {
      return fail(invalidCode, `${what} body invalid: ${describe(parsed.error)}`);
    }
    const b = parsed.data;
    if (b.keyId !== keyId) {
      return fail(
        ErrorCode.PlatformSignatureInvalid,
        `${what} body names key "${b.keyId}" but was signed with "${keyId}"`,
      );
    }
    if (b.gatewayId !== this.#opts.gatewayId) {
      return fail(
        ErrorCode.PlatformMessageMisaddressed,
        `${what} is for gateway "${b.gatewayId}", this is "${this.#opts.gatewayId}"`,
      );
    }
    const now = this.#opts.now();
    if (b.expiresAt <= now) {
      return fail(
        ErrorCode.PlatformMessageExpired,
        `${what} expired at ${new Date(b.expiresAt).toISOString()}`,
      );
    }
    if (b.issuedAt > now + this.#opts.maxSkewMs) {
      return fail(
        ErrorCode.PlatformMessageNotYetValid,
        `${what} issued at ${new Date(b.issuedAt).toISOString()}, more than ${this.#opts.maxSkewMs} ms ahead of this gateway`,
      );
    }
    if (b.expiresAt - b.issuedAt > this.#opts.maxLifetimeMs) {
      return fail(
        ErrorCode.PayloadInvalid,
        `${what} validity window ${b.expiresAt - b.issuedAt} ms exceeds the ${this.#opts.maxLifetimeMs} ms allowed`,
      );
    }
    return { ok: true, body: b };
  }
}

function fail(code: ErrorCodeValue, reason: string): { ok: false; code: ErrorCodeValue; reason: string } {
  return { ok: false, code, reason };
}
