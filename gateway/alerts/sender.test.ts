import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { AlertMessage } from '../../contract/alerts.ts';
import { ErrorCode, type ErrorCodeValue, VendgateError } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { waitUntil } from '../../testing/wait.ts';
import { openStore } from '../store/db.ts';
import { type AlertLink, MqttAlertSink } from './mqtt-sink.ts';
import { AlertQueue } from './queue.ts';
import { AlertSender } from './sender.ts';
import type { AlertSink, SendOutcome } from './sink.ts';

const cleanups = cleanupsAfterEach();

type Step = 'ok' | 'retry' | 'refuse' | 'hang';

/** A sink that answers each send as its script says and records what it was given. */
class ScriptedSink implements AlertSink {
  readonly id = 'scripted';
  readonly type = 'webhook' as const;
  readonly target = 'script';
  readonly concurrency = 2;
  readonly sent: string[] = [];
  constructor(readonly script: Step[]) {}
  accepts(): boolean {
    return true;
  }
  ready(): boolean {
    return true;
  }
  onReady(): () => void {
    return () => {};
  }
  send(body: string, signal: AbortSignal): Promise<SendOutcome> {
    const step = this.script.shift() ?? 'ok';
    this.sent.push(
      `${(JSON.parse(body) as AlertMessage).key}/${(JSON.parse(body) as AlertMessage).state}/${step}`,
    );
    const error = (code: ErrorCodeValue) => new VendgateError(code, step);
    if (step === 'ok') return Promise.resolve({ ok: true });
    if (step === 'retry')
      return Promise.resolve({ ok: false, retry: true, error: error(ErrorCode.AlertWebhookFailed) });
    if (step === 'refuse')
      return Promise.resolve({ ok: false, retry: false, error: error(ErrorCode.AlertWebhookRefused) });
    return new Promise((resolve) =>
      signal.addEventListener('abort', () =>
        resolve({ ok: false, retry: true, error: error(ErrorCode.AlertWebhookTimeout) }),
      ),
    );
  }
}

function msg(key: string, state: 'raised' | 'cleared', alertId = randomUUID()): AlertMessage {
  return {
    alertId,
    gatewayId: 'gw',
    kind: 'jam',
    key,
    severity: 'critical',
    detail: key,
    state,
    since: 1,
    at: 1,
  };
}

function setup(sink: AlertSink) {
  const db = openStore({ path: ':memory:' });
  const queue = new AlertQueue({ db, queueMax: 100, log: silentLogger() });
  const sender = new AlertSender({ sink, queue, retry: { initialMs: 10, maxMs: 40 }, log: silentLogger() });
  const put = (m: AlertMessage) => {
    queue.enqueue(sink.id, m, JSON.stringify(m), Date.now(), sender.busy);
    sender.kick();
  };
  cleanups.push(async () => {
    await sender.stop();
    db.close();
  });
  return { queue, sender, put };
}

describe('the alert sender', () => {
  it('retries a failing alert with backoff until it is delivered, once', async () => {
    const sink = new ScriptedSink(['retry', 'retry', 'ok']);
    const { queue, sender, put } = setup(sink);
    sender.start();
    put(msg('jam:m1:1', 'raised'));
    await waitUntil(() => queue.counts(sink.id).delivered === 1, { what: 'delivered' });
    expect(sink.sent).toEqual(['jam:m1:1/raised/retry', 'jam:m1:1/raised/retry', 'jam:m1:1/raised/ok']);
    expect(queue.list(sink.id, 'delivered', 10)[0]).toMatchObject({ attempts: 3 });
  });

  it('sends a refused raised no more, and then the cleared of the same condition', async () => {
    const sink = new ScriptedSink(['refuse', 'ok']);
    const { queue, sender, put } = setup(sink);
    const a = msg('jam:m1:1', 'raised');
    put(a);
    put({ ...a, state: 'cleared' });
    sender.start();
    await waitUntil(() => queue.counts(sink.id).pending === 0, { what: 'queue empty' });
    expect(sink.sent).toEqual(['jam:m1:1/raised/refuse', 'jam:m1:1/cleared/ok']);
    expect(queue.counts(sink.id)).toMatchObject({ delivered: 1, failed: 1 });
  });

  it('goes on with other conditions while one attempt hangs, and leaves the hanging one pending when stopped', async () => {
    const sink = new ScriptedSink(['hang', 'ok', 'ok']);
    const { queue, sender, put } = setup(sink);
    sender.start();
    put(msg('jam:m1:1', 'raised'));
    put(msg('jam:m1:2', 'raised'));
    put(msg('jam:m1:3', 'raised'));
    await waitUntil(() => queue.counts(sink.id).delivered === 2, { what: 'the others delivered' });
    await sender.stop();
    expect(queue.list(sink.id, 'pending', 10)).toMatchObject([{ key: 'jam:m1:1', attempts: 0 }]);
  });
});

class FakeLink extends EventEmitter implements AlertLink {
  connected = false;
  readonly published: Array<{ topic: string; body: string }> = [];
  async publishSigned(topic: string, body: string): Promise<void> {
    if (!this.connected) throw new Error('the platform link is not connected');
    this.published.push({ topic, body });
  }
}

describe('the MQTT alert sink', () => {
  it('attempts nothing while the link is down and publishes the queue once it connects', async () => {
    const link = new FakeLink();
    const sink = new MqttAlertSink(link, 'vendgate/v1/gw/alert');
    const { queue, sender, put } = setup(sink);
    sender.start();
    put(msg('jam:m1:1', 'raised'));
    await new Promise((r) => setImmediate(r));
    expect(queue.list('mqtt', 'pending', 10)).toMatchObject([{ attempts: 0 }]);
    link.connected = true;
    link.emit('connect');
    await waitUntil(() => queue.counts('mqtt').delivered === 1, { what: 'published' });
    expect(link.published.map((p) => p.topic)).toEqual(['vendgate/v1/gw/alert']);
  });

  it('reports a refused publish as retryable', async () => {
    const link = new FakeLink();
    const o = await new MqttAlertSink(link, 't').send('{}', new AbortController().signal);
    expect(o).toMatchObject({ ok: false, retry: true, error: { code: ErrorCode.AlertPublishFailed } });
  });
});
