/**
 * `vendgate dex ...`: the DEX/UCS audit port from the command line.
 *
 *   vendgate dex read --port /dev/ttyUSB1 [--baud 9600] [--json] [--timeout-ms N]
 *       reads the machine's audit once and prints its counters (--json: the
 *       link details and the whole parsed audit). Exit 0 for a good audit,
 *       3 for one that fails its checks (G85, SE count, truncated), 1 when
 *       nothing could be read, 2 for a usage error.
 *   vendgate dex sim --port PATH --audit FILE [--comm-id ID] [--block-bytes N]
 *       runs the simulated DEX port (firmware-sim/dex/) on a serial port.
 */
import { parseArgs } from 'node:util';
import { isVendgateError } from '../core/errors.ts';
import { formatMoney } from '../core/money.ts';
import { parseEvaDts } from '../devices/dex/evadts/parse.ts';
import { readDexAudit } from '../devices/dex/link.ts';
import { createTransport } from '../devices/vending/transport.ts';
import { countersOf } from '../gateway/audit/counters.ts';

const USAGE = `usage: vendgate dex read --port PATH [--baud N] [--json] [--timeout-ms N]
       vendgate dex sim --port PATH --audit FILE [--comm-id ID] [--block-bytes N]
`;

export interface DexCliIo {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
}

export async function runDexCli(args: string[], io: DexCliIo = process): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'sim') {
    const { runDexSim } = await import('../firmware-sim/dex/main.ts');
    return runDexSim(rest);
  }
  if (sub !== 'read') {
    io.stderr.write(USAGE);
    return 2;
  }
  let values: { port?: string; baud?: string; json?: boolean; 'timeout-ms'?: string };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        port: { type: 'string' },
        baud: { type: 'string' },
        json: { type: 'boolean' },
        'timeout-ms': { type: 'string' },
      },
    }));
  } catch (err) {
    io.stderr.write(`vendgate dex read: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const baudRate = values.baud === undefined ? 9600 : Number(values.baud);
  const timeoutMs = values['timeout-ms'] === undefined ? undefined : Number(values['timeout-ms']);
  if (!values.port || !(Number.isInteger(baudRate) && baudRate > 0)) {
    io.stderr.write(values.port ? '--baud must be a positive integer\n' : USAGE);
    return 2;
  }
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs >= 100)) {
    io.stderr.write('--timeout-ms must be an integer of at least 100\n');
    return 2;
  }
  const transport = createTransport(values.port, { baudRate });
  transport.on('error', () => {});
  try {
    await transport.open();
  } catch (err) {
    io.stderr.write(`vendgate dex read: cannot open ${values.port}: ${(err as Error).message}\n`);
    return 1;
  }
  try {
    const transfer = await readDexAudit(transport, {
      ...(timeoutMs ? { answerTimeoutMs: timeoutMs, stallTimeoutMs: timeoutMs } : {}),
    });
    const audit = parseEvaDts(transfer.text);
    const ok = audit.problems.length === 0;
    if (values.json) {
      const { text: _raw, ...link } = transfer;
      io.stdout.write(`${JSON.stringify({ ok, link, audit, counters: countersOf(audit) }, null, 2)}\n`);
      return ok ? 0 : 3;
    }
    const c = countersOf(audit);
    const money = (amount: number) => formatMoney({ amount, currency: audit.currency }, 'en');
    const lines = [
      `machine   ${audit.machine.serial ?? '?'} ${audit.machine.model ?? ''} (DEX id ${transfer.machine.communicationId})`,
      `read      ${transfer.bytes} bytes in ${transfer.blocks} blocks, ${transfer.retransmissions} resent`,
      `paid      ${c.paidVends.count} vends, ${money(c.paidVends.value)}`,
      `cash      ${c.cashSales.count} vends, ${money(c.cashSales.value)}; ${money(c.cashIn)} taken in`,
      `cashless  ${c.cashless.count} vends, ${money(c.cashless.value)}`,
      ...c.selections.map(
        (s) => `  ${s.selection.padStart(4)}  ${String(s.count).padStart(6)} vends  ${money(s.value)}`,
      ),
      `checks    G85 ${audit.g85.ok === true ? 'ok' : audit.g85.ok === false ? 'MISMATCH' : 'missing'}, SE ${audit.segmentCount.ok === true ? 'ok' : audit.segmentCount.ok === false ? 'MISMATCH' : 'missing'}, ${audit.unknownCount} unknown segments`,
      ...audit.problems.map((p) => `problem   ${p}`),
    ];
    io.stdout.write(`${lines.join('\n')}\n`);
    return ok ? 0 : 3;
  } catch (err) {
    const code = isVendgateError(err) ? ` (${err.code} ${err.codeName})` : '';
    io.stderr.write(`vendgate dex read: ${(err as Error).message}${code}\n`);
    return 1;
  } finally {
    await transport.close().catch(() => {});
  }
}
