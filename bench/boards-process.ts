/**
 * Bench helper process: hosts many simulated slot boards (and bare echo
 * devices) in ONE process, each on the device end of its own pty, so that 20
 * machines do not cost 20 node processes on a 2-core box. Prints "ready".
 *
 *   node --import tsx bench/boards-process.ts --board PATH ... --echo PATH ... [--sensors-every MS]
 *
 * `--sensors-every MS`: every board's cabinet temperature moves by 0.1 °C
 * each MS, so each protocol 3 board reports SENSORS (section 3.13) that often.
 */
import { parseArgs } from 'node:util';
import { SerialTransport } from '../devices/vending/transport.ts';
import { SlotBoardSim } from '../firmware-sim/slot-board/sim.ts';

const { values } = parseArgs({
  options: {
    board: { type: 'string', multiple: true, default: [] },
    echo: { type: 'string', multiple: true, default: [] },
    'sensors-every': { type: 'string' },
  },
});

const sims: SlotBoardSim[] = [];
for (const path of values.board) {
  const sim = new SlotBoardSim(new SerialTransport(path, { baudRate: 9600 }), {
    motorMs: 0,
    slots: Array.from({ length: 6 }, (_, i) => ({ slot: i + 1, stock: 1_000_000, price: 350 })),
  });
  await sim.start();
  sims.push(sim);
}
const echoes: SerialTransport[] = [];
for (const path of values.echo) {
  const t = new SerialTransport(path, { baudRate: 9600 });
  t.on('data', (chunk) => t.write(chunk));
  await t.open();
  echoes.push(t);
}
const sensorsEveryMs = Number(values['sensors-every'] ?? 0);
if (sensorsEveryMs > 0) {
  let tick = 0;
  setInterval(() => {
    tick++;
    for (const sim of sims) sim.applyFault({ fault: 'temperature', deciC: 45 + (tick % 2) });
  }, sensorsEveryMs).unref();
}
process.stdout.write('ready\n');
process.stdin.resume();
process.stdin.on('end', async () => {
  await Promise.all(sims.map((s) => s.stop()));
  await Promise.all(echoes.map((e) => e.close()));
  process.exit(0);
});
