/**
 * The `vendgate` command. Every command is one row of COMMANDS: its words,
 * its synopsis, what it does and how it runs. The overview (`vendgate
 * --help`), each command's own help (`vendgate <command> --help`, which
 * runs nothing), unknown commands and wrong options are all answered here
 * from that table, so a new command is one more row.
 *
 * Exit codes: 0 success, 1 a failure (a catalogued error: one line with its
 * code, never a stack), 2 a wrong command line (one line, then the usage).
 */
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { describeErrno, ensureDirectory } from '../core/directories.ts';
import { ErrorCode, isVendgateError, VendgateError } from '../core/errors.ts';
import { journalLogDestination, journalPrefix } from '../core/journal.ts';
import { createRootLogger } from '../core/log.ts';
import { VERSION } from '../core/version.ts';
import { DEFAULT_CONFIG_PATH, loadConfig, maskSecrets } from '../gateway/config/load.ts';
import type { Config } from '../gateway/config/schema.ts';
import { waitForSignal } from './signals.ts';

export interface CliCommand {
  /** The words after `vendgate`, e.g. ['keys', 'generate']. */
  words: readonly string[];
  /** Options and arguments after the words, e.g. '[--config FILE]'. */
  synopsis: string;
  /** What it does: the overview's text (may have several lines). */
  summary: string;
  /** More for `vendgate <command> --help`: the options one by one. */
  details?: string;
  /** Runs the command with the arguments after its words; resolves with the exit code. */
  run(args: string[]): number | Promise<number>;
}

const CONFIG_OPTION = `  -c, --config FILE   the gateway config (default ${DEFAULT_CONFIG_PATH} if it exists); VENDGATE_* variables override it`;

const DEMO_DETAILS = `Options:
  --machines N        slot-board (remote vend) machines, default 2
  --cashless N        MDB select-then-pay machines, default 1
  --pay-first N       MDB pay-first machines, default 1
  --rate R            simulated customers' orders per second, default 0.2 (0.5 with --platform sim)
  --http-port P       the gateway's dashboard and kiosk pages, default 8080
  --platform-port P   the platform's operator and phone pages, default 8090
  --broker-port P     the gateway's embedded MQTT broker, default 1883
  --dir DIR           pty links, logs and SQLite files, default ./data/demo
  --no-scenes         no scripted scenes (price change, jam, sold out, door, DEX read)
  --scene-every S     seconds between scenes, default 20
  --platform sim      a simulated platform placing signed orders instead (no providers)

VENDGATE_<SECTION>__<FIELD>=value overrides the demo gateway's config as it does a
real site's (e.g. VENDGATE_HTTP__TOKEN=..., VENDGATE_LOG__LEVEL=debug); it wins over
the options above. VENDGATE_LOG_LEVEL sets the level of every log.`;

