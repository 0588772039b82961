/**
 * The DEX audit routes of the operator API: the latest reads with their
 * counters, and a read on demand. Registered by api/server.ts behind the
 * same operator token as every other route.
 *
 *   GET  /api/audits?machineId=&limit=   newest first
 *   POST /api/machines/:machineId/audit  reads now; answers the stored read,
 *                                        or the read's error (504 no answer,
 *                                        502 CRC/protocol, ...) when it failed
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AuditCounters } from '../contract/events.ts';
import { ErrorCode, type ErrorCodeValue, errorSpec, VendgateError } from '../core/errors.ts';
import type { AuditService } from '../gateway/audit/service.ts';
import { errorResponses, parseInput } from './errors.ts';
import { jsonSchema } from './schemas.ts';

export type AuditApi = Pick<AuditService, 'readNow' | 'latest'>;

/** A gateway without DEX ports: no reads, and every machine is unknown to a read. */
export const NO_AUDITS: AuditApi = {
  latest: () => [],
  readNow: (machineId) =>
    Promise.reject(
      new VendgateError(
        ErrorCode.DexMachineUnknown,
        `no machine "${machineId}" with a DEX port is configured`,
        {
          machineId,
        },
      ),
    ),
};

const MachineIdParam = z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, '1-32 letters, digits, _ or -');

export const AuditQuery = z
  .object({
    machineId: MachineIdParam.optional(),
    limit: z.coerce.number().int().min(1).max(500).default(20),
  })
  .strict();

export const AuditParams = z.object({ machineId: MachineIdParam }).strict();

const CountValue = z.object({ count: z.number().int(), value: z.number().int() });

export const AuditReadSchema = z
  .object({
    readId: z.number().int(),
    machineId: z.string(),
    trigger: z.enum(['schedule', 'command', 'api', 'cli']),
    status: z.enum(['good', 'flagged', 'failed']),
    startedAt: z.number().int(),
    finishedAt: z.number().int(),
    error: z.object({ code: z.number().int(), reason: z.string() }).optional(),
    problems: z.array(z.string()),
    machineSerial: z.string().optional(),
    currency: z.string().optional(),
    totals: AuditCounters.optional(),
    sinceLast: AuditCounters.extend({
      counterReset: z.boolean(),
      fromReadId: z.number().int(),
      from: z.number().int(),
    }).optional(),
    ledger: z
      .object({
        count: z.number().int(),
        value: z.number().int(),
        mismatch: z.boolean(),
        compared: z.enum(['cashless', 'non-cash']),
        audited: CountValue,
      })
      .optional(),
    unknownSegments: z.number().int().optional(),
    rawBytes: z.number().int().optional(),
  })
  .describe('One DEX/UCS audit read with its counters (amounts in minor units of `currency`).');

export const AuditList = z.object({ reads: z.array(AuditReadSchema), count: z.number().int() });

/** How a failed read's stored error answers: with its catalogue code, or 502 when it is not one. */
function failedReadError(code: number, reason: string, readId: number): VendgateError {
  const known = errorSpec(code) ? (code as ErrorCodeValue) : ErrorCode.DexProtocol;
  return new VendgateError(known, `DEX read ${readId} failed: ${reason}`, { readId });
}

export function registerAuditRoutes(
  app: FastifyInstance,
  audit: AuditApi,
  security: () => { security: Array<Record<string, string[]>> },
  common: readonly ErrorCodeValue[],
): void {
  app.get<{ Querystring: { machineId?: string; limit: number } }>(
    '/api/audits',
    {
      schema: {
        summary: 'DEX audit reads, newest first, optionally of one machine',
        ...security(),
        querystring: jsonSchema(AuditQuery, 'input'),
        response: { 200: jsonSchema(AuditList), ...errorResponses(ErrorCode.HttpBadRequest, ...common) },
      },
    },
    async (req) => {
      const q = parseInput(AuditQuery, req.query, 'query');
      const reads = audit.latest(q);
      return { reads, count: reads.length };
    },
  );

  app.post<{ Params: { machineId: string } }>(
    '/api/machines/:machineId/audit',
    {
      schema: {
        summary: "Read the machine's DEX audit now (takes seconds); answers the stored read",
        ...security(),
        params: jsonSchema(AuditParams, 'input'),
        response: {
          200: jsonSchema(AuditReadSchema),
          ...errorResponses(
            ErrorCode.HttpBadRequest,
            ErrorCode.DexMachineUnknown,
            ErrorCode.DexPortUnavailable,
            ErrorCode.DexNoAnswer,
            ErrorCode.DexStalled,
            ErrorCode.DexCrcMismatch,
            ErrorCode.DexProtocol,
            ErrorCode.DexTooLarge,
            ErrorCode.DexAuditInvalid,
            ...common,
          ),
        },
      },
    },
    async (req) => {
      const { machineId } = parseInput(AuditParams, req.params, 'params');
      const read = await audit.readNow(machineId, 'api');
      if (read.status === 'failed' && read.error)
        throw failedReadError(read.error.code, read.error.reason, read.readId);
      return read;
    },
  );
}
