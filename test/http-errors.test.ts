import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCodeValue, errorCodeName, errorSpec } from '../core/errors.ts';
import { type ListeningApi, listenApi, type RawAnswer, rawRequest } from './support/http-api.ts';

/** The answer is the catalogue's `{code, name, message}` for `code`, with the status of its entry. */
function expectCatalogued(answer: RawAnswer, code: ErrorCodeValue): void {
  expect(answer.status, answer.raw.slice(0, 300)).toBe(errorSpec(code)?.status);
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  expect(Object.keys(body).sort()).toEqual(['code', 'message', 'name']);
  expect(body).toMatchObject({ code, name: errorCodeName(code) });
  expect(typeof body.message).toBe('string');
}

const get = (path: string, headers = '') =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${headers}\r\n`;

describe('every error the HTTP API answers on a real socket', () => {
  let api: ListeningApi;
  beforeAll(async () => {
    api = await listenApi();
  });
  afterAll(() => api.close());

  it('answers limit=Infinity as a 400 naming the field, not a 500', async () => {
    const answer = await rawRequest(api.port, get('/api/orders?limit=Infinity'));
    expectCatalogued(answer, ErrorCode.HttpBadRequest);
    expect(JSON.parse(answer.body).message).toMatch(/limit/);
  });

  it('answers query values out of range or of the wrong kind as 400s', async () => {
    for (const q of ['limit=0', 'limit=1e9', 'limit=abc', 'limit=1.5', 'state=teleported', 'nope=1']) {
      expectCatalogued(await rawRequest(api.port, get(`/api/orders?${q}`)), ErrorCode.HttpBadRequest);
    }
  });

  it('answers a body that is not JSON, and an empty JSON body, with a catalogued 400', async () => {
    for (const body of ['{bad', '']) {
      const answer = await rawRequest(
        api.port,
        `POST /api/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      expectCatalogued(answer, ErrorCode.HttpBadRequest);
    }
  });

  it('answers a body over the limit with a catalogued 413', async () => {
    const body = 'a'.repeat(70_000);
    const answer = await rawRequest(
      api.port,
      `POST /api/orders HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expectCatalogued(answer, ErrorCode.HttpBodyTooLarge);
  });

  it('answers an over-long path parameter and an over-long URL with a catalogued 414', async () => {
    expectCatalogued(
      await rawRequest(api.port, get(`/api/orders/${'a'.repeat(3000)}`)),
      ErrorCode.HttpUriTooLong,
    );
    expectCatalogued(await rawRequest(api.port, get(`/api/${'a'.repeat(9000)}`)), ErrorCode.HttpUriTooLong);
  });

  it('answers a header section over the limit with a catalogued 431 and closes the connection', async () => {
    const answer = await rawRequest(api.port, get('/health', `X-Big: ${'a'.repeat(20_000)}\r\n`));
    expectCatalogued(answer, ErrorCode.HttpHeadersTooLarge);
    expect(answer.headers.connection).toBe('close');
  });

  it('answers a URL with broken percent-encoding with a catalogued 400 that does not echo it', async () => {
    const answer = await rawRequest(api.port, get('/api/orders/%E0%A4%A'));
    expectCatalogued(answer, ErrorCode.HttpBadRequest);
    expect(answer.body).not.toContain('%E0');
  });

  it('answers bytes that are not HTTP with a catalogued 400', async () => {
    expectCatalogued(await rawRequest(api.port, 'GARBAGE\r\n\r\n'), ErrorCode.HttpBadRequest);
    expectCatalogued(
      await rawRequest(api.port, Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01])),
      ErrorCode.HttpBadRequest,
    );
  });

  it('answers an unknown route with a catalogued 404 that does not echo its query', async () => {
    const answer = await rawRequest(api.port, get('/api/nothing?token=s3cr3t-in-a-url'));
    expectCatalogued(answer, ErrorCode.HttpNotFound);
    expect(answer.body).not.toContain('s3cr3t');
  });

  it('answers an unknown order with its catalogue entry (OrderNotFound, 404)', async () => {
    expectCatalogued(await rawRequest(api.port, get('/api/orders/order-nope')), ErrorCode.OrderNotFound);
  });

  it('lists in the OpenAPI document the error statuses each route answers, with their codes', async () => {
    const doc = JSON.parse((await rawRequest(api.port, get('/openapi.json'))).body) as {
      paths: Record<string, { get: { responses: Record<string, { description?: string }> } }>;
    };
    const statuses = (path: string) => Object.keys(doc.paths[path]!.get.responses).sort();
    expect(statuses('/api/orders')).toEqual(['200', '400', '401', '500']);
    expect(statuses('/api/orders/{id}')).toEqual(['200', '400', '401', '404', '414', '500']);
    expect(statuses('/health')).toEqual(['200', '401', '500', '503']);
    expect(statuses('/metrics')).toEqual(['200', '401', '500']);
    expect(statuses('/display/{displayId}/qr.svg')).toEqual(['200', '400', '404', '500']);
    expect(doc.paths['/api/orders/{id}']!.get.responses['404']!.description).toContain('5007 OrderNotFound');
  });
});
