/**
 * The simulated vending machine + MDB cashless adapter as its own process,
 * on a real serial port (usually one end of a socat pty pair, see
 * firmware-sim/pty.ts).
 *
 *   node --import tsx firmware-sim/mdb/main.ts --port /tmp/x/b \
 *     [--log sessions.jsonl] [--control /tmp/x/mdb.sock | --control 7070] \
 *     [--config '{"items":[{"item":1,"price":350}],"vendMs":200}'] \
 *     [--items 10 --price 100 --vend-ms 200 --price-format scaled|decimal --baud 115200]
 *
 * stdout: one JSON object per line: {"event":"ready",...} once the port is
 * open, then "vend-request", "approved", "denied", "vend-success",
 * "vend-fail", "cancelled", "select-ignored", "status", "port-open",
 * "port-closed", "fault", "error" events.
 * stdin, and each connection to --control (a unix socket path, or a TCP
 * port on 127.0.0.1): newline-delimited JSON commands (MdbSimCommand):
 *   {"select": 3}  {"cmd":"select","item":3}  {"cmd":"cancel"}
 *   {"cmd":"set-price","item":3,"price":400}
 *   {"fault":"vend-fail","count":1}  {"fault":"adapter-error","text":"bus reset"}
 *   {"fault":"junk","count":3}  {"fault":"silent","ms":2000}  {"fault":"unplug","ms":1000}  {"fault":"clear"}
 * A control connection gets one JSON reply line per command:
 * {"ok":true} (for a select also "accepted" and, when ignored, "reason"),
 * or {"ok":false,"error":"..."}.
 * --log: every finished session is appended as an MdbSessionRecord line.
 */
import { appendFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { PriceFormat } from '../../devices/vending/mdb/money.ts';
import {
  createSimTransport,
  loadJsonConfig,
  printEvent,
  runIfEntry,
  serveUntilStopped,
  startOnPort,
} from '../sim-main.ts';
import { type MdbItem, MdbSim, type MdbSimCommand, type MdbSimOptions, parseSimCommand } from './sim.ts';

/** The `--config` JSON shape (a file path or inline JSON). */
export interface MdbSimConfig {
  items?: MdbItem[];
  priceFormat?: PriceFormat;
  vendMs?: number;
  enableDelayMs?: number;
  defaultMaxResponseTimeSec?: number;
  /** Override the machine's wait for approval, ms. */
  vmcTimeoutMs?: number;
  /** Authorization first: the machine's session timeout without a selection, ms. */
  sessionTimeoutMs?: number;
  firmware?: string;
  baudRate?: number;
  /** Reopen the port after this long without a line from the host; default 4000, 0 = never. */
  reopenOnHostSilenceMs?: number;
}

/** Where a control listener is: a unix socket path, or a TCP port on 127.0.0.1. */
export type ControlAddress = string | number;

function parseControl(v: string): ControlAddress {
  return /^\d+$/.test(v) ? Number(v) : v;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

/** Runs one command against the sim and says what happened (the control reply). */
export function runCommand(sim: MdbSim, c: MdbSimCommand): Record<string, unknown> {
  const item = 'select' in c ? c.select : 'cmd' in c && c.cmd === 'select' ? c.item : undefined;
  if (item !== undefined) {
    let reason: string | undefined;
    const onIgnored = (e: { reason: string }) => {
      reason = e.reason;
    };
    sim.once('select-ignored', onIgnored);
    const accepted = sim.select(item);
    sim.off('select-ignored', onIgnored);
    return accepted ? { ok: true, accepted } : { ok: true, accepted, reason };
  }
  sim.command(c);
  return { ok: true };
}

/** Handles JSON command lines on a duplex (a control connection), one reply line each. */
function serveControl(sim: MdbSim, socket: net.Socket): void {
  socket.setEncoding('utf8');
  const rl = createInterface({ input: socket });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let reply: Record<string, unknown>;
    try {
      reply = runCommand(sim, parseSimCommand(line));
    } catch (err) {
      reply = { ok: false, error: (err as Error).message };
    }
    if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`);
  });
  socket.on('error', () => {});
}

/**
 * Listens for JSON command lines on a unix socket path or a 127.0.0.1 TCP
 * port (0 = any free port); resolves with the server and the bound address.
 */
export async function listenControl(
  sim: MdbSim,
  addr: ControlAddress,
): Promise<{ server: net.Server; address: ControlAddress }> {
  const server = net.createServer((socket) => serveControl(sim, socket));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (typeof addr === 'number') server.listen(addr, '127.0.0.1', () => resolve());
    else {
      rmSync(addr, { force: true });
      server.listen(addr, () => resolve());
    }
  });
  const a = server.address();
  return { server, address: typeof addr === 'number' && a && typeof a === 'object' ? a.port : addr };
}

export async function runMdbSim(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      log: { type: 'string' },
      control: { type: 'string' },
      config: { type: 'string' },
      items: { type: 'string' },
      price: { type: 'string' },
      'vend-ms': { type: 'string' },
      'price-format': { type: 'string' },
      baud: { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean' },
    },
  });
  if (!values.port) {
    process.stderr.write(
      'usage: mdb-sim --port PATH [--log FILE] [--control SOCKET|PORT] [--config JSON|FILE] [--items N --price P] ...\n',
    );
    return 2;
  }
  const cfg = loadJsonConfig<MdbSimConfig>(values.config);
  const itemCount = num(values.items, 'items');
  const price = num(values.price, 'price') ?? 100;
  const items =
    cfg.items ??
    (itemCount === undefined
      ? undefined
      : Array.from({ length: itemCount }, (_, i) => ({ item: i + 1, price })));
  const pf = values['price-format'] ?? cfg.priceFormat;
  if (pf !== undefined && pf !== 'scaled' && pf !== 'decimal') {
    process.stderr.write('--price-format must be scaled or decimal\n');
    return 2;
  }
  const logPath = values.log;
  const simOpts: MdbSimOptions = {
    items,
    priceFormat: pf,
    vendMs: num(values['vend-ms'], 'vend-ms') ?? cfg.vendMs,
    enableDelayMs: cfg.enableDelayMs,
    defaultMaxResponseTimeSec: cfg.defaultMaxResponseTimeSec,
    vmcTimeoutMs: cfg.vmcTimeoutMs,
    sessionTimeoutMs: cfg.sessionTimeoutMs,
    firmware: cfg.firmware,
    reopenOnHostSilenceMs: cfg.reopenOnHostSilenceMs ?? 4000,
    onOutcome: logPath ? (rec) => appendFileSync(logPath, `${JSON.stringify(rec)}\n`) : undefined,
  };
  const transport = createSimTransport(values.port, num(values.baud, 'baud') ?? cfg.baudRate ?? 115200);
  const sim = new MdbSim(transport, simOpts);
  sim.on('vend-request', (e) => printEvent({ event: 'vend-request', ...e }));
  sim.on('approved', (e) => printEvent({ event: 'approved', ...e }));
  sim.on('denied', (e) => printEvent({ event: 'denied', ...e }));
  sim.on('vend-success', (e) => printEvent({ event: 'vend-success', ...e }));
  sim.on('vend-fail', (e) => printEvent({ event: 'vend-fail', ...e }));
  sim.on('cancelled', (e) => printEvent({ event: 'cancelled', ...e }));
  sim.on('session-begun', (e) => printEvent({ event: 'session-begun', ...e }));
  sim.on('session-ended', (e) => printEvent({ event: 'session-ended', ...e }));
  sim.on('select-ignored', (e) => printEvent({ event: 'select-ignored', ...e }));
  sim.on('status', (state) => printEvent({ event: 'status', state }));
  sim.on('port-open', () => printEvent({ event: 'port-open', port: values.port }));
  sim.on('port-closed', (reason) => printEvent({ event: 'port-closed', reason }));
  sim.on('fault', (fault) => printEvent({ event: 'fault', fault }));

  if (!(await startOnPort(sim, values.port))) return 1;

  let server: net.Server | null = null;
  let control: ControlAddress | undefined;
  if (values.control !== undefined) {
    try {
      ({ server, address: control } = await listenControl(sim, parseControl(values.control)));
    } catch (err) {
      printEvent({
        event: 'error',
        message: `cannot listen on ${values.control}: ${(err as Error).message}`,
      });
      await sim.stop().catch(() => {});
      return 1;
    }
  }
  printEvent({
    event: 'ready',
    port: values.port,
    pid: process.pid,
    items: items?.length ?? 10,
    ...(control === undefined ? {} : { control }),
  });

  return serveUntilStopped({
    onLine: (line) => {
      const reply = runCommand(sim, parseSimCommand(line));
      if (reply.accepted === false)
        printEvent({ event: 'error', message: `select ignored: ${reply.reason}`, line });
    },
    onStop: async () => {
      server?.close();
      if (typeof control === 'string') rmSync(control, { force: true });
      await sim.stop().catch(() => {});
    },
    exitOnStdinClose: values['exit-on-stdin-close'],
  });
}

/**
 * Sends one command to a running simulator's control listener (from another
 * process, e.g. the `vendgate sim select` CLI) and resolves with its reply.
 */
export function sendSimCommand(
  control: ControlAddress,
  command: MdbSimCommand,
  opts: { timeoutMs?: number } = {},
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket =
      typeof control === 'number' ? net.connect({ host: '127.0.0.1', port: control }) : net.connect(control);
    const timer = setTimeout(
      () => socket.destroy(new Error(`no reply from the MDB simulator at ${control}`)),
      opts.timeoutMs ?? 3000,
    );
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(command)}\n`));
    socket.on('data', (s: string) => {
      buf += s;
      const i = buf.indexOf('\n');
      if (i < 0) return;
      clearTimeout(timer);
      socket.end();
      try {
        resolve(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      } catch (err) {
        reject(err);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Presses the button for `item` on a running simulator. Resolves with {ok, accepted, reason?}. */
export function sendSelect(control: ControlAddress, item: number): Promise<Record<string, unknown>> {
  return sendSimCommand(control, { cmd: 'select', item });
}

runIfEntry(import.meta.url, runMdbSim);
