import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { IClientOptions } from 'mqtt';
import type { Health } from '../api/schemas.ts';
import { buildApi } from '../api/server.ts';
import { connectMqtt, connectMqttOver } from '../contract/mqtt-client.ts';
import { publicKeyFromBase64 } from '../contract/signing.ts';
import { ErrorCode } from '../core/errors.ts';
import { type Log, namespaced } from '../core/log.ts';
import { VERSION } from '../core/version.ts';
import { DisplayHub } from '../devices/display/hub.ts';
import { displayBrokerUser, MqttPaymentDisplay } from '../devices/display/mqtt-display.ts';
import type { PaymentDisplay } from '../devices/display/port.ts';
import { MdbCashlessDriver } from '../devices/vending/mdb/driver.ts';
import type { MdbCurrency } from '../devices/vending/mdb/money.ts';
import type { CashlessReader } from '../devices/vending/mdb/port.ts';
import type { VendingMachine } from '../devices/vending/port.ts';
import { SlotBoardDriver } from '../devices/vending/slot-board/driver.ts';
import type { TransportFactory } from '../devices/vending/transport.ts';
import { type BeaconService, startBeaconService } from '../gateway/beacons/service.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { CashlessFlow, type CashlessMachine } from '../gateway/cashless/flow.ts';
import type { Config, MachineConfig } from '../gateway/config/schema.ts';
import { CouponEngine } from '../gateway/coupons/engine.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { VendRunner } from '../gateway/ledger/vend-runner.ts';
import { CommandGuard } from '../gateway/link/command-guard.ts';
import { loadGatewayKey } from '../gateway/link/gateway-key.ts';
import { type AcceptedCommand, PlatformLink } from '../gateway/link/link.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { GroupCommit } from '../gateway/store/group-commit.ts';

export interface GatewayOptions {
  config: Config;
  log: Log;
  /** Seam for tests: how a machine's port URL becomes a byte transport. */
  transportFactory?: TransportFactory;
  /** Seam for tests: build a machine other than the configured driver. */
  machineFactory?: (machine: MachineConfig, log: Log) => VendingMachine;
}

export interface Gateway {
  readonly config: Config;
  readonly db: Db;
  readonly ledger: OrderLedger;
  readonly outbox: Outbox;
  readonly link: PlatformLink;
  readonly runner: VendRunner;
  readonly coupons: CouponEngine;
  readonly ble: BeaconService;
  readonly machines: ReadonlyMap<string, VendingMachine>;
  readonly readers: ReadonlyMap<string, CashlessReader>;
  readonly displays: DisplayHub;
  readonly cashless: CashlessFlow;
  readonly broker: EmbeddedBroker | undefined;
  readonly brokerUrl: string;
  readonly http: FastifyInstance | undefined;
  readonly httpUrl: string | undefined;
  health(): Health;
  stop(): Promise<void>;
}

