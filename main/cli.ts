import { parseArgs } from 'node:util';
import { generateRawKeyPair } from '../contract/signing.ts';
import { isVendgateError } from '../core/errors.ts';
import { createRootLogger } from '../core/log.ts';
import { VERSION } from '../core/version.ts';
import { runBeaconDecodeCli } from '../devices/beacon/decode-cli.ts';
import { DEFAULT_CONFIG_PATH, loadConfig, maskSecrets } from '../gateway/config/load.ts';
import { loadGatewayKey } from '../gateway/link/gateway-key.ts';
import { acceptStore } from '../gateway/store/store-accept.ts';
import { runGateway } from './gateway.ts';
import { waitForSignal } from './signals.ts';

const HELP = `vendgate ${VERSION}: edge gateway for vending machines, shake beacons and payment displays

Usage: vendgate <command> [options]

Commands:
  start [--config FILE]        run the gateway from FILE (default ${DEFAULT_CONFIG_PATH}) and VENDGATE_* env
  demo [--machines N] [--cashless N] [--rate R] [--http-port P] [--platform-port P]
       [--broker-port P] [--dir DIR] [--platform sim]
                               run the whole chain on one machine: the WeChat Pay and Alipay sandboxes,
                               the platform, the gateway with N slot-board machines and N MDB machines
                               on pty pairs, simulated customers buying R orders/s; --platform sim runs
                               a simulated platform placing signed orders instead (no providers)
  platform start -c FILE       run the operator platform (payments, refunds, reconciliation) from FILE
  config check [--config FILE] validate a config file and print the result with defaults applied
  store accept [--config FILE] after restoring a store or deciding to go on with it, leave safe mode:
                               continues past the store's high-water mark (docs/failure-modes.md)
  keys generate                print a new Ed25519 key pair (base64 raw) for signing platform commands
  keys gateway [--config FILE] print this gateway's event-signing public key and key id (for the platform
                               to pin), making the key in the data dir on first use
  sim slot-board --port PATH [--log FILE] [--config JSON]
                               run the simulated slot-board controller on a serial port
  sim mdb --port PATH [--control SOCKET|PORT] [--log FILE]
                               run the simulated MDB vending machine + cashless adapter
  sim select --control SOCKET|PORT --item N
                               press a selection button on a running MDB machine simulator
  sim display ...              run a simulated MQTT payment display
  qr sticker --machine M --url URL --out DIR
                               write a machine's static remote-vend QR as SVG and PNG for printing
  beacon decode <hex>          decode BLE advertising bytes as iBeacon / Eddystone / AltBeacon
  help                         this text

Environment: VENDGATE_<SECTION>__<FIELD>=value overrides config (e.g. VENDGATE_HTTP__PORT=9090).
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(HELP);
      return 0;
    case '--version':
      process.stdout.write(`${VERSION}\n`);
      return 0;
    case 'start':
      return runStart(rest);
    case 'demo': {
      const { runDemo } = await import('./demo/run.ts');
      return runDemo(rest);
    }
    case 'config':
      return runConfig(rest);
    case 'store':
      return runStore(rest);
    case 'platform': {
      const { runPlatformCli } = await import('./platform.ts');
      return runPlatformCli(rest);
    }
    case 'keys':
      if (rest[0] === 'gateway') return runGatewayKey(rest.slice(1));
      if (rest[0] !== 'generate') break;
      process.stdout.write(`${JSON.stringify(generateRawKeyPair(), null, 2)}\n`);
      return 0;
    case 'sim': {
      const { runSim } = await import('./sim-command.ts');
      return runSim(rest);
    }
    case 'qr': {
      if (rest[0] !== 'sticker') break;
      const { runStickerCli } = await import('../devices/display/sticker.ts');
      return runStickerCli(rest.slice(1));
    }
    case 'dex':
      return (await import('./dex-command.ts')).runDexCli(rest);
    case 'beacon':
      if (rest[0] !== 'decode') break;
      return runBeaconDecodeCli(rest.slice(1), process.stdout, process.stderr);
  }
  process.stderr.write(`vendgate: unknown command "${argv.join(' ')}"\n\n${HELP}`);
  return 2;
}

async function runStart(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const { config, source } = loadConfig({ path: values.config, required: values.config !== undefined });
  const log = createRootLogger({ level: config.log.level, pretty: config.log.pretty });
  log.info(
    { source, gatewayId: config.gatewayId, machines: config.machines.length },
    `vendgate ${VERSION} starting`,
  );
  const run = await runGateway({ config, log });
  const gw = run.kind === 'running' ? run.gateway : run.safeMode;
  log.info(
    { broker: gw.brokerUrl, http: gw.httpUrl },
    run.kind === 'running' ? 'vendgate running' : 'vendgate in safe mode',
  );
  await waitForSignal();
  log.info('stopping');
  await gw.stop();
  return 0;
}

function runStore(args: string[]): number {
  if (args[0] !== 'accept') {
    process.stderr.write('usage: vendgate store accept [--config FILE]\n');
    return 2;
  }
  const { values } = parseArgs({ args: args.slice(1), options: { config: { type: 'string', short: 'c' } } });
  const { config } = loadConfig({ path: values.config, required: values.config !== undefined });
  const log = createRootLogger({ level: config.log.level, pretty: config.log.pretty });
  const path = config.store.path ?? `${config.dataDir}/vendgate.db`;
  const r = acceptStore({ path, synchronous: config.store.synchronous, gatewayId: config.gatewayId, log });
  process.stdout.write(
    r.fault
      ? `vendgate: accepted the store ${path} (${r.fault}): it continues at seq ${r.after.seq + 1} and vend token ${r.after.vendToken ?? '-'}; ${r.skippedSeqs} seqs reported to the platform as skipped\n`
      : `vendgate: the store ${path} is consistent; nothing to accept (high-water file rewritten)\n`,
  );
  return 0;
}

function runGatewayKey(args: string[]): number {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  const { config } = loadConfig({ path: values.config, required: values.config !== undefined });
  const key = loadGatewayKey({ dataDir: config.dataDir, seed: config.platform.gatewayKey });
  const out = { gatewayId: config.gatewayId, alg: 'Ed25519', keyId: key.keyId, publicKey: key.publicKey };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

function runConfig(args: string[]): number {
  if (args[0] !== 'check') {
    process.stderr.write('usage: vendgate config check [--config FILE]\n');
    return 2;
  }
  const { values } = parseArgs({ args: args.slice(1), options: { config: { type: 'string', short: 'c' } } });
  const { config, source } = loadConfig({ path: values.config, required: values.config !== undefined });
  // Shown to a person and often pasted into a ticket: passwords, tokens and keys are masked.
  process.stdout.write(`${source}: valid\n${JSON.stringify(maskSecrets(config), null, 2)}\n`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { text, exitCode } = describeFailure(err, process.env.VENDGATE_LOG_LEVEL);
    process.stderr.write(text);
    process.exitCode = exitCode;
  },
);

/**
 * What the CLI prints when a command fails. A catalogued error or a wrong
 * option is the user's to fix: its message, never a stack trace. Anything
 * else is our fault: one line too, with the stack only at debug level.
 */
function describeFailure(err: unknown, logLevel: string | undefined): { text: string; exitCode: number } {
  if (isVendgateError(err))
    return { text: `vendgate: error ${err.code} (${err.codeName}): ${err.message}\n`, exitCode: 1 };
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS_')) {
    return { text: `vendgate: ${e.message}; see "vendgate help"\n`, exitCode: 2 };
  }
  const debug = logLevel === 'debug' || logLevel === 'trace';
  const detail =
    debug && e instanceof Error && e.stack ? `\n${e.stack}` : ' (set VENDGATE_LOG_LEVEL=debug for the stack)';
  return {
    text: `vendgate: unexpected error: ${e instanceof Error ? e.message : String(err)}${detail}\n`,
    exitCode: 1,
  };
}
