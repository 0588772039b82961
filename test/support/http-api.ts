import { connect } from 'node:net';
import { buildApi } from '../../api/server.ts';
import { silentLogger } from '../../core/log.ts';
import { DisplayHub } from '../../devices/display/hub.ts';
import { HttpLimits } from '../../gateway/config/schema.ts';
import { catalogFrom } from '../../gateway/ledger/catalog.ts';
import { OrderLedger } from '../../gateway/ledger/ledger.ts';
import { Outbox } from '../../gateway/outbox/outbox.ts';
import { openStore } from '../../gateway/store/db.ts';

export interface ListeningApi {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The operator API over a real SQLite ledger (in memory), listening on a
 * free loopback port: what `vendgate start` serves, without the devices.
 */
export async function listenApi(
  opts: { token?: string; limits?: Partial<HttpLimits>; orders?: number } = {},
): Promise<ListeningApi> {
  const db = openStore({ path: ':memory:' });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 100, telemetryTtlMs: 60_000 });
  const ledger = new OrderLedger({
    db,
    outbox,
    catalog: catalogFrom([{ machineId: 'm1', slots: [{ slot: 1 }] }]),
  });
  for (let i = 0; i < (opts.orders ?? 1); i++) {
    ledger.receivePaid({
      orderId: `order-${i}`,
      machineId: 'm1',
      slot: 1,
      price: { amount: 450, currency: 'CNY' },
      provider: 'wechat',
      expiresAt: Date.now() + 600_000,
    });
  }
  const app = await buildApi({
    ledger,
    // m1 is configured, so its kiosk page is served (an unknown display id is a 404).
    displays: new DisplayHub({ locales: { m1: 'zh-CN' } }),
    log: silentLogger(),
    health: () => ({
      status: 'ok',
      gatewayId: 'gw1',
      version: '0.0.0',
      uptimeSeconds: 1,
      platform: { connected: true, brokerUrl: 'mqtt://127.0.0.1:1883' },
      machines: [{ machineId: 'm1', online: true }],
      outbox: { ...outbox.stats() },
      orders: ledger.countByState(),
    }),
    ...(opts.token === undefined ? {} : { token: opts.token }),
    limits: HttpLimits.parse(opts.limits ?? {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    async close() {
      await app.close();
      db.close();
    },
  };
}

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent before it closed the connection. */
  raw: string;
}

/**
 * Writes `request` as bytes on a new connection and reads until the server
 * closes it: for requests a well-behaved client library would refuse to
 * send (garbage, oversized headers, broken URLs).
 */
export function rawRequest(port: number, request: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    // The server may answer and close before it has read all of an oversized request.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') reject(err);
    });
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      resolve(parseAnswer(raw));
    });
    socket.write(request);
  });
}

export function parseAnswer(raw: string): RawAnswer {
  const split = raw.indexOf('\r\n\r\n');
  const head = split === -1 ? raw : raw.slice(0, split);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return {
    status: Number(statusLine.split(' ')[1] ?? 0),
    headers,
    body: split === -1 ? '' : raw.slice(split + 4),
    raw,
  };
}
