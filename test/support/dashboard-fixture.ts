/**
 * A fastify server with the dashboard and fixture answers in the shapes of
 * the operator endpoints (machines, conditions, stock, sales, sessions,
 * coupons, beacons), for the dashboard's browser tests and screenshots.
 * The page and its assets are the real plugin; only the data is made up.
 * `omit` leaves endpoints out, as an older gateway would (404).
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { dashboardPlugin } from '../../api/dashboard/plugin.ts';

export type FixtureEndpoint =
  | 'machines'
  | 'conditions'
  | 'stock'
  | 'sales'
  | 'sessions'
  | 'coupons'
  | 'beacons';

export interface DashboardFixture {
  app: FastifyInstance;
  url: string;
  port: number;
  refills: Array<{ machineId: string; body: unknown }>;
  close(): Promise<void>;
}

const TZ = 'Asia/Shanghai';
const MIN = 60_000;

/** YYYY-MM-DD in the site's zone, `daysAgo` days before now. */
function siteDay(now: number, daysAgo: number): string {
  return new Intl.DateTimeFormat('en-CA', {
    timeZone: TZ,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
  }).format(now - daysAgo * 86_400_000);
}

const PRODUCTS: Record<string, Record<number, string>> = {
  m1: { 1: 'Cola 330 ml', 2: 'Oolong Tea 500 ml', 3: 'Water 550 ml', 4: 'Orange Juice' },
  c1: { 1: '乌龙茶 500 ml', 2: 'Green Tea', 3: 'Coffee' },
};

