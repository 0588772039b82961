/**
 * The platform service as the notification benchmarks run it: the real
 * service (store, fleet link, payments, HTTP) with a WeChat Pay provider
 * configured from the adapter's test fixtures, so notifications signed and
 * encrypted with those keys verify exactly as WeChat's would. No sandbox
 * process: the orders are written to the store as `created` before the load.
 */

import { generateRawKeyPair } from '../contract/signing.ts';
import { silentLogger } from '../core/log.ts';
import { parsePaymentsConfig } from '../platform/payments/config.ts';
import { WechatPayProvider } from '../platform/providers/wechatpay/index.ts';
import { testConfig } from '../platform/providers/wechatpay/test-fixtures.ts';
import { type PlatformService, startPlatformService } from '../platform/service.ts';
import type { OrderCreate, StoreBackend } from '../platform/store/port.ts';

/** What the load generator and a replica share: the keys of the fixture and where things are. */
export interface BenchPlatformSpec {
  dataDir: string;
  backend: StoreBackend;
  sqlitePath?: string;
  postgresUrl?: string;
  brokerUrl: string;
  sharedGroup?: string;
  /** The fixture's keys as the load generator made them (testKeys() is per process). */
  merchantPrivatePem: string;
  platformPublicPem: string;
  platformSerial: string;
  /** base64 raw Ed25519 seed signing the commands. */
  signingKey?: string;
  poolSize?: number;
}

export async function startBenchPlatform(spec: BenchPlatformSpec): Promise<PlatformService> {
  const wechat = new WechatPayProvider({
    config: testConfig({
      merchantPrivateKey: spec.merchantPrivatePem,
      platformKeys: { [spec.platformSerial]: spec.platformPublicPem },
    }),
    refundNotifyUrl: 'http://127.0.0.1:9/notify/wechat',
    log: silentLogger(),
  });
  return startPlatformService({
    dataDir: spec.dataDir,
    store: {
      backend: spec.backend,
      ...(spec.sqlitePath ? { sqlitePath: spec.sqlitePath } : {}),
      ...(spec.postgresUrl ? { postgresUrl: spec.postgresUrl } : {}),
      ...(spec.poolSize ? { poolSize: spec.poolSize } : {}),
      payerHashKey: Buffer.alloc(32, 7),
    },
    fleet: {
      brokerUrl: spec.brokerUrl,
      protocolVersion: 5,
      ...(spec.sharedGroup ? { sharedGroup: spec.sharedGroup } : {}),
    },
    signingKeys: [{ keyId: 'default', privateKey: spec.signingKey ?? generateRawKeyPair().privateKey }],
    providers: { wechat },
    // The poller never finds work: every order expires an hour after the run.
    payments: parsePaymentsConfig({
      publicBaseUrl: 'http://127.0.0.1:9',
      pollIntervalMs: 3_600_000,
      queryBeforeExpiryMs: 0,
    }),
    http: { host: '127.0.0.1', port: 0 },
    log: silentLogger(),
  });
}

/** `count` WeChat orders spread over `gateways` gateway ids, as the store holds them before payment. */
export function benchOrders(runId: string, count: number, gateways: number, now: number): OrderCreate[] {
  return Array.from({ length: count }, (_, i) => ({
    outTradeNo: `bn${runId}${i.toString(36).padStart(5, '0')}`,
    gatewayId: `gw-${runId}-${i % gateways}`,
    machineId: 'm1',
    slot: 1 + (i % 10),
    amount: 350,
    currency: 'CNY',
    provider: 'wechat',
    expiresAt: now + 3_600_000,
    createdAt: now,
  }));
}
