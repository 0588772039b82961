import { createServer, type Socket, connect as tcpConnect } from 'node:net';

export interface TcpProxy {
  url: string;
  port: number;
  /** Destroys every proxied connection on both sides at once, as a cut cable would. */
  cutAll(): void;
  close(): Promise<void>;
}

/** A loopback TCP proxy in front of a broker, so a test can kill a client's connection abruptly. */
export async function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer({ noDelay: true }, (inbound) => {
    const outbound = tcpConnect({ host: target.host ?? '127.0.0.1', port: target.port, noDelay: true });
    const pair: [Socket, Socket] = [inbound, outbound];
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  const cutAll = () => {
    for (const [a, b] of pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    cutAll,
    close() {
      cutAll();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
