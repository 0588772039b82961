import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../core/errors.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { waitUntil } from '../testing/wait.ts';
import { listenApi, parseAnswer, rawRequest } from './support/http-api.ts';

const cleanups = cleanupsAfterEach();

interface SlowClient {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
}

/** A client that connects and sends the start of a request, then nothing more (slowloris). */
function slowClient(port: number, firstBytes: string): Promise<SlowClient> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let received = '';
    let closed = false;
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      received += c;
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      closed = true;
    });
    socket.on('connect', () => {
      socket.write(firstBytes);
      resolve({ socket, received: () => received, closed: () => closed });
    });
    cleanups.push(() => socket.destroy());
  });
}

const PARTIAL_HEADERS = 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ';

describe('the HTTP API against slow and idle clients', () => {
  it('answers clients that trickle their headers 408 from the catalogue and closes them once headersTimeout passes', async () => {
    const api = await listenApi({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    cleanups.push(() => api.close());
    const clients = await Promise.all(
      Array.from({ length: 30 }, () => slowClient(api.port, PARTIAL_HEADERS)),
    );
    // A bound, not a timing assertion: the server checks its timeouts every second.
    await waitUntil(() => clients.every((c) => c.closed()), {
      timeoutMs: 10_000,
      what: 'the server to close every slow-header connection',
    });
    for (const c of clients) {
      const answer = parseAnswer(c.received());
      expect(answer.status).toBe(408);
      expect(JSON.parse(answer.body)).toMatchObject({
        code: ErrorCode.HttpRequestTimeout,
        name: 'HttpRequestTimeout',
      });
    }
  });

  it('answers a client that trickles its body 408 from the catalogue once requestTimeout passes', async () => {
    const api = await listenApi({ limits: { headersTimeoutMs: 300, requestTimeoutMs: 600 } });
    cleanups.push(() => api.close());
    const c = await slowClient(
      api.port,
      'POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"a":',
    );
    await waitUntil(c.closed, { timeoutMs: 10_000, what: 'the server to close the slow-body connection' });
    expect(parseAnswer(c.received()).status).toBe(408);
    expect(JSON.parse(parseAnswer(c.received()).body)).toMatchObject({ code: ErrorCode.HttpRequestTimeout });
  });

  it('refuses connections beyond maxConnections as they arrive, and serves again once they are gone', async () => {
    const api = await listenApi({
      limits: { maxConnections: 10, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 },
    });
    cleanups.push(() => api.close());
    const held = await Promise.all(Array.from({ length: 10 }, () => slowClient(api.port, PARTIAL_HEADERS)));
    const extra = await Promise.all(Array.from({ length: 20 }, () => slowClient(api.port, PARTIAL_HEADERS)));
    await waitUntil(() => extra.every((c) => c.closed()), {
      timeoutMs: 5000,
      what: 'the server to close every connection over the cap',
    });
    expect(extra.every((c) => c.received() === '')).toBe(true);
    expect(held.some((c) => c.closed())).toBe(false);
    for (const c of held) c.socket.destroy();
    await waitUntil(
      async () =>
        (await rawRequest(api.port, 'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))
          .status === 200,
      { timeoutMs: 5000, what: 'a request to be served after the slow clients left' },
    );
  });

  it('closes an idle keep-alive connection after keepAliveTimeout, and a connection after maxRequestsPerSocket requests', async () => {
    const api = await listenApi({ limits: { keepAliveTimeoutMs: 200, maxRequestsPerSocket: 3 } });
    cleanups.push(() => api.close());
    const request = 'GET /health HTTP/1.1\r\nHost: x\r\n\r\n';
    const idle = await slowClient(api.port, request);
    await waitUntil(idle.closed, { timeoutMs: 5000, what: 'the idle keep-alive connection to be closed' });
    expect(idle.received().match(/HTTP\/1\.1 200/g)).toHaveLength(1);

    const busy = await slowClient(api.port, request.repeat(5));
    await waitUntil(busy.closed, { timeoutMs: 5000, what: 'the connection to be closed after 3 requests' });
    const answers = busy.received().match(/HTTP\/1\.1 \d+/g) ?? [];
    // The fourth request on the connection is refused (503, Node's maxRequestsPerSocket) or never read.
    expect(answers.filter((a) => a === 'HTTP/1.1 200')).toHaveLength(3);
  });
});
