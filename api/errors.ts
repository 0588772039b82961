/**
 * Every error the HTTP API answers, in the catalogue's `{code, name,
 * message}` form with the status of its catalogue entry: errors the routes
 * raise, fastify's own (validation, bodies, bad URLs) and those Node's HTTP
 * parser raises before fastify sees a request (timeouts, oversized headers,
 * garbage), which are written to the socket directly.
 */
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { ErrorCode, type ErrorCodeValue, errorSpec, VendgateError } from '../core/errors.ts';
import type { Log } from '../core/log.ts';
import { ApiError, jsonSchema } from './schemas.ts';

/** The catalogue body of `code` with `message`. */
export function errorBody(
  code: ErrorCodeValue,
  message: string,
): { code: number; name: string; message: string } {
  return { code, name: errorSpec(code)?.name ?? 'HttpInternal', message };
}

/**
 * Sends the catalogue answer. The body is serialized here, not by the
 * route's response schema for that status: /health's 503 is a Health
 * document, and an OutboxFull (503) raised there must still answer
 * `{code, name, message}`.
 */
export function sendError(reply: FastifyReply, code: ErrorCodeValue, message: string): FastifyReply {
  return reply
    .status(errorSpec(code)?.status ?? 500)
    .type('application/json; charset=utf-8')
    .serializer(JSON.stringify)
    .send(errorBody(code, message));
}

/** fastify's own client errors by their FST_ code; their messages are fixed texts that echo no input. */
const FASTIFY_ERRORS: Readonly<Record<string, ErrorCodeValue>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ErrorCode.HttpBodyTooLarge,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ErrorCode.HttpBadRequest,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ErrorCode.HttpBadRequest,
  FST_ERR_CTP_EMPTY_JSON_BODY: ErrorCode.HttpBadRequest,
  FST_ERR_CTP_INVALID_JSON_BODY: ErrorCode.HttpBadRequest,
};

/** The error handler of the app: catalogued errors as they are, everything else mapped or hidden. */
export function errorHandler(log: Log | undefined) {
  return (err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof VendgateError) return sendError(reply, err.code, err.message);
    const e = err as Partial<FastifyError> & { message: string };
    if (e.validation) return sendError(reply, ErrorCode.HttpBadRequest, e.message);
    const own = typeof e.code === 'string' ? FASTIFY_ERRORS[e.code] : undefined;
    if (own !== undefined) return sendError(reply, own, e.message);
    const status = e.statusCode;
    if (status === 413) return sendError(reply, ErrorCode.HttpBodyTooLarge, 'the body is too large');
    if (status !== undefined && status >= 400 && status < 500)
      return sendError(reply, ErrorCode.HttpBadRequest, 'bad request');
    (log ?? req.log).error({ err, url: pathOf(req.url) }, 'unhandled API error');
    return sendError(reply, ErrorCode.HttpInternal, 'internal error');
  };
}

/**
 * fastify's `frameworkErrors`: a URL whose percent-encoding is broken, or
 * whose path parameter is longer than maxParamLength, before any route runs.
 */
export function frameworkErrorHandler(err: FastifyError, _req: FastifyRequest, reply: FastifyReply) {
  if (err.code === 'FST_ERR_MAX_PARAM_LENGTH')
    return sendError(reply, ErrorCode.HttpUriTooLong, 'a path segment of the URL is too long');
  if (err.code === 'FST_ERR_BAD_URL')
    return sendError(reply, ErrorCode.HttpBadRequest, 'the URL is not valid (broken percent-encoding)');
  return sendError(reply, ErrorCode.HttpBadRequest, 'bad request');
}

/**
 * Node's `clientError`: the parser gave up on a connection before fastify
 * had a request (RFC 9112 section 2.2 malformed message; headersTimeout or
 * requestTimeout passed, RFC 9110 section 15.5.9; header section over
 * maxHeaderSize, RFC 6585 section 5). Answers once if nothing was sent on
 * the connection yet, then closes it.
 */
export function clientErrorHandler(
  log: Log | undefined,
  limits: { headersTimeoutMs: number; requestTimeoutMs: number },
) {
  return (err: NodeJS.ErrnoException, socket: Socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const [code, message] =
      err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [
            ErrorCode.HttpRequestTimeout,
            `the request was not received in time (headers within ${limits.headersTimeoutMs} ms, all of it within ${limits.requestTimeoutMs} ms)`,
          ]
        : err.code === 'HPE_HEADER_OVERFLOW'
          ? [ErrorCode.HttpHeadersTooLarge, 'the request line and headers are too large']
          : [ErrorCode.HttpBadRequest, 'malformed HTTP request'];
    log?.debug({ code: err.code, remoteAddress: socket.remoteAddress }, 'HTTP client error');
    // Node's own handler checks the same: no answer over one already begun on this connection.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      const spec = errorSpec(code);
      const body = JSON.stringify(errorBody(code, message));
      socket.write(
        `HTTP/1.1 ${spec?.status ?? 400} ${STATUS_TEXT[spec?.status ?? 400] ?? 'Bad Request'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Connection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
};

/** Parses route input with its zod schema; a failure is a 400 naming each field, never its value. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const problems = result.error.issues.map(
    (i) => `${[where, ...i.path.map(String)].join('.')}: ${i.message}`,
  );
  throw new VendgateError(ErrorCode.HttpBadRequest, problems.join('; '), {
    fields: result.error.issues.map((i) => i.path.map(String).join('.')),
  });
}

/** The path of a request URL, without its query (which may carry the login token). */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/**
 * OpenAPI response entries for the error statuses a route can answer, each
 * with the catalogue codes behind it, so clients know what to handle.
 */
export function errorResponses(...codes: ErrorCodeValue[]): Record<number, Record<string, unknown>> {
  const byStatus = new Map<number, string[]>();
  for (const code of codes) {
    const spec = errorSpec(code);
    if (!spec) continue;
    byStatus.set(spec.status, [...(byStatus.get(spec.status) ?? []), `${spec.code} ${spec.name}`]);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, names]) => [
      status,
      {
        description: `A catalogued error: ${names.join(', ')}.`,
        // Always JSON, also on routes that produce HTML, SVG or text.
        content: { 'application/json': { schema: jsonSchema(ApiError) } },
      },
    ]),
  );
}

/** What every route can answer: an unauthenticated request (with http.token set) and our own fault. */
export const COMMON_ERRORS: readonly ErrorCodeValue[] = [ErrorCode.HttpUnauthorized, ErrorCode.HttpInternal];
