import { z } from 'zod';

/**
 * The envelopes of the correlated request/response exchange: the gateway
 * asks on `req/{type}` and the platform answers on `res/{type}` with the
 * same correlation id (topics.ts). What goes inside `data` is per request
 * type (requests.ts).
 */

/** A request from the gateway to the platform on `req/{type}`. */
export const RequestEnvelope = z
  .object({
    correlationId: z.string().min(8).max(64).describe('Echoed in the response.'),
    data: z.unknown(),
  })
  .strict()
  .describe('A request from the gateway; the platform answers on res/{type} with the same correlationId.');
export type RequestEnvelope = z.infer<typeof RequestEnvelope>;

/** The platform's answer on `res/{type}`: data, or an error saying why not. */
export const ResponseEnvelope = z
  .object({
    correlationId: z.string().min(8).max(64),
    data: z.unknown().optional(),
    error: z.object({ code: z.number().int().optional(), reason: z.string() }).optional(),
  })
  .strict()
  .describe('The platform answer to a gateway request, correlated by correlationId.');
export type ResponseEnvelope = z.infer<typeof ResponseEnvelope>;
