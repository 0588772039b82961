import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { IClientOptions } from 'mqtt';
import type { Health } from '../api/schemas.ts';
import { connectMqtt, connectMqttOver, redactUrl, tlsClientOptions } from '../contract/mqtt-client.ts';
import { publicKeyFromBase64 } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { systemClock } from '../core/clock.ts';
import { ErrorCode, isVendgateError } from '../core/errors.ts';
import { type Log, namespaced } from '../core/log.ts';
import { VERSION } from '../core/version.ts';
import { DisplayFanout } from '../devices/display/fanout.ts';
import { DisplayHub } from '../devices/display/hub.ts';
import { MqttPaymentDisplay } from '../devices/display/mqtt-display.ts';
import type { CashlessReader } from '../devices/vending/mdb/port.ts';
import type { VendingMachine } from '../devices/vending/port.ts';
import { type BuiltInDrivers, VENDING_DRIVERS, type VendingDriverList } from '../devices/vending/registry.ts';
import type { TransportFactory } from '../devices/vending/transport.ts';
import { AlertService } from '../gateway/alerts/service.ts';
import { AuditService } from '../gateway/audit/service.ts';
import { DiskReserve } from '../gateway/availability/disk-reserve.ts';
import { AvailabilityReporter } from '../gateway/availability/reporter.ts';
import { type BeaconService, startBeaconService } from '../gateway/beacons/service.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { CashlessFlow } from '../gateway/cashless/flow.ts';
import { PayFirstFlow } from '../gateway/cashless/pay-first.ts';
import { Planogram } from '../gateway/catalogue/planogram.ts';
import { ClockWatch } from '../gateway/clock/clock-watch.ts';
import { CommandRouter } from '../gateway/commands/router.ts';
import { ConditionBoard } from '../gateway/conditions/conditions.ts';
import { resolveUplinkTls } from '../gateway/config/load.ts';
import type { AnyConfig, ConfigFor, MachineConfigFor } from '../gateway/config/schema.ts';
import { CouponEngine } from '../gateway/coupons/engine.ts';
import { CouponUpkeep } from '../gateway/coupons/upkeep.ts';
import { VendScreens } from '../gateway/displays/vend-screens.ts';
import { GatewayHealth } from '../gateway/health/health.ts';
import { type SafeMode, startSafeMode } from '../gateway/health/safe-mode.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { VendRunner } from '../gateway/ledger/vend-runner.ts';
import { CommandGuard } from '../gateway/link/command-guard.ts';
import { loadGatewayKey } from '../gateway/link/gateway-key.ts';
import { PlatformLink } from '../gateway/link/link.ts';
import { ManagementService } from '../gateway/management/service.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { StockKeeper } from '../gateway/stock/stock.ts';
import type { Db } from '../gateway/store/db.ts';
import { GroupCommit } from '../gateway/store/group-commit.ts';
import { HighWaterKeeper } from '../gateway/store/high-water.ts';
import { openInspectedStore, type StoreDistrust, untrustedError } from '../gateway/store/store-check.ts';
import { MachineFaultWatch } from '../gateway/telemetry/faults.ts';
import { SalesLedgerView } from '../gateway/telemetry/sales.ts';
import { SessionsView } from '../gateway/telemetry/sessions.ts';
import { TelemetryUplink } from '../gateway/telemetry/uplink.ts';
import { Lifecycle, PartGroup } from './lifecycle.ts';
import { skipPacketIdCache } from './memory.ts';
import { simulatedRadioFor } from './simulated-radio.ts';
import {
  brokerListenFailure,
  isLoopbackHost,
  listenFailure,
  untilBrokerAccepts,
} from './startup-failures.ts';
import {
  cashlessMachines,
  catalogueSeeds,
  createDevices,
  displayLocales,
  displayUsers,
  idleScreens,
  payFirstMachines,
} from './wiring.ts';

export interface GatewayOptions<D extends VendingDriverList = BuiltInDrivers> {
  /** Parsed with the schema of the same driver registry (`configSchemaFor(drivers)`). */
  config: ConfigFor<D>;
  log: Log;
  /** Seam for tests: how a machine's port URL becomes a byte transport. */
  transportFactory?: TransportFactory;
  /** Seam for tests: build a remote-vend machine other than the configured driver. */
  machineFactory?: (machine: MachineConfigFor<D>, log: Log) => VendingMachine;
  /** The vending driver registry; default the built-in drivers. */
  drivers?: D;
}