export const COMMANDS: CliCommand[] = [
  {
    words: ['start'],
    synopsis: '[--config FILE]',
    summary: `run the gateway from FILE (default ${DEFAULT_CONFIG_PATH}) and VENDGATE_* env`,
    details: `Options:\n${CONFIG_OPTION}\n\nLogs are JSON lines on stdout; under systemd (JOURNAL_STREAM) each line gets its\nsyslog priority prefix, so journalctl -p warning shows warnings and errors.`,
    run: runStart,
  },
  {
    words: ['demo'],
    synopsis:
      '[--machines N] [--cashless N] [--pay-first N] [--rate R] [--http-port P] [--platform-port P]\n       [--broker-port P] [--dir DIR] [--no-scenes] [--scene-every S] [--platform sim]',
    summary:
      'run the whole chain on one machine: the WeChat Pay and Alipay sandboxes,\nthe platform, the gateway with N slot-board machines and N MDB machines\non pty pairs, simulated customers buying R orders/s; --platform sim runs\na simulated platform placing signed orders instead (no providers)',
    details: DEMO_DETAILS,
    run: runDemoCommand,
  },
  {
    words: ['platform', 'start'],
    synopsis: '-c FILE',
    summary: 'run the operator platform (payments, refunds, reconciliation) from FILE',
    details:
      'Options:\n  -c, --config FILE   the platform config (default platform.yaml); see docs/providers.md',
    run: async (args) => (await import('./platform.ts')).runPlatformCli(['start', ...args]),
  },
  {
    words: ['config', 'check'],
    synopsis: '[--config FILE]',
    summary: 'validate a config file and print the result with defaults applied',
    details: `Options:\n${CONFIG_OPTION}\n\nPasswords, tokens and keys are printed masked.`,
    run: runConfigCheck,
  },
  {
    words: ['store', 'accept'],
    synopsis: '[--config FILE]',
    summary:
      "after restoring a store or deciding to go on with it, leave safe mode:\ncontinues past the store's high-water mark (docs/failure-modes.md)",
    details: `Options:\n${CONFIG_OPTION}`,
    run: runStoreAccept,
  },
  {
    words: ['keys', 'generate'],
    synopsis: '',
    summary: 'print a new Ed25519 key pair (base64 raw) for signing platform commands',
    details: 'The platform keeps privateKey; the gateway trusts publicKey (platform.publicKeys).',
    run: runKeysGenerate,
  },
  {
    words: ['keys', 'gateway'],
    synopsis: '[--config FILE]',
    summary:
      "print this gateway's event-signing public key and key id (for the platform\nto pin), making the key in the data dir on first use",
    details: `Options:\n${CONFIG_OPTION}`,
    run: runGatewayKey,
  },
  {
    words: ['sim', 'slot-board'],
    synopsis: '--port PATH [--log FILE] [--config JSON|FILE]',
    summary: 'run the simulated slot-board controller on a serial port',
    details:
      'Options:\n  --port PATH          the serial device (one end of a pty pair)\n  --log FILE           the vend log (JSON lines)\n  --config JSON|FILE   slots, stock, prices, timings\n  --slots N --stock N --price P --motor-ms N --poll-ms N --baud N',
    run: (args) => runSimCommand(['slot-board', ...args]),
  },
  {
    words: ['sim', 'mdb'],
    synopsis: '--port PATH [--control SOCKET|PORT] [--log FILE]',
    summary: 'run the simulated MDB vending machine + cashless adapter',
    details:
      'Options:\n  --port PATH             the serial device (one end of a pty pair)\n  --control SOCKET|PORT   where `vendgate sim select` presses buttons\n  --log FILE              the session log (JSON lines)\n  --config JSON|FILE --items N --price P --vend-ms N --price-format F --baud N',
    run: (args) => runSimCommand(['mdb', ...args]),
  },
  {
    words: ['sim', 'select'],
    synopsis: '--control SOCKET|PORT --item N',
    summary: 'press a selection button on a running MDB machine simulator',
    run: (args) => runSimCommand(['select', ...args]),
  },
  {
    words: ['sim', 'display'],
    synopsis: '--url mqtt://HOST:PORT --gateway GW --display ID [--username U]',
    summary: 'run a simulated MQTT payment display',
    details:
      'Options:\n  --url URL              the gateway broker\n  --gateway GW           the gateway id\n  --display ID           the display (machine) id\n  --username U           default display-ID\n  --password-env NAME    the variable holding the password, default VENDGATE_DISPLAY_PASSWORD',
    run: (args) => runSimCommand(['display', ...args]),
  },
  {
    words: ['qr', 'sticker'],
    synopsis: '--machine M --url URL [--out DIR] [--locale L]',
    summary:
      "write a machine's printable remote-vend sticker (QR code, instruction and\nmachine id in its language) as SVG, and the bare QR as SVG and PNG",
    details:
      'Options:\n  -m, --machine M   -u, --url URL   -o, --out DIR   -l, --locale zh-CN|en|de|ja\n  --level Q|H   --size PX (PNG width, default 1200)',
    run: async (args) => (await import('../devices/display/sticker.ts')).runStickerCli(args),
  },
  {
    words: ['dex', 'read'],
    synopsis: '--port PATH [--baud N] [--json] [--timeout-ms N]',
    summary: "read a machine's DEX/UCS (EVA-DTS) audit once and print its counters",
    details:
      'Options:\n  --port PATH        the DEX serial port (RS-232, 9600 8N1 by default)\n  --baud N           default 9600\n  --json             the link details and the whole parsed audit\n  --timeout-ms N     give up after N ms (at least 100)\n\nExit codes: 0 a good audit, 3 read but failing its checks (G85, SE count), 1 nothing read, 2 usage.',
    run: async (args) => (await import('./dex-command.ts')).runDexCli(['read', ...args]),
  },
  {
    words: ['dex', 'sim'],
    synopsis: '--port PATH --audit FILE [--comm-id ID] [--block-bytes N]',
    summary: 'run a simulated DEX port that plays an audit file',
    details:
      'Options:\n  --port PATH        the serial port (one end of a pty pair)\n  --audit FILE       the EVA-DTS audit to send\n  --comm-id ID       the machine communication id\n  --block-bytes N    data bytes per block',
    run: async (args) => (await import('./dex-command.ts')).runDexCli(['sim', ...args]),
  },
  {
    words: ['beacon', 'decode'],
    synopsis: '[--as auto|ad|manufacturer|eddystone] <hex>...',
    summary: 'decode BLE advertising bytes as iBeacon / Eddystone / AltBeacon',
    details:
      'Options:\n  <hex>   advertising data (AD structures), e.g. 0201061AFF4C000215..., or a bare\n          manufacturer (4C000215...) or Eddystone (AAFE...) payload; spaces, colons, dashes are fine\n  --as    how to read the bytes, default auto\n\nExit codes: 0 decoded, 1 not a beacon, 2 usage or hex error.',
    run: async (args) =>
      (await import('../devices/beacon/decode-cli.ts')).runBeaconDecodeCli(
        args,
        process.stdout,
        process.stderr,
      ),
  },
];

