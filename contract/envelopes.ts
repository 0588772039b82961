import { z } from 'zod';
import { EpochMs } from './common.ts';
import { KeyId } from './signed.ts';

/**
 * The bodies of the correlated request/response exchange: the gateway asks
 * on `req/{type}` and the platform answers on `res/{type}`, each as a signed
 * envelope (`{body, sig, keyId}`, signed.ts) whose `body` is the JSON text
 * of these. What goes inside `data` is per request type (requests.ts).
 */

export const CorrelationId = z.string().min(8).max(64).describe('Echoed in the response.');

/** A request from the gateway to the platform on `req/{type}`, signed by the gateway key. */
export const RequestEnvelope = z
  .object({
    correlationId: CorrelationId,
    type: z.string().min(1).max(64).describe('The request type; equals the topic `req/{type}`.'),
    gatewayId: z.string().describe('The gateway asking.'),
    issuedAt: EpochMs,
    expiresAt: EpochMs.describe('The gateway stops waiting for an answer then.'),
    data: z.unknown(),
  })
  .strict()
  .describe(
    'Signed request body from the gateway; the platform answers on res/{type} with the same correlationId and the SHA-256 of this body.',
  );
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/**
 * The platform's answer on `res/{type}`, signed by a platform key: data, or
 * an error saying why not. `requestSha256` binds it to the one request it
 * answers, so an answer to another request (replayed, or for another
 * gateway) is refused even if its correlation id were reused.
 */
export const ResponseEnvelope = z
  .object({
    correlationId: CorrelationId,
    type: z.string().min(1).max(64).describe('The request type answered; equals the topic `res/{type}`.'),
    gatewayId: z.string().describe('The gateway that asked; others refuse it.'),
    requestSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits')
      .describe('Hex SHA-256 of the UTF-8 bytes of the request `body` this answers.'),
    issuedAt: EpochMs,
    expiresAt: EpochMs,
    keyId: KeyId.describe(
      'The platform key that signed it; must equal the envelope keyId (default `default`).',
    ),
    data: z.unknown().optional(),
    error: z.object({ code: z.number().int().optional(), reason: z.string() }).strict().optional(),
  })
  .strict()
  .describe('Signed response body: the platform answer to one gateway request.');
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;
