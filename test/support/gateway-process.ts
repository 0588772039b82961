import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../gateway/config/schema.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../../bin/vendgate.js');

/** The whole gateway as its own process (`vendgate start --config`), for crash and restart tests. */
export interface GatewayProcess {
  readonly configPath: string;
  /** The running process, or undefined between a kill and the next start. */
  readonly child: ChildProcess | undefined;
  /** Starts the process (again, after a kill: the new one takes over the SQLite file and the MQTT session). */
  start(): void;
  /** Sends `signal` without waiting (SIGKILL: a power cut). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after 5 s; resolves when the process has exited. */
  stop(): Promise<void>;
}

export function gatewayProcess(dir: string, config: ConfigInput): GatewayProcess {
  const configPath = join(dir, 'vendgate.yaml');
  writeFileSync(configPath, stringify(config));
  let child: ChildProcess | undefined;
  const handle: GatewayProcess = {
    configPath,
    get child() {
      return child;
    },
    start() {
      child = spawn(process.execPath, [CLI, 'start', '--config', configPath], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    },
    kill(signal = 'SIGKILL') {
      child?.kill(signal);
    },
    async stop() {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      proc.kill('SIGTERM');
      await exited;
      clearTimeout(timer);
    },
  };
  return handle;
}