export async function startDashboardFixture(
  opts: { omit?: readonly FixtureEndpoint[]; now?: number; port?: number } = {},
): Promise<DashboardFixture> {
  const now = opts.now ?? Date.now();
  const omit = new Set(opts.omit ?? []);
  const app = Fastify();
  const refills: DashboardFixture['refills'] = [];
  const security = [{}];
  await app.register(dashboardPlugin, {
    site: { gatewayId: 'lobby-gw', timeZone: TZ, locale: 'zh-CN', products: PRODUCTS, pollMs: 1000 },
    security,
  });

  app.get('/health', async (_req, reply) =>
    reply.status(503).send({
      status: 'degraded',
      gatewayId: 'lobby-gw',
      version: '0.1.0',
      uptimeSeconds: 86_400,
      platform: { connected: true, brokerUrl: 'mqtt://127.0.0.1:1883' },
      machines: [
        { machineId: 'm1', online: true },
        { machineId: 'c1', online: false },
      ],
      outbox: { pending: 3, dropped: 0, expired: 0, lastSeq: 4812, lastAckAt: now - 2 * MIN },
      orders: { dispensed: 118, refund_requested: 2, unresolved: 1 },
    }),
  );
  const order = (
    orderId: string,
    machineId: string,
    slot: number,
    amount: number,
    state: string,
    ago: number,
    note: string | null = null,
  ) => ({
    orderId,
    flow: machineId.startsWith('c') ? 'cashless' : 'remote',
    machineId,
    slot,
    price: { amount, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: now + 3600_000,
    state,
    vendToken: 7,
    attempts: 1,
    outcomeCode: note ? 2001 : null,
    outcomeNote: note,
    createdAt: now - ago - 5000,
    updatedAt: now - ago,
  });
  const ORDERS = [
    order('ORD-20261202-0131', 'm1', 1, 350, 'dispensed', 1 * MIN),
    order(
      'ORD-20261202-0130',
      'c1',
      2,
      400,
      'refund_requested',
      7 * MIN,
      'the machine reported the vend failed',
    ),
    order('ORD-20261202-0129', 'm1', 2, 450, 'dispensed', 12 * MIN),
    order('ORD-20261202-0128', 'm1', 4, 600, 'unresolved', 35 * MIN, 'no answer from the slot board'),
    order('ORD-20261202-0127', 'm1', 3, 250, 'dispensed', 50 * MIN),
  ];
  app.get<{ Querystring: { state?: string; limit?: string } }>('/api/orders', async (req) => {
    const orders = ORDERS.filter((o) => !req.query.state || o.state === req.query.state);
    return { orders, count: orders.length };
  });

  const route = (name: FixtureEndpoint, path: string, body: () => unknown) => {
    if (!omit.has(name)) app.get(path, async () => body());
  };
  route('machines', '/api/machines', () => ({
    machines: [
      {
        machineId: 'm1',
        driver: 'slot-board',
        online: true,
        doorOpen: false,
        temperatureDeciC: 45,
        lastSeenAt: now - 4000,
      },
      { machineId: 'c1', driver: 'mdb', online: false, doorOpen: true, lastSeenAt: now - 9 * MIN },
    ],
  }));
  route('conditions', '/api/conditions', () => ({
    active: [
      {
        key: 'offline:c1:-',
        kind: 'offline',
        machineId: 'c1',
        severity: 'critical',
        detail: 'no answer for 9 min',
        since: now - 9 * MIN,
        updatedAt: now - 10_000,
      },
      {
        key: 'door_open:c1:-',
        kind: 'door_open',
        machineId: 'c1',
        severity: 'warning',
        detail: 'door open for 12 min',
        since: now - 12 * MIN,
        updatedAt: now - 10_000,
      },
      {
        key: 'low_stock:m1:2',
        kind: 'low_stock',
        machineId: 'm1',
        slot: 2,
        severity: 'warning',
        detail: '2 left of 20',
        since: now - 40 * MIN,
        updatedAt: now - MIN,
      },
    ],
    recent: [
      {
        key: 'jam:m1:3',
        kind: 'jam',
        machineId: 'm1',
        slot: 3,
        severity: 'critical',
        detail: 'motor stalled',
        since: now - 90 * MIN,
        updatedAt: now - 80 * MIN,
        clearedAt: now - 75 * MIN,
      },
    ],
  }));
  route('stock', '/api/stock', () => ({
    machines: [
      {
        machineId: 'm1',
        slots: [
          {
            slot: 1,
            product: 'Cola 330 ml',
            price: { amount: 350, currency: 'CNY' },
            enabled: true,
            level: 14,
            capacity: 20,
            lowAt: 3,
            source: 'counted',
          },
          {
            slot: 2,
            product: 'Oolong Tea 500 ml',
            price: { amount: 450, currency: 'CNY' },
            enabled: true,
            level: 2,
            capacity: 20,
            lowAt: 3,
            source: 'counted',
          },
          {
            slot: 3,
            product: 'Water 550 ml',
            price: { amount: 250, currency: 'CNY' },
            enabled: true,
            level: 18,
            capacity: 20,
            lowAt: 3,
            source: 'counted',
          },
          {
            slot: 4,
            product: 'Orange Juice',
            price: { amount: 600, currency: 'CNY' },
            enabled: false,
            level: 0,
            capacity: 12,
            lowAt: 2,
            source: 'counted',
          },
        ],
      },
      {
        machineId: 'c1',
        slots: [
          {
            slot: 1,
            product: '乌龙茶 500 ml',
            price: null,
            enabled: true,
            level: 6,
            capacity: 8,
            lowAt: 1,
            source: 'sensed',
          },
          {
            slot: 2,
            product: 'Green Tea',
            price: null,
            enabled: true,
            level: 5,
            capacity: 8,
            lowAt: 1,
            source: 'sensed',
          },
        ],
      },
    ],
  }));
  if (!omit.has('sales'))
    app.get<{ Querystring: { days?: string } }>('/api/sales', async (req) => {
      const n = Number(req.query.days ?? 7);
      const days = [];
      for (let i = n - 1; i >= 0; i--) {
        const k = (i * 7 + 3) % 5;
        days.push({
          date: siteDay(now, i),
          byMachine: [
            { machineId: 'm1', currency: 'CNY', count: 20 + k * 3, revenue: (20 + k * 3) * 380 },
            { machineId: 'c1', currency: 'CNY', count: 8 + k, revenue: (8 + k) * 400 },
          ],
          byProduct: [
            {
              machineId: 'm1',
              slot: 1,
              product: 'Cola 330 ml',
              currency: 'CNY',
              count: 9 + k,
              revenue: (9 + k) * 350,
            },
            {
              machineId: 'm1',
              slot: 2,
              product: 'Oolong Tea 500 ml',
              currency: 'CNY',
              count: 6 + k,
              revenue: (6 + k) * 450,
            },
            { machineId: 'm1', slot: 3, currency: 'CNY', count: 5 + k, revenue: (5 + k) * 250 },
            {
              machineId: 'c1',
              slot: 1,
              product: '乌龙茶 500 ml',
              currency: 'CNY',
              count: 8 + k,
              revenue: (8 + k) * 400,
            },
          ],
          refunds: i === 0 ? [{ currency: 'CNY', count: 1, amount: 400 }] : [],
        });
      }
      return { timeZone: TZ, days };
    });
  route('sessions', '/api/sessions', () => ({
    sessions: [
      {
        sessionId: 's-41',
        machineId: 'c1',
        item: 2,
        price: { amount: 400, currency: 'CNY' },
        state: 'ended',
        startedAt: now - 8 * MIN,
        endedAt: now - 7 * MIN,
        outcome: 'vend_failed',
      },
      {
        sessionId: 's-40',
        machineId: 'c1',
        item: 1,
        price: { amount: 400, currency: 'CNY' },
        state: 'ended',
        startedAt: now - 25 * MIN,
        endedAt: now - 24 * MIN,
        outcome: 'vended',
      },
      {
        sessionId: 's-39',
        machineId: 'c1',
        item: 3,
        price: { amount: 500, currency: 'CNY' },
        state: 'ended',
        startedAt: now - 31 * MIN,
        endedAt: now - 29 * MIN,
        outcome: 'payment_timeout',
      },
    ],
  }));
  route('coupons', '/api/coupons', () => ({
    campaigns: [
      {
        id: 'spring',
        name: 'Spring shake',
        source: 'platform',
        state: 'active',
        startsAt: now - 86_400_000,
        endsAt: now + 86_400_000,
        budget: { count: 500, money: { amount: 50_000, currency: 'CNY' } },
        issued: { count: 212, money: { amount: 21_200, currency: 'CNY' } },
        redeemed: { count: 97, discount: { amount: 9_700, currency: 'CNY' } },
        endedAt: null,
        endedReason: null,
      },
      {
        id: 'launch',
        name: 'Launch week',
        source: 'config',
        state: 'exhausted',
        startsAt: now - 7 * 86_400_000,
        endsAt: now + 86_400_000,
        budget: { count: 100, money: { amount: 20_000, currency: 'CNY' } },
        issued: { count: 100, money: { amount: 20_000, currency: 'CNY' } },
        redeemed: { count: 81, discount: { amount: 16_200, currency: 'CNY' } },
        endedAt: null,
        endedReason: null,
      },
    ],
  }));
  route('beacons', '/api/beacons', () => ({
    scanner: 'scanning',
    simulated: false,
    beacons: [
      {
        id: 'b-lobby',
        name: 'Lobby door',
        location: 'Building B',
        present: true,
        lastSeenAt: now - 3000,
        sightings: 5120,
        rssi: -63.4,
        batteryMv: 2950,
        batteryPercent: 81,
        temperatureC: 22.5,
        reboots: 0,
        cloneSuspected: false,
        cloneReason: null,
      },
      {
        id: 'b-canteen',
        name: 'Canteen',
        location: null,
        present: false,
        lastSeenAt: now - 50 * MIN,
        sightings: 210,
        rssi: null,
        batteryMv: 2200,
        batteryPercent: 9,
        temperatureC: null,
        reboots: 3,
        cloneSuspected: true,
        cloneReason: 'seen at two addresses at once',
      },
    ],
  }));
  app.post<{ Params: { machineId: string } }>('/api/machines/:machineId/refill', async (req) => {
    refills.push({ machineId: req.params.machineId, body: req.body });
    return { ok: true };
  });

  await app.listen({ host: '127.0.0.1', port: opts.port ?? 0 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return { app, url: `http://127.0.0.1:${port}`, port, refills, close: () => app.close() };
}
