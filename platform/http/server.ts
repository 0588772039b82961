/**
 * The platform's HTTP server (fastify): provider notifications with their
 * raw bodies, the customer's phone pages, and the operator API and pages.
 * Errors are answered from the catalogue as `{code, name, message}`; a bad
 * parameter names the field, never echoes a value.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ZodError } from 'zod';
import { ErrorCode, errorSpec, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import type { Payments } from '../payments/payments.ts';
import { notifyRoutes } from './notify.ts';
import { type OperatorOptions, operatorRoutes } from './operator.ts';
import { type PhoneOptions, phoneRoutes } from './phone.ts';

export interface PlatformHttpOptions extends OperatorOptions, PhoneOptions {
  payments: Payments;
  log?: Log;
}

export async function buildPlatformHttp(opts: PlatformHttpOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast only drops pino's extra generics.
    loggerInstance: opts.log?.child({ ns: 'http' }, { level: 'warn' }) as FastifyBaseLogger | undefined,
    bodyLimit: 64 * 1024,
  });
  app.setErrorHandler((err, _req, reply) => {
    const send = (code: number, message: string) => {
      const spec = errorSpec(code);
      return reply
        .status(spec?.status ?? 500)
        .type('application/json; charset=utf-8')
        .send({
          code,
          name: spec?.name ?? 'HttpInternal',
          message,
        });
    };
    if (err instanceof VendgateError) return send(err.code, err.message);
    if (err instanceof ZodError) {
      const where = err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      return send(ErrorCode.HttpBadRequest, `bad request: ${where}`);
    }
    const e = err as { statusCode?: number; code?: unknown; message: string };
    if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
      const own = typeof e.code === 'string' && e.code.startsWith('FST_');
      return send(
        e.statusCode === 413 ? ErrorCode.PayloadTooLarge : ErrorCode.HttpBadRequest,
        own ? e.message : 'bad request',
      );
    }
    opts.log?.error({ err: e.message }, 'http handler failed');
    return send(ErrorCode.HttpInternal, 'internal error');
  });
  await app.register(async (scope) => notifyRoutes(scope, opts.payments));
  await app.register(async (scope) => phoneRoutes(scope, opts.payments, opts));
  await app.register(async (scope) => operatorRoutes(scope, opts.payments, opts));
  app.get('/health', async () => ({ status: 'ok' }));
  return app;
}
