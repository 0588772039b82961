import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../api/auth.ts';
import { ErrorCode } from '../core/errors.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { type ListeningApi, listenApi } from './support/http-api.ts';

const TOKEN = 'op-token-0123456789abcdef';

describe('the HTTP API with an operator token', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    api = await listenApi({ token: TOKEN });
  });
  afterAll(() => api.close());

  const fetchApi = (path: string, init: RequestInit = {}) =>
    fetch(`${api.url}${path}`, { redirect: 'manual', ...init });

  it('answers every operator route 401 from the catalogue without the token, saying how to send it', async () => {
    for (const path of [
      '/',
      '/health',
      '/metrics',
      '/api/orders',
      '/api/orders/order-0',
      '/openapi.json',
      '/nothing',
    ]) {
      const res = await fetchApi(path);
      expect(res.status, path).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="vendgate"');
      const body = (await res.json()) as { code: number; name: string; message: string };
      expect(body).toMatchObject({ code: ErrorCode.HttpUnauthorized, name: 'HttpUnauthorized' });
      expect(body.message).toContain('Authorization: Bearer');
    }
  });

  it('lets a request with the right bearer token through', async () => {
    const res = await fetchApi('/api/orders', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { count: number }).count).toBe(1);
  });

  it('refuses a wrong token, whatever it is, and never echoes it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({
          minLength: 1,
          maxLength: 40,
          unit: fc.constantFrom(...'abcdefXYZ0123456789-_.~'.split('')),
        }),
        async (wrong) => {
          fc.pre(wrong !== TOKEN);
          const res = await fetchApi('/health', { headers: { authorization: `Bearer ${wrong}` } });
          const text = await res.text();
          expect(res.status).toBe(401);
          if (wrong.length > 6) expect(text).not.toContain(wrong);
        },
      ),
      { numRuns: 40 },
    );
    const prefix = await fetchApi('/health', { headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}` } });
    expect(prefix.status).toBe(401);
  });

  it('logs a browser in with /?token=: a session cookie, a redirect to /, and the dashboard and its data with the cookie', async () => {
    const login = await fetchApi(`/?token=${encodeURIComponent(TOKEN)}`);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toBe('/');
    const setCookie = login.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]+; `));
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    // The cookie is derived from the token, not the token itself.
    expect(setCookie).not.toContain(TOKEN);
    const cookie = setCookie.split(';')[0]!;
    const page = await fetchApi('/', { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('vendgate dashboard');
    expect((await fetchApi('/health', { headers: { cookie } })).status).toBe(200);
    expect(
      (await fetchApi('/api/orders?limit=25', { headers: { cookie: `other=1; ${cookie}` } })).status,
    ).toBe(200);
    expect((await fetchApi('/health', { headers: { cookie: `${SESSION_COOKIE}=forged` } })).status).toBe(401);
  });

  it('answers a login with a wrong token 401 and sets no cookie', async () => {
    const res = await fetchApi('/?token=not-the-token-at-all');
    expect(res.status).toBe(401);
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(((await res.json()) as { message: string }).message).toBe('wrong operator token');
  });

  it('serves the kiosk pages of the displays without the token', async () => {
    const res = await fetchApi('/display/m1');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  });
});

describe('the HTTP configuration', () => {
  it('listens on loopback only and needs no token by default', () => {
    const { http } = parseConfig({});
    expect(http.host).toBe('127.0.0.1');
    expect(http.token).toBeUndefined();
  });

  it('refuses a token too short to guess-proof', () => {
    expect(() => parseConfig({ http: { token: 'short' } })).toThrow(/http\.token: at least 16 characters/);
  });
});
