/**
 * The demo's command-line options, read and checked once for both demos
 * (`vendgate demo` and `vendgate demo --platform sim`). A value out of range
 * is a usage error (exit 2 with the usage), never a NaN passed on.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

export interface DemoOptions {
  machines: number;
  cashless: number;
  payFirst: number;
  /** Simulated customers' orders per second. */
  rate: number;
  scenes: boolean;
  sceneEveryMs: number;
  httpPort: number;
  platformPort: number;
  brokerPort: number;
  dir: string;
}

/** A value the CLI reports as a wrong command line (its code is Node's own for parseArgs). */
function invalid(message: string): Error {
  return Object.assign(new TypeError(message), { code: 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' });
}

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw invalid(`--${name} must be a whole number from ${min} to ${max} (got "${raw.slice(0, 20)}")`);
  }
  return n;
}

export function parseDemoOptions(args: string[], defaults: { rate: number; platform?: string }): DemoOptions {
  const { values } = parseArgs({
    args,
    options: {
      machines: { type: 'string', default: '2' },
      cashless: { type: 'string', default: '1' },
      'pay-first': { type: 'string', default: '1' },
      rate: { type: 'string', default: String(defaults.rate) },
      'no-scenes': { type: 'boolean', default: false },
      'scene-every': { type: 'string', default: '20' },
      'http-port': { type: 'string', default: '8080' },
      'platform-port': { type: 'string', default: '8090' },
      'broker-port': { type: 'string', default: '1883' },
      dir: { type: 'string', default: './data/demo' },
      platform: { type: 'string', ...(defaults.platform ? { default: defaults.platform } : {}) },
    },
  });
  const rate = Number(values.rate);
  if (!Number.isFinite(rate) || rate <= 0 || rate > 100) {
    throw invalid(
      `--rate must be orders per second above 0, at most 100 (got "${values.rate.slice(0, 20)}")`,
    );
  }
  return {
    machines: int('machines', values.machines, 1, 50),
    cashless: int('cashless', values.cashless, 0, 20),
    payFirst: int('pay-first', values['pay-first'], 0, 20),
    rate,
    scenes: !values['no-scenes'],
    sceneEveryMs: int('scene-every', values['scene-every'], 1, 3600) * 1000,
    httpPort: int('http-port', values['http-port'], 0, 65535),
    platformPort: int('platform-port', values['platform-port'], 0, 65535),
    brokerPort: int('broker-port', values['broker-port'], 0, 65535),
    dir: resolve(values.dir),
  };
}
