/**
 * The whole payments chain for `npm start`: the WeChat Pay and Alipay
 * sandboxes (their own processes, their own keys), the platform service on
 * a SQLite file, and the gateway with its simulated site on the embedded
 * broker. The machines' static QR codes open the platform's phone page; the
 * order page links to the sandbox's simulated phone, so a person can buy a
 * drink by hand and watch it dispense (or, after a jam, be refunded at the
 * sandbox). Simulated customers keep buying in the background.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createRootLogger, namespaced } from '../../core/log.ts';
import { spawnAlipaySandbox } from '../../firmware-sim/providers/alipay/spawn.ts';
import { spawnWechatSandbox } from '../../firmware-sim/providers/wechatpay/spawn.ts';
import { applyEnvOverrides, parseConfig } from '../../gateway/config/load.ts';
import { parsePaymentsConfig } from '../../platform/payments/config.ts';
import { AlipayProvider } from '../../platform/providers/alipay/index.ts';
import { WechatPayProvider } from '../../platform/providers/wechatpay/index.ts';
import { startPlatformService } from '../../platform/service.ts';
import { startGateway } from '../gateway.ts';
import { waitForSignal } from '../signals.ts';
import { parseDemoOptions } from './options.ts';
import { demoScenes, startDemoScript } from './scenes.ts';
import { DEMO_BEACON, DEMO_SITE_STOCK, startSimSite } from './site.ts';

const MCHID = '1230000109';
const APPID = 'wxd678efh567hg6787';
const SERIAL = '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C';
const ALIPAY_APP = '2021000000000042';
const ALIPAY_SELLER = '2088000000000042';

function rsa() {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export async function runChainDemo(args: string[]): Promise<number> {
  const o = parseDemoOptions(args, { rate: 0.2 });
  const dir = o.dir;
  const platformPort = o.platformPort;
  const base = `http://127.0.0.1:${platformPort}`;
  // VENDGATE_LOG_LEVEL, if set, as for every command; info otherwise.
  const log = createRootLogger({ pretty: true });

  const merchant = rsa();
  const app = rsa();
  const apiV3Key = randomBytes(16).toString('hex');
  const [wechatSandbox, alipaySandbox] = await Promise.all([
    spawnWechatSandbox({
      mode: 'domestic',
      mchid: MCHID,
      appid: APPID,
      merchantSerialNo: SERIAL,
      merchantPublicKeyPem: merchant.publicPem,
      apiV3Key,
      retryScale: 0.01,
    }),
    spawnAlipaySandbox({
      appPublicKey: app.publicPem,
      appId: ALIPAY_APP,
      sellerId: ALIPAY_SELLER,
      retryScale: 0.01,
      billsSameDay: true,
    }),
  ]);

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
  const gatewayId = site.config.gatewayId ?? 'demo-site';
  // The machines' stickers open the platform's phone page for that machine.
  for (const m of site.config.machines ?? []) {
    if (m.display) m.display.staticQrUrl = `${base}/m/${gatewayId}/${m.id}`;
  }
  const config = parseConfig(
    applyEnvOverrides(site.config, process.env),
    'demo site (and VENDGATE_* variables)',
  );
  const gw = await startGateway({ config, log });

  const catalogue = [
    {
      gatewayId,
      machines: [
        ...site.machines.map((m) => {
          const entry = config.machines.find((c) => c.id === m.id);
          return {
            machineId: m.id,
            name: entry?.display?.name ?? m.id,
            currency: entry?.currency ?? 'CNY',
            products: (entry?.slots ?? []).map((s) => ({
              slot: s.slot,
              name: s.name ?? `Slot ${s.slot}`,
              price: (s as { price?: number }).price ?? 350,
            })),
          };
        }),
        ...site.payFirst.map((c) => ({
          // Pay first, then choose: the phone page sells a credit of the dearest item; the
          // MDB simulator's items cost 3.50 + 0.50 a step, as the site set them.
          machineId: c.id,
          name: `${c.id} (pay first)`,
          currency: 'CNY',
          mode: 'pay-first' as const,
          products: Array.from({ length: 6 }, (_, i) => ({
            slot: i + 1,
            name: `Item ${i + 1}`,
            price: 350 + 50 * i,
          })),
        })),
      ],
    },
  ];
  const plog = namespaced(log, 'platform');
  const platform = await startPlatformService({
    dataDir: join(dir, 'platform'),
    store: {
      backend: 'sqlite',
      sqlitePath: join(dir, 'platform', 'platform.db'),
      payerHashKey: randomBytes(32),
    },
    fleet: { brokerUrl: gw.brokerUrl, protocolVersion: 4 },
    signingKeys: [{ keyId: 'default', privateKey: site.keys.privateKey }],
    providers: {
      wechat: new WechatPayProvider({
        config: {
          baseUrl: wechatSandbox.url,
          mchid: MCHID,
          appid: APPID,
          merchantSerialNo: SERIAL,
          merchantPrivateKey: merchant.privatePem,
          apiV3Key,
          platformKeys: { [wechatSandbox.platformSerial]: wechatSandbox.platformPublicKeyPem },
          timeoutMs: 3000,
        },
        refundNotifyUrl: `${base}/notify/wechat`,
        log: namespaced(log, 'wechatpay'),
      }),
      alipay: new AlipayProvider(
        {
          gatewayUrl: alipaySandbox.gatewayUrl,
          appId: ALIPAY_APP,
          sellerId: ALIPAY_SELLER,
          appPrivateKey: app.privatePem,
          alipayPublicKey: alipaySandbox.alipayPublicKey,
          requestTimeoutMs: 3000,
        },
        { log: namespaced(log, 'alipay') },
      ),
    },
    payments: parsePaymentsConfig({
      publicBaseUrl: base,
      catalogue,
      pollIntervalMs: 5000,
      refundRetryMs: 1000,
    }),
    http: {
      host: '127.0.0.1',
      port: platformPort,
      payLinks: {
        wechat: (qr) => `${wechatSandbox.url}/sandbox/phone?code=${encodeURIComponent(qr)}`,
        alipay: (qr) => `${alipaySandbox.phoneUrl}?qr=${encodeURIComponent(qr)}`,
      },
    },
    log: plog,
  });

  log.info(
    { dashboard: gw.httpUrl, platform: `${base}/ops`, wechat: wechatSandbox.url, alipay: alipaySandbox.url },
    `demo chain running: dashboard ${gw.httpUrl}/ · platform ${base}/ops (Ctrl-C to stop)`,
  );
  for (const m of site.machines) {
    log.info(
      `buy a drink at ${m.id} by hand: open ${base}/m/${gatewayId}/${m.id} (its kiosk: ${gw.httpUrl}/display/${m.id})`,
    );
  }
  for (const c of site.cashless) {
    log.info(
      `select on ${c.id}: npx vendgate sim select --control ${c.controlPort} --item 2, then pay the QR on ${gw.httpUrl}/display/${c.id}`,
    );
  }
  for (const c of site.payFirst) {
    log.info(
      `pay first on ${c.id}: scan the QR on ${gw.httpUrl}/display/${c.id}, pay, then npx vendgate sim select --control ${c.controlPort} --item 2`,
    );
  }
  log.info(`a jam gives a refund: refunds show at ${base}/ops and in the sandbox bills`);

  /** A customer buys on the phone page's API and pays on the sandbox phone (unless `pay` is false). */
  const buy = async (machineId: string, slot: number, provider = 'wechat', pay = true): Promise<void> => {
    const res = await fetch(`${base}/m/${gatewayId}/${machineId}/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slot, provider }),
    });
    const o = (await res.json()) as { outTradeNo?: string; qrContent?: string; message?: string };
    if (!o.qrContent) throw new Error(`no order for ${machineId} slot ${slot}: ${o.message ?? res.status}`);
    if (!pay) return;
    if (provider === 'wechat') await wechatSandbox.pay(o.qrContent);
    else await alipaySandbox.phone.pay(o.qrContent);
  };
  // Simulated customers, in the background (most of them pay).
  let n = 0;
  const customers = setInterval(
    () => {
      const m = site.machines[n % site.machines.length];
      const provider = n % 2 ? 'alipay' : 'wechat';
      const willPay = n++ % 6 !== 5;
      if (!m) return;
      void buy(m.id, 1 + (n % 5), provider, willPay).catch((err: Error) =>
        plog.warn({ err: err.message }, 'a simulated customer gave up'),
      );
    },
    Math.max(500, 1000 / o.rate),
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
            send: (type, data) => platform.fleet.sendCommand(gatewayId, type, data),
            buy: (machineId, slot) => buy(machineId, slot),
            price: (machineId, slot) => gw.catalogue.slot(machineId, slot)?.price ?? undefined,
            capacity: DEMO_SITE_STOCK.capacity,
            ...(site.dex ? { dexMachineId: site.dex.machineId } : {}),
            log: namespaced(log, 'scenes'),
          }),
          { everyMs: o.sceneEveryMs, log: namespaced(log, 'scenes') },
        );
  if (script)
    log.info(
      `a scene every ${o.sceneEveryMs / 1000} s (price, jam, sold out, door, DEX read, refill); --no-scenes turns them off`,
    );
  // Select-then-pay: a button pressed now and then; the shown code is paid on the sandbox phone.
  let press = 0;
  const cashlessCustomers = setInterval(() => {
    for (const c of site.cashless) {
      c.sim.select(1 + (press++ % 6));
      setTimeout(() => {
        const screen = gw.displays.current(c.id)?.screen;
        if (screen?.kind === 'awaiting-payment' && press % 4 !== 0)
          void wechatSandbox.pay(screen.paymentUrl).catch(() => {});
      }, 4000);
    }
  }, 25_000);
  let shake = 0;
  const shakes = setInterval(() => {
    const claim = { userId: `demo-visitor-${shake++ % 7}`, beaconId: DEMO_BEACON, seenAt: Date.now() };
    void platform.fleet.sendCommand(gatewayId, 'coupon.claim', claim).catch(() => {});
  }, 15_000);

  await waitForSignal();
  script?.stop();
  clearInterval(customers);
  clearInterval(cashlessCustomers);
  clearInterval(shakes);
  await platform.stop();
  await gw.stop();
  await site.stop();
  await Promise.allSettled([wechatSandbox.stop(), alipaySandbox.stop()]);
  return 0;
}
