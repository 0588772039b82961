/**
 * `vendgate platform start -c platform.yaml`: reads the platform's config
 * (platform/config: YAML, `VENDGATE_PLATFORM_*` overrides, `env:` and
 * `file:` references for secrets), builds the provider adapters and runs
 * the platform service until a signal.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import { createRootLogger, type Log } from '../core/log.ts';
import { VERSION } from '../core/version.ts';
import { loadPlatformConfig, parsePlatformConfig } from '../platform/config/load.ts';
import type { PlatformConfig } from '../platform/config/schema.ts';
import { parsePaymentsConfig } from '../platform/payments/config.ts';
import type { Providers } from '../platform/payments/ports.ts';
import { AlipayProvider } from '../platform/providers/alipay/index.ts';
import { WechatPayProvider } from '../platform/providers/wechatpay/index.ts';
import {
  type PlatformService,
  type PlatformServiceOptions,
  startPlatformService,
} from '../platform/service.ts';
import { waitForSignal } from './signals.ts';

/** The service's options from a config file's contents (tests pass an object). */
export function platformOptionsFrom(
  raw: unknown,
  log: Log,
  baseDir = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): PlatformServiceOptions {
  return platformOptions(parsePlatformConfig(raw, { env, baseDir }), log);
}

/** Builds the provider adapters and hands each part its section. */
export function platformOptions(c: PlatformConfig, log: Log): PlatformServiceOptions {
  const dataDir = c.dataDir;
  const payments = parsePaymentsConfig(c.payments);
  const payerHashKey = Buffer.from(c.store.payerHashKey, 'base64');
  if (payerHashKey.length < 16) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `store.payerHashKey is ${payerHashKey.length} bytes of base64; it needs at least 16 (openssl rand -base64 32)`,
      { field: 'store.payerHashKey' },
    );
  }
  const providers: Providers = {};
  if (c.providers.wechat) {
    providers.wechat = new WechatPayProvider({
      config: c.providers.wechat,
      refundNotifyUrl: `${payments.publicBaseUrl}/notify/wechat`,
      log: log.child({ ns: 'wechatpay' }),
    });
  }
  if (c.providers.alipay) {
    providers.alipay = new AlipayProvider(
      c.providers.alipay as ConstructorParameters<typeof AlipayProvider>[0],
      {
        log: log.child({ ns: 'alipay' }),
      },
    );
  }
  return {
    dataDir,
    store: {
      backend: c.store.backend,
      sqlitePath: c.store.sqlitePath ?? join(dataDir, 'platform.db'),
      ...(c.store.postgresUrl ? { postgresUrl: c.store.postgresUrl } : {}),
      ...(c.store.poolSize ? { poolSize: c.store.poolSize } : {}),
      payerHashKey,
    },
    fleet: {
      brokerUrl: c.broker.url,
      ...(c.broker.username ? { username: c.broker.username } : {}),
      ...(c.broker.password ? { password: c.broker.password } : {}),
      ...(c.broker.sharedGroup ? { sharedGroup: c.broker.sharedGroup } : {}),
      ...(c.broker.protocolVersion ? { protocolVersion: c.broker.protocolVersion } : {}),
      ...c.fleet,
    },
    signingKeys: c.signing.keys,
    retentionDays: c.privacy.retentionDays,
    providers,
    payments,
    http: {
      host: c.http.host,
      port: c.http.port,
      ...(c.http.operatorToken ? { operatorToken: c.http.operatorToken } : {}),
    },
    log,
  };
}

/** Starts the platform from a config file; used by the CLI and by tests that run it as a process. */
export async function startPlatformFromFile(path: string, log?: Log): Promise<PlatformService> {
  const config = loadPlatformConfig(path);
  const root = log ?? createRootLogger({ level: config.log.level, pretty: config.log.pretty });
  return startPlatformService(platformOptions(config, root));
}

export async function runPlatformCli(args: string[]): Promise<number> {
  if (args[0] !== 'start') {
    process.stderr.write('usage: vendgate platform start -c platform.yaml\n');
    return 2;
  }
  const { values } = parseArgs({ args: args.slice(1), options: { config: { type: 'string', short: 'c' } } });
  const path = resolve(values.config ?? 'platform.yaml');
  const service = await startPlatformFromFile(path);
  // One line on stdout a supervisor (or a test) can read the address from.
  process.stdout.write(`${JSON.stringify({ event: 'ready', url: service.url, version: VERSION })}\n`);
  await waitForSignal();
  await service.stop();
  return 0;
}
