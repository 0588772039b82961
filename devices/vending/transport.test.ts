import { once } from 'node:events';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryTransportPair } from '../../testing/memory-transport.ts';
import { createTransport, openTransport, SerialTransport, TcpTransport } from './transport.ts';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('transport factory', () => {
  it('picks serialport for a device path and node:net for tcp://', () => {
    expect(createTransport('/dev/ttyUSB0')).toBeInstanceOf(SerialTransport);
    expect(createTransport('tcp://127.0.0.1:4001')).toBeInstanceOf(TcpTransport);
  });

  it('refuses URLs it cannot open, naming the accepted forms', () => {
    expect(() => createTransport('udp://x:1')).toThrow(/tcp:\/\/host:port/);
    expect(() => createTransport('tcp://nohost')).toThrow(/tcp:\/\/host:port/);
  });

  it('fails to open a serial path that does not exist', async () => {
    await expect(openTransport('/nonexistent/tty-vendgate')).rejects.toThrow();
  });

  it('carries raw bytes both ways over tcp:// and reports the peer closing', async () => {
    const server = net.createServer();
    const peer = new Promise<net.Socket>((r) => server.once('connection', r));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanup.push(() => new Promise<void>((r) => server.close(() => r())));
    const { port } = server.address() as net.AddressInfo;
    const t = await openTransport(`tcp://127.0.0.1:${port}`);
    cleanup.push(() => t.close());
    expect(t.isOpen).toBe(true);
    const sock = await peer;
    const toPeer = once(sock, 'data');
    t.write(Uint8Array.of(0xfa, 0xfb, 0x01));
    expect([...((await toPeer)[0] as Buffer)]).toEqual([0xfa, 0xfb, 0x01]);
    const fromPeer = once(t, 'data');
    sock.write(Buffer.from([1, 2, 3]));
    expect([...(await fromPeer)[0]]).toEqual([1, 2, 3]);
    const closed = once(t, 'close');
    sock.destroy();
    await closed;
    expect(t.isOpen).toBe(false);
    expect(t.write(Uint8Array.of(1))).toBe(false);
  });

  it('rejects opening tcp:// when nobody listens', async () => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((r) => server.close(() => r()));
    await expect(openTransport(`tcp://127.0.0.1:${port}`)).rejects.toThrow();
  });
});

describe('in-memory transport pair', () => {
  it('delivers bytes only while both ends are open', async () => {
    const { host, device } = createMemoryTransportPair();
    await host.open();
    expect(host.write(Uint8Array.of(1))).toBe(true); // device closed: dropped
    await device.open();
    const got = once(device, 'data');
    host.write(Uint8Array.of(2, 3));
    expect([...(await got)[0]]).toEqual([2, 3]);
    const closed = once(host, 'close');
    await host.close();
    await closed;
    expect(host.write(Uint8Array.of(4))).toBe(false);
  });

  it('lets a test drop or rewrite chunks in flight', async () => {
    const { host, device } = createMemoryTransportPair();
    await host.open();
    await device.open();
    host.filter = (c) => (c[0] === 0 ? null : Uint8Array.of(c[0]! + 1));
    const got = once(device, 'data');
    host.write(Uint8Array.of(0));
    host.write(Uint8Array.of(5));
    expect([...(await got)[0]]).toEqual([6]);
  });
});