export interface Gateway<D extends VendingDriverList = BuiltInDrivers> {
  readonly config: ConfigFor<D>;
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
  /** The local broker: the site's devices (and, without an uplink, the platform link) use it. */
  readonly brokerUrl: string;
  /** The operator's broker the platform link runs on, when `uplink` is configured. */
  readonly uplinkUrl: string | undefined;
  readonly http: FastifyInstance | undefined;
  readonly httpUrl: string | undefined;
  /** The data directory's free-space reserve (new orders are deferred below it). */
  readonly disk: DiskReserve;
  /** The site's active conditions (sources raise and clear; alerts, REST and the dashboard read). */
  readonly conditions: ConditionBoard;
  /** Alerts out: the board's changes to webhooks and MQTT (config alerts). */
  readonly alerts: AlertService;
  /** Machine faults (door, temperature, offline, jam), sales per day and cashless sessions. */
  readonly telemetry: { faults: MachineFaultWatch; sales: SalesLedgerView; sessions: SessionsView };
  /** The machines' current catalogue (config seeded, platform changes win). */
  readonly catalogue: Planogram;
  readonly stock: StockKeeper;
  readonly management: ManagementService;
  /** DEX/UCS audit reads of the machines with a DEX port. */
  readonly audit: AuditService;
  health(): Health;
  stop(): Promise<void>;
}

/** What `vendgate start` runs: the gateway, or safe mode when its store is not trusted. */
export type RunningGateway<D extends VendingDriverList = BuiltInDrivers> =
  | { kind: 'running'; gateway: Gateway<D> }
  | { kind: 'safe-mode'; safeMode: SafeMode };

/**
 * Starts the gateway; when the store opens but cannot be trusted (damaged,
 * emptied, went backwards: store-check.ts) starts safe mode instead, which
 * stays up to say so until the operator acts. A store that cannot be opened
 * at all still throws (one catalogued error naming the file).
 */
export async function runGateway<D extends VendingDriverList = BuiltInDrivers>(
  opts: GatewayOptions<D>,
): Promise<RunningGateway<D>> {
  try {
    return { kind: 'running', gateway: await startGateway(opts) };
  } catch (err) {
    if (!isVendgateError(err, ErrorCode.StoreUntrusted)) throw err;
    const distrust = (err.context as { distrust?: StoreDistrust }).distrust;
    if (!distrust) throw err;
    return {
      kind: 'safe-mode',
      safeMode: await startSafeMode({ config: opts.config as unknown as AnyConfig, log: opts.log, distrust }),
    };
  }
}

/**
 * The composition root (zigbee2mqtt's controller): builds every part from
 * the config, wires them through their constructors, and starts them in
 * order: store -> broker -> BLE -> displays -> machines -> vend flows ->
 * platform link -> HTTP -> upkeep. The platform link runs on the uplink
 * (the operator's broker, TLS) when one is configured, so its will reaches
 * the platform when this process dies; the local broker keeps serving the
 * site's devices either way. `stop()` stops them in reverse; a part
 * that fails to start stops the ones already running before the error goes
 * on. The behaviour lives in the parts; here is only which part gets what.
 */
