/**
 * `vendgate sim ...`: runs a simulated device in this process. Each vending
 * driver's simulator comes from firmware-sim/registry.ts; the display
 * simulator and the MDB button press are commands of their own.
 */
import { parseArgs } from 'node:util';
import { simulatorForCommand, VENDING_SIMULATORS } from '../firmware-sim/registry.ts';

/** Every `vendgate sim` subcommand. */
export function simCommands(): string[] {
  return [...Object.values(VENDING_SIMULATORS).map((s) => s.command), 'display', 'select'];
}

export async function runSim(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  const vending = simulatorForCommand(command);
  if (vending) return vending.run(rest);
  switch (command) {
    case 'display': {
      const { runDisplaySim } = await import('../firmware-sim/display/main.ts');
      return runDisplaySim(rest);
    }
    case 'select': {
      // Presses a button on a running MDB machine simulator through its control socket.
      const { values } = parseArgs({
        args: rest,
        options: { control: { type: 'string' }, item: { type: 'string' } },
      });
      // An MDB item number is one byte; anything else is a typo, not a button.
      if (!values.control || !values.item || !/^\d{1,3}$/.test(values.item) || Number(values.item) > 255) {
        process.stderr.write('usage: vendgate sim select --control SOCKET|PORT --item N (N: 0-255)\n');
        return 2;
      }
      const { sendSelect } = await import('../firmware-sim/mdb/main.ts');
      const control = /^\d+$/.test(values.control) ? Number(values.control) : values.control;
      process.stdout.write(`${JSON.stringify(await sendSelect(control, Number(values.item)))}\n`);
      return 0;
    }
  }
  process.stderr.write(`usage: vendgate sim ${simCommands().join('|')} ...\n`);
  return 2;
}
