import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { OrderState } from '../contract/events.ts';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import type { DisplayHub } from '../devices/display/hub.ts';
import type { OrderLedger } from '../gateway/ledger/ledger.ts';
import { DASHBOARD_HTML } from './dashboard.ts';
import { kioskPlugin } from './kiosk/plugin.ts';
import { renderMetrics } from './metrics.ts';
import {
  ApiError,
  type Health,
  Health as HealthSchema,
  jsonSchema,
  Order,
  OrderList,
  OrderParams,
  OrderQuery,
} from './schemas.ts';

export interface ApiDeps {
  ledger: OrderLedger;
  /** Payment displays: serves the kiosk pages at /display/:displayId when given. */
  displays?: DisplayHub;
  health: () => Health;
  log?: Log;
}

/**
 * Builds the operator HTTP API. Returns the app; the caller decides whether
 * to listen (tests use `inject`). Every route has schemas; errors come from
 * the catalogue as `{code, name, message}`.
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only drops pino's extra generics.
    // Request logs are kept at warn: the dashboard polls every 2 s.
    loggerInstance: deps.log?.child({ ns: 'http' }, { level: 'warn' }) as FastifyBaseLogger | undefined,
    bodyLimit: 64 * 1024,
  });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vendgate operator API',
        version: '1',
        description: 'Orders, health and metrics of one vendgate gateway.',
      },
    },
  });

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof VendgateError) {
      const status = err.code === ErrorCode.HttpNotFound || err.code === ErrorCode.OrderNotFound ? 404 : 400;
      return reply.status(status).send({ code: err.code, name: err.codeName, message: err.message });
    }
    const e = err as { validation?: unknown; statusCode?: number; message: string };
    if (e.validation) {
      return reply
        .status(400)
        .send({ code: ErrorCode.HttpBadRequest, name: 'HttpBadRequest', message: e.message });
    }
    deps.log?.error({ err }, 'unhandled API error');
    return reply.status(e.statusCode ?? 500).send({ code: 0, name: 'Internal', message: 'internal error' });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({
      code: ErrorCode.HttpNotFound,
      name: 'HttpNotFound',
      message: `no route ${req.method} ${req.url}`,
    }),
  );

  const errors = { 400: jsonSchema(ApiError), 404: jsonSchema(ApiError) };

  app.get(
    '/health',
    {
      schema: {
        summary: 'Gateway health: platform link, machines, outbox',
        response: { 200: jsonSchema(HealthSchema), 503: jsonSchema(HealthSchema) },
      },
    },
    async (_req, reply) => {
      const h = deps.health();
      return reply.status(h.status === 'ok' ? 200 : 503).send(h);
    },
  );

  app.get<{ Querystring: { state?: OrderState; machineId?: string; limit: number } }>(
    '/api/orders',
    {
      schema: {
        summary: 'List orders, newest first, optionally by state or machine',
        querystring: jsonSchema(OrderQuery, 'input'),
        response: { 200: jsonSchema(OrderList), ...errors },
      },
    },
    async (req) => {
      const q = OrderQuery.parse(req.query);
      const orders = deps.ledger.list(q);
      return { orders, count: orders.length };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/orders/:id',
    {
      schema: {
        summary: 'One order with its state',
        params: jsonSchema(OrderParams, 'input'),
        response: { 200: jsonSchema(Order), ...errors },
      },
    },
    async (req) => {
      const order = deps.ledger.get(req.params.id);
      if (!order) throw new VendgateError(ErrorCode.OrderNotFound, `no order "${req.params.id}"`);
      return order;
    },
  );

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        produces: ['text/plain'],
        response: { 200: { type: 'string' } },
      },
    },
    async (_req, reply) => reply.type('text/plain; version=0.0.4').send(renderMetrics(deps.health())),
  );

  if (deps.displays) await app.register(kioskPlugin, { hub: deps.displays });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/',
    { schema: { summary: 'Operator dashboard (HTML)', produces: ['text/html'] } },
    async (_req, reply) => reply.type('text/html; charset=utf-8').send(DASHBOARD_HTML),
  );

  return app;
}
