/**
 * Bounded input on the embedded broker's TCP listener: the packet size is
 * checked from each fixed header before the payload is buffered, a silent
 * connection is closed, and connections are capped. Memory is measured as a
 * bound on this process's RSS growth (the broker runs in it), not as a time.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import {
  type EmbeddedBroker,
  type EmbeddedBrokerOptions,
  startEmbeddedBroker,
} from '../gateway/broker/embedded.ts';
import { cleanupsAfterEach, waitUntil } from '../testing/index.ts';
import {
  connack,
  publishHeader,
  publishPacket,
  RawMqttSocket,
  rawConnect,
  subscribePacket,
} from './broker-raw-mqtt.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();
const MB = 1024 * 1024;
/** Growth allowed while a peer streams a huge packet at the broker: noise, not the packet. */
const RSS_BOUND = 24 * MB;

const login = { username: 'tool', password: 'tool-secret-password' };

async function broker(extra: Partial<EmbeddedBrokerOptions> = {}): Promise<EmbeddedBroker> {
  const b = await startEmbeddedBroker({
    port: 0,
    log,
    allowAnonymousLoopback: false,
    users: [{ ...login, publish: ['#'], subscribe: ['#'] }],
    ...extra,
  });
  cleanups.push(() => b.close());
  return b;
}

/**
 * Streams up to `total` bytes of zeros into the socket from one reused 64 KiB
 * buffer, honouring backpressure, until all is sent or the broker closed the
 * connection; returns how much was written.
 */
async function streamZeros(raw: RawMqttSocket, total: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024);
  let sent = 0;
  while (sent < total && !raw.isClosed && !raw.socket.destroyed) {
    const n = Math.min(chunk.length, total - sent);
    const ok = raw.socket.write(n === chunk.length ? chunk : chunk.subarray(0, n));
    sent += n;
    if (!ok) {
      await Promise.race([new Promise((r) => raw.socket.once('drain', r)), raw.closed]);
    }
  }
  return sent;
}

function settleHeap(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

describe('bounded input', () => {
  it('closes a raw socket announcing a 150 MB PUBLISH before any CONNECT, without buffering it', async () => {
    const b = await broker();
    settleHeap();
    const before = process.memoryUsage().rss;
    const raw = await RawMqttSocket.open(b.port);
    raw.send(publishHeader(150 * MB));
    const sent = await streamZeros(raw, 150 * MB);
    await raw.closed;
    const grown = process.memoryUsage().rss - before;
    expect(sent).toBeLessThan(150 * MB);
    expect(grown).toBeLessThan(RSS_BOUND);
  });

  it('closes a logged-in client announcing a 100 MB publish, without buffering it, and keeps serving others', async () => {
    const b = await broker();
    const { raw, connack: ack } = await rawConnect(b.port, { clientId: 'tool', ...login });
    expect(ack).toEqual(connack(false, 0));
    settleHeap();
    const before = process.memoryUsage().rss;
    // PUBLISH QoS 0 to "big": fixed header, then the topic, then the payload bytes.
    raw.send(publishHeader(100 * MB));
    const sent = await streamZeros(raw, 100 * MB);
    await raw.closed;
    const grown = process.memoryUsage().rss - before;
    expect(sent).toBeLessThan(100 * MB);
    expect(grown).toBeLessThan(RSS_BOUND);
    const other = await rawConnect(b.port, { clientId: 'tool-2', ...login });
    expect(other.connack).toEqual(connack(false, 0));
  });

  it('delivers a publish right at the packet limit and closes one a byte over it', async () => {
    const maxPacketSize = 4096;
    const b = await broker({ maxPacketSize });
    const sub = await rawConnect(b.port, { clientId: 'tool-sub', ...login });
    sub.raw.send(subscribePacket(1, [['big', 0]]));
    expect(await sub.raw.nextPacket()).toEqual(Buffer.from([0x90, 0x03, 0x00, 0x01, 0x00]));
    const pub = await rawConnect(b.port, { clientId: 'tool-pub', ...login });
    const overhead = publishPacket('big', Buffer.alloc(0)).length + 1; // one more Remaining Length byte at this size
    const atLimit = publishPacket('big', Buffer.alloc(maxPacketSize - overhead, 7));
    expect(atLimit.length).toBe(maxPacketSize);
    pub.raw.send(atLimit);
    const delivered = await sub.raw.nextPacket();
    expect(delivered?.length).toBe(maxPacketSize);
    pub.raw.send(publishPacket('big', Buffer.alloc(maxPacketSize - overhead + 1, 7)));
    await pub.raw.closed;
    expect(sub.raw.isClosed).toBe(false);
  });

  it('closes a connection that sends nothing after the CONNECT timeout', async () => {
    const b = await broker({ connectTimeoutMs: 300 });
    const raw = await RawMqttSocket.open(b.port);
    expect(await raw.restUntilClosed()).toEqual(Buffer.alloc(0));
  });

  it('closes a connection that sends only part of a CONNECT after the CONNECT timeout', async () => {
    const b = await broker({ connectTimeoutMs: 300 });
    const raw = await RawMqttSocket.open(b.port);
    raw.send(Buffer.from([0x10, 0x40, 0x00, 0x04]));
    expect(await raw.restUntilClosed()).toEqual(Buffer.alloc(0));
  });

  it('refuses connections over the cap while those under it stay open', async () => {
    const b = await broker({ maxConnections: 2 });
    const first = await rawConnect(b.port, { clientId: 'tool-1', ...login });
    const second = await rawConnect(b.port, { clientId: 'tool-2', ...login });
    const third = await RawMqttSocket.open(b.port);
    await third.closed;
    expect(first.raw.isClosed || second.raw.isClosed).toBe(false);
    first.raw.destroy();
    await first.raw.closed;
    // The freed place is taken by the next client.
    await waitUntil(async () => {
      const again = await rawConnect(b.port, { clientId: 'tool-3', ...login });
      again.raw.destroy();
      return again.connack?.equals(connack(false, 0)) === true;
    });
  });
});
