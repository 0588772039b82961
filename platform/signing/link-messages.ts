import type { KeyObject } from 'node:crypto';
import type { z } from 'zod';
import { RequestEnvelope, type ResponseEnvelope } from '../../contract/envelopes.ts';
import { openEventBatch } from '../../contract/event-batch.ts';
import { type EventAck, EventEnvelope, GatewayStatus } from '../../contract/events.ts';
import { firstIssue, parsePayloadJson } from '../../contract/payload-parse.ts';
import { keyIdOf, requestDigest, SignedEnvelope } from '../../contract/signed.ts';
import { publicKeyFromBase64, verifyBody } from '../../contract/signing.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { CommandSigner } from './port.ts';

/**
 * The link's message forms, in one place, as docs/contract.md defines them
 * and the gateway checks them (gateway/link/platform-messages.ts): every
 * message is a signed envelope `{body, sig, keyId}` (contract/signed.ts).
 * Acks and responses go out sealed with the platform key; events, requests
 * and the status come in sealed with the gateway key, and nothing of them is
 * read before the signature over `body` verified. There is no unsigned form.
 */

/**
 * How long a signed ack or response stays valid. The gateway refuses one at
 * or after `expiresAt` with no skew allowance and one claiming more than 1 h,
 * so this leaves room for a platform clock some minutes behind while keeping
 * a replay window short (acks are cumulative, responses bound to one request).
 */
const SIGNED_VALIDITY_MS = 5 * 60_000;

/** Signed gateway messages are small; anything bigger is refused before parsing. */
export const MAX_GATEWAY_MESSAGE_BYTES = 64 * 1024;

/** A gateway's public key, parsed once, with its derived key id (`gw-` + SHA-256 prefix). */
export interface TrustedGatewayKey {
  /** Padded base64 of the raw 32-byte Ed25519 public key, as stored and announced. */
  publicKey: string;
  keyId: string;
  key: KeyObject;
}

export function trustedGatewayKey(publicKey: string): TrustedGatewayKey {
  try {
    return { publicKey, keyId: keyIdOf(publicKey), key: publicKeyFromBase64(publicKey) };
  } catch (err) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `a gateway public key is malformed: ${(err as Error).message}`,
      {},
    );
  }
}

/** The signed `ack` payload: every event of this gateway with seq <= upTo is stored (contract EventAck). */
export function encodeAck(gatewayId: string, upTo: number, signer: CommandSigner, now: number): string {
  return signer.seal((keyId) => {
    const ack: EventAck = { gatewayId, upTo, issuedAt: now, expiresAt: now + SIGNED_VALIDITY_MS, keyId };
    return JSON.stringify(ack);
  });
}

export interface ResponseInput {
  gatewayId: string;
  type: string;
  correlationId: string;
  /** The exact signed body of the request answered: the response names its SHA-256. */
  requestBody: string;
  result: { data: unknown } | { error: { code?: number; reason: string } };
}

/** The signed `res/{type}` payload answering one request (contract ResponseEnvelope). */
export function encodeResponse(r: ResponseInput, signer: CommandSigner, now: number): string {
  return signer.seal((keyId) => {
    const response: ResponseEnvelope = {
      correlationId: r.correlationId,
      type: r.type,
      gatewayId: r.gatewayId,
      requestSha256: requestDigest(r.requestBody),
      issuedAt: now,
      expiresAt: now + SIGNED_VALIDITY_MS,
      keyId,
      ...r.result,
    };
    return JSON.stringify(response);
  });
}

export interface LinkTopic {
  gatewayId: string;
  type: string | undefined;
}

/**
 * Opens one `evt/{type}` payload: signed by the gateway's key, a valid
 * EventEnvelope, filed under its own gateway and type. Throws a
 * VendgateError naming what was wrong; an event is refused (not stored, not
 * acked, so the gateway resends it) while its gateway's key is unknown.
 */
export function decodeEvent(
  payload: Buffer,
  topic: LinkTopic,
  gatewayKey: TrustedGatewayKey | undefined,
): EventEnvelope {
  const signed = openSigned('event', payload, topic.gatewayId);
  verifyWith('event', signed, topic.gatewayId, gatewayKey);
  const envelope = parseBody('event', signed.body, EventEnvelope, topic.gatewayId);
  if (envelope.gatewayId !== topic.gatewayId || envelope.type !== topic.type) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `an event on ${topic.gatewayId}/evt/${topic.type} says gateway ${envelope.gatewayId} type ${envelope.type}`,
      { gatewayId: topic.gatewayId },
    );
  }
  return envelope;
}

/**
 * Opens one `evts` payload (contract/event-batch.ts): at most 64 KiB, signed
 * once by the gateway's key, its body naming the topic's gateway. Returns
 * each event still unvalidated, for decodeBatchedEvent: one bad event in a
 * batch that verified is refused alone. Throws a VendgateError naming what
 * was wrong with the batch as a whole; then nothing of it is stored or acked.
 */
export function decodeEventBatch(
  payload: Buffer,
  gatewayId: string,
  gatewayKey: TrustedGatewayKey | undefined,
): unknown[] {
  if (!gatewayKey) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `an event batch from ${gatewayId} arrived before its key is known (no verified status with eventKey yet)`,
      { gatewayId },
    );
  }
  const opened = openEventBatch(payload, gatewayId, gatewayKey);
  if (opened.gatewayId !== gatewayId) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `an event batch on ${gatewayId}/evts says gateway ${opened.gatewayId.slice(0, 80)}`,
      { gatewayId },
    );
  }
  return opened.events;
}

