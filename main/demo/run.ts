/**
 * `vendgate demo` (what `npm start` runs). By default the whole chain on one
 * machine: both provider sandboxes as their own processes, the platform
 * (SQLite store, fleet link, phone pages, operator pages), the gateway with
 * its simulated site and dashboard. `--platform sim` runs the older demo,
 * where a simulated platform places orders without any provider.
 */
import { parseArgs } from 'node:util';
import { runChainDemo } from './chain.ts';
import { runSimPlatformDemo } from './sim-platform.ts';

export async function runDemo(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: false,
    options: { platform: { type: 'string', default: 'real' } },
  });
  return values.platform === 'sim' ? runSimPlatformDemo(args) : runChainDemo(args);
}
