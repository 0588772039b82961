/**
 * Starts the Alipay sandbox (main.ts) as a child process on a loopback
 * port, reads its address and its Alipay public key from the "ready" line,
 * and drives it over HTTP: the phone (scan, pay, abandon, pay twice), the
 * fault switch, and the log of notification deliveries.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SimChildProcess, type SimEventLine, spawnSimProcess, waitForReady } from '../../sim-process.ts';
import type { Delivery } from './notifier.ts';
import type { BillCorruption, FaultMode } from './sandbox.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');

export interface SpawnAlipaySandboxOptions {
  /** The app's RSA2 public key (PEM): the sandbox verifies requests with it. */
  appPublicKey: string;
  appId?: string;
  sellerId?: string;
  /** Compresses the 4m..15h notification retry schedule, e.g. 0.001. */
  retryScale?: number;
  billsSameDay?: boolean;
  billUrlTtlMs?: number;
  readyTimeoutMs?: number;
  inheritStderr?: boolean;
}

export interface PhoneResult {
  ok: boolean;
  status?: string;
  tradeNo?: string;
  error?: string;
}

export interface AlipaySandboxProcess {
  readonly url: string;
  readonly gatewayUrl: string;
  readonly phoneUrl: string;
  /** The sandbox's Alipay public key, PEM. */
  readonly alipayPublicKey: string;
  readonly appId: string;
  readonly sellerId: string;
  readonly events: SimEventLine[];
  readonly phone: {
    scan(qr: string): Promise<PhoneResult>;
    pay(qr: string, buyerId?: string): Promise<PhoneResult>;
    payTwice(qr: string): Promise<PhoneResult>;
    abandon(qr: string): Promise<PhoneResult>;
  };
  /** The next `count` gateway calls (default: all until cleared) fail this way; `bill` corrupts bills. */
  fault(mode: FaultMode, count?: number, bill?: BillCorruption): Promise<void>;
  deliveries(): Promise<Delivery[]>;
  waitForEvent: SimChildProcess<SimEventLine>['waitForEvent'];
  stop(): Promise<void>;
}

export async function spawnAlipaySandbox(opts: SpawnAlipaySandboxOptions): Promise<AlipaySandboxProcess> {
  const args = [`--app-public-key=${opts.appPublicKey}`];
  if (opts.appId) args.push('--app-id', opts.appId);
  if (opts.sellerId) args.push('--seller-id', opts.sellerId);
  if (opts.retryScale !== undefined) args.push('--retry-scale', String(opts.retryScale));
  if (opts.billsSameDay) args.push('--bills-same-day');
  if (opts.billUrlTtlMs !== undefined) args.push('--bill-url-ttl-ms', String(opts.billUrlTtlMs));
  const sim = spawnSimProcess<SimEventLine>({
    name: 'alipay sandbox',
    main: MAIN,
    args,
    inheritStderr: opts.inheritStderr,
  });
  const ready = await waitForReady(sim, 'alipay sandbox', opts.readyTimeoutMs ?? 30_000);
  const url = String(ready.url);
  const post = async (path: string, body: unknown): Promise<PhoneResult> => {
    const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body) });
    return (await res.json()) as PhoneResult;
  };
  return {
    url,
    gatewayUrl: String(ready.gatewayUrl),
    phoneUrl: String(ready.phoneUrl),
    alipayPublicKey: String(ready.alipayPublicKey),
    appId: String(ready.appId),
    sellerId: String(ready.sellerId),
    events: sim.events,
    phone: {
      scan: (qr) => post('/phone/scan', { qr }),
      pay: (qr, buyerId) => post('/phone/pay', { qr, buyerId }),
      payTwice: (qr) => post('/phone/pay-twice', { qr }),
      abandon: (qr) => post('/phone/abandon', { qr }),
    },
    async fault(mode, count, bill) {
      await post('/sandbox/fault', { mode, count, bill });
    },
    async deliveries() {
      const res = await fetch(`${url}/sandbox/notifications`);
      return (await res.json()) as Delivery[];
    },
    waitForEvent: sim.waitForEvent,
    stop: sim.stop,
  };
}
