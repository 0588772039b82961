import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { verifyAlertWebhook } from '../../contract/alerts.ts';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { freePort } from '../../testing/ports.ts';
import { WebhookConfig } from './config.ts';
import { WebhookSink, webhookSinkId } from './webhook-sink.ts';

const cleanups = cleanupsAfterEach();
const SECRET = 'whsec-test-0123456789';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A real HTTP receiver on loopback that answers each POST as `answer` says. */
async function receiver(answer: (res: ServerResponse, n: number) => void) {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      answer(res, received.length);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/vendgate?token=abc`;
  return { url, received };
}

const sinkFor = (url: string, over: Partial<WebhookConfig> = {}) =>
  new WebhookSink(WebhookConfig.parse({ url, secret: SECRET, ...over }), { now: () => Date.now() });

const live = () => new AbortController().signal;

describe('the webhook sink', () => {
  it('POSTs the alert as JSON with a signature the secret verifies, and calls a 2xx delivered', async () => {
    const hook = await receiver((res) => res.writeHead(204).end());
    const sink = sinkFor(hook.url);
    const body = JSON.stringify({ alertId: 'x', state: 'raised' });
    expect(await sink.send(body, live())).toEqual({ ok: true });
    const [got] = hook.received;
    expect(got!.body).toBe(body);
    expect(got!.headers['content-type']).toBe('application/json');
    expect(verifyAlertWebhook(SECRET, got!.body, got!.headers['x-vendgate-signature'] as string).ok).toBe(
      true,
    );
    expect(sink.target).toBe(hook.url.replace('?token=abc', ''));
    expect(sink.id).toBe(webhookSinkId(hook.url));
    expect(sink.id).not.toContain('abc');
  });

  it('retries a 500, a 408 and a 429, taking the 429 Retry-After', async () => {
    const statuses = [500, 408, 429];
    const hook = await receiver((res, n) =>
      res.writeHead(statuses[n - 1]!, n === 3 ? { 'retry-after': '7' } : {}).end('busy'),
    );
    const sink = sinkFor(hook.url);
    const outcomes = [
      await sink.send('{}', live()),
      await sink.send('{}', live()),
      await sink.send('{}', live()),
    ];
    expect(outcomes.map((o) => (o.ok ? 'ok' : [o.retry, o.error.code]))).toEqual([
      [true, ErrorCode.AlertWebhookFailed],
      [true, ErrorCode.AlertWebhookFailed],
      [true, ErrorCode.AlertWebhookFailed],
    ]);
    expect(outcomes[2]).toMatchObject({ retryAfterMs: 7000 });
    expect(outcomes[0]).toMatchObject({ error: { context: { status: 500, answer: 'busy' } } });
  });

  it('gives up on a 404 and on a redirect, which it does not follow', async () => {
    const hook = await receiver((res, n) =>
      n === 1
        ? res.writeHead(404).end('no such hook')
        : res.writeHead(302, { location: 'http://example.com/' }).end(),
    );
    const sink = sinkFor(hook.url);
    for (const status of [404, 302]) {
      const o = await sink.send('{}', live());
      expect(o).toMatchObject({
        ok: false,
        retry: false,
        error: { code: ErrorCode.AlertWebhookRefused, context: { status } },
      });
    }
    expect(hook.received).toHaveLength(2);
  });

  it('abandons a receiver that never answers after its timeout, to be retried', async () => {
    const hook = await receiver(() => {}); // reads the body, never answers
    const sink = sinkFor(hook.url, { timeoutMs: 200 });
    const o = await sink.send('{}', live());
    expect(o).toMatchObject({ ok: false, retry: true, error: { code: ErrorCode.AlertWebhookTimeout } });
  });

  it('retries a receiver nobody listens on, naming it without its query', async () => {
    const url = `http://127.0.0.1:${await freePort()}/hook?token=secret-token`;
    const o = await sinkFor(url).send('{}', live());
    expect(o).toMatchObject({ ok: false, retry: true, error: { code: ErrorCode.AlertWebhookFailed } });
    if (!o.ok) expect(o.error.message).not.toContain('secret-token');
  });
});

describe('the webhook config', () => {
  it('refuses a URL that is not http(s), one with credentials, and a short secret, naming the field', () => {
    const bad = [
      { url: 'ftp://x/', secret: SECRET },
      { url: 'https://user:pw@x/', secret: SECRET },
      { url: 'https://x/', secret: 'short' },
    ];
    const paths = bad.map((b) => WebhookConfig.safeParse(b).error?.issues[0]?.path.join('.'));
    expect(paths).toEqual(['url', 'url', 'secret']);
  });
});
