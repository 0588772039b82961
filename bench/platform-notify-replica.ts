/**
 * One platform replica as its own process, for bench/platform-notify.ts (the
 * SQLite latency run's one, the throughput runs' one or two): reads a
 * BenchPlatformSpec (JSON file named by argv[2]), starts the service, prints
 * `ready <url>` and stops on SIGTERM.
 */
import { readFileSync } from 'node:fs';
import { type BenchPlatformSpec, startBenchPlatform } from './platform-notify-service.ts';

const specPath = process.argv[2];
if (!specPath) throw new Error('platform-notify-replica: pass the spec file');
const spec = JSON.parse(readFileSync(specPath, 'utf8')) as BenchPlatformSpec;
const service = await startBenchPlatform(spec);
process.stdout.write(`ready ${service.url}\n`);
process.once('SIGTERM', () => {
  void service.stop().finally(() => process.exit(0));
});
