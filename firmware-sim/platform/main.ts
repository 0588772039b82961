import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createRootLogger, namespaced } from '../../core/log.ts';
import { type PaidOrder, type SentCommand, SimPlatform } from './platform.ts';

/**
 * A simulated operator platform as its own process, for the demo: connects to
 * the broker, places paid orders at a steady rate on the given machines and
 * slots (some duplicated, as providers retry notifications, and some already
 * expired), acknowledges the gateway's events, and prints a summary.
 *
 *   tsx firmware-sim/platform/main.ts --broker mqtt://127.0.0.1:1883 --gateway shop-1 \
 *     --key <base64 Ed25519 seed> --machines m1:1-6,m2:1-10 --rate 2 --duplicates 0.1 --late 0.05
 */
const USAGE = `usage: platform-sim --broker URL --gateway ID --key BASE64_SEED --machines m1:1-6[,m2:1-10]
  [--rate ORDERS_PER_SECOND (1)] [--duplicates FRACTION (0.1)] [--late FRACTION (0.05)]
  [--count MAX_ORDERS] [--price MINOR_UNITS (350)] [--currency CNY] [--summary-every MS (5000)]
  [--username U --password P]   (the key may also come from VENDGATE_PLATFORM_KEY)`;

const { values } = parseArgs({
  options: {
    broker: { type: 'string', default: 'mqtt://127.0.0.1:1883' },
    gateway: { type: 'string' },
    key: { type: 'string' },
    machines: { type: 'string', default: 'm1:1-6' },
    rate: { type: 'string', default: '1' },
    duplicates: { type: 'string', default: '0.1' },
    late: { type: 'string', default: '0.05' },
    count: { type: 'string' },
    price: { type: 'string', default: '350' },
    currency: { type: 'string', default: 'CNY' },
    'summary-every': { type: 'string', default: '5000' },
    username: { type: 'string' },
    password: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});

function fail(message: string): never {
  console.error(`platform-sim: ${message}\n${USAGE}`);
  process.exit(2);
}

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const key = values.key ?? process.env.VENDGATE_PLATFORM_KEY;
if (!values.gateway) fail('--gateway is required');
if (!key) fail('--key (or VENDGATE_PLATFORM_KEY) is required');

function fraction(name: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || n > 1) fail(`--${name} must be a number from 0 to 1, got "${raw}"`);
  return n;
}

/** "m1:1-6,m2:3,m2:8-9" -> [[m1,1]...[m1,6],[m2,3],[m2,8],[m2,9]] */
function parseMachines(spec: string): Array<{ machineId: string; slot: number }> {
  const out: Array<{ machineId: string; slot: number }> = [];
  for (const part of spec.split(',').filter(Boolean)) {
    const m = /^([A-Za-z0-9_-]{1,32}):(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) fail(`--machines entry "${part}" is not MACHINE:SLOT or MACHINE:FIRST-LAST`);
    const from = Number(m[2]);
    const to = Number(m[3] ?? m[2]);
    if (from < 1 || to > 255 || to < from) fail(`--machines entry "${part}" has slots outside 1-255`);
    for (let s = from; s <= to; s++) out.push({ machineId: m[1]!, slot: s });
  }
  if (out.length === 0) fail('--machines lists no slots');
  return out;
}

const rate = Number(values.rate);
if (!Number.isFinite(rate) || rate <= 0) fail(`--rate must be a positive number, got "${values.rate}"`);
const duplicates = fraction('duplicates', values.duplicates);
const late = fraction('late', values.late);
const maxOrders = values.count !== undefined ? Number(values.count) : Number.POSITIVE_INFINITY;
const price = Number(values.price);
if (!Number.isInteger(price) || price < 0)
  fail(`--price must be an integer in minor units, got "${values.price}"`);
const summaryEvery = Number(values['summary-every']);
const slots = parseMachines(values.machines);

const log = namespaced(createRootLogger(), 'platform-sim');
const platform = new SimPlatform({
  brokerUrl: values.broker,
  gatewayId: values.gateway,
  privateKey: key,
  adoptFirstSeq: true,
  log,
  ...(values.username !== undefined ? { username: values.username } : {}),
  ...(values.password !== undefined ? { password: values.password } : {}),
});

const stats = { placed: 0, duplicates: 0, late: 0, failed: 0 };
const placed: SentCommand[] = [];
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

async function placeOne(): Promise<void> {
  const now = Date.now();
  const prev = placed.length > 0 && Math.random() < duplicates ? pick(placed) : undefined;
  if (prev) {
    // A provider retry: the same order again, as a new signed notification.
    await platform.placeOrder(prev.body.data as PaidOrder);
    stats.duplicates++;
    return;
  }
  const { machineId, slot } = pick(slots);
  const isLate = Math.random() < late;
  const order: PaidOrder = {
    orderId: `sim-${now.toString(36)}-${randomBytes(3).toString('hex')}`,
    machineId,
    slot,
    price: { amount: price, currency: values.currency },
    provider: pick(['wechat', 'alipay']),
    // A late notification: the order's own expiry passed; the gateway must refund, not dispense.
    expiresAt: isLate ? now - 1000 : now + 10 * 60_000,
  };
  placed.push(await platform.placeOrder(order));
  if (placed.length > 1000) placed.shift();
  stats.placed++;
  if (isLate) stats.late++;
}

function summary(): string {
  const count = (t: string) => platform.eventsOfType(t).length;
  const multiRefund = [...platform.refunds.values()].filter((n) => n > 1).length;
  return [
    `orders ${stats.placed} (+${stats.duplicates} duplicate notifications, ${stats.late} late, ${stats.failed} publish failures)`,
    `events ${platform.events.length} up to seq ${platform.contiguousSeq}: accepted ${count('order.accepted')}, vended ${count('vend.succeeded')}, failed ${count('vend.failed')}, refunds ${count('refund.requested')}, duplicate answers ${count('order.state')}, rejected ${count('command.rejected')}, unresolved ${count('order.unresolved')}`,
    `gaps ${platform.seqGaps().length}, resent deliveries ${platform.duplicateDeliveries}, orders refunded twice ${multiRefund}, gateway ${platform.lastStatus?.state ?? 'unknown'}`,
  ].join('\n  ');
}

await platform.connect();
console.log(
  `platform-sim: connected to ${values.broker} for gateway ${values.gateway}; ${slots.length} slots`,
);

const interval = setInterval(() => {
  if (stats.placed + stats.duplicates >= maxOrders) return;
  placeOne().catch((err: Error) => {
    stats.failed++;
    log.warn({ err: err.message }, 'placing an order failed');
  });
}, 1000 / rate);
const reporter = setInterval(() => console.log(`platform-sim:\n  ${summary()}`), summaryEvery);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(interval);
  clearInterval(reporter);
  console.log(`platform-sim: final\n  ${summary()}`);
  await platform.close();
  process.exit(0);
}
process.on('SIGINT', () => void shutdown());
process.on('SIGTERM', () => void shutdown());
