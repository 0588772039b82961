/**
 * The WeChat Pay sandbox as its own process, on a loopback port.
 *
 *   node --import tsx firmware-sim/providers/wechatpay/main.ts --config '{"mode":"domestic",
 *     "mchid":"1230000109","appid":"wx...","merchantSerialNo":"...","merchantPublicKeyPem":"...",
 *     "apiV3Key":"<32 bytes>"}' [--port 0] [--retry-scale 0.001]
 *
 * stdout: one JSON object per line; first {"event":"ready","url":...,"platformSerial":...,
 * "platformPublicKeyPem":...}, then "order-created", "paid", "notification", "refund-created",
 * "order-closed", "fault" events. SIGTERM (or stdin closing) stops it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { printEvent, runIfEntry, serveUntilStopped } from '../../sim-main.ts';
import { WechatPaySandbox, type WechatSandboxOptions } from './sandbox.ts';

export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: '0' },
      'retry-scale': { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean', default: false },
    },
  });
  if (!values.config) {
    printEvent({ event: 'error', message: '--config (inline JSON or a file) is required' });
    return 2;
  }
  const text = values.config.trimStart().startsWith('{')
    ? values.config
    : readFileSync(values.config, 'utf8');
  const options = JSON.parse(text) as WechatSandboxOptions;
  if (values['retry-scale'] !== undefined) {
    const scale = Number(values['retry-scale']);
    if (!(scale > 0)) {
      printEvent({ event: 'error', message: '--retry-scale must be a positive number' });
      return 2;
    }
    options.retryScale = scale;
  }
  const sandbox = new WechatPaySandbox({ ...options, log: printEvent });
  const url = await sandbox.listen(Number(values.port));
  printEvent({
    event: 'ready',
    url,
    mode: options.mode,
    platformSerial: sandbox.platformSerial,
    platformPublicKeyPem: sandbox.platformPublicKeyPem,
  });
  return serveUntilStopped({
    onLine: () => {},
    onStop: () => sandbox.close(),
    exitOnStdinClose: values['exit-on-stdin-close'],
  });
}

runIfEntry(import.meta.url, main);
