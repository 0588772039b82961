import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { OrderState } from '../contract/events.ts';
import { ErrorCode, type ErrorCodeValue, errorSpec, VendgateError } from '../core/errors.ts';
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

/** The catalogue code for a client error fastify raises itself, by its status; any other 4xx is HttpBadRequest. */
const FASTIFY_CLIENT_ERROR: Readonly<Record<number, ErrorCodeValue>> = {
  404: ErrorCode.HttpNotFound,
  413: ErrorCode.PayloadTooLarge,
};

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

  // The status of every error answer comes from the catalogue entry of its code (core/errors.ts). The
  // body is serialized here, not by the route's response schema for that status: /health's 503 is a
  // Health document, and an OutboxFull (503) raised there must still answer `{code, name, message}`.
  const answer = (reply: FastifyReply, code: ErrorCodeValue, message: string) => {
    const spec = errorSpec(code);
    return reply
      .status(spec?.status ?? 500)
      .type('application/json; charset=utf-8')
      .serializer(JSON.stringify)
      .send({ code, name: spec?.name ?? 'HttpInternal', message });
  };

  app.setErrorHandler((err, _req, reply) => {
    if (err instanceof VendgateError) return answer(reply, err.code, err.message);
    const e = err as { validation?: unknown; statusCode?: number; code?: unknown; message: string };
    if (e.validation) return answer(reply, ErrorCode.HttpBadRequest, e.message);
    const status = e.statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      // fastify's own errors (FST_*: a body too large, not JSON) have fixed messages that echo no input.
      const own = typeof e.code === 'string' && e.code.startsWith('FST_');
      const code = FASTIFY_CLIENT_ERROR[status] ?? ErrorCode.HttpBadRequest;
      return answer(reply, code, own ? e.message : 'bad request');
    }
    deps.log?.error({ err }, 'unhandled API error');
    return answer(reply, ErrorCode.HttpInternal, 'internal error');
  });
  app.setNotFoundHandler((req, reply) =>
    answer(reply, ErrorCode.HttpNotFound, `no route ${req.method} ${req.url}`),
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
