import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { OrderState } from '../contract/events.ts';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import type { DisplayHub } from '../devices/display/hub.ts';
import type { AlertsReport } from '../gateway/alerts/service.ts';
import type { OrderLedger } from '../gateway/ledger/ledger.ts';
import { registerAlertRoutes } from './alerts.ts';
import { type AuditApi, NO_AUDITS, registerAuditRoutes } from './audit.ts';
import { SESSION_COOKIE, tokenGuard } from './auth.ts';
import { type CouponApiDeps, couponRoutes } from './coupons.ts';
import type { DashboardSite } from './dashboard/page.ts';
import { dashboardPlugin } from './dashboard/plugin.ts';
import {
  COMMON_ERRORS,
  clientErrorHandler,
  errorHandler,
  errorResponses,
  frameworkErrorHandler,
  parseInput,
  pathOf,
  sendError,
} from './errors.ts';
import { kioskPlugin } from './kiosk/plugin.ts';
import {
  capConnections,
  HTTP_LIMIT_DEFAULTS,
  type HttpLimits,
  MAX_URL_LENGTH,
  serverOptions,
} from './limits.ts';
import { type ManagementDeps, registerManagementRoutes } from './management.ts';
import { renderMetrics } from './metrics.ts';
import {
  type Health,
  Health as HealthSchema,
  jsonSchema,
  Order,
  OrderList,
  OrderParams,
  OrderQuery,
} from './schemas.ts';
import { registerTelemetryRoutes, type TelemetryApiDeps } from './telemetry.ts';

export interface ApiDeps {
  ledger: OrderLedger;
  /** Payment displays: serves the kiosk pages at /display/:displayId when given. */
  displays?: DisplayHub;
  health: () => Health;
  /** The alert queue of each sink, for GET /api/alerts (absent: no sinks). */
  alerts?: () => AlertsReport;
  log?: Log;
  /** The operator token (config http.token): when set, every route but the kiosk pages needs it (auth.ts). */
  token?: string;
  /** Timeouts and caps on clients (config http.limits); default HTTP_LIMIT_DEFAULTS. */
  limits?: HttpLimits;
  /** The dashboard's site facts (gateway id, time zone, locale, product names); default Asia/Shanghai, zh-CN, none. */
  site?: DashboardSite;
  /** Coupon campaigns and the beacon fleet: serves /api/coupons and /api/beacons when given. */
  coupons?: CouponApiDeps;
  /** Sales, conditions, sessions and machines (api/telemetry.ts), when given. */
  telemetry?: TelemetryApiDeps;
  /** The catalogue, stock and refill routes (api/management.ts); without it they know no machine. */
  management?: ManagementDeps;
  /** DEX audit reads for /api/audits and /api/machines/:machineId/audit; without it there are none. */
  audit?: AuditApi;
}

/**
 * Builds the operator HTTP API. Returns the app; the caller decides whether
 * to listen (tests use `inject`). Every route has schemas; every error,
 * fastify's and Node's included, answers the catalogue's `{code, name,
 * message}` with its entry's status (errors.ts).
 */
