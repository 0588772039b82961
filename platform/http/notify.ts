/**
 * The providers' notification endpoints, `POST /notify/wechat` and
 * `POST /notify/alipay`. Bodies are kept as raw bytes whatever their content
 * type (WeChat posts JSON, Alipay a form): signatures are over those exact
 * bytes, so nothing here parses or re-serializes them.
 */
import type { FastifyInstance } from 'fastify';
import { isProviderName } from '../payments/context.ts';
import type { Payments } from '../payments/payments.ts';

export async function notifyRoutes(app: FastifyInstance, payments: Payments): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 64 * 1024 }, (_req, body, done) =>
    done(null, body),
  );
  app.post<{ Params: { provider: string } }>('/notify/:provider', async (req, reply) => {
    const provider = req.params.provider;
    if (!isProviderName(provider)) return reply.status(404).type('text/plain').send('no such provider');
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers))
      headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const r = await payments.notification(provider, { headers, body });
    return reply.status(r.reply.status).type(r.reply.contentType).send(r.reply.body);
  });
}
