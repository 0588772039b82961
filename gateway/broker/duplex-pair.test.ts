import { once } from 'node:events';
import fc from 'fast-check';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { connectMqttOver } from '../../contract/mqtt-client.ts';
import { silentLogger } from '../../core/log.ts';
import { freePort } from '../../testing/ports.ts';
import { createDuplexPair } from './duplex-pair.ts';
import { startEmbeddedBroker } from './embedded.ts';

const log = silentLogger();

function next(client: mqtt.MqttClient, event: 'connect' | 'message'): Promise<unknown[]> {
  return new Promise((resolve) => client.once(event, (...args: unknown[]) => resolve(args)));
}

function collect(stream: NodeJS.ReadableStream): Buffer[] {
  const got: Buffer[] = [];
  stream.on('data', (c: Buffer) => got.push(c));
  return got;
}

describe('an in-process duplex pair', () => {
  it('delivers every byte written at either end to the other end, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 30 }),
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { maxLength: 30 }),
        fc.boolean(),
        async (aChunks, bChunks, corked) => {
          const [a, b] = createDuplexPair();
          const atB = collect(b);
          const atA = collect(a);
          if (corked) a.cork();
          for (const c of aChunks) a.write(Buffer.from(c));
          for (const c of bChunks) b.write(Buffer.from(c));
          if (corked) a.uncork();
          await new Promise((r) => setImmediate(r));
          expect(Buffer.concat(atB)).toEqual(Buffer.concat(aChunks.map((c) => Buffer.from(c))));
          expect(Buffer.concat(atA)).toEqual(Buffer.concat(bChunks.map((c) => Buffer.from(c))));
          a.destroy();
        },
      ),
      { numRuns: 100 },
    );
  });

  it('never delivers inside the writer’s own write call', () => {
    const [a, b] = createDuplexPair();
    const got = collect(b);
    a.write(Buffer.from('hello'));
    expect(got).toEqual([]);
    a.destroy();
  });

  it('ends the other end when one end ends, and closes it when one end is destroyed', async () => {
    const [a, b] = createDuplexPair();
    b.resume();
    const ended = once(b, 'end');
    a.end(Buffer.from('bye'));
    await ended;
    const [c, d] = createDuplexPair();
    const closed = once(d, 'close');
    c.destroy();
    await closed;
    expect(d.destroyed).toBe(true);
  });
});

describe('in-process connections to the embedded broker', () => {
  it('carry MQTT between an in-process client and a TCP client, trusted without a login even when users are configured', async () => {
    const broker = await startEmbeddedBroker({
      port: await freePort(),
      log,
      users: [{ username: 'display-1', password: 'secret-password', publish: ['x/#'], subscribe: ['x/#'] }],
      allowAnonymousLoopback: false,
    });
    const local = connectMqttOver(() => broker.openInProcess(), { clientId: 'local', reconnectPeriod: 0 });
    const remote = mqtt.connect(broker.url, {
      clientId: 'display-1',
      username: 'display-1',
      password: 'secret-password',
      reconnectPeriod: 0,
    });
    try {
      await Promise.all([next(local, 'connect'), next(remote, 'connect')]);
      await local.subscribeAsync('x/#', { qos: 1 });
      const got = next(local, 'message');
      await remote.publishAsync('x/1', 'from tcp', { qos: 1 });
      const [topic, payload] = (await got) as [string, Buffer];
      expect([topic, payload.toString()]).toEqual(['x/1', 'from tcp']);
      // The in-process client is outside every user ACL: it may use any topic.
      await local.publishAsync('vendgate/v1/any/status', 'ok', { qos: 1 });
    } finally {
      await local.endAsync(true);
      await remote.endAsync(true);
      await broker.close();
    }
  });

  it('reconnect through a new stream pair after the connection drops', async () => {
    const broker = await startEmbeddedBroker({ port: await freePort(), log });
    let opened = 0;
    const local = connectMqttOver(
      () => {
        opened++;
        return broker.openInProcess();
      },
      { clientId: 'local', reconnectPeriod: 20 },
    );
    try {
      await next(local, 'connect');
      local.stream.destroy();
      await next(local, 'connect');
      expect(opened).toBe(2);
    } finally {
      await local.endAsync(true);
      await broker.close();
    }
  });
});
