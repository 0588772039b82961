/**
 * One platform replica as its own process, for bench/platform-notify.ts (the
 * SQLite latency run's one, the throughput runs' one or two): reads a
 * BenchPlatformSpec (JSON file named by argv[2]), starts the service, prints
 * `ready <url>` and stops on SIGTERM.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { type BenchPlatformSpec, startBenchPlatform } from './platform-notify-service.ts';

const specPath = process.argv[2];
if (!specPath) throw new Error('platform-notify-replica: pass the spec file');
const spec = JSON.parse(readFileSync(specPath, 'utf8')) as BenchPlatformSpec;
const service = await startBenchPlatform(spec);
process.stdout.write(`ready ${service.url}\n`);
// BENCH_REPLICA_PROFILE=<file>: SIGUSR2 starts a CPU profile, the next SIGUSR2 writes it there
// and prints `profiled`. The bench brackets its measured run with them, so the profile holds the
// steady state only, not startup (key generation) or the warm-up.
const profileFile = process.env.BENCH_REPLICA_PROFILE;
if (profileFile) {
  const session = new Session();
  session.connect();
  let profiling = false;
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!profiling) {
        profiling = true;
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        process.stdout.write('profiling\n');
        return;
      }
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profileFile, JSON.stringify(profile));
      process.stdout.write('profiled\n');
    })();
  });
}
process.once('SIGTERM', () => {
  void service.stop().finally(() => process.exit(0));
});
