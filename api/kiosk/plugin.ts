/**
 * Kiosk pages for payment displays, served by the gateway:
 *
 *   GET /display/:displayId          the page (HTML, no build step)
 *   GET /display/:displayId/events   Server-Sent Events: `render` events with a KioskView;
 *                                    the current screen first, at once
 *   GET /display/:displayId/qr.svg   the current screen's QR code (?v= is a cache buster)
 *
 * Register with `app.register(kioskPlugin, { hub })`. Open event streams are
 * ended when the app closes, so `app.close()` does not wait for browsers.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../../core/errors.ts';
import type { DisplayHub } from '../../devices/display/hub.ts';
import { screenQrUrl } from '../../devices/display/messages.ts';
import { renderQrSvg } from '../../devices/display/qr.ts';
import { errorHandler, errorResponses, sendError } from '../errors.ts';
import { KIOSK_CSP, kioskHtml, unknownDisplayHtml } from './page.ts';
import { kioskView } from './view.ts';

export interface KioskPluginOptions {
  hub: DisplayHub;
  /** Comment lines on idle streams so proxies keep them open; default 15 s. */
  keepAliveMs?: number;
}

const params = {
  type: 'object',
  properties: { displayId: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,32}$' } },
  required: ['displayId'],
  additionalProperties: false,
} as const;

/** The kiosk pages are public (no operator token); a bad display id is a 400, an unknown one a 404. */
const pageErrors = errorResponses(ErrorCode.HttpBadRequest, ErrorCode.HttpNotFound, ErrorCode.HttpInternal);

type Req = FastifyRequest<{ Params: { displayId: string } }>;

export async function kioskPlugin(app: FastifyInstance, opts: KioskPluginOptions): Promise<void> {
  const { hub } = opts;
  const keepAliveMs = opts.keepAliveMs ?? 15_000;
  const open = new Set<() => void>();

  // The plugin's own scope answers its errors from the catalogue, whatever app it is registered in.
  app.setErrorHandler(errorHandler(undefined));

  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });

  app.get(
    '/display/:displayId',
    {
      schema: {
        summary: 'Kiosk page of a payment display (HTML, updated live over SSE)',
        params,
        produces: ['text/html'],
        response: { 200: { type: 'string' }, ...pageErrors },
      },
    },
    async (req: Req, reply: FastifyReply) => {
      const { displayId } = req.params;
      const known = hub.knows(displayId);
      return reply
        .code(known ? 200 : 404)
        .type('text/html; charset=utf-8')
        .header('content-security-policy', KIOSK_CSP)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(
          known ? kioskHtml(hub.localeOf(displayId)) : unknownDisplayHtml(displayId, hub.localeOf(displayId)),
        );
    },
  );

  app.get(
    '/display/:displayId/events',
    {
      schema: {
        summary: 'Server-Sent Events of a display: a `render` event per screen, the current one first',
        params,
        produces: ['text/event-stream'],
        response: { 200: { type: 'string' }, ...pageErrors },
      },
    },
    (req: Req, reply: FastifyReply) => {
      const { displayId } = req.params;
      // A 404 ends an EventSource for good; a stream of an unknown id would stay silent forever.
      if (!hub.knows(displayId)) return unknownDisplay(reply, displayId);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      res.write('retry: 2000\n\n');
      let chain = Promise.resolve();
      let closed = false;
      const unsubscribe = hub.subscribe(displayId, (render) => {
        // Views are built asynchronously (QR); the chain keeps events in render order.
        chain = chain
          .then(() => kioskView(render))
          .then((view) => {
            if (!closed) res.write(`id: ${view.seq}\nevent: render\ndata: ${JSON.stringify(view)}\n\n`);
          })
          .catch((err: unknown) => req.log.error({ err, displayId }, 'kiosk render failed'));
      });
      const ping = setInterval(() => res.write(': ping\n\n'), keepAliveMs);
      ping.unref();
      const cleanup = () => {
        if (closed) return;
        closed = true;
        clearInterval(ping);
        unsubscribe();
        open.delete(end);
      };
      const end = () => {
        cleanup();
        res.end();
      };
      open.add(end);
      res.on('close', cleanup);
    },
  );

  app.get(
    '/display/:displayId/qr.svg',
    {
      schema: {
        summary: "The QR code of a display's current screen (SVG)",
        params,
        produces: ['image/svg+xml'],
        response: {
          200: { type: 'string' },
          ...errorResponses(ErrorCode.HttpBadRequest, ErrorCode.HttpNotFound, ErrorCode.HttpInternal),
        },
      },
    },
    async (req: Req, reply: FastifyReply) => {
      if (!hub.knows(req.params.displayId)) return unknownDisplay(reply, req.params.displayId);
      const render = hub.current(req.params.displayId);
      const url = render ? screenQrUrl(render.screen) : undefined;
      if (url === undefined) {
        return sendError(
          reply,
          ErrorCode.HttpNotFound,
          `display "${req.params.displayId}" shows no QR code now`,
        );
      }
      const qr = await renderQrSvg(url, { level: 'M' });
      return reply
        .type('image/svg+xml')
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .send(qr.svg);
    },
  );
}

function unknownDisplay(reply: FastifyReply, displayId: string) {
  return sendError(reply, ErrorCode.HttpNotFound, `this gateway has no display "${displayId}"`);
}
