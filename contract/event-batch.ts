import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import { EventEnvelope } from './events.ts';
import { firstIssue, parsePayloadJson } from './payload-parse.ts';
import { KeyId, SignatureBase64 } from './signed.ts';
import { signBody, verifyBody } from './signing.ts';

/**
 * The signed event batch on `evts` (docs/contract.md, "Event batches"): one
 * Ed25519 signature over many events, in one MQTT message. The wire form is
 * the sealed envelope every message uses (`{body, sig, keyId}`, signed.ts);
 * its body is `{"gatewayId":…,"events":[…]}` where each event is the
 * EventEnvelope exactly as the gateway's outbox stored it, in seq order
 * (contiguous or not). One message instead of one per event takes most of
 * the signing, verifying and per-packet cost off both ends of the link.
 */

/** Most events one batch carries. */
export const EVENT_BATCH_MAX_EVENTS = 100;

/**
 * Most bytes of one batch's MQTT payload (the sealed envelope, UTF-8): room
 * under the smallest broker packet limit supported (AWS IoT Core: 128 KB;
 * the embedded broker: 256 KiB by default) with the topic and MQTT headers
 * to spare, and the most a platform reads of any gateway message. An event
 * too big to fit alone goes out on its own `evt/{type}` message.
 */
export const EVENT_BATCH_MAX_BYTES = 64 * 1024;

export const EventBatchBody = z
  .object({
    gatewayId: z.string().describe('The gateway whose events these are; must equal the topic gateway id.'),
    events: z
      .array(EventEnvelope)
      .min(1)
      .max(EVENT_BATCH_MAX_EVENTS)
      .describe(
        'The event envelopes as the gateway stored them, in ascending seq order (contiguous or not).',
      ),
  })
  .strict()
  .describe(
    'Signed event batch body: each event is handled as if it had arrived alone on evt/{type}; an invalid one is refused alone.',
  );
export type EventBatchBody = z.infer<typeof EventBatchBody>;

/** What is checked before verifying: the frame, with each event still unread. */
const EventBatchFrame = z
  .object({ gatewayId: z.string(), events: z.array(z.unknown()).min(1).max(EVENT_BATCH_MAX_EVENTS) })
  .strict();

export const SignedEventBatch = z
  .object({
    body: z.string().max(EVENT_BATCH_MAX_BYTES).describe('The signed JSON text of the EventBatchBody.'),
    sig: SignatureBase64,
    keyId: KeyId.describe('The gateway key id, as announced in the status message.'),
  })
  .strict()
  .describe(
    'An event batch: `body` is the EventBatchBody as JSON text, `sig` the gateway Ed25519 signature over its UTF-8 bytes (one signature for every event in it).',
  );
export type SignedEventBatch = z.infer<typeof SignedEventBatch>;

/** Bytes a JSON text adds to a sealed envelope when it is the `body` string (escaped, UTF-8). */
export function escapedBytes(json: string): number {
  return Buffer.byteLength(JSON.stringify(json), 'utf8') - 2;
}

/**
 * Exact payload sizes of batches, so a sender can cut them before signing:
 * the sealed envelope is `{"body":"…","sig":"…","keyId":"…"}` and the body
 * `{"gatewayId":"…","events":[e1,e2,…]}`.
 */
export class EventBatchSizer {
  /** Bytes of a batch with no event: envelope, sig, keyId and the body's frame. */
  readonly emptyBytes: number;

  constructor(gatewayId: string, keyId: string) {
    const envelope = Buffer.byteLength(JSON.stringify({ body: '', sig: 'A'.repeat(88), keyId }), 'utf8');
    this.emptyBytes = envelope + escapedBytes(bodyHead(gatewayId)) + escapedBytes(BODY_TAIL);
  }

  /** The payload bytes of a batch of `count` events whose escaped sizes add up to `eventBytes`. */
  bytesOf(count: number, eventBytes: number): number {
    return this.emptyBytes + eventBytes + Math.max(0, count - 1);
  }
}

const BODY_TAIL = ']}';
const bodyHead = (gatewayId: string) => `{"gatewayId":${JSON.stringify(gatewayId)},"events":[`;

/**
 * The body text of a batch of stored envelopes (each a JSON object text),
 * spliced in as they are: nothing is parsed or serialised again.
 */