const isHelpFlag = (a: string) => a === '--help' || a === '-h';

/** `--help` or `-h` among a command's arguments (not after `--`). */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some(isHelpFlag);
}

function commandName(c: CliCommand): string {
  return c.words.join(' ');
}

function commandUsage(c: CliCommand): string {
  const line = `usage: vendgate ${commandName(c)}${c.synopsis ? ` ${c.synopsis}` : ''}`;
  return `${line}\n\n${c.summary}\n${c.details ? `\n${c.details}\n` : ''}`;
}

function overview(): string {
  const rows = COMMANDS.map((c) => {
    const head = `  ${commandName(c)}${c.synopsis ? ` ${c.synopsis}` : ''}`;
    const summary = c.summary.split('\n');
    const lastHeadLine = head.split('\n').at(-1) ?? head;
    // Short synopses share a line with the summary; long ones get the summary below.
    if (!head.includes('\n') && lastHeadLine.length <= 30)
      return [
        `${head.padEnd(31)}${summary[0]}`,
        ...summary.slice(1).map((l) => `${' '.repeat(31)}${l}`),
      ].join('\n');
    return [head, ...summary.map((l) => `${' '.repeat(31)}${l}`)].join('\n');
  });
  return `vendgate ${VERSION}: edge gateway for vending machines, shake beacons and payment displays

Usage: vendgate <command> [options]        vendgate <command> --help: the command's options

Commands:
${rows.join('\n')}
  help                         this text
  --version                    the version

Environment: VENDGATE_<SECTION>__<FIELD>=value overrides config (e.g. VENDGATE_HTTP__PORT=9090),
for \`start\` and the demo; VENDGATE_LOG_LEVEL=debug also prints the stack of an unexpected error.
Exit codes: 0 done, 1 failed (one line with the error code), 2 wrong command line.
`;
}

/** The command whose words begin argv (the longest such), if any. */
function findCommand(argv: readonly string[]): CliCommand | undefined {
  let found: CliCommand | undefined;
  for (const c of COMMANDS) {
    if (c.words.every((w, i) => argv[i] === w) && c.words.length > (found?.words.length ?? 0)) found = c;
  }
  return found;
}

