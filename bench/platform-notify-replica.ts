/**
 * One platform replica as its own process, for bench/platform-notify.ts (the
 * SQLite latency run's one, the throughput runs' one or two): reads a
 * BenchPlatformSpec (JSON file named by argv[2]), starts the service, prints
 * `ready <url>` and stops on SIGTERM.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { PerformanceObserver } from 'node:perf_hooks';
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
  let threads0 = threadTicks();
  // GC pauses on the main thread over the profile, by kind (1 scavenge, 2 mark-compact, 4 incremental, 8 weak callbacks).
  const gcs = new Map<number, { n: number; ms: number }>();
  const gcObserver = new PerformanceObserver((list) => {
    if (!profiling) return;
    for (const e of list.getEntries()) {
      const kind = ((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind ?? 0;
      const g = gcs.get(kind) ?? { n: 0, ms: 0 };
      g.n++;
      g.ms += e.duration;
      gcs.set(kind, g);
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  process.on('SIGUSR2', () => {
    void (async () => {
      if (!profiling) {
        profiling = true;
        await session.post('Profiler.enable');
        await session.post('Profiler.start');
        threads0 = threadTicks();
        process.stdout.write('profiling\n');
        return;
      }
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(profileFile, JSON.stringify(profile));
      // Each thread's CPU over the profile (the main thread's is what the profile samples).
      const threads = [...threadTicks()].map(
        ([tid, t]) => `${tid === process.pid ? 'main' : tid} ${(t - (threads0.get(tid) ?? 0)) * 10} ms`,
      );
      const gc = [...gcs].map(([k, g]) => `gc kind ${k}: ${g.n} pauses, ${g.ms.toFixed(0)} ms`);
      writeFileSync(`${profileFile}.threads`, `${[...threads, ...gc].join('\n')}\n`);
      process.stdout.write('profiled\n');
    })();
  });
}
process.once('SIGTERM', () => {
  void service.stop().finally(() => process.exit(0));
});

/** utime + stime of each of this process's threads, in clock ticks (100 Hz), by thread id. */
function threadTicks(): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync('/proc/self/task')) {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(f[11]) + Number(f[12]));
  }
  return out;
}