export function eventBatchBody(gatewayId: string, envelopes: readonly string[]): string {
  return `${bodyHead(gatewayId)}${envelopes.join(',')}${BODY_TAIL}`;
}

/**
 * Signs a batch of stored envelopes and returns its `evts` payload. Throws
 * PayloadTooLarge when it would carry no event, more than
 * EVENT_BATCH_MAX_EVENTS, or more than EVENT_BATCH_MAX_BYTES: the sender
 * cuts batches with EventBatchSizer first.
 */
export function sealEventBatch(
  gatewayId: string,
  envelopes: readonly string[],
  key: KeyObject,
  keyId: string,
): string {
  if (envelopes.length === 0 || envelopes.length > EVENT_BATCH_MAX_EVENTS) {
    throw new VendgateError(
      ErrorCode.PayloadTooLarge,
      `an event batch carries 1 to ${EVENT_BATCH_MAX_EVENTS} events; this one has ${envelopes.length}`,
      { gatewayId, events: envelopes.length },
    );
  }
  const body = eventBatchBody(gatewayId, envelopes);
  const wire = JSON.stringify({ body, sig: signBody(body, key), keyId } satisfies SignedEventBatch);
  const bytes = Buffer.byteLength(wire, 'utf8');
  if (bytes > EVENT_BATCH_MAX_BYTES) {
    throw new VendgateError(
      ErrorCode.PayloadTooLarge,
      `an event batch of ${envelopes.length} events is ${bytes} bytes; at most ${EVENT_BATCH_MAX_BYTES}`,
      { gatewayId, events: envelopes.length, bytes },
    );
  }
  return wire;
}

export interface OpenedEventBatch {
  /** The gateway id the signed body names (the caller checks it against the topic). */
  gatewayId: string;
  /** Each event as JSON, unvalidated: the caller validates each on its own. */
  events: unknown[];
}

/**
 * Opens an `evts` payload: at most EVENT_BATCH_MAX_BYTES, a sealed
 * envelope naming `key`'s id, a signature that verifies over the body, then
 * a body of 1 to EVENT_BATCH_MAX_EVENTS events. Nothing of the body is read
 * before the signature verified. Throws a VendgateError naming what was
 * wrong (PayloadTooLarge, PayloadNotJson, EventSignatureInvalid, PayloadInvalid).
 */
export function openEventBatch(
  payload: Buffer,
  from: string,
  key: { keyId: string; key: KeyObject },
): OpenedEventBatch {
  if (payload.length > EVENT_BATCH_MAX_BYTES) {
    throw new VendgateError(
      ErrorCode.PayloadTooLarge,
      `an event batch from ${from} is ${payload.length} bytes; at most ${EVENT_BATCH_MAX_BYTES}`,
      { gatewayId: from, bytes: payload.length },
    );
  }
  const signed = SignedEventBatch.safeParse(
    parsePayloadJson(payload.toString('utf8'), `event batch from ${from}`, from),
  );
  if (!signed.success) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `an event batch from ${from} is not a signed envelope {body, sig, keyId}: ${firstIssue(signed.error)}`,
      { gatewayId: from },
    );
  }
  const { body, sig, keyId } = signed.data;
  if (keyId !== key.keyId) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `an event batch from ${from} names key ${keyId}, not its key ${key.keyId}`,
      { gatewayId: from, keyId, pinned: key.keyId },
    );
  }
  // Canonical base64 only: the last character of 64 bytes carries 2 unused
  // bits, so four spellings decode alike; refusing the others keeps a
  // changed byte from passing as the same signature.
  if (Buffer.from(sig, 'base64').toString('base64') !== sig || !verifyBody(body, sig, key.key)) {
    throw new VendgateError(
      ErrorCode.EventSignatureInvalid,
      `the signature of an event batch from ${from} does not verify against its key ${key.keyId}`,
      { gatewayId: from, keyId: key.keyId },
    );
  }
  const frame = EventBatchFrame.safeParse(
    parsePayloadJson(body, `signed event batch body from ${from}`, from),
  );
  if (!frame.success) {
    const tooMany = frame.error.issues.some((i) => i.code === 'too_big' && i.path[0] === 'events');
    throw new VendgateError(
      tooMany ? ErrorCode.PayloadTooLarge : ErrorCode.PayloadInvalid,
      `an event batch from ${from} breaks its schema: ${firstIssue(frame.error)}`,
      { gatewayId: from },
    );
  }
  return frame.data;
}
