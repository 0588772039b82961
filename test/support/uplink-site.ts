import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { generateRawKeyPair } from '../../contract/signing.ts';
import { createRootLogger, type Log } from '../../core/log.ts';
import { SimPlatform } from '../../firmware-sim/platform/platform.ts';
import { loadConfig, parseConfig } from '../../gateway/config/load.ts';
import type { ConfigInput } from '../../gateway/config/schema.ts';
import { type Gateway, startGateway } from '../../main/gateway.ts';
import type { Cleanup } from '../../testing/cleanups.ts';
import { type RigSlotBoard, startSlotBoard } from './sim-devices.ts';

/** Every log line of a gateway, parsed, for tests that check what it told the operator. */
export interface MemoryLog {
  log: Log;
  lines: Array<{ level: number; msg: string; ns?: string; [k: string]: unknown }>;
  /** Lines whose message contains `text`. */
  matching(text: string): MemoryLog['lines'];
}

export function memoryLog(level = 'debug'): MemoryLog {
  const lines: MemoryLog['lines'] = [];
  let partial = '';
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim()) lines.push(JSON.parse(p));
      done();
    },
  });
  return {
    log: createRootLogger({ level, destination }),
    lines,
    matching: (text) => lines.filter((l) => typeof l.msg === 'string' && l.msg.includes(text)),
  };
}

export interface UplinkSite {
  gatewayId: string;
  gw: Gateway;
  platform: SimPlatform;
  board: RigSlotBoard | undefined;
  logs: MemoryLog;
}

export interface UplinkSiteOptions {
  dir: string;
  cleanups: Cleanup[];
  /** The broker the simulated platform connects to (plain TCP); default the gateway's own. */
  platformUrl?: string;
  /** Config sections over the site's (uplink, broker, ...). */
  config?: Partial<ConfigInput>;
  /** VENDGATE_* variables applied as `vendgate start` would (loadConfig). */
  env?: NodeJS.ProcessEnv;
  /** One slot-board machine m1 on a pty with its simulator process. Default true. */
  board?: boolean;
  /** Drive an MQTT display for m1 with this password (display-m1 on the local broker). */
  displayPassword?: string;
}

let n = 0;

/**
 * A gateway in this process with one remote-vend machine, its simulated
 * platform on `platformUrl`, and every log line kept. The platform connects
 * first, as it would already be running.
 */
export async function startUplinkSite(opts: UplinkSiteOptions): Promise<UplinkSite> {
  const gatewayId = `uplink-${process.pid}-${++n}`;
  const keys = generateRawKeyPair();
  const board =
    opts.board === false
      ? undefined
      : await startSlotBoard({
          id: 'm1',
          mode: 'pty',
          dir: opts.dir,
          motorMs: 20,
          slots: [1, 2, 3].map((slot) => ({ slot, stock: 100, price: 350 })),
        });
  if (board) opts.cleanups.push(() => board.stop());
  const raw: ConfigInput = {
    gatewayId,
    dataDir: opts.dir,
    broker: { embedded: { host: '127.0.0.1', port: 0, users: [] } },
    platform: { publicKeys: { default: keys.publicKey }, resendAfterMs: 500 },
    http: { enabled: false },
    machines: board
      ? [
          {
            id: 'm1',
            port: board.url,
            slots: [1, 2, 3].map((slot) => ({ slot, price: 350 })),
            display: {
              locale: 'en',
              name: 'Machine m1',
              staticQrUrl: 'https://pay.example.com/m/m1',
              ...(opts.displayPassword ? { mqtt: { password: opts.displayPassword } } : {}),
            },
          },
        ]
      : [],
    ...opts.config,
  };
  // With `env`, the config goes through a file and the environment, as `vendgate start` reads it.
  const file = join(opts.dir, `${gatewayId}.yaml`);
  if (opts.env) writeFileSync(file, stringify(raw));
  const config = opts.env
    ? loadConfig({ path: file, env: opts.env, required: true }).config
    : parseConfig(raw);
  const logs = memoryLog();
  let platform: SimPlatform | undefined;
  if (opts.platformUrl) {
    platform = new SimPlatform({ brokerUrl: opts.platformUrl, gatewayId, privateKey: keys.privateKey });
    await platform.connect();
    const p = platform;
    opts.cleanups.push(() => p.close());
  }
  const gw = await startGateway({ config, log: logs.log });
  opts.cleanups.push(() => gw.stop());
  if (!platform) {
    platform = new SimPlatform({ brokerUrl: gw.brokerUrl, gatewayId, privateKey: keys.privateKey });
    await platform.connect();
    const p = platform;
    opts.cleanups.push(() => p.close());
  }
  return { gatewayId, gw, platform, board, logs };
}
