/**
 * How the API's HTTP server bounds its clients (config `http.limits`), so
 * slow or idle ones cannot hold its sockets: a client that trickles its
 * headers (slowloris) or body is answered 408 and closed when its timeout
 * passes, idle connections are closed, and connections beyond the cap are
 * closed as they arrive.
 */
import type { Server } from 'node:http';
import type { FastifyHttpOptions } from 'fastify';
import type { Log } from '../core/log.ts';
import { HTTP_LIMIT_DEFAULTS, type HttpLimits } from '../gateway/config/schema.ts';

export { HTTP_LIMIT_DEFAULTS, type HttpLimits };

/**
 * How often Node checks the headers and request timeouts (Node's default,
 * 30 s, would let a slow client stay up to 30 s past its timeout).
 */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;
/** The request line and headers, at most (Node's default). */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Longer URLs are answered 414 (RFC 9110 section 4.1 recommends accepting at least 8000 octets). */
export const MAX_URL_LENGTH = 8192;
/** A path parameter (an order id is at most 64 characters). */
export const MAX_PARAM_LENGTH = 128;

/** The fastify options that apply `limits`. */
export function serverOptions(limits: HttpLimits): FastifyHttpOptions<Server> {
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    maxRequestsPerSocket: limits.maxRequestsPerSocket,
    // fastify passes these to http.createServer; it has no options of its own for them.
    http: {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  };
}

/** Caps the open connections of `server`; refused ones are logged at most once a minute, with their count. */
export function capConnections(server: Server, limits: HttpLimits, log: Log | undefined): void {
  server.maxConnections = limits.maxConnections;
  let dropped = 0;
  let lastReport = 0;
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - lastReport < 60_000) return;
    lastReport = now;
    log?.warn(
      { dropped, maxConnections: limits.maxConnections },
      'HTTP connections refused: http.limits.maxConnections are open',
    );
  });
}
