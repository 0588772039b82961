/**
 * The Alipay sandbox as its own process.
 *
 *   node --import tsx firmware-sim/providers/alipay/main.ts --app-public-key <PEM or path> \
 *     [--port 0] [--app-id 2021000000000001] [--seller-id 2088000000000001] \
 *     [--retry-scale 0.001] [--bills-same-day] [--bill-url-ttl-ms 30000]
 *
 * stdout: one JSON object per line: {"event":"ready","url","gatewayUrl",
 * "phoneUrl","alipayPublicKey","appId","sellerId"} once listening (the
 * public key is the sandbox's freshly generated Alipay key, PEM), then
 * "request", "precreated", "scanned", "paid", "abandoned", "closed",
 * "refunded", "notify" (one per delivery attempt), "fault", "fault-applied"
 * and "error" events. Exits on SIGTERM/SIGINT or when stdin closes.
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AlipaySandbox } from './sandbox.ts';

function print(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      'app-public-key': { type: 'string' },
      'app-id': { type: 'string', default: '2021000000000001' },
      'seller-id': { type: 'string', default: '2088000000000001' },
      'retry-scale': { type: 'string', default: '1' },
      'bills-same-day': { type: 'boolean', default: false },
      'bill-url-ttl-ms': { type: 'string', default: '30000' },
    },
  });
  const material = values['app-public-key'];
  if (!material) throw new Error('--app-public-key is required (PEM text or a file path)');
  const pem = material.includes('-----BEGIN') ? material : readFileSync(material, 'utf8');
  const retryScale = Number(values['retry-scale']);
  if (!(retryScale > 0)) throw new Error('--retry-scale must be a positive number');
  const sandbox = new AlipaySandbox({
    appId: values['app-id']!,
    sellerId: values['seller-id']!,
    appPublicKey: createPublicKey(pem),
    retryScale,
    billsSameDay: values['bills-same-day'],
    billUrlTtlMs: Number(values['bill-url-ttl-ms']),
    onEvent: print,
  });
  const url = await sandbox.listen(Number(values.port));
  print({
    event: 'ready',
    url,
    gatewayUrl: `${url}/gateway.do`,
    phoneUrl: `${url}/phone`,
    alipayPublicKey: sandbox.alipayPublicKey.export({ type: 'spki', format: 'pem' }).toString(),
    appId: values['app-id'],
    sellerId: values['seller-id'],
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void sandbox.close().finally(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}

main(process.argv.slice(2)).catch((err) => {
  print({ event: 'error', message: (err as Error).message });
  process.exit(1);
});
