/**
 * `vendgate platform start -c platform.yaml`: reads the platform's config
 * file (YAML; any string value `env:NAME` is taken from the environment, so
 * secrets stay out of the file), builds the provider adapters and runs the
 * platform service until a signal.
 */
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import YAML from 'yaml';
import { z } from 'zod';
import { ErrorCode, VendgateError } from '../core/errors.ts';
import { createRootLogger, type Log } from '../core/log.ts';
import { VERSION } from '../core/version.ts';
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

export const PlatformFileSchema = z
  .object({
    dataDir: z.string().default('./data/platform'),
    log: z
      .object({ level: z.string().default('info'), pretty: z.boolean().default(false) })
      .strict()
      .default({ level: 'info', pretty: false }),
    store: z
      .object({
        backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
        sqlitePath: z.string().optional(),
        postgresUrl: z.string().optional(),
        poolSize: z.number().int().min(1).max(100).optional(),
        /** HMAC key for payer ids: base64, at least 16 bytes. */
        payerHashKey: z.string().min(1),
      })
      .strict(),
    broker: z
      .object({
        url: z.string().regex(/^mqtts?:\/\//, 'an mqtt:// or mqtts:// URL'),
        username: z.string().optional(),
        password: z.string().optional(),
        sharedGroup: z.string().optional(),
        protocolVersion: z.union([z.literal(4), z.literal(5)]).optional(),
      })
      .strict(),
    signing: z
      .object({
        keys: z
          .array(
            z
              .object({ keyId: z.string(), privateKey: z.string(), activeFrom: z.number().int().optional() })
              .strict(),
          )
          .min(1)
          .max(2),
      })
      .strict(),
    http: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(8090),
        operatorToken: z.string().min(16).optional(),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 8090 }),
    providers: z.object({ wechat: z.unknown().optional(), alipay: z.unknown().optional() }).strict(),
    payments: z.unknown(),
  })
  .strict();

/** Replaces every string `env:NAME` with that variable; an unset one is an error naming it. */
export function resolveEnvRefs(v: unknown, env: NodeJS.ProcessEnv, path = ''): unknown {
  if (typeof v === 'string' && v.startsWith('env:')) {
    const name = v.slice(4);
    const value = env[name];
    if (value === undefined) {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        `${path || '(root)'}: environment variable ${name} is not set`,
        { name },
      );
    }
    return value;
  }
  if (Array.isArray(v)) return v.map((x, i) => resolveEnvRefs(x, env, `${path}[${i}]`));
  if (v && typeof v === 'object') {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, resolveEnvRefs(x, env, path ? `${path}.${k}` : k)]),
    );
  }
  return v;
}

export function platformOptionsFrom(
  raw: unknown,
  log: Log,
  baseDir = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): PlatformServiceOptions {
  const parsed = PlatformFileSchema.safeParse(resolveEnvRefs(raw, env));
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new VendgateError(ErrorCode.ConfigInvalid, `platform config invalid: ${where}`, {
      fields: parsed.error.issues.map((i) => i.path.join('.')),
    });
  }
  const c = parsed.data;
  const dataDir = isAbsolute(c.dataDir) ? c.dataDir : resolve(baseDir, c.dataDir);
  const payments = parsePaymentsConfig(c.payments);
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
  if (!providers.wechat && !providers.alipay) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      'platform config: providers lists neither wechat nor alipay',
      {},
    );
  }
  const payerHashKey = Buffer.from(c.store.payerHashKey, 'base64');
  return {
    dataDir,
    store: {
      backend: c.store.backend,
      sqlitePath: c.store.sqlitePath ? resolve(baseDir, c.store.sqlitePath) : join(dataDir, 'platform.db'),
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
    },
    signingKeys: c.signing.keys,
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

export function readPlatformFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new VendgateError(ErrorCode.ConfigFileUnreadable, `cannot read the platform config ${path}`, {
      path,
    });
  }
  try {
    return YAML.parse(text);
  } catch (err) {
    throw new VendgateError(ErrorCode.ConfigYamlSyntax, `${path}: ${(err as Error).message}`, { path });
  }
}

/** Starts the platform from a config file; used by the CLI and by tests that run it as a process. */
export async function startPlatformFromFile(path: string, log?: Log): Promise<PlatformService> {
  const raw = readPlatformFile(path) as { log?: { level?: string; pretty?: boolean } } | null;
  const root =
    log ?? createRootLogger({ level: raw?.log?.level ?? 'info', pretty: raw?.log?.pretty ?? false });
  const baseDir = resolve(path, '..');
  return startPlatformService(platformOptionsFrom(raw, root, baseDir));
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