export async function startGateway<D extends VendingDriverList = BuiltInDrivers>(
  opts: GatewayOptions<D>,
): Promise<Gateway<D>> {
  // Every machine of every registry's config has the shared fields and a driver name (schema.ts).
  const config = opts.config as unknown as AnyConfig;
  const drivers: VendingDriverList = opts.drivers ?? VENDING_DRIVERS;
  const { log } = opts;
  const life = new Lifecycle(log);
  const startedAt = Date.now();
  skipPacketIdCache();

  // ------------------------------------------------------------ store
  // Integrity and high-water checks before anything is written (docs/failure-modes.md).
  const storePath = config.store.path ?? `${config.dataDir}/vendgate.db`;
  const storeLog = namespaced(log, 'store');
  let commits: GroupCommit | undefined;
  const db = await life.step(
    'store',
    () => {
      const { db, inspection } = openInspectedStore({
        path: storePath,
        synchronous: config.store.synchronous,
        log: storeLog,
      });
      if (inspection.distrust) {
        db.close();
        throw untrustedError(inspection.distrust);
      }
      return db;
    },
    (store) => {
      log.info({ groupCommit: commits?.stats }, 'store closed');
      store.close();
    },
  );
  commits = new GroupCommit(db);
  const highWater = new HighWaterKeeper({ db, storePath, log: storeLog });
  await life.start('store high-water mark', highWater);
  const disk = new DiskReserve({
    dir: dirname(storePath),
    reserveBytes: config.store.reserveBytes,
    log: storeLog,
    // The WAL only grows between checkpoints; truncating it gives its space back.
    reclaim: () => {
      if (!db.inTransaction) db.pragma('wal_checkpoint(TRUNCATE)');
    },
  });
  await life.start('disk reserve', disk);
  const outbox = new Outbox(db, {
    gatewayId: config.gatewayId,
    maxRows: config.outbox.maxRows,
    telemetryTtlMs: config.outbox.telemetryTtlMs,
    onAppend: () => highWater.noteAppended(),
  });
  const conditions = new ConditionBoard(systemClock);

  // ------------------------------------------------------------ broker
  let broker: EmbeddedBroker | undefined;
  let brokerUrl = config.broker.url;
  if (!brokerUrl) {
    // MQTT display devices log in with their own credentials and ACL; the
    // gateway's own clients stay anonymous on loopback unless users were
    // configured by hand.
    const devices = displayUsers(config);
    const embedded = config.broker.embedded;
    broker = await life.step(
      'embedded broker',
      () =>
        startEmbeddedBroker({
          host: embedded.host,
          port: embedded.port,
          users: [...embedded.users, ...devices],
          gatewayId: config.gatewayId,
          // Display accounts are the gateway's own: they alone do not turn anonymous loopback off.
          // Anonymous loopback trust is on while no users exist, off once they do (unless set).
          allowAnonymousLoopback: embedded.allowAnonymousLoopback ?? embedded.users.length === 0,
          maxPacketSize: embedded.maxPacketSize,
          connectTimeoutMs: embedded.connectTimeoutMs,
          maxConnections: embedded.maxConnections,
          log: namespaced(log, 'broker'),
        }).catch((err: unknown) => {
          throw brokerListenFailure(err, embedded.host, embedded.port);
        }),
      (b) => b.close(),
    );
    brokerUrl = broker.url;
  }

  // ------------------------------------------------------------ devices, link, health
  const { machines, readers } = createDevices(
    config,
    drivers,
    { transportFactory: opts.transportFactory, log },
    // The machine config came from opts.config, so it is the caller's MachineConfigFor<D>.
    opts.machineFactory && ((m) => opts.machineFactory?.(m as unknown as MachineConfigFor<D>, log)),
  );
  const keys = new Map(
    Object.entries(config.platform.publicKeys).map(([id, k]) => [id, publicKeyFromBase64(k)]),
  );
  if (keys.size === 0)
    log.warn('no platform.publicKeys configured: every platform command will be refused as forged');
  const embeddedBroker = broker;
  const uplink = config.uplink;
  const linkUrl = uplink?.url ?? brokerUrl;
  let connectLink: ((o: IClientOptions) => ReturnType<typeof connectMqtt>) | undefined;
  if (uplink) {
    // Read at start (a renewed certificate takes effect on restart); a bad
    // file or a key that does not match its certificate stops the start here.
    const tls = resolveUplinkTls(uplink);
    const secure = tlsClientOptions(uplink.url, tls.options);
    const uplinkLog = namespaced(log, 'uplink');
    if (tls.clientCert) {
      const { subject, issuer, validTo, validFrom } = tls.clientCert;
      const now = Date.now();
      uplinkLog.info({ subject, issuer, validTo }, 'uplink client certificate');
      // Warn only: edge boxes without an RTC may boot with a wrong clock.
      if (validTo.getTime() < now || validFrom.getTime() > now)
        uplinkLog.warn(
          { validFrom, validTo },
          'the uplink client certificate is not valid now (check the clock)',
        );
    }
    connectLink = (o) => connectMqtt(uplink.url, { ...o, ...secure }, { log: uplinkLog, name: 'uplink' });
    log.info(
      { uplink: redactUrl(uplink.url), localBroker: brokerUrl },
      'platform link on the uplink; local devices on the local broker',
    );
  } else if (embeddedBroker) {
    // With the embedded broker, the link reaches it in-process, not over a loopback socket.
    connectLink = (o) => connectMqttOver(() => embeddedBroker.openInProcess(), o);
  }
  const linkLog = namespaced(log, 'link');
  const gatewayKey = loadGatewayKey({ dataDir: config.dataDir, seed: config.platform.gatewayKey });
  linkLog.info(
    { keyId: gatewayKey.keyId, publicKey: gatewayKey.publicKey, source: gatewayKey.source },
    'events are signed with the gateway key',
  );
  if (gatewayKey.tightened)
    linkLog.warn({ path: gatewayKey.path }, 'the gateway key file was readable by others; set to 0600');
  // The wall clock checked against the platform's signed times (a box without RTC boots wrong).
  const clockWatch = new ClockWatch({ maxSkewMs: config.platform.maxSkewMs, log: namespaced(log, 'clock') });
  const link: PlatformLink = new PlatformLink({
    brokerUrl: linkUrl,
    ...(connectLink ? { connect: connectLink } : {}),
    ...(uplink?.clientId ? { clientId: uplink.clientId } : {}),
    gatewayId: config.gatewayId,
    username: uplink ? uplink.username : config.broker.username,
    password: uplink ? uplink.password : config.broker.password,
    outbox,
    guard: new CommandGuard(db, {
      gatewayId: config.gatewayId,
      keys,
      maxSkewMs: config.platform.maxSkewMs,
      maxLifetimeMs: config.platform.maxCommandLifetimeMs,
      // Commands arrive only once the link has started, after the router exists.
      admit: (command) => router.admit(command),
    }),
    db,
    commits,
    gatewayKey,
    log: linkLog,
    resendAfterMs: config.platform.resendAfterMs,
    eventBatching: config.platform.eventBatching,
    status: () => health.linkStatus(),
  });
  const notify = () => link.notify();
  const faults = new MachineFaultWatch({
    board: conditions,
    clock: systemClock,
    machines: config.machines.flatMap((m) => {
      const machine = machines.get(m.id);
      return machine ? [{ machine, settings: m.telemetry }] : [];
    }),
    log: namespaced(log, 'telemetry'),
  });

  // ------------------------------------------------------------ BLE, coupons, ledger
  // A missing adapter never stops the gateway (the service logs it and runs on).
  const simulatedRadio = await simulatedRadioFor(config.ble);
  const ble = await life.step(
    'BLE',
    () =>
      startBeaconService({
        config: config.ble,
        db,
        outbox,
        notify,
        log: namespaced(log, 'ble'),
        staticIds: config.coupons.beacons,
        ...(simulatedRadio ? { simulatedRadio } : {}),
      }),
    (service) => service.stop(),
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
    // Claims share the store's one group commit with orders and acks.
    commits,
    log: namespaced(log, 'coupons'),
  });
  await life.step(
    'coupon campaigns',
    () => {
      try {
        coupons.syncConfig(config.coupons.campaigns);
      } catch (err) {
        // A full disk must not stop the gateway from starting: the campaigns sync again at the next start.
        log.error(
          { err, code: (err as { code?: unknown }).code },
          'could not store the configured campaigns',
        );
      }
    },
    () => {},
  );
  const catalogue = new Planogram({
    db,
    machines: catalogueSeeds(config, drivers),
    maxPrice: config.management.maxPrice,
  });
  const stock = new StockKeeper({
    db,
    catalogue,
    conditions,
    outbox,
    machines,
    log: namespaced(log, 'stock'),
    notify,
  });
  stock.evaluateAll();
  const ledger = new OrderLedger({
    db,
    outbox,
    catalog: catalogue,
    coupons,
    // Inside the outcome's transaction: the count commits with it.
    onOutcome: (order, outcome) => {
      stock.countOutcome(order.machineId, outcome, 'vend');
      stock.senseAfterVend(order.machineId, notify);
    },
  });
  const runner = new VendRunner({
    ledger,
    machines,
    log: namespaced(log, 'vend'),
    resolveTimeoutMs: config.vend.resolveTimeoutMs,
    onChange: notify,
    onOutcome: (machineId, outcome) => faults.noteOutcome(machineId, outcome),
    // The display is made below; no vend runs before the machines start, after it.
    onStage: (stage) => vendScreens.show(stage),
    commits,
  });
  const management = new ManagementService({
    db,
    catalogue,
    stock,
    runner,
    machines,
    outbox,
    notify,
    log: namespaced(log, 'management'),
    waitForIdleMs: config.management.waitForIdleMs,
    maxWaiting: config.management.maxWaiting,
  });
  const audit = new AuditService({
    db,
    outbox,
    notify,
    conditions,
    machines: config.machines.flatMap((m) => (m.dex ? [{ id: m.id, currency: m.currency, dex: m.dex }] : [])),
    timeZone: config.timeZone,
    log: namespaced(log, 'audit'),
    ...(opts.transportFactory ? { transportFactory: opts.transportFactory } : {}),
  });
  const health = new GatewayHealth({
    gatewayId: config.gatewayId,
    version: VERSION,
    startedAt,
    brokerUrl: redactUrl(linkUrl),
    link,
    machines: [...machines.values()],
    readers: [...readers.values()],
    outbox,
    ledger,
    disk,
    clock: clockWatch,
  });
  link.on('command', (command) => clockWatch.observe(command.issuedAt));

  // ------------------------------------------------------------ displays
  const displayLog = namespaced(log, 'display');
  const displays = new DisplayHub({ locales: displayLocales(config), log: displayLog });
  const deviceIds = new Set(config.machines.filter((m) => m.display.mqtt).map((m) => m.id));
  const mqttDisplays =
    deviceIds.size === 0
      ? undefined
      : await life.step(
          'MQTT displays',
          async () => {
            const displayOptions = {
              clientId: `vendgate-${config.gatewayId}-displays`,
              username: config.broker.username,
              password: config.broker.password,
              reconnectPeriod: 1000,
            };
            // The gateway's client ids are reserved for its in-process connections to the embedded broker.
            const inProcess = broker;
            const client = inProcess
              ? connectMqttOver(() => inProcess.openInProcess(), displayOptions)
              : connectMqtt(brokerUrl, displayOptions);
            await untilBrokerAccepts(client, brokerUrl, 'MQTT displays');
            const devices = new MqttPaymentDisplay({
              client,
              gatewayId: config.gatewayId,
              locales: displayLocales(config),
              log: displayLog,
            });
            try {
              await devices.start();
            } catch (err) {
              await client.endAsync(true);
              throw err;
            }
            return { devices, client };
          },
          async ({ devices, client }) => {
            await devices.stop();
            await client.endAsync(true);
          },
        );
  const display = new DisplayFanout({
    primary: displays,
    devices: mqttDisplays?.devices,
    deviceIds,
    log: displayLog,
  });
  const idle = idleScreens(config);
  const vendScreens = await life.start(
    'remote-vend screens',
    new VendScreens(display, displays, idle, catalogue),
  );
  const cashless = new CashlessFlow({
    db,
    ledger,
    outbox,
    link,
    display,
    machines: cashlessMachines(config, readers, idle),
    log: namespaced(log, 'cashless'),
  });
  const payFirst = new PayFirstFlow({
    db,
    outbox,
    link,
    display,
    machines: payFirstMachines(config, readers, idle),
    log: namespaced(log, 'pay-first'),
  });
  await life.step(
    'idle screens',
    async () => {
      for (const [id, screen] of idle) await display.show(id, screen);
    },
    () => {},
  );

  // ------------------------------------------------------------ alerts
  // Before the machines start, so a machine that never comes online is seen from the start.
  const alerts = await life.start(
    'alerts',
    new AlertService({
      config: config.alerts,
      db,
      board: conditions,
      gatewayId: config.gatewayId,
      link,
      alertTopic: gatewayTopics(config.gatewayId).alert,
      outboxPending: () => outbox.stats().pending,
      log: namespaced(log, 'alerts'),
    }),
  );

  // ------------------------------------------------------------ machines and the vend flows
  await life.start(
    'machine availability',
    new AvailabilityReporter({ machines: [...machines.values()], db, outbox, notify, log }),
  );
  await life.start('machine faults', faults);
  await life.start(
    'telemetry uplink',
    new TelemetryUplink({
      machines: [...machines.values()],
      board: conditions,
      db,
      outbox,
      notify,
      clock: systemClock,
      log: namespaced(log, 'telemetry'),
    }),
  );
  await life.start('machines', new PartGroup([...machines.values(), ...readers.values()]));
  await life.step(
    'vend flows',
    () => {
      try {
        const closed = cashless.recover();
        if (closed.closed + closed.unresolved > 0) log.info(closed, 'cashless sessions closed after restart');
      } catch (err) {
        // A full disk: the sessions stay open in the store and are closed at the next start.
        log.error(
          { err, code: (err as { code?: unknown }).code },
          'could not close cashless sessions after restart',
        );
      }
      try {
        const credits = payFirst.recover();
        if (credits.refunded + credits.unresolved > 0)
          log.info(credits, 'pay-first credits closed after restart');
      } catch (err) {
        log.error({ err }, 'could not close pay-first credits after restart; retried at the next start');
      }
      const recovered = runner.recover();
      if (recovered.resolving + recovered.queued > 0) log.info(recovered, 'resuming orders from the ledger');
      // Machines that sense their stock say what they hold now.
      for (const id of machines.keys()) if (stock.sensed(id)) void stock.sense(id).then(notify);
    },
    () => {
      runner.stop();
      cashless.stop();
      payFirst.stop();
    },
  );

  // ------------------------------------------------------------ platform link
  const router = new CommandRouter({
    link,
    coupons,
    cashless,
    payFirst,
    ledger,
    runner,
    management,
    outbox,
    disk,
    audit,
    log: namespaced(log, 'link'),
    ordersLog: namespaced(log, 'orders'),
  });
  await life.start('command router', router);
  await life.start('DEX audits', audit);
  await life.step(
    'platform link',
    () => link.start(),
    () => link.stop(),
  );

  // ------------------------------------------------------------ HTTP and upkeep
  const productNames = new Map(
    config.machines.flatMap((m) =>
      m.slots.flatMap((s) => (s.name === undefined ? [] : [[`${m.id}:${s.slot}`, s.name] as const])),
    ),
  );
  const sales = new SalesLedgerView({
    db,
    timeZone: config.timeZone,
    productName: (machineId, slot) => productNames.get(`${machineId}:${slot}`),
  });
  const sessions = new SessionsView(db);
  const machineSummaries = () =>
    config.machines.map((m) => {
      const device = machines.get(m.id) ?? readers.get(m.id);
      return {
        machineId: m.id,
        driver: m.driver,
        ...(faults.view(m.id) ?? { online: device?.online ?? false }),
      };
    });
  let httpUrl: string | undefined;
  const http = !config.http.enabled
    ? undefined
    : await life.step(
        'HTTP API',
        async () => {
          const { host, port, token, limits } = config.http;
          if (token === undefined && !isLoopbackHost(host))
            log.warn(
              { host },
              'the HTTP API listens beyond loopback without http.token: anyone who reaches it may use it',
            );
          // Loaded here, not at start: a gateway with http off never loads fastify (~9 MB resident).
          const [{ buildApi }, { dashboardSite }, { redeemedTotals }] = await Promise.all([
            import('../api/server.ts'),
            import('../api/dashboard/site.ts'),
            import('../api/coupons.ts'),
          ]);
          const api = await buildApi({
            ledger,
            health: () => health.report(),
            alerts: () => alerts.report(),
            log,
            displays,
            token,
            limits,
            site: dashboardSite(config),
            coupons: {
              campaigns: () => coupons.campaigns(),
              redeemed: redeemedTotals(db),
              beacons: () => ble.status(),
            },
            telemetry: { sales, conditions, sessions, machines: machineSummaries },
            management: { catalogue, stock, service: management },
            audit,
          });
          try {
            await api.listen({ host, port });
          } catch (err) {
            await api.close();
            throw listenFailure(err, host, port);
          }
          const addr = api.server.address();
          httpUrl = typeof addr === 'object' && addr ? `http://${config.http.host}:${addr.port}` : undefined;
          return api;
        },
        (api) => api.close(),
      );
  await life.start('coupon upkeep', new CouponUpkeep({ coupons, notify, log: namespaced(log, 'coupons') }));

  return {
    config: opts.config,
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
    uplinkUrl: uplink?.url,
    http,
    httpUrl,
    disk,
    conditions,
    alerts,
    telemetry: { faults, sales, sessions },
    catalogue,
    stock,
    management,
    audit,
    health: () => health.report(),
    stop: () => life.stop(),
  };
}