export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === 'help' || isHelpFlag(first)) {
    // `vendgate help keys generate` is `vendgate keys generate --help`.
    const about = first === 'help' ? findCommand(argv.slice(1)) : undefined;
    process.stdout.write(about ? commandUsage(about) : overview());
    return 0;
  }
  if (first === '--version' || first === '-V' || first === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  const command = findCommand(argv);
  if (!command) return unknownCommand(argv);
  const args = argv.slice(command.words.length);
  if (asksForHelp(args)) {
    process.stdout.write(commandUsage(command));
    return 0;
  }
  try {
    return await command.run(args);
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) {
      process.stderr.write(
        `vendgate ${commandName(command)}: ${(err as Error).message}\n\n${commandUsage(command)}`,
      );
      return 2;
    }
    throw err;
  }
}

/** `vendgate keys` alone, `vendgate keys --help`, `vendgate keys bogus`, `vendgate bogus`. */
function unknownCommand(argv: string[]): number {
  const [first] = argv;
  const group = COMMANDS.filter((c) => c.words[0] === first);
  if (group.length === 0) {
    process.stderr.write(`vendgate: unknown command "${first}"; see "vendgate --help"\n`);
    return 2;
  }
  const list = `usage:\n${group.map((c) => `  vendgate ${commandName(c)}${c.synopsis ? ` ${c.synopsis}` : ''}`).join('\n')}\n\n"vendgate ${first} <command> --help" tells more.\n`;
  if (argv.length === 2 && isHelpFlag(argv[1]!)) {
    process.stdout.write(list);
    return 0;
  }
  const what =
    argv[1] === undefined ? `"vendgate ${first}" needs a command` : `unknown command "${first} ${argv[1]}"`;
  process.stderr.write(`vendgate: ${what}\n\n${list}`);
  return 2;
}

function configArgs(args: string[]): { config: Config; source: string } {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } } });
  return loadConfig({ path: values.config, required: values.config !== undefined });
}

async function runStart(args: string[]): Promise<number> {
  const { config, source } = configArgs(args);
  // Checked (and made) here, so a wrong dataDir is one clear line, not a mkdir that never returns.
  await ensureDirectory(config.dataDir, 'dataDir');
  const journal = journalLogDestination();
  const log = createRootLogger({
    level: config.log.level,
    pretty: config.log.pretty && !journal,
    ...(journal ? { destination: journal } : {}),
  });
  log.info(
    { source, gatewayId: config.gatewayId, machines: config.machines.length },
    `vendgate ${VERSION} starting`,
  );
  // Loaded here, not at the top: `--help` and the other commands need none of the gateway.
  const { runGateway } = await import('./gateway.ts');
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

async function runDemoCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: false, options: { dir: { type: 'string' } } });
  await ensureDirectory(typeof values.dir === 'string' ? values.dir : './data/demo', '--dir');
  const { runDemo } = await import('./demo/run.ts');
  return runDemo(args);
}

async function runStoreAccept(args: string[]): Promise<number> {
  const { config } = configArgs(args);
  const log = createRootLogger({ level: config.log.level, pretty: config.log.pretty });
  const path = config.store.path ?? `${config.dataDir}/vendgate.db`;
  await ensureDirectory(dirname(path), 'store.path');
  const { acceptStore } = await import('../gateway/store/store-accept.ts');
  const r = acceptStore({ path, synchronous: config.store.synchronous, gatewayId: config.gatewayId, log });
  process.stdout.write(
    r.fault
      ? `vendgate: accepted the store ${path} (${r.fault}): it continues at seq ${r.after.seq + 1} and vend token ${r.after.vendToken ?? '-'}; ${r.skippedSeqs} seqs reported to the platform as skipped\n`
      : `vendgate: the store ${path} is consistent; nothing to accept (high-water file rewritten)\n`,
  );
  return 0;
}

async function runKeysGenerate(args: string[]): Promise<number> {
  // No options: anything given is a mistake, and must not print a key.
  parseArgs({ args, options: {} });
  const { generateRawKeyPair } = await import('../contract/signing.ts');
  process.stdout.write(`${JSON.stringify(generateRawKeyPair(), null, 2)}\n`);
  return 0;
}

