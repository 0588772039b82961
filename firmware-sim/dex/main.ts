/**
 * The simulated DEX port as its own process, on a real serial port
 * (usually the device end of a socat pty pair, see firmware-sim/pty.ts),
 * fed with an audit file (test/fixtures/dex/*.dex).
 *
 *   node --import tsx firmware-sim/dex/main.ts --port /tmp/x/dex --audit test/fixtures/dex/snack.dex \
 *     [--comm-id SIMDEX0001] [--block-bytes 245] [--baud 9600] [--exit-on-stdin-close]
 *
 * stdout: one JSON object per line: {"event":"ready",...} once the port is
 * open, then "read-begin", "read-end", "fault", "audit", "error".
 * stdin: one JSON command per line: a fault ({"fault":"corrupt-crc","count":1},
 * {"fault":"truncate","fraction":0.5}, {"fault":"stall","afterBlocks":1},
 * {"fault":"silent"}, {"fault":"clear"}) or {"audit":"<path>"} to send
 * another audit file from the next read on.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createSimTransport, printEvent, runIfEntry, serveUntilStopped, startOnPort } from '../sim-main.ts';
import { DexMachineSim, type DexSimFault } from './sim.ts';

const FAULTS = new Set(['corrupt-crc', 'truncate', 'stall', 'silent', 'clear']);
/** An audit file larger than this is refused: the simulator holds it in memory. */
const MAX_AUDIT_BYTES = 1_048_576;

export type DexSimCommand = DexSimFault | { audit: string };

/** Validates one stdin line; throws naming what is wrong. */
export function parseDexSimLine(line: string): DexSimCommand {
  const v = JSON.parse(line) as Record<string, unknown>;
  if (!v || typeof v !== 'object') throw new Error('expected a JSON object');
  if (typeof v.audit === 'string') return { audit: v.audit };
  if (typeof v.fault !== 'string' || !FAULTS.has(v.fault))
    throw new Error(
      `unknown command; expected {"audit": path} or {"fault": one of ${[...FAULTS].join(', ')}}`,
    );
  for (const k of ['count', 'fraction', 'afterBlocks']) {
    if (k in v && (typeof v[k] !== 'number' || !Number.isFinite(v[k]) || (v[k] as number) < 0))
      throw new Error(`"${k}" must be a non-negative number`);
  }
  if (typeof v.fraction === 'number' && v.fraction > 1) throw new Error('"fraction" must be at most 1');
  return v as unknown as DexSimFault;
}

export function readAuditFile(path: string): string {
  const buf = readFileSync(path);
  if (buf.length > MAX_AUDIT_BYTES) throw new Error(`${path} is larger than ${MAX_AUDIT_BYTES} bytes`);
  // Fixtures may be stored with LF lines; a machine sends CR LF.
  return buf.toString('latin1').replace(/\r?\n/g, '\r\n');
}

export async function runDexSim(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string' },
      audit: { type: 'string' },
      'comm-id': { type: 'string' },
      'block-bytes': { type: 'string' },
      baud: { type: 'string' },
      'exit-on-stdin-close': { type: 'boolean' },
    },
  });
  if (!values.port || !values.audit) {
    process.stderr.write('usage: dex --port PATH --audit FILE [--comm-id ID] [--block-bytes N] [--baud N]\n');
    return 2;
  }
  const blockBytes = values['block-bytes'] === undefined ? undefined : Number(values['block-bytes']);
  if (blockBytes !== undefined && !(Number.isInteger(blockBytes) && blockBytes > 0 && blockBytes <= 512)) {
    process.stderr.write('--block-bytes must be an integer 1-512\n');
    return 2;
  }
  const transport = createSimTransport(values.port, values.baud ? Number(values.baud) : 9600);
  const sim = new DexMachineSim(transport, {
    audit: readAuditFile(values.audit),
    ...(values['comm-id'] ? { communicationId: values['comm-id'] } : {}),
    ...(blockBytes ? { blockBytes } : {}),
  });
  sim.on('read-begin', (readerId) => printEvent({ event: 'read-begin', readerId }));
  sim.on('read-end', (r) => printEvent({ event: 'read-end', ...r }));
  sim.on('fault', (fault) => printEvent({ event: 'fault', fault }));
  if (!(await startOnPort(sim, values.port))) return 1;
  printEvent({ event: 'ready', port: values.port, pid: process.pid, audit: values.audit });
  return serveUntilStopped({
    onLine: (line) => {
      const cmd = parseDexSimLine(line);
      if ('audit' in cmd) {
        sim.setAudit(readAuditFile(cmd.audit));
        printEvent({ event: 'audit', audit: cmd.audit });
      } else sim.applyFault(cmd);
    },
    onStop: () => sim.stop().catch(() => {}),
    exitOnStdinClose: values['exit-on-stdin-close'],
  });
}

runIfEntry(import.meta.url, runDexSim);
