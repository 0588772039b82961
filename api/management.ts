/**
 * The machines' catalogue and stock, and the operator's refill:
 *
 *   GET  /api/catalogue                    every machine's slots: product, price, enabled, level, capacity
 *   GET  /api/stock                        the same document (the dashboard reads either)
 *   POST /api/machines/:machineId/refill   body {slot?, level?}: the same rules as the `stock.refill` command
 *
 * Behind the operator token like every route but the kiosk pages.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { MachineId, Slot } from '../contract/common.ts';
import { StockSlot } from '../contract/events.ts';
import { ErrorCode, type ErrorCodeValue, VendgateError } from '../core/errors.ts';
import { Money } from '../core/money.ts';
import type { Planogram } from '../gateway/catalogue/planogram.ts';
import type { ManagementService } from '../gateway/management/service.ts';
import type { StockKeeper } from '../gateway/stock/stock.ts';
import { errorResponses, parseInput } from './errors.ts';
import { jsonSchema } from './schemas.ts';

export interface ManagementDeps {
  catalogue: Pick<Planogram, 'machineIds' | 'slots'>;
  stock: Pick<StockKeeper, 'levels'>;
  service: Pick<ManagementService, 'refill'>;
}

export const CatalogueDocument = z
  .object({
    machines: z.array(
      z.object({
        machineId: z.string(),
        slots: z.array(
          z.object({
            slot: z.number().int(),
            product: z.string().nullable(),
            price: Money.nullable(),
            enabled: z.boolean(),
            level: z.number().int().nullable().describe('null: unknown (never refilled nor sensed).'),
            capacity: z.number().int().nullable(),
            lowAt: z.number().int().describe('Low stock at or below this level.'),
            source: z.enum(['sensed', 'counted']),
          }),
        ),
      }),
    ),
  })
  .describe("Every machine's catalogue with its stock.");
export type CatalogueDocument = z.infer<typeof CatalogueDocument>;

export const RefillParams = z.object({ machineId: MachineId }).strict();
export const RefillBody = z
  .object({
    slot: Slot.optional().describe('Absent: every slot of the machine.'),
    level: z
      .number()
      .int('a whole number of items')
      .min(0)
      .max(1000)
      .optional()
      .describe('The level after the refill; absent: the capacity.'),
  })
  .strict();
export const RefillAnswer = z.object({ machineId: z.string(), slots: z.array(StockSlot) });

/** The catalogue and stock as one document; the dashboard builds on exactly this shape. */
export function catalogueDocument(deps: Pick<ManagementDeps, 'catalogue' | 'stock'>): CatalogueDocument {
  return {
    machines: deps.catalogue.machineIds().map((machineId) => {
      const levels = new Map((deps.stock.levels(machineId) ?? []).map((l) => [l.slot, l]));
      return {
        machineId,
        slots: (deps.catalogue.slots(machineId) ?? []).map((s) => {
          const l = levels.get(s.slot);
          return {
            slot: s.slot,
            product: s.product,
            price: s.price,
            enabled: s.enabled,
            level: l?.level ?? null,
            capacity: s.capacity,
            lowAt: s.lowStockAt,
            source: l?.source ?? 'counted',
          };
        }),
      };
    }),
  };
}

/** With no machines (deps absent, e.g. the docs build) the documents are empty and a refill names an unknown machine. */
const NO_MACHINES: ManagementDeps = {
  catalogue: { machineIds: () => [], slots: () => undefined },
  stock: { levels: () => undefined },
  service: {
    refill: async (machineId) => {
      throw new VendgateError(
        ErrorCode.ManagementMachineUnknown,
        `no machine "${machineId}" on this gateway`,
      );
    },
  },
};

export function registerManagementRoutes(
  app: FastifyInstance,
  given: ManagementDeps | undefined,
  opts: { security: () => Record<string, unknown>; common: readonly ErrorCodeValue[] },
): void {
  const deps = given ?? NO_MACHINES;
  const document = {
    200: jsonSchema(CatalogueDocument),
    ...errorResponses(...opts.common),
  };
  app.get(
    '/api/catalogue',
    {
      schema: {
        summary: "Every machine's catalogue (product, price, enabled) with its stock",
        ...opts.security(),
        response: document,
      },
    },
    async () => catalogueDocument(deps),
  );
  app.get(
    '/api/stock',
    {
      schema: {
        summary: 'Stock per slot (level, capacity, low mark, sensed or counted), with the catalogue',
        ...opts.security(),
        response: document,
      },
    },
    async () => catalogueDocument(deps),
  );
  app.post<{ Params: { machineId: string }; Body: unknown }>(
    '/api/machines/:machineId/refill',
    {
      schema: {
        summary: 'Record a refill: one slot or the whole machine, to the capacity or a given level',
        ...opts.security(),
        params: jsonSchema(RefillParams, 'input'),
        body: jsonSchema(RefillBody, 'input'),
        response: {
          200: jsonSchema(RefillAnswer),
          ...errorResponses(
            ErrorCode.HttpBadRequest,
            ErrorCode.ManagementMachineUnknown,
            ErrorCode.ManagementSlotUnknown,
            ErrorCode.ManagementRefillInvalid,
            ErrorCode.ManagementUnsupported,
            ErrorCode.ManagementBusy,
            ...opts.common,
          ),
        },
      },
    },
    async (req) => {
      const { machineId } = parseInput(RefillParams, req.params, 'params');
      const body = parseInput(RefillBody, req.body ?? {}, 'body');
      const slots = await deps.service.refill(machineId, body.slot, body.level);
      return { machineId, slots };
    },
  );
}