/** One event of a batch that verified: a valid EventEnvelope of the batch's gateway. */
export function decodeBatchedEvent(event: unknown, gatewayId: string): EventEnvelope {
  const parsed = EventEnvelope.safeParse(event);
  if (!parsed.success) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `an event in a batch from ${gatewayId} breaks its schema: ${firstIssue(parsed.error)}`,
      { gatewayId },
    );
  }
  if (parsed.data.gatewayId !== gatewayId) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `an event in a batch from ${gatewayId} says gateway ${parsed.data.gatewayId.slice(0, 80)}`,
      { gatewayId, seq: parsed.data.seq },
    );
  }
  return parsed.data;
}

export interface DecodedRequest {
  envelope: RequestEnvelope;
  /** The exact signed body text: the response binds to its digest. */
  body: string;
}

/** Opens one `req/{type}` payload: signed by the gateway's key, a valid RequestEnvelope for this gateway and type. */
export function decodeRequest(
  payload: Buffer,
  topic: LinkTopic,
  gatewayKey: TrustedGatewayKey | undefined,
): DecodedRequest {
  const signed = openSigned('request', payload, topic.gatewayId);
  verifyWith('request', signed, topic.gatewayId, gatewayKey);
  const envelope = parseBody('request', signed.body, RequestEnvelope, topic.gatewayId);
  if (envelope.gatewayId !== topic.gatewayId || envelope.type !== topic.type) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `a request on ${topic.gatewayId}/req/${topic.type} says gateway ${envelope.gatewayId} type ${envelope.type}`,
      { gatewayId: topic.gatewayId },
    );
  }
  return { envelope, body: signed.body };
}

export interface DecodedStatus {
  status: GatewayStatus;
  /** The key it verified with: the pinned one, or the one it announced when none was pinned. */
  key: TrustedGatewayKey;
  /** True when no key was pinned and this status's own `eventKey` was trusted (first use). */
  firstUse: boolean;
}

/**
 * Opens a `status` payload. With a pinned key it must verify with that key
 * and announce no other. With none (trust on first use), it must announce
 * an `eventKey` whose id is derived from the public key as the contract
 * says and verify with it; that key is then the one to pin.
 */
export function decodeStatus(
  payload: Buffer,
  gatewayId: string,
  pinned: TrustedGatewayKey | undefined,
): DecodedStatus {
  const signed = openSigned('status', payload, gatewayId);
  let key = pinned;
  if (!key) {
    // Only the announcement is read before verifying, to learn which key to verify with.
    const announced = parseBody('status', signed.body, GatewayStatus, gatewayId).eventKey;
    if (!announced) {
      throw new VendgateError(
        ErrorCode.EventSignatureInvalid,
        `the first status of ${gatewayId} announces no eventKey, so there is no key to trust`,
        { gatewayId },
      );
    }
    key = trustedGatewayKey(announced.publicKey);
    if (announced.keyId !== key.keyId) {
      throw new VendgateError(
        ErrorCode.EventSignatureInvalid,
        `the status of ${gatewayId} announces key id ${announced.keyId}, but its public key's id is ${key.keyId}`,
        { gatewayId },
      );
    }
  }
  verifyWith('status', signed, gatewayId, key);
  const status = parseBody('status', signed.body, GatewayStatus, gatewayId);
  if (status.gatewayId !== gatewayId) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `the status on ${gatewayId}/status says gateway ${status.gatewayId}`,
      { gatewayId },
    );
  }
  if (status.eventKey && status.eventKey.publicKey !== key.publicKey) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `the status of ${gatewayId} announces key ${status.eventKey.keyId}, not the pinned ${key.keyId}`,
      { gatewayId, keyId: status.eventKey.keyId, pinned: key.keyId },
    );
  }
  return { status, key, firstUse: pinned === undefined };
}

function openSigned(what: string, payload: Buffer, gatewayId: string): SignedEnvelope {
  if (payload.length > MAX_GATEWAY_MESSAGE_BYTES) {
    throw new VendgateError(
      ErrorCode.PayloadTooLarge,
      `a ${what} from ${gatewayId} is ${payload.length} bytes; at most ${MAX_GATEWAY_MESSAGE_BYTES}`,
      { gatewayId, bytes: payload.length },
    );
  }
  const json = parsePayloadJson(payload.toString('utf8'), `${what} payload from ${gatewayId}`, gatewayId);
  const signed = SignedEnvelope.safeParse(json);
  if (!signed.success) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `a ${what} from ${gatewayId} is not a signed envelope {body, sig, keyId}: ${firstIssue(signed.error)}`,
      { gatewayId },
    );
  }
  return signed.data;
}

function verifyWith(
  what: string,
  signed: SignedEnvelope,
  gatewayId: string,
  key: TrustedGatewayKey | undefined,
): void {
  if (!key) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `a ${what} from ${gatewayId} arrived before its key is known (no verified status with eventKey yet)`,
      { gatewayId },
    );
  }
  if (signed.keyId !== key.keyId) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `a ${what} from ${gatewayId} names key ${signed.keyId ?? '(none)'}, not its key ${key.keyId}`,
      { gatewayId, keyId: signed.keyId, pinned: key.keyId },
    );
  }
  if (!verifyBody(signed.body, signed.sig, key.key)) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `the signature of a ${what} from ${gatewayId} does not verify against its key ${key.keyId}`,
      { gatewayId, keyId: key.keyId },
    );
  }
}

function parseBody<T>(what: string, body: string, schema: z.ZodType<T>, gatewayId: string): T {
  const parsed = schema.safeParse(parsePayloadJson(body, `signed ${what} body from ${gatewayId}`, gatewayId));
  if (!parsed.success) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `a ${what} from ${gatewayId} breaks its schema: ${firstIssue(parsed.error)}`,
      { gatewayId },
    );
  }
  return parsed.data;
}
