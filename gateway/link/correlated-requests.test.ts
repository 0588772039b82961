import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RequestEnvelope } from '../../contract/envelopes.ts';
import { requestDigest, sealBody } from '../../contract/signed.ts';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  verifyBody,
} from '../../contract/signing.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { expectVendgateError } from '../../testing/index.ts';
import { CorrelatedRequests } from './correlated-requests.ts';
import { ephemeralGatewayKey } from './gateway-key.ts';
import { PlatformMessages } from './platform-messages.ts';

const topics = gatewayTopics('gw1');
const gatewayKey = ephemeralGatewayKey();
const platformKeys = generateRawKeyPair();
const platformKey = privateKeyFromBase64(platformKeys.privateKey);

afterEach(() => {
  vi.useRealTimers();
});

/** A connection that records each request; `failWith` fails the publish. */
function recordingConnection() {
  const connection = {
    failWith: undefined as Error | undefined,
    sent: [] as Array<{ topic: string; request: RequestEnvelope; body: string }>,
    publish(topic: string, message: string, _opts: { qos: 1 }, callback: (err?: Error) => void) {
      const signed = JSON.parse(message) as { body: string; sig: string; keyId: string };
      if (!verifyBody(signed.body, signed.sig, publicKeyFromBase64(gatewayKey.publicKey)))
        throw new Error('a request not signed by the gateway key');
      connection.sent.push({ topic, request: JSON.parse(signed.body) as RequestEnvelope, body: signed.body });
      callback(connection.failWith);
    },
  };
  return connection;
}

function setup() {
  const requests = new CorrelatedRequests({
    requestTopic: topics.request,
    gatewayId: 'gw1',
    key: gatewayKey,
    platform: new PlatformMessages({
      gatewayId: 'gw1',
      keys: new Map([['default', publicKeyFromBase64(platformKeys.publicKey)]]),
      maxSkewMs: 30_000,
      maxLifetimeMs: 3600_000,
      now: Date.now,
    }),
    now: Date.now,
    log: silentLogger(),
  });
  const c = recordingConnection();
  /**
   * Signs an answer as the platform does, bound to the request with that
   * correlation id (or `res.requestSha256` when given) and addressed to gw1.
   */
  const answer = (type: string | undefined, res: Record<string, unknown>, signWith = platformKey) => {
    const request = c.sent.find((x) => x.request.correlationId === res.correlationId);
    const now = Date.now();
    const body = {
      type: type ?? 'order.create',
      gatewayId: 'gw1',
      requestSha256: request ? requestDigest(request.body) : '0'.repeat(64),
      issuedAt: now,
      expiresAt: now + 30_000,
      keyId: 'default',
      ...res,
    };
    requests.onResponse(type, Buffer.from(sealBody(JSON.stringify(body), signWith, undefined)));
  };
  return { requests, c, answer };
}

