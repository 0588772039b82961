import { createHash } from 'node:crypto';
import { RequestEnvelope } from '../../contract/envelopes.ts';
import { EventEnvelope } from '../../contract/events.ts';
import { publicKeyFromBase64, verifyBody } from '../../contract/signing.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { CommandSigner } from './port.ts';

/**
 * The one place the link's message forms are decided, so the switch to
 * signed acks, responses and events is here alone. Today's contract (main):
 * `ack` is `{upTo}`, a response is `{correlationId, data | error}`, an event
 * is the bare EventEnvelope. The signed contract being drafted wraps each in
 * `{body, sig, keyId}` (body the exact JSON text signed); `wire: 'signed'`
 * produces and accepts that form, and `'plain'` stays the default until the
 * gateway accepts it.
 */
export type LinkWire = 'plain' | 'signed';

/** How long a signed ack or response stays valid (bounds a replay; they are cumulative/correlated). */
const SIGNED_VALIDITY_MS = 5 * 60_000;

export function encodeAck(
  gatewayId: string,
  upTo: number,
  wire: LinkWire,
  signer: CommandSigner,
  now: number,
): string {
  if (wire === 'plain') return JSON.stringify({ upTo });
  const body = JSON.stringify({
    gatewayId,
    upTo,
    issuedAt: now,
    expiresAt: now + SIGNED_VALIDITY_MS,
    keyId: signer.currentKeyId(),
  });
  return JSON.stringify(signer.sign(body));
}

export interface ResponseInput {
  gatewayId: string;
  type: string;
  correlationId: string;
  /** The exact request body (signed form) the response binds to. */
  requestBody: string | undefined;
  result: { data: unknown } | { error: { code?: number; reason: string } };
}

export function encodeResponse(r: ResponseInput, wire: LinkWire, signer: CommandSigner, now: number): string {
  if (wire === 'plain') return JSON.stringify({ correlationId: r.correlationId, ...r.result });
  const body = JSON.stringify({
    correlationId: r.correlationId,
    type: r.type,
    gatewayId: r.gatewayId,
    requestSha256: createHash('sha256')
      .update(r.requestBody ?? '', 'utf8')
      .digest('hex'),
    issuedAt: now,
    expiresAt: now + SIGNED_VALIDITY_MS,
    keyId: signer.currentKeyId(),
    ...r.result,
  });
  return JSON.stringify(signer.sign(body));
}

export interface DecodedEvent {
  envelope: EventEnvelope;
  /** True when a gateway signature was present and verified. */
  signed: boolean;
}

/**
 * Parses and verifies one `evt/{type}` payload: the envelope (plain) or the
 * signed `{body, sig, keyId}` whose signature must verify against the
 * gateway's key. Throws a VendgateError naming what was wrong; the topic's
 * gateway id and type must match the envelope's.
 */
export function decodeEvent(
  payload: Buffer,
  topic: { gatewayId: string; type: string | undefined },
  gatewayKey: string | null,
  requireSigned: boolean,
): DecodedEvent {
  const json = parseJson(payload, 'event');
  let envelopeJson: unknown = json;
  let signed = false;
  if (isSignedForm(json)) {
    if (!gatewayKey) {
      throw new VendgateError(
        ErrorCode.EventSignatureInvalid,
        `a signed event from ${topic.gatewayId} arrived before its key is known (no status with eventKey)`,
        { gatewayId: topic.gatewayId },
      );
    }
    if (!verifyBody(json.body, json.sig, publicKeyFromBase64(gatewayKey))) {
      throw new VendgateError(
        ErrorCode.EventSignatureInvalid,
        `the signature of an event from ${topic.gatewayId} does not verify against its key`,
        { gatewayId: topic.gatewayId, keyId: json.keyId },
      );
    }
    envelopeJson = parseJson(Buffer.from(json.body, 'utf8'), 'signed event body');
    signed = true;
  } else if (requireSigned) {
    throw new VendgateError(ErrorCode.EventSignatureInvalid, `an unsigned event from ${topic.gatewayId}`, {
      gatewayId: topic.gatewayId,
    });
  }
  const parsed = EventEnvelope.safeParse(envelopeJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `an event from ${topic.gatewayId} breaks the envelope schema at ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      { gatewayId: topic.gatewayId },
    );
  }
  const envelope = parsed.data;
  if (envelope.gatewayId !== topic.gatewayId || envelope.type !== topic.type) {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `an event on ${topic.gatewayId}/evt/${topic.type} says gateway ${envelope.gatewayId} type ${envelope.type}`,
      { gatewayId: topic.gatewayId },
    );
  }
  return { envelope, signed };
}

export interface DecodedRequest {
  correlationId: string;
  data: unknown;
  /** The signed body text, when signed (responses bind to its digest). */
  body: string | undefined;
}

/** Parses a `req/{type}` payload (plain envelope, or signed form verified against the gateway key). */
export function decodeRequest(payload: Buffer, gatewayId: string, gatewayKey: string | null): DecodedRequest {
  const json = parseJson(payload, 'request');
  let inner: unknown = json;
  let body: string | undefined;
  if (isSignedForm(json)) {
    if (!gatewayKey || !verifyBody(json.body, json.sig, publicKeyFromBase64(gatewayKey))) {
      throw new VendgateError(
        ErrorCode.EventSignatureInvalid,
        `a request from ${gatewayId} is signed by a key that does not verify`,
        { gatewayId },
      );
    }
    body = json.body;
    inner = parseJson(Buffer.from(json.body, 'utf8'), 'signed request body');
  }
  // The signed body has more fields (type, gatewayId, validity); the plain envelope is strict.
  const parsed = (body === undefined ? RequestEnvelope : RequestEnvelope.partial().passthrough()).safeParse(
    inner,
  );
  const correlationId = (inner as { correlationId?: unknown } | null)?.correlationId;
  if (!parsed.success || typeof correlationId !== 'string') {
    throw new VendgateError(
      ErrorCode.PayloadInvalid,
      `a request from ${gatewayId} breaks the request envelope`,
      {
        gatewayId,
      },
    );
  }
  return { correlationId, data: (inner as { data?: unknown }).data, body };
}

function isSignedForm(json: unknown): json is { body: string; sig: string; keyId?: string } {
  return (
    typeof json === 'object' &&
    json !== null &&
    typeof (json as { body?: unknown }).body === 'string' &&
    typeof (json as { sig?: unknown }).sig === 'string'
  );
}

function parseJson(payload: Buffer, what: string): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    throw new VendgateError(
      ErrorCode.PayloadNotJson,
      `the ${what} payload is not JSON (${payload.length} bytes)`,
      {
        bytes: payload.length,
      },
    );
  }
}
