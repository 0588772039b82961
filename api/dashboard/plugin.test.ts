import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_JS } from './client.ts';
import { CHART_JS_PATH, dashboardPlugin } from './plugin.ts';

const HOSTILE = '</script><script>alert(1)</script>';

describe('the dashboard routes', () => {
  let app: FastifyInstance;
  let html: string;
  const assetUrl = (path: string) => {
    const m = html.match(new RegExp(`(${path.replace(/[.]/g, '\\.')}\\?v=[A-Za-z0-9_-]+)`));
    if (!m) throw new Error(`the page links no ${path}`);
    return m[1]!;
  };

  beforeAll(async () => {
    app = Fastify();
    await app.register(dashboardPlugin, {
      site: { gatewayId: 'gw1', timeZone: 'Europe/Berlin', locale: 'de', products: { m1: { 1: HOSTILE } } },
      security: [{}],
    });
    html = (await app.inject({ url: '/' })).body;
  });
  afterAll(() => app.close());

  it('serves the page uncached under a Content Security Policy that allows no inline script', async () => {
    const res = await app.inject({ url: '/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['content-security-policy']).not.toContain('unsafe-inline');
    expect(res.body).toContain('<html lang="de">');
  });

  it("hands the page the site's time zone, locale and product names as data no name can break out of", () => {
    const m = html.match(/<script type="application\/json" id="site">(.*?)<\/script>/s);
    expect(m).not.toBeNull();
    expect(html).not.toContain(HOSTILE);
    expect(JSON.parse(m![1]!)).toEqual({
      gatewayId: 'gw1',
      timeZone: 'Europe/Berlin',
      locale: 'de',
      products: { m1: { 1: HOSTILE } },
    });
  });

  it('serves chart.js from the installed package, byte for byte, so the page needs no internet', async () => {
    const res = await app.inject({ url: assetUrl(CHART_JS_PATH) });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(res.rawPayload.equals(readFileSync('node_modules/chart.js/dist/chart.umd.min.js'))).toBe(true);
  });

  it('lets browsers keep the versioned assets and answers 304 to a matching If-None-Match', async () => {
    const url = assetUrl('/dashboard/app.js');
    const res = await app.inject({ url });
    expect(res.body).toBe(DASHBOARD_JS);
    expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const etag = res.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(url).toContain(`?v=${etag.slice(1, 13)}`);
    const again = await app.inject({ url, headers: { 'if-none-match': etag } });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const css = await app.inject({ url: assetUrl('/dashboard/app.css') });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toContain('@media (max-width: 720px)');
  });

  it('ships a script that parses as JavaScript', () => {
    expect(() => new Function(DASHBOARD_JS)).not.toThrow();
  });
});
