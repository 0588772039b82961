/**
 * What the platform payments tests share: both provider sandboxes as their
 * own processes, the platform config that points at them (as a
 * platform.yaml would hold it), and the platform run in this process or as
 * its own (`vendgate platform start -c`), to be SIGKILLed and restarted.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { stringify } from 'yaml';
import { createRootLogger, type Log, silentLogger } from '../core/log.ts';
import { type AlipaySandboxProcess, spawnAlipaySandbox } from '../firmware-sim/providers/alipay/spawn.ts';
import { spawnWechatSandbox, type WechatSandboxProcess } from '../firmware-sim/providers/wechatpay/spawn.ts';
import { platformOptionsFrom } from '../main/platform.ts';
import type { PaymentsConfigInput } from '../platform/payments/config.ts';
import { type PlatformService, startPlatformService } from '../platform/service.ts';
import { freePort, tempDir, waitUntil } from '../testing/index.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../bin/vendgate.js');

export const MCHID = '1230000109';
export const WECHAT_APPID = 'wxd678efh567hg6787';
export const MERCHANT_SERIAL = '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C';
export const ALIPAY_APPID = '2021000000000042';
export const ALIPAY_SELLER = '2088000000000042';

function rsaPair() {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export interface Sandboxes {
  wechat: WechatSandboxProcess;
  alipay: AlipaySandboxProcess;
  /** The providers section of a platform config reaching these sandboxes. */
  providers: { wechat: Record<string, unknown>; alipay: Record<string, unknown> };
  stop(): Promise<void>;
}

export async function startSandboxes(
  opts: { retryScale?: number; timeoutMs?: number } = {},
): Promise<Sandboxes> {
  const merchant = rsaPair();
  const app = rsaPair();
  const apiV3Key = randomBytes(16).toString('hex');
  const [wechat, alipay] = await Promise.all([
    spawnWechatSandbox({
      mode: 'domestic',
      mchid: MCHID,
      appid: WECHAT_APPID,
      merchantSerialNo: MERCHANT_SERIAL,
      merchantPublicKeyPem: merchant.publicPem,
      apiV3Key,
      retryScale: opts.retryScale ?? 0.001,
    }),
    spawnAlipaySandbox({
      appPublicKey: app.publicPem,
      appId: ALIPAY_APPID,
      sellerId: ALIPAY_SELLER,
      retryScale: opts.retryScale ?? 0.001,
      billsSameDay: true,
    }),
  ]);
  const timeoutMs = opts.timeoutMs ?? 1500;
  return {
    wechat,
    alipay,
    providers: {
      wechat: {
        baseUrl: wechat.url,
        mchid: MCHID,
        appid: WECHAT_APPID,
        merchantSerialNo: MERCHANT_SERIAL,
        merchantPrivateKey: merchant.privatePem,
        apiV3Key,
        platformKeys: { [wechat.platformSerial]: wechat.platformPublicKeyPem },
        timeoutMs,
      },
      alipay: {
        gatewayUrl: alipay.gatewayUrl,
        appId: ALIPAY_APPID,
        sellerId: ALIPAY_SELLER,
        appPrivateKey: app.privatePem,
        alipayPublicKey: alipay.alipayPublicKey,
        requestTimeoutMs: timeoutMs,
      },
    },
    async stop() {
      await Promise.allSettled([wechat.stop(), alipay.stop()]);
    },
  };
}

export interface PlatformConfigInput {
  dir: string;
  brokerUrl: string;
  /** base64 raw Ed25519 seed the gateway trusts (rig.keys.privateKey). */
  signingKey: string;
  sandboxes: Sandboxes;
  port: number;
  gatewayId: string;
  payments?: Partial<PaymentsConfigInput>;
  payerHashKey?: string;
}

export const PRODUCTS = [
  'Cola 330 ml',
  'Oolong Tea 500 ml',
  'Water 550 ml',
  'Orange Juice',
  'Green Tea',
  'Coffee',
];

