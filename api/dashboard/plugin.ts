/**
 * The operator dashboard, served by the gateway:
 *
 *   GET /                              the page (HTML; with http.token set, /?token= logs in, auth.ts)
 *   GET /dashboard/app.js              its script (client.ts)
 *   GET /dashboard/app.css             its styles
 *   GET /dashboard/chart.umd.min.js    chart.js, from the installed package, so the page works offline
 *
 * The assets are read and hashed once when the plugin registers; the page
 * links them with `?v=<hash>`, so a browser may keep them for a year
 * (RFC 9111 section 5.2.2.1, max-age; RFC 8246, immutable) and still loads
 * a new version the moment the gateway has one. The page itself is never
 * cached: it carries the site's facts.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { COMMON_ERRORS, errorResponses } from '../errors.ts';
import { DASHBOARD_JS } from './client.ts';
import { DASHBOARD_CSP, DASHBOARD_CSS, type DashboardSite, dashboardHtml, etagOf } from './page.ts';

export interface DashboardPluginOptions {
  site: DashboardSite;
  /** The OpenAPI security requirement of the operator routes (server.ts). */
  security: Array<Record<string, string[]>>;
}

export const CHART_JS_PATH = '/dashboard/chart.umd.min.js';

/** chart.js's browser build, from the installed package (its exports map names no dist file, so via its entry). */
export function readChartJs(): Buffer {
  const require = createRequire(import.meta.url);
  let entry: string;
  try {
    entry = require.resolve('chart.js');
  } catch (err) {
    throw new VendgateError(
      ErrorCode.HttpInternal,
      'the dashboard needs the chart.js package (npm install): it is not installed',
      { cause: String(err) },
    );
  }
  return readFileSync(join(dirname(entry), 'chart.umd.min.js'));
}

interface Asset {
  path: string;
  type: string;
  body: string | Buffer;
  etag: string;
}

const assetQuery = {
  type: 'object',
  properties: { v: { type: 'string', maxLength: 64 } },
  additionalProperties: false,
} as const;

export async function dashboardPlugin(app: FastifyInstance, opts: DashboardPluginOptions): Promise<void> {
  const assets: Asset[] = [
    { path: '/dashboard/app.js', type: 'text/javascript; charset=utf-8', body: DASHBOARD_JS },
    { path: '/dashboard/app.css', type: 'text/css; charset=utf-8', body: DASHBOARD_CSS },
    { path: CHART_JS_PATH, type: 'text/javascript; charset=utf-8', body: readChartJs() },
  ].map((a) => ({ ...a, etag: etagOf(a.body) }));
  const url = (a: Asset) => `${a.path}?v=${a.etag.slice(1, 13)}`;
  const [js, css, chart] = assets as [Asset, Asset, Asset];
  const html = dashboardHtml(opts.site, { js: url(js), css: url(css), chart: url(chart) });

  for (const a of assets) {
    app.get(
      a.path,
      {
        schema: {
          summary: `Dashboard asset ${a.path.slice('/dashboard/'.length)}`,
          security: opts.security,
          querystring: assetQuery,
          produces: [a.type.split(';')[0]!],
          response: {
            200: { type: 'string' },
            304: { type: 'null', description: 'Not modified (If-None-Match).' },
            ...errorResponses(ErrorCode.HttpBadRequest, ...COMMON_ERRORS),
          },
        },
      },
      async (req: FastifyRequest, reply: FastifyReply) => {
        reply
          .header('etag', a.etag)
          .header('cache-control', 'public, max-age=31536000, immutable')
          .header('x-content-type-options', 'nosniff');
        if (req.headers['if-none-match'] === a.etag) return reply.status(304).send();
        return reply.type(a.type).send(a.body);
      },
    );
  }

  app.get(
    '/',
    {
      schema: {
        summary: 'Operator dashboard (HTML); with http.token set, /?token=<token> logs the browser in',
        security: opts.security,
        produces: ['text/html'],
        response: {
          200: { type: 'string' },
          303: { type: 'null', description: 'Logged in: the session cookie is set; go to /.' },
          ...errorResponses(...COMMON_ERRORS),
        },
      },
    },
    async (_req, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', DASHBOARD_CSP)
        .header('cache-control', 'no-store')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .send(html),
  );
}
