import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RequestEnvelope } from '../../contract/envelopes.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { expectVendgateError } from '../../testing/index.ts';
import { CorrelatedRequests } from './correlated-requests.ts';

const topics = gatewayTopics('gw1');

afterEach(() => {
  vi.useRealTimers();
});

/** A connection that records each request; `failWith` fails the publish. */
function recordingConnection() {
  const connection = {
    failWith: undefined as Error | undefined,
    sent: [] as Array<{ topic: string; request: RequestEnvelope }>,
    publish(topic: string, message: string, _opts: { qos: 1 }, callback: (err?: Error) => void) {
      connection.sent.push({ topic, request: JSON.parse(message) as RequestEnvelope });
      callback(connection.failWith);
    },
  };
  return connection;
}

function setup() {
  const requests = new CorrelatedRequests({ requestTopic: topics.request, log: silentLogger() });
  const c = recordingConnection();
  const answer = (type: string | undefined, res: object) =>
    requests.onResponse(type, Buffer.from(JSON.stringify(res)));
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
    expect(s.requests.pending).toBe(1);
    vi.advanceTimersByTime(1000);
    await expectVendgateError(pending, ErrorCode.RequestTimeout);
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