/** A platform config as platform.yaml would hold it: the rig's gateway with machine m1 at 3.50 a slot. */
export function platformConfig(i: PlatformConfigInput): Record<string, unknown> {
  return {
    dataDir: i.dir,
    log: { level: process.env.VENDGATE_TEST_PLATFORM_LOG ?? 'silent' },
    store: { backend: 'sqlite', payerHashKey: i.payerHashKey ?? randomBytes(32).toString('base64') },
    broker: { url: i.brokerUrl, protocolVersion: 4 },
    signing: { keys: [{ keyId: 'default', privateKey: i.signingKey }] },
    http: { host: '127.0.0.1', port: i.port },
    providers: i.sandboxes.providers,
    payments: {
      publicBaseUrl: `http://127.0.0.1:${i.port}`,
      catalogue: [
        {
          gatewayId: i.gatewayId,
          machines: [
            {
              machineId: 'm1',
              name: 'Lobby m1',
              currency: 'CNY',
              products: PRODUCTS.map((name, k) => ({ slot: k + 1, name, price: 350 })),
            },
          ],
        },
      ],
      pollIntervalMs: 200,
      refundRetryMs: 100,
      refundRetryMaxMs: 400,
      queryBeforeExpiryMs: 60_000,
      closeAfterExpiryMs: 0,
      ...i.payments,
    },
  };
}

export async function startPlatformInProcess(
  raw: Record<string, unknown>,
  log?: Log,
): Promise<PlatformService> {
  return startPlatformService(platformOptionsFrom(raw, log ?? silentLogger(), String(raw.dataDir)));
}

/**
 * Both provider sandboxes and a platform in this process for the rig's
 * gateway, started before the file's tests and stopped after them. The
 * fields are read once they exist (inside tests and hooks).
 */
export function usePlatform(
  rig: { readonly brokerUrl: string; readonly keys: { privateKey: string }; readonly gatewayId: string },
  /** `payments` is called in beforeAll, once the rig's fields (its gateway id) exist. */
  opts: { name: string; payments?: () => Partial<PaymentsConfigInput>; log?: Log },
): { readonly sandboxes: Sandboxes; readonly platform: PlatformService } {
  let sandboxes: Sandboxes | undefined;
  let platform: PlatformService | undefined;
  const tmp = tempDir(`vendgate-${opts.name}-`);
  beforeAll(async () => {
    sandboxes = await startSandboxes();
    platform = await startPlatformInProcess(
      platformConfig({
        dir: tmp.dir,
        brokerUrl: rig.brokerUrl,
        signingKey: rig.keys.privateKey,
        sandboxes,
        port: await freePort(),
        gatewayId: rig.gatewayId,
        ...(opts.payments ? { payments: opts.payments() } : {}),
      }),
      opts.log,
    );
  }, 60_000);
  afterAll(async () => {
    await platform?.stop();
    await sandboxes?.stop();
    tmp.cleanup();
  });
  return {
    get sandboxes() {
      if (!sandboxes) throw new Error('the sandboxes start in beforeAll');
      return sandboxes;
    },
    get platform() {
      if (!platform) throw new Error('the platform starts in beforeAll');
      return platform;
    },
  };
}

/** A logger that keeps every line as parsed JSON, to check what was logged (and that no secret was). */
export function capturingLog(): { log: Log; lines: Array<Record<string, unknown>>; text: () => string } {
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  const destination = new Writable({
    write(chunk, _enc, done) {
      raw += chunk.toString();
      for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { log: createRootLogger({ level: 'debug', destination }), lines, text: () => raw };
}

export interface PlatformProcess {
  readonly url: string;
  readonly child: ChildProcess | undefined;
  /** Writes another config for the next start (same port and data directory). */
  rewrite(raw: Record<string, unknown>): void;
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): void;
  stop(): Promise<void>;
}

/** The platform as its own process (`vendgate platform start -c`), ready once /health answers. */
export function platformProcess(raw: Record<string, unknown>): PlatformProcess {
  const path = join(String(raw.dataDir), 'platform.yaml');
  writeFileSync(path, stringify(raw));
  const port = (raw.http as { port: number }).port;
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  return {
    url,
    rewrite(next: Record<string, unknown>) {
      writeFileSync(path, stringify(next));
    },
    get child() {
      return child;
    },
    async start() {
      const c = spawn(process.execPath, [CLI, 'platform', 'start', '-c', path], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child = c;
      await waitUntil(
        async () => {
          if (c.exitCode !== null) throw new Error(`the platform process exited with ${c.exitCode}`);
          return fetch(`${url}/health`).then(
            (r) => r.ok,
            () => false,
          );
        },
        { timeoutMs: 30_000, what: 'the platform process answering /health' },
      );
    },
    kill(signal = 'SIGKILL') {
      child?.kill(signal);
    },
    async stop() {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
}

export { freePort };