async function runGatewayKey(args: string[]): Promise<number> {
  const { config } = configArgs(args);
  await ensureDirectory(config.dataDir, 'dataDir');
  const { loadGatewayKey } = await import('../gateway/link/gateway-key.ts');
  const key = loadGatewayKey({ dataDir: config.dataDir, seed: config.platform.gatewayKey });
  const out = { gatewayId: config.gatewayId, alg: 'Ed25519', keyId: key.keyId, publicKey: key.publicKey };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  return 0;
}

function runConfigCheck(args: string[]): number {
  const { config, source } = configArgs(args);
  // Shown to a person and often pasted into a ticket: passwords, tokens and keys are masked.
  process.stdout.write(`${source}: valid\n${JSON.stringify(maskSecrets(config), null, 2)}\n`);
  return 0;
}

async function runSimCommand(args: string[]): Promise<number> {
  const { runSim } = await import('./sim-command.ts');
  return runSim(args);
}

const CONNECT_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
const PATH_ERRNOS = new Set([
  'ENOENT',
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOSPC',
  'ENOTDIR',
  'EISDIR',
  'EEXIST',
  'ENAMETOOLONG',
]);

/**
 * A system error that is the user's to fix (nothing listens where they
 * pointed, a path they gave cannot be used), as a catalogued error; any
 * other error stays what it is.
 */
function asUserError(err: unknown): VendgateError | undefined {
  let e = err as
    | (NodeJS.ErrnoException & { address?: string; port?: number; errors?: unknown[] })
    | undefined;
  // fetch wraps the socket error in `cause`; a connect to several addresses is an AggregateError.
  if (e && !e.code && e.cause) e = e.cause as typeof e;
  if (e && !e.syscall && Array.isArray(e.errors) && e.errors[0]) e = e.errors[0] as typeof e;
  const code = e?.code;
  if (!e || typeof code !== 'string') return undefined;
  if (CONNECT_ERRNOS.has(code) || e.syscall === 'connect') {
    const where = e.address ? `${e.address}${e.port ? `:${e.port}` : ''}` : (e.path ?? 'the other end');
    const why =
      code === 'ECONNREFUSED' || code === 'ENOENT' ? 'nothing is listening there (is it running?)' : code;
    return new VendgateError(ErrorCode.CliConnectionFailed, `cannot connect to ${where}: ${why}`, {
      errno: code,
    });
  }
  if (PATH_ERRNOS.has(code) && e.path) {
    const why = code === 'ENOENT' ? 'no such file or directory' : describeErrno(code);
    return new VendgateError(ErrorCode.CliPathUnusable, `${e.path}: ${why}`, { path: e.path, errno: code });
  }
  return undefined;
}

/**
 * What the CLI prints when a command fails. A catalogued error, or a system
 * error that is the user's to fix, is one line with its code and never a
 * stack trace. Anything else is our fault: one line too, with the stack only
 * at debug level.
 */
function describeFailure(err: unknown, logLevel: string | undefined): { text: string; exitCode: number } {
  const known = isVendgateError(err) ? err : asUserError(err);
  if (known)
    return { text: `vendgate: error ${known.code} (${known.codeName}): ${known.message}\n`, exitCode: 1 };
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS_')) {
    return { text: `vendgate: ${e.message}; see "vendgate --help"\n`, exitCode: 2 };
  }
  const debug = logLevel === 'debug' || logLevel === 'trace';
  const detail =
    debug && e instanceof Error && e.stack ? `\n${e.stack}` : ' (set VENDGATE_LOG_LEVEL=debug for the stack)';
  return {
    text: `vendgate: unexpected error: ${e instanceof Error ? e.message : String(err)}${detail}\n`,
    exitCode: 1,
  };
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const { text, exitCode } = describeFailure(err, process.env.VENDGATE_LOG_LEVEL);
    process.stderr.write(`${journalPrefix(2, 3)}${text}`);
    process.exitCode = exitCode;
  },
);
