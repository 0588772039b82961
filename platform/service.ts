/**
 * The platform's composition root: opens the store, builds the fleet link,
 * the payments plane, the reconciliation scheduler and the HTTP server from
 * their options, and starts and stops them in order. It wires; it decides
 * nothing.
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Log } from '../core/log.ts';
import { createFleetLink } from './fleet/link.ts';
import type { FleetLink, FleetLinkOptions } from './fleet/port.ts';
import { buildPlatformHttp } from './http/server.ts';
import type { PaymentsConfig } from './payments/config.ts';
import { Payments } from './payments/payments.ts';
import type { Providers } from './payments/ports.ts';
import { RetentionJob } from './privacy/retention.ts';
import type { PaymentProvider, ProviderName } from './providers/port.ts';
import { ReportStore } from './reconcile/reports.ts';
import { reconcileDay } from './reconcile/run.ts';
import { ReconcileScheduler } from './reconcile/scheduler.ts';
import { SigningKeyring } from './signing/keyring.ts';
import type { SigningKeyConfig } from './signing/port.ts';
import type { Store, StoreOptions } from './store/port.ts';
import { openStore } from './store/store.ts';

export interface PlatformServiceOptions {
  dataDir: string;
  store: StoreOptions;
  fleet: Omit<FleetLinkOptions, 'store' | 'signer' | 'log'>;
  signingKeys: SigningKeyConfig[];
  providers: Providers;
  payments: PaymentsConfig;
  http: {
    host: string;
    port: number;
    operatorToken?: string;
    payLinks?: Partial<Record<ProviderName, (qrContent: string) => string>>;
  };
  /** Events, notifications and payer hashes older than this many days are purged daily. Default 90. */
  retentionDays?: number;
  /** Beijing hour from which yesterday is reconciled. Default 10. */
  reconcileHour?: number;
  log: Log;
  now?: () => number;
}

export interface PlatformService {
  readonly url: string;
  readonly store: Store;
  readonly fleet: FleetLink;
  readonly payments: Payments;
  readonly reports: ReportStore;
  readonly http: FastifyInstance;
  stop(): Promise<void>;
}

export async function startPlatformService(o: PlatformServiceOptions): Promise<PlatformService> {
  const log = o.log;
  const undo: Array<() => Promise<unknown>> = [];
  const unwind = async () => {
    for (const u of undo.splice(0).reverse()) await u().catch(() => {});
  };
  try {
    const store = await openStore(o.store);
    undo.push(() => store.close());
    const fleet = createFleetLink({
      ...o.fleet,
      store,
      signer: new SigningKeyring(o.signingKeys),
      log: log.child({ ns: 'fleet' }),
      ...(o.now ? { now: o.now } : {}),
    });
    const payments = new Payments({
      store,
      fleet,
      providers: o.providers,
      config: o.payments,
      log: log.child({ ns: 'payments' }),
      ...(o.now ? { now: o.now } : {}),
    });
    payments.attach();
    await fleet.start();
    undo.push(() => fleet.stop());
    await payments.start();
    undo.push(() => payments.stop());
    const providerList = Object.values(o.providers).filter((p): p is PaymentProvider => p !== undefined);
    const reports = new ReportStore(join(o.dataDir, 'reconcile'));
    const reconcileDeps = {
      store,
      providers: providerList,
      log: log.child({ ns: 'reconcile' }),
      ...(o.now ? { now: o.now } : {}),
    };
    const scheduler = new ReconcileScheduler({
      ...reconcileDeps,
      reports,
      log: reconcileDeps.log,
      hour: o.reconcileHour,
    });
    scheduler.start();
    undo.push(() => scheduler.stop());
    const retention = new RetentionJob({
      store,
      retentionDays: o.retentionDays ?? 90,
      log: log.child({ ns: 'retention' }),
      ...(o.now ? { now: o.now } : {}),
    });
    retention.start();
    undo.push(() => retention.stop());
    const http = await buildPlatformHttp({
      payments,
      reports,
      token: o.http.operatorToken,
      payLinks: o.http.payLinks,
      log,
      reconcile: async (day) => {
        const report = await reconcileDay(reconcileDeps, day);
        reports.save(report);
        return report;
      },
    });
    await http.listen({ host: o.http.host, port: o.http.port });
    undo.push(() => http.close());
    const addr = http.server.address();
    const port = typeof addr === 'object' && addr ? addr.port : o.http.port;
    const url = `http://${o.http.host.includes(':') ? `[${o.http.host}]` : o.http.host}:${port}`;
    log.info({ url, providers: providerList.map((p) => p.name) }, 'platform running');
    return { url, store, fleet, payments, reports, http, stop: unwind };
  } catch (err) {
    await unwind();
    throw err;
  }
}
