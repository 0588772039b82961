import { createRootLogger, namespaced } from '../../core/log.ts';
import { SimPlatform } from '../../firmware-sim/platform/platform.ts';
import { applyEnvOverrides, parseConfig } from '../../gateway/config/load.ts';
import { startGateway } from '../gateway.ts';
import { waitForSignal } from '../signals.ts';
import { parseDemoOptions } from './options.ts';
import { demoScenes, startDemoScript } from './scenes.ts';
import { DEMO_BEACON, DEMO_SITE_STOCK, startSimSite } from './site.ts';

/** `vendgate demo --platform sim`: the gateway and a simulated site, orders placed by the simulated platform (no providers). */
export async function runSimPlatformDemo(args: string[]): Promise<number> {
  const o = parseDemoOptions(args, { rate: 0.5, platform: 'sim' });

  const dir = o.dir;
  const site = await startSimSite({
    dir,
    machines: o.machines,
    cashlessMachines: o.cashless,
    payFirstMachines: o.payFirst,
    ...DEMO_SITE_STOCK,
    beacons: true,
    httpPort: o.httpPort,
    brokerPort: o.brokerPort,
  });
  const config = parseConfig(
    applyEnvOverrides(site.config, process.env),
    'demo site (and VENDGATE_* variables)',
  );
  const log = createRootLogger({ level: config.log.level, pretty: true });
  const gw = await startGateway({ config, log });
  const platform = new SimPlatform({
    brokerUrl: gw.brokerUrl,
    gatewayId: config.gatewayId,
    privateKey: site.keys.privateKey,
    adoptFirstSeq: true,
  });
  await platform.connect();
  const plog = namespaced(log, 'platform-sim');
  log.info(
    {
      dashboard: gw.httpUrl,
      broker: gw.brokerUrl,
      machines: site.machines.map((m) => m.pty.hostPath),
      dataDir: dir,
    },
    `demo site running: dashboard ${gw.httpUrl}/ (Ctrl-C to stop)`,
  );
  for (const m of [...site.machines, ...site.cashless]) {
    log.info(`payment display of ${m.id}: ${gw.httpUrl}/display/${m.id}`);
  }
  for (const c of site.cashless) {
    log.info(`press a button on ${c.id}: npx vendgate sim select --control ${c.controlPort} --item 2`);
  }

  // Select-then-pay: the platform creates an order for each vend request, and
  // the simulated customer scans and pays a few seconds later (most of the time).
  let created = 0;
  platform.onRequest('order.create', (data) => {
    const d = data as { machineId: string; slot: number; price: { amount: number; currency: string } };
    const orderId = `demo-cl-${Date.now().toString(36)}-${++created}`;
    const willPay = created % 5 !== 0;
    if (willPay) {
      const paid = { orderId, machineId: d.machineId, slot: d.slot, price: d.price, provider: 'wechat' };
      setTimeout(
        () => void platform.placeOrder({ ...paid, expiresAt: Date.now() + 7200_000 }).catch(() => {}),
        6000,
      );
    }
    plog.info({ orderId, machineId: d.machineId, item: d.slot, willPay }, 'created a payment order');
    return {
      orderId,
      paymentUrl: `https://pay.example.com/o/${orderId}`,
      providers: ['wechat', 'alipay'],
      expiresAt: Date.now() + 7200_000,
    };
  });
  let press = 0;
  const customers = setInterval(() => {
    for (const c of site.cashless) c.sim.select(1 + (press++ % 6));
  }, 20_000);
  // Shake claims near the entrance beacon, from a handful of visitors.
  let shake = 0;
  const shakes = setInterval(() => {
    const claim = { userId: `demo-visitor-${shake++ % 7}`, beaconId: DEMO_BEACON, seenAt: Date.now() };
    void platform.sendCommand('coupon.claim', claim).catch(() => {});
  }, 12_000);

  // Pay first: the customer pays a credit, then chooses on the machine.
  let credits = 0;
  const payFirstCustomers = setInterval(() => {
    for (const c of site.payFirst) {
      const orderId = `demo-pf-${Date.now().toString(36)}-${++credits}`;
      const credit = {
        orderId,
        machineId: c.id,
        credit: { amount: 500, currency: 'CNY' },
        provider: 'wechat',
        expiresAt: Date.now() + 3600_000,
      };
      void platform.sendCommand('credit.paid', credit).catch(() => {});
      setTimeout(() => c.sim.select(1 + (credits % 3)), 5000);
    }
  }, 30_000);

  // Place orders at the given rate, at the catalogue's price; some are duplicated as providers retry.
  let n = 0;
  const rate = o.rate;
  const paidOrder = (machineId: string, slot: number) => ({
    orderId: `demo-${Date.now().toString(36)}-${n++}`,
    machineId,
    slot,
    price: gw.catalogue.slot(machineId, slot)?.price ?? { amount: 350, currency: 'CNY' },
    provider: n % 2 ? 'wechat' : 'alipay',
    expiresAt: Date.now() + 2 * 3600_000,
  });
  const timer = setInterval(
    () => {
      const m = site.machines[n % site.machines.length]!;
      const order = paidOrder(m.id, 1 + (n % 5));
      void platform
        .placeOrder(order)
        .catch((err: Error) => plog.warn({ err: err.message }, 'order not sent'));
      if (n % 5 === 0) {
        setTimeout(() => void platform.placeOrder(order).catch(() => {}), 1500);
      }
    },
    Math.max(50, 1000 / rate),
  );
  const first = site.machines[0];
  const script =
    !o.scenes || !first
      ? undefined
      : startDemoScript(
          demoScenes({
            machineId: first.id,
            machineIds: site.machines.map((m) => m.id),
            slots: (config.machines.find((c) => c.id === first.id)?.slots ?? []).map((s) => s.slot),
            board: (id) => site.machines.find((m) => m.id === id)?.board,
            send: (type, data) => platform.sendCommand(type, data),
            buy: async (machineId, slot) => {
              await platform.placeOrder(paidOrder(machineId, slot));
            },
            price: (machineId, slot) => gw.catalogue.slot(machineId, slot)?.price ?? undefined,
            capacity: DEMO_SITE_STOCK.capacity,
            ...(site.dex ? { dexMachineId: site.dex.machineId } : {}),
            log: namespaced(log, 'scenes'),
          }),
          { everyMs: o.sceneEveryMs, log: namespaced(log, 'scenes') },
        );
  const summary = setInterval(() => {
    plog.info(
      {
        events: platform.events.length,
        vends: platform.eventsOfType('vend.succeeded').length,
        refunds: platform.eventsOfType('refund.requested').length,
        coupons: platform.eventsOfType('coupon.issued').length,
        beacons: platform.eventsOfType('beacon.found').length,
        orders: gw.ledger.countByState(),
      },
      'platform view',
    );
  }, 10_000);

  await waitForSignal();
  script?.stop();
  clearInterval(payFirstCustomers);
  clearInterval(timer);
  clearInterval(summary);
  clearInterval(customers);
  clearInterval(shakes);
  await platform.close();
  await gw.stop();
  await site.stop();
  return 0;
}
