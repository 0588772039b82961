/**
 * The optional operator token (config `http.token`). With one set, every
 * request except the kiosk pages must prove it knows the token:
 *
 *   - `Authorization: Bearer <token>` (RFC 6750 section 2.1), for scripts and
 *     Prometheus;
 *   - the session cookie, for the dashboard: opening `/?token=<token>` once
 *     sets it (HttpOnly, SameSite=Strict, RFC 6265 section 4.1) and redirects
 *     to `/`, so the token leaves the address bar.
 *
 * Both are compared in constant time on SHA-256 digests, so neither the
 * token's length nor its content leaks through timing. The cookie holds an
 * HMAC of the token, not the token.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import { pathOf } from './errors.ts';

export const SESSION_COOKIE = 'vendgate_session';
/** The dashboard session lasts a week; opening /?token= again renews it. */
const SESSION_MAX_AGE_S = 7 * 86_400;

/** Paths served without the token: the kiosk pages of the payment displays, which show only public screens. */
const PUBLIC_PREFIXES = ['/display/'];

export interface TokenGuard {
  /**
   * An onRequest hook: resolves with nothing to let the request on, with the
   * reply when it answered the login with its redirect, or throws HttpUnauthorized.
   */
  check(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined>;
}

export function tokenGuard(token: string): TokenGuard {
  const expected = digest(token);
  const session = createHmac('sha256', token).update('vendgate dashboard session v1').digest('base64url');
  const expectedSession = digest(session);
  const matches = (given: string | undefined, want: Buffer) =>
    given !== undefined && timingSafeEqual(digest(given), want);

  return {
    async check(req, reply) {
      const path = pathOf(req.url);
      if (PUBLIC_PREFIXES.some((p) => path.startsWith(p))) return undefined;
      if (matches(bearerOf(req.headers.authorization), expected)) return undefined;
      if (matches(cookieOf(req.headers.cookie, SESSION_COOKIE), expectedSession)) return undefined;
      const login = path === '/' && req.method === 'GET' ? loginTokenOf(req.query) : undefined;
      if (login !== undefined && matches(login, expected)) {
        // Returned, so fastify ends the request with this answer (an async hook that replied early).
        return reply
          .status(303)
          .header(
            'set-cookie',
            `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_MAX_AGE_S}`,
          )
          .header('location', '/')
          .header('cache-control', 'no-store')
          .send();
      }
      reply.header('www-authenticate', 'Bearer realm="vendgate"');
      throw new VendgateError(
        ErrorCode.HttpUnauthorized,
        login !== undefined
          ? 'wrong operator token'
          : 'this gateway needs its operator token: send "Authorization: Bearer <token>", or open /?token=<token> once in a browser',
      );
    },
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

function bearerOf(header: string | undefined): string | undefined {
  const m = header?.match(/^Bearer[ ]+(\S+)\s*$/i);
  return m?.[1];
}

function cookieOf(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function loginTokenOf(query: unknown): string | undefined {
  const t = (query as Record<string, unknown> | undefined)?.token;
  return typeof t === 'string' ? t : undefined;
}
