/**
 * The simulated VSB slot board as its own process, on a real serial port
 * (usually one end of a socat pty pair, see firmware-sim/pty.ts).
 *
 *   node --import tsx firmware-sim/slot-board/main.ts --port /tmp/x/b \
 *     [--log vends.jsonl] [--config '{"slots":[{"slot":1,"stock":5,"price":150}],"motorMs":0}'] \
 *     [--slots 10 --stock 10 --price 100 --motor-ms 300 --poll-ms 200 --baud 9600] \
 *     [--state tokens.jsonl] [--boot-epoch N]
 *
 * stdout: one JSON object per line: {"event":"ready",...} once the port is
 * open, then "vend", "dispense-start", "port-open", "port-closed", "fault",
 * "error" events.
 * stdin: newline-delimited JSON fault commands, e.g. {"fault":"jam","slot":3,"count":1}
 * (see SimFault in sim.ts and docs/protocols/slot-board.md section 8).
 * --log: every final vend outcome is appended as {vendToken, slot, outcome, at}.
 * --state: the board's non-volatile token memory, kept across restarts (section 6.1);
 * delete it between runs to play a board that lost its memory in a power cut.
 * A `crash-after-vend` fault ends the process (exit code 0, "crash" event)
 * right after the vend is logged, before its result is reported.
 */
import { appendFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  createSimTransport,
  loadJsonConfig,
  printEvent,
  runIfEntry,
  serveUntilStopped,
  startOnPort,
} from '../sim-main.ts';
import {
  type SimFault,
  type SimSensors,
  SlotBoardSim,
  type SlotBoardSimOptions,
  type SlotConfig,
} from './sim.ts';

/** The `--config` JSON shape (a file path or inline JSON). */
export interface SlotBoardSimConfig {
  slots?: SlotConfig[];
  motorMs?: number;
  pollMs?: number;
  ackTimeoutMs?: number;
  maxResends?: number;
  firmware?: string;
  baudRate?: number;
  /** Reopen the port after this long without a frame from the host; default 3000, 0 = never. */
  reopenOnHostSilenceMs?: number;
  /** 2 or 3 (default 3): a protocol 2 board has no sensors, sensed stock or reset. */
  protocolVersion?: 2 | 3;
  /** Initial readings; null: no such sensor. Default door closed, 45 (4.5 °C). */
  sensors?: Partial<SimSensors>;
  /** How long a RESET keeps the board down, default 300 ms. */
  rebootMs?: number;
}

const FAULTS = new Set([
  'jam',
  'drop-sensor-miss',
  'motor-fault',
  'no-motor',
  'empty',
  'restock',
  'slow',
  'corrupt',
  'silent',
  'unplug',
  'crash-after-vend',
  'door',
  'temperature',
  'clear',
]);