export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const limits = deps.limits ?? HTTP_LIMIT_DEFAULTS;
  // Request logs are kept at warn (the dashboard polls every 2 s), or quieter when the root logger is.
  const httpLog = deps.log?.child(
    { ns: 'http' },
    { level: deps.log.levelVal > deps.log.levels.values.warn! ? deps.log.level : 'warn' },
  );
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only drops pino's extra generics.
    loggerInstance: httpLog as FastifyBaseLogger | undefined,
    bodyLimit: 64 * 1024,
    // An unknown query field is refused, not dropped: a typo (?limt=5) must not silently mean the default.
    ajv: { customOptions: { removeAdditional: false } },
    ...serverOptions(limits),
    clientErrorHandler: clientErrorHandler(httpLog, limits),
    frameworkErrors: frameworkErrorHandler,
  });
  capConnections(app.server, limits, httpLog);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'vendgate operator API',
        version: '1',
        description:
          'Orders, health and metrics of one vendgate gateway. Every error answers `{code, name, message}` from the vendgate error catalogue (docs/errors.md) with the status of its entry. When http.token is set, every route but the kiosk pages needs it: `Authorization: Bearer <token>`, or the session cookie that opening `/?token=<token>` sets.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
        },
      },
    },
  });

  app.setErrorHandler(errorHandler(deps.log));
  app.setNotFoundHandler((req, reply) =>
    sendError(reply, ErrorCode.HttpNotFound, `no route ${req.method} ${pathOf(req.url)}`),
  );
  app.addHook('onRequest', async (req) => {
    if (req.url.length > MAX_URL_LENGTH)
      throw new VendgateError(
        ErrorCode.HttpUriTooLong,
        `the URL is longer than ${MAX_URL_LENGTH} characters`,
      );
  });
  if (deps.token !== undefined) {
    const guard = tokenGuard(deps.token);
    app.addHook('onRequest', (req, reply) => guard.check(req, reply));
  }

  // The token is optional, so is the security requirement (the empty alternative): OpenAPI 3.1 section 4.8.30.
  const security = (): { security: Array<Record<string, string[]>> } => ({
    security: [{ bearer: [] }, { session: [] }, {}],
  });
  const common = [...COMMON_ERRORS];

  app.get(
    '/health',
    {
      schema: {
        summary: 'Gateway health: platform link, machines, outbox',
        ...security(),
        response: {
          200: jsonSchema(HealthSchema),
          503: {
            ...jsonSchema(HealthSchema),
            description: 'Degraded: the same document, with status "degraded".',
          },
          ...errorResponses(...common),
        },
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
        ...security(),
        querystring: jsonSchema(OrderQuery, 'input'),
        response: { 200: jsonSchema(OrderList), ...errorResponses(ErrorCode.HttpBadRequest, ...common) },
      },
    },
    async (req) => {
      // The JSON Schema checks the form; zod checks what it cannot say (limit=Infinity is a number, not an integer).
      const q = parseInput(OrderQuery, req.query, 'query');
      const orders = deps.ledger.list(q);
      return { orders, count: orders.length };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/orders/:id',
    {
      schema: {
        summary: 'One order with its state',
        ...security(),
        params: jsonSchema(OrderParams, 'input'),
        response: {
          200: jsonSchema(Order),
          ...errorResponses(
            ErrorCode.HttpBadRequest,
            ErrorCode.OrderNotFound,
            ErrorCode.HttpUriTooLong,
            ...common,
          ),
        },
      },
    },
    async (req) => {
      const order = deps.ledger.get(req.params.id);
      if (!order) throw new VendgateError(ErrorCode.OrderNotFound, `no order "${req.params.id}"`);
      return order;
    },
  );

  registerAlertRoutes(app, { ...(deps.alerts ? { report: deps.alerts } : {}), security, errors: common });

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        ...security(),
        produces: ['text/plain'],
        response: { 200: { type: 'string' }, ...errorResponses(...common) },
      },
    },
    async (_req, reply) => reply.type('text/plain; version=0.0.4').send(renderMetrics(deps.health())),
  );

  if (deps.telemetry) registerTelemetryRoutes(app, deps.telemetry, security());
  registerManagementRoutes(app, deps.management, { security, common });
  registerAuditRoutes(app, deps.audit ?? NO_AUDITS, security, common);

  if (deps.displays) await app.register(kioskPlugin, { hub: deps.displays });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  if (deps.coupons) couponRoutes(app, deps.coupons, security().security);

  await app.register(dashboardPlugin, {
    site: deps.site ?? { gatewayId: '', timeZone: 'Asia/Shanghai', locale: 'zh-CN', products: {} },
    security: security().security,
  });

  return app;
}