/**
 * The composition root (zigbee2mqtt style): builds every part from the
 * config, wires them through their constructors, and starts them in order:
 * store -> broker -> machines -> ledger/runner -> platform link -> HTTP.
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config } = opts;
  const log = opts.log;
  const startedAt = Date.now();
  const db = openStore({
    path: config.store.path ?? `${config.dataDir}/vendgate.db`,
    synchronous: config.store.synchronous,
  });
  const outbox = new Outbox(db, {
    gatewayId: config.gatewayId,
    maxRows: config.outbox.maxRows,
    telemetryTtlMs: config.outbox.telemetryTtlMs,
  });
  // BLE (flow 3): the beacon fleet and the shake-claim verifier. A missing adapter never stops the gateway.
  let wakeLink: () => void = () => {};
  const ble: BeaconService = await startBeaconService({
    config: config.ble,
    db,
    outbox,
    notify: () => wakeLink(),
    log: namespaced(log, 'ble'),
    staticIds: config.coupons.beacons,
  });
  const keys = new Map(
    Object.entries(config.platform.publicKeys).map(([id, k]) => [id, publicKeyFromBase64(k)]),
  );
  if (keys.size === 0)
    log.warn('no platform.publicKeys configured: every platform command will be refused as forged');
  const guard = new CommandGuard(db, {
    gatewayId: config.gatewayId,
    keys,
    maxSkewMs: config.platform.maxSkewMs,
    maxLifetimeMs: config.platform.maxCommandLifetimeMs,
  });

  let broker: EmbeddedBroker | undefined;
  let brokerUrl = config.broker.url;
  if (!brokerUrl) {
    // MQTT display devices log in with their own credentials and ACL; the
    // gateway's own clients stay anonymous on loopback unless users were
    // configured by hand.
    const displayUsers = config.machines.flatMap((m) =>
      m.display.mqtt
        ? [
            displayBrokerUser({
              gatewayId: config.gatewayId,
              displayId: m.id,
              password: m.display.mqtt.password,
            }),
          ]
        : [],
    );
    broker = await startEmbeddedBroker({
      host: config.broker.embedded.host,
      port: config.broker.embedded.port,
      users: [...config.broker.embedded.users, ...displayUsers],
      trustLoopback: config.broker.embedded.users.length === 0 && displayUsers.length > 0,
      log: namespaced(log, 'broker'),
    });
    brokerUrl = broker.url;
  }

  const catalog = catalogFrom(
    config.machines.map((m) => ({
      machineId: m.id,
      anySlot: m.driver === 'mdb',
      slots: m.slots.map((s) => ({
        slot: s.slot,
        price: s.price === undefined ? undefined : { amount: s.price, currency: m.currency },
      })),
    })),
  );
  if (!config.coupons.userKey && config.coupons.campaigns.length > 0) {
    log.warn(
      'coupons.userKey is not set: using a random key for this process, so per-user caps restart with it',
    );
  }
  const coupons = new CouponEngine({
    db,
    outbox,
    verifier: ble.verifier,
    userKey: config.coupons.userKey ?? randomBytes(32),
    retentionMs: config.coupons.retentionDays * 86_400_000,
    log: namespaced(log, 'coupons'),
  });
  coupons.syncConfig(config.coupons.campaigns);
  const ledger = new OrderLedger({ db, outbox, catalog, coupons });
  const commits = new GroupCommit(db);

  const machines = new Map<string, VendingMachine>();
  const readers = new Map<string, CashlessReader>();
  for (const m of config.machines) {
    if (m.driver === 'mdb') {
      readers.set(
        m.id,
        new MdbCashlessDriver({
          machineId: m.id,
          url: m.port,
          transportFactory: opts.transportFactory,
          transportOptions: m.baudRate ? { baudRate: m.baudRate } : undefined,
          // The config schema allows only currencies the MDB reader supports.
          currency: m.currency as MdbCurrency,
          scaleFactor: m.mdb.scaleFactor,
          decimalPlaces: m.mdb.decimalPlaces,
          maxResponseTimeSec: m.mdb.maxResponseTimeSec,
          log,
        }),
      );
      continue;
    }
    const machine =
      opts.machineFactory?.(m, log) ??
      new SlotBoardDriver({
        machineId: m.id,
        url: m.port,
        transportFactory: opts.transportFactory,
        transportOptions: { baudRate: m.baudRate ?? 9600 },
        silenceTimeoutMs: m.silenceTimeoutMs,
        log,
      });
    machines.set(m.id, machine);
  }

  // The link is created before the runner so that ledger changes can wake it.
  let link: PlatformLink | undefined;
  const notify = () => link?.notify();
  wakeLink = notify;
  const runner = new VendRunner({
    ledger,
    machines,
    log: namespaced(log, 'vend'),
    resolveTimeoutMs: config.vend.resolveTimeoutMs,
    onChange: notify,
    commits,
  });

  for (const machine of machines.values()) {
    const report = (online: boolean, reason?: string) => {
      db.transaction(() =>
        outbox.tryAppend('machine.status', { machineId: machine.machineId, online, reason }),
      )();
      notify();
    };
    machine.on('online', () => report(true));
    machine.on('offline', (reason) => report(false, reason));
  }

  const linkLog = namespaced(log, 'link');
  const gatewayKey = loadGatewayKey({ dataDir: config.dataDir, seed: config.platform.gatewayKey });
  linkLog.info(
    { keyId: gatewayKey.keyId, publicKey: gatewayKey.publicKey, source: gatewayKey.source },
    'events are signed with the gateway key',
  );
  if (gatewayKey.tightened)
    linkLog.warn({ path: gatewayKey.path }, 'the gateway key file was readable by others; set to 0600');
  const embeddedBroker = broker;
  const ordersLog = namespaced(log, 'orders');
  link = new PlatformLink({
    brokerUrl,
    // With the embedded broker, the link reaches it in-process, not over a loopback socket.
    ...(embeddedBroker
      ? { connect: (o: IClientOptions) => connectMqttOver(() => embeddedBroker.openInProcess(), o) }
      : {}),
    gatewayId: config.gatewayId,
    username: config.broker.username,
    password: config.broker.password,
    outbox,
    guard,
    db,
    commits,
    gatewayKey,
    log: linkLog,
    resendAfterMs: config.platform.resendAfterMs,
    status: () => ({
      version: VERSION,
      startedAt,
      machines: [...machines.values()].map((m) => ({ machineId: m.machineId, online: m.online })),
      outbox: (({ pending, dropped, expired }) => ({ pending, dropped, expired }))(outbox.stats()),
    }),
  });
  const platformLink = link;
  link.on('command', (cmd: AcceptedCommand) => {
    try {
      handleCommand(cmd);
    } catch (err) {
      linkLog.error({ err, commandId: cmd.id }, 'command handling failed; the platform will retry the order');
    }
    // No notify here: the link publishes what a command queued once it has committed.
  });

  function handleCommand(cmd: AcceptedCommand): void {
    if (cmd.type === 'campaign.upsert' || cmd.type === 'campaign.end' || cmd.type === 'coupon.claim') {
      coupons.applyCommand(cmd.type, cmd.data).then(
        () => platformLink.notify(),
        (err: unknown) => linkLog.error({ err, commandId: cmd.id }, 'coupon command failed'),
      );
      return;
    }
    if (cmd.type === 'order.paid' && cashless.owns(cmd.data.orderId, cmd.data.machineId)) {
      cashless.onPaid(cmd.data);
      return;
    }
    if (cmd.type === 'order.paid') {
      if (outbox.saturated) {
        // Not recorded: the platform sees no order.accepted and retries.
        linkLog.error(
          { orderId: cmd.data.orderId, code: ErrorCode.OutboxFull },
          'outbox full of undelivered money events; order not taken',
        );
        return;
      }
      const r = ledger.receivePaid(cmd.data);
      // Inside the command's transaction: the vend intent can share its commit.
      if (r.kind === 'accepted') runner.submitPaid(r.order.orderId, r.order.machineId);
      ordersLog.info(
        { orderId: r.order.orderId, machineId: r.order.machineId, slot: r.order.slot, result: r.kind },
        r.kind === 'refused' ? `order refused: ${r.reason}` : `order ${r.kind}`,
      );
    }
  }

  // Payment displays: the kiosk pages served at /display/{machineId}.
  const displays = new DisplayHub({
    locales: Object.fromEntries(config.machines.map((m) => [m.id, m.display.locale])),
    log: namespaced(log, 'display'),
  });
  const idleScreens = new Map(
    config.machines.flatMap((m) =>
      m.display.staticQrUrl
        ? [
            [
              m.id,
              {
                kind: 'idle' as const,
                machineName: m.display.name ?? m.id,
                staticQrUrl: m.display.staticQrUrl,
              },
            ],
          ]
        : [],
    ),
  );
  const mqttDisplayIds = new Set(config.machines.filter((m) => m.display.mqtt).map((m) => m.id));
  let displayClient: ReturnType<typeof connectMqtt> | undefined;
  let mqttDisplays: MqttPaymentDisplay | undefined;
  if (mqttDisplayIds.size > 0) {
    displayClient = connectMqtt(brokerUrl, {
      clientId: `vendgate-${config.gatewayId}-displays`,
      username: config.broker.username,
      password: config.broker.password,
      reconnectPeriod: 1000,
    });
    mqttDisplays = new MqttPaymentDisplay({
      client: displayClient,
      gatewayId: config.gatewayId,
      locales: Object.fromEntries(config.machines.map((m) => [m.id, m.display.locale])),
      log: namespaced(log, 'display'),
    });
    await mqttDisplays.start();
  }
  const display = screensTo(displays, mqttDisplays, mqttDisplayIds, namespaced(log, 'display'));
  const cashlessMachines = new Map<string, CashlessMachine>();
  for (const m of config.machines) {
    const reader = readers.get(m.id);
    if (!reader) continue;
    cashlessMachines.set(m.id, {
      reader,
      displayId: m.id,
      itemNames: new Map(m.slots.flatMap((s) => (s.name ? [[s.slot, s.name] as const] : []))),
      idle: idleScreens.get(m.id),
    });
  }
  const cashless = new CashlessFlow({
    db,
    ledger,
    outbox,
    link,
    display,
    machines: cashlessMachines,
    log: namespaced(log, 'cashless'),
  });
  for (const [id, screen] of idleScreens) await display.show(id, screen);

  await Promise.all([...machines.values(), ...readers.values()].map((m) => m.start()));
  const closedSessions = cashless.recover();
  if (closedSessions.closed + closedSessions.unresolved > 0)
    log.info(closedSessions, 'cashless sessions closed after restart');
  const recovered = runner.recover();
  if (recovered.resolving + recovered.queued > 0) log.info(recovered, 'resuming orders from the ledger');
  link.start();

  const health = (): Health => {
    const ms = [...machines.values(), ...readers.values()].map((m) => ({
      machineId: m.machineId,
      online: m.online,
    }));
    const s = outbox.stats();
    const connected = platformLink.connected;
    return {
      status: connected && ms.every((m) => m.online) ? 'ok' : 'degraded',
      gatewayId: config.gatewayId,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      platform: { connected, brokerUrl: brokerUrl ?? '' },
      machines: ms,
      outbox: { pending: s.pending, dropped: s.dropped, expired: s.expired, lastSeq: s.lastSeq },
      orders: ledger.countByState(),
    };
  };

  let http: FastifyInstance | undefined;
  let httpUrl: string | undefined;
  if (config.http.enabled) {
    http = await buildApi({ ledger, health, log, displays });
    await http.listen({ host: config.http.host, port: config.http.port });
    const addr = http.server.address();
    httpUrl = typeof addr === 'object' && addr ? `http://${config.http.host}:${addr.port}` : undefined;
  }

  // Coupon upkeep: expire unused coupons, purge claims past retention.
  const upkeep = setInterval(() => {
    try {
      coupons.expire(Date.now());
      coupons.purge(Date.now());
      platformLink.notify();
    } catch (err) {
      log.error({ err }, 'coupon upkeep failed');
    }
  }, 60_000);
  upkeep.unref();

  let stopped = false;
  return {
    config,
    db,
    ledger,
    outbox,
    link,
    runner,
    coupons,
    ble,
    machines,
    readers,
    displays,
    cashless,
    broker,
    brokerUrl,
    http,
    httpUrl,
    health,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(upkeep);
      await http?.close();
      runner.stop();
      cashless.stop();
      await mqttDisplays?.stop();
      await displayClient?.endAsync(true);
      await platformLink.stop();
      await Promise.all([...machines.values(), ...readers.values()].map((m) => m.stop()));
      await ble.stop();
      await broker?.close();
      log.info({ groupCommit: commits.stats }, 'store closed');
      db.close();
    },
  };
}

/**
 * The payment display the flows use: every screen goes to the kiosk pages,
 * and also to the MQTT display device of machines that have one. A failing
 * MQTT publish is logged, never allowed to stop a vend.
 */
function screensTo(
  hub: DisplayHub,
  mqtt: MqttPaymentDisplay | undefined,
  mqttIds: ReadonlySet<string>,
  log: Log,
): PaymentDisplay {
  return {
    async show(displayId, screen) {
      await hub.show(displayId, screen);
      if (mqtt && mqttIds.has(displayId)) {
        await mqtt
          .show(displayId, screen)
          .catch((err: Error) => log.warn({ displayId, err: err.message }, 'MQTT display render failed'));
      }
    },
    async setLocale(displayId, locale) {
      await hub.setLocale(displayId, locale);
      if (mqtt && mqttIds.has(displayId)) await mqtt.setLocale(displayId, locale);
    },
    localeOf: (displayId) => hub.localeOf(displayId),
  };
}