/** Validates one stdin line into a fault; throws with a message on nonsense. */
export function parseFaultLine(line: string): SimFault {
  const v = JSON.parse(line) as Record<string, unknown>;
  if (!v || typeof v !== 'object' || typeof v.fault !== 'string' || !FAULTS.has(v.fault)) {
    throw new Error(`unknown fault; expected {"fault": one of ${[...FAULTS].join(', ')}}`);
  }
  for (const k of ['slot', 'count', 'ms', 'stock']) {
    if (k in v && (typeof v[k] !== 'number' || !Number.isFinite(v[k]) || (v[k] as number) < 0)) {
      throw new Error(`"${k}" must be a non-negative number`);
    }
  }
  if (['slow', 'silent', 'unplug'].includes(v.fault) && typeof v.ms !== 'number')
    throw new Error('"ms" is required');
  if (['empty', 'restock'].includes(v.fault) && typeof v.slot !== 'number')
    throw new Error('"slot" is required');
  if (v.fault === 'restock' && typeof v.stock !== 'number') throw new Error('"stock" is required');
  if (v.fault === 'door' && typeof v.open !== 'boolean') throw new Error('"open" must be true or false');
  if (
    v.fault === 'temperature' &&
    (typeof v.deciC !== 'number' || !Number.isInteger(v.deciC) || v.deciC < -32768 || v.deciC > 32767)
  )
    throw new Error('"deciC" must be an integer -32768..32767 (tenths of a degree Celsius)');
  return v as unknown as SimFault;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number`);
  return n;
}

export async function runSlotBoardSim(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      log: { type: 'string' },
      config: { type: 'string' },
      slots: { type: 'string' },
      stock: { type: 'string' },
      price: { type: 'string' },
      'motor-ms': { type: 'string' },
      'poll-ms': { type: 'string' },
      baud: { type: 'string' },
      firmware: { type: 'string' },
      state: { type: 'string' },
      'boot-epoch': { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean' },
    },
  });
  if (!values.port) {
    process.stderr.write(
      'usage: slot-board --port PATH [--log FILE] [--config JSON|FILE] [--motor-ms N] ...\n',
    );
    return 2;
  }
  const cfg = loadJsonConfig<SlotBoardSimConfig>(values.config);
  const slotCount = num(values.slots, 'slots');
  const stock = num(values.stock, 'stock') ?? 10;
  const price = num(values.price, 'price') ?? 100;
  const slots =
    cfg.slots ??
    (slotCount === undefined
      ? undefined
      : Array.from({ length: slotCount }, (_, i) => ({ slot: i + 1, stock, price })));
  const logPath = values.log;
  const simOpts: SlotBoardSimOptions = {
    slots,
    motorMs: num(values['motor-ms'], 'motor-ms') ?? cfg.motorMs,
    pollMs: num(values['poll-ms'], 'poll-ms') ?? cfg.pollMs,
    ackTimeoutMs: cfg.ackTimeoutMs,
    maxResends: cfg.maxResends,
    firmware: values.firmware ?? cfg.firmware,
    reopenOnHostSilenceMs: cfg.reopenOnHostSilenceMs ?? 3000,
    onOutcome: logPath ? (rec) => appendFileSync(logPath, `${JSON.stringify(rec)}\n`) : undefined,
    stateFile: values.state,
    bootEpoch: num(values['boot-epoch'], 'boot-epoch'),
    protocolVersion: cfg.protocolVersion,
    sensors: cfg.sensors,
    rebootMs: cfg.rebootMs,
  };
  const transport = createSimTransport(values.port, num(values.baud, 'baud') ?? cfg.baudRate ?? 9600);
  const sim = new SlotBoardSim(transport, simOpts);
  sim.on('vend', (r) => printEvent({ event: 'vend', ...r }));
  sim.on('dispense-start', (vendToken, slot) => printEvent({ event: 'dispense-start', vendToken, slot }));
  sim.on('port-open', () => printEvent({ event: 'port-open', port: values.port }));
  sim.on('port-closed', (reason) => printEvent({ event: 'port-closed', reason }));
  sim.on('fault', (fault) => printEvent({ event: 'fault', fault }));
  sim.on('wrong-epoch', (vendToken, bootEpoch) => printEvent({ event: 'wrong-epoch', vendToken, bootEpoch }));
  sim.on('reset', (previousEpoch, bootEpoch) => printEvent({ event: 'reset', previousEpoch, bootEpoch }));
  sim.on('crash', (record) => {
    // A power cut: no cleanup, no more bytes (stdout to a pipe is written synchronously).
    printEvent({ event: 'crash', vendToken: record.vendToken });
    process.exit(0);
  });

  if (!(await startOnPort(sim, values.port))) return 1;
  printEvent({
    event: 'ready',
    port: values.port,
    pid: process.pid,
    slots: slots?.length ?? 10,
    bootEpoch: sim.bootEpoch,
  });

  return serveUntilStopped({
    onLine: (line) => sim.applyFault(parseFaultLine(line)),
    onStop: () => sim.stop().catch(() => {}),
    exitOnStdinClose: values['exit-on-stdin-close'],
  });
}

runIfEntry(import.meta.url, runSlotBoardSim);