describe('correlated requests', () => {
  it('publishes a request on req/{type} and resolves with the data of the answer carrying its correlation id', async () => {
    const s = setup();
    const pending = s.requests.send(s.c, 'order.create', { slot: 1 }, 3000);
    const sent = s.c.sent[0]!;
    expect(sent.topic).toBe(topics.request('order.create'));
    expect(sent.request.data).toEqual({ slot: 1 });
    s.answer('order.create', { correlationId: sent.request.correlationId, data: { orderId: 'order-1' } });
    await expect(pending).resolves.toEqual({ orderId: 'order-1' });
    expect(s.requests.pending).toBe(0);
  });

  it('settles concurrent requests each with its own answer, whatever order the answers come in', async () => {
    const s = setup();
    const a = s.requests.send(s.c, 'order.create', { slot: 1 }, 3000);
    const b = s.requests.send(s.c, 'order.create', { slot: 2 }, 3000);
    const [ra, rb] = s.c.sent.map((x) => x.request);
    expect(ra!.correlationId).not.toBe(rb!.correlationId);
    s.answer('order.create', { correlationId: rb!.correlationId, data: 'b' });
    s.answer('order.create', { correlationId: ra!.correlationId, data: 'a' });
    await expect(Promise.all([a, b])).resolves.toEqual(['a', 'b']);
  });

  it('rejects with RequestRefused, carrying the platform reason, when the answer is an error', async () => {
    const s = setup();
    const pending = s.requests.send(s.c, 'order.create', {}, 3000);
    s.answer('order.create', {
      correlationId: s.c.sent[0]!.request.correlationId,
      error: { code: 42, reason: 'slot not sold here' },
    });
    const err = await expectVendgateError(pending, ErrorCode.RequestRefused);
    expect(err.message).toMatch(/slot not sold here/);
    expect(err.context).toMatchObject({ type: 'order.create', platformCode: 42 });
  });

  it('rejects with RequestTimeout when no answer comes in time, and ignores the late one', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const s = setup();
    const pending = s.requests.send(s.c, 'order.create', {}, 1500);
    vi.advanceTimersByTime(1500);
    const err = await expectVendgateError(pending, ErrorCode.RequestTimeout);
    expect(err.message).toMatch(/order\.create within 1500 ms/);
    expect(s.requests.pending).toBe(0);
    s.answer('order.create', { correlationId: s.c.sent[0]!.request.correlationId, data: 'late' });
    expect(s.requests.pending).toBe(0);
  });

  it('ignores an answer on another type, an unknown correlation id, or one that is not a valid envelope', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const s = setup();
    const pending = s.requests.send(s.c, 'order.create', {}, 1000);
    const id = s.c.sent[0]!.request.correlationId;
    s.answer('order.cancel', { correlationId: id, data: 'wrong type' });
    s.answer('order.create', { correlationId: 'someone-else', data: 'not ours' });
    s.answer('order.create', { correlationId: id, data: 'x', extra: 1 });
    s.requests.onResponse('order.create', Buffer.from('not json'));
    s.requests.onResponse(
      'order.create',
      Buffer.from(JSON.stringify({ correlationId: id, data: 'unsigned' })),
    );
    expect(s.requests.pending).toBe(1);
    vi.advanceTimersByTime(1000);
    await expectVendgateError(pending, ErrorCode.RequestTimeout);
  });

  it('signs each request with the gateway key, naming the gateway, its type and when the gateway stops waiting', () => {
    const s = setup();
    const before = Date.now();
    void s.requests.send(s.c, 'order.create', { slot: 1 }, 3000).catch(() => {});
    const r = s.c.sent[0]!.request;
    expect(r).toMatchObject({ type: 'order.create', gatewayId: 'gw1', data: { slot: 1 } });
    expect(r.expiresAt - r.issuedAt).toBe(3000);
    expect(r.issuedAt).toBeGreaterThanOrEqual(before);
    s.requests.abortAll();
  });

  it('refuses an answer signed for another request, for another gateway, with another key, or expired, and keeps waiting for the real one', async () => {
    const s = setup();
    const pending = s.requests.send(s.c, 'order.create', { slot: 1 }, 5000);
    const other = s.requests.send(s.c, 'order.create', { slot: 2 }, 5000);
    const [mine, theirs] = s.c.sent;
    const id = mine!.request.correlationId;
    const now = Date.now();
    // A genuine answer to the other request, replayed with this request's correlation id.
    s.answer('order.create', {
      correlationId: id,
      requestSha256: requestDigest(theirs!.body),
      data: 'replayed',
    });
    s.answer('order.create', { correlationId: id, gatewayId: 'gw2', data: 'misaddressed' });
    s.answer(
      'order.create',
      { correlationId: id, data: 'forged' },
      privateKeyFromBase64(generateRawKeyPair().privateKey),
    );
    s.answer('order.create', {
      correlationId: id,
      issuedAt: now - 60_000,
      expiresAt: now - 1,
      data: 'expired',
    });
    s.answer('order.create', { correlationId: id, type: 'order.cancel', data: 'another type' });
    expect(s.requests.pending).toBe(2);
    s.answer('order.create', { correlationId: id, data: 'genuine' });
    await expect(pending).resolves.toBe('genuine');
    s.requests.abortAll();
    await expectVendgateError(other, ErrorCode.BrokerUnreachable);
  });

  it('rejects with BrokerUnreachable when not connected, or when the publish fails', async () => {
    const s = setup();
    await expectVendgateError(
      s.requests.send(undefined, 'order.create', {}, 1000),
      ErrorCode.BrokerUnreachable,
    );
    s.c.failWith = new Error('client disconnecting');
    const err = await expectVendgateError(
      s.requests.send(s.c, 'order.create', {}, 1000),
      ErrorCode.BrokerUnreachable,
    );
    expect(err.message).toMatch(/client disconnecting/);
    expect(s.requests.pending).toBe(0);
  });

  it('rejects every waiting request with BrokerUnreachable when aborted', async () => {
    const s = setup();
    const a = s.requests.send(s.c, 'order.create', {}, 60_000);
    const b = s.requests.send(s.c, 'order.create', {}, 60_000);
    s.requests.abortAll();
    await expectVendgateError(a, ErrorCode.BrokerUnreachable);
    await expectVendgateError(b, ErrorCode.BrokerUnreachable);
    expect(s.requests.pending).toBe(0);
  });
});
