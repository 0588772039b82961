/**
 * Runs the WeChat Pay sandbox (main.ts) as a child process on a loopback
 * port and reads its address and platform key from its "ready" line; the
 * phone and the fault switch are plain HTTP calls on that address.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SimEventLine, spawnSimProcess, waitForReady } from '../../sim-process.ts';
import type { Delivery, WechatSandboxOptions } from './sandbox.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

export type SpawnWechatSandboxOptions = Omit<WechatSandboxOptions, 'now' | 'log'> & {
  readyTimeoutMs?: number;
  inheritStderr?: boolean;
};

export interface WechatSandboxProcess {
  readonly url: string;
  readonly platformSerial: string;
  readonly platformPublicKeyPem: string;
  readonly events: SimEventLine[];
  waitForEvent(
    match: string | ((e: SimEventLine) => boolean),
    opts?: { timeoutMs?: number; includePast?: boolean },
  ): Promise<SimEventLine>;
  /** The phone pays the order behind a QR code (twice: a duplicate notification). */
  pay(
    code: string,
    times?: 1 | 2,
  ): Promise<{ ok: boolean; outTradeNo?: string; transactionId?: string; error?: string }>;
  abandon(code: string): Promise<{ ok: boolean }>;
  /** `5xx`: answer 500 SYSTEM_ERROR; `timeout`: never answer; for `count` requests (default: until cleared). */
  fault(mode: 'none' | '5xx' | 'timeout', count?: number): Promise<void>;
  deliveries(): Promise<Delivery[]>;
  stop(): Promise<void>;
}

async function post(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return (await res.json()) as Record<string, unknown>;
}

export async function spawnWechatSandbox(opts: SpawnWechatSandboxOptions): Promise<WechatSandboxProcess> {
  const { readyTimeoutMs, inheritStderr, ...config } = opts;
  const sim = spawnSimProcess<SimEventLine>({
    name: 'wechatpay sandbox',
    main: MAIN,
    args: ['--config', JSON.stringify(config), '--exit-on-stdin-close'],
    inheritStderr,
  });
  const ready = await waitForReady(sim, 'wechatpay sandbox', readyTimeoutMs ?? 30_000);
  const url = String(ready.url);
  return {
    url,
    platformSerial: String(ready.platformSerial),
    platformPublicKeyPem: String(ready.platformPublicKeyPem),
    events: sim.events,
    waitForEvent: sim.waitForEvent,
    pay: async (code, times = 1) => (await post(`${url}/sandbox/phone/pay`, { code, times })) as never,
    abandon: async (code) => (await post(`${url}/sandbox/phone/abandon`, { code })) as never,
    async fault(mode, count) {
      await post(`${url}/sandbox/fault`, { mode, count });
    },
    async deliveries() {
      return (await (await fetch(`${url}/sandbox/deliveries`)).json()) as Delivery[];
    },
    stop: sim.stop,
  };
}
