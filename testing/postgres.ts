import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.ts';
import { waitUntil } from './wait.ts';

/**
 * A throwaway PostgreSQL server for tests and benchmarks: Debian's
 * `postgresql` binaries (under /usr/lib/postgresql/<major>/bin, not on
 * PATH) on a temporary data directory, a loopback port and a socket
 * directory of its own. initdb and postgres refuse to run as root, so as
 * root the directory belongs to, and the server runs as, the `postgres` user.
 */
export interface PostgresHandle {
  /** Connection URL of the `postgres` database (superuser, trust auth on loopback). */
  url: string;
  port: number;
  /** A fresh, empty database; its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

export function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const majors = readdirSync(root)
    .filter((d) => /^\d+$/.test(d))
    .sort((a, b) => Number(b) - Number(a));
  for (const m of majors) {
    const bin = join(root, m, 'bin');
    if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) return bin;
  }
  return undefined;
}

export function postgresAvailable(): boolean {
  return findPostgresBin() !== undefined;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** argv that runs `cmd` as the postgres user when we are root. */
function asPostgres(cmd: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

let dbCounter = 0;

export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PostgresHandle> {
  const bin = findPostgresBin();
  if (!bin) throw new Error('PostgreSQL is not installed: apt-get install postgresql');
  const dir = mkdtempSync(join(tmpdir(), 'vendgate-pg-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sock');
  mkdirSync(data);
  mkdirSync(sockets);
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const d of [dir, data, sockets]) chownSync(d, uid, gid);
  }
  chmodSync(data, 0o700);
  const [initCmd, initArgs] = asPostgres(join(bin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--no-sync',
  ]);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = await freePort();
  const settings = [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    sockets,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=200',
  ];
  // Tests don't survive power loss anyway; the benchmark asks for a durable server to measure the real commit.
  if (!opts.durable)
    settings.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  const [cmd, args] = asPostgres(join(bin, 'postgres'), settings);
  let stderr = '';
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        // runuser does not pass signals on, so ask the server itself for a fast shutdown.
        const [ctl, ctlArgs] = asPostgres(join(bin, 'pg_ctl'), ['-D', data, 'stop', '-m', 'fast', '-w']);
        const stopper = spawn(ctl, ctlArgs, { stdio: 'ignore' });
        stopper.once('error', () => child.kill('SIGKILL'));
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntil(
      async () => {
        if (child.exitCode !== null) throw new Error(`postgres exited early: ${stderr.trim()}`);
        const c = new pg.Client({ connectionString: url });
        try {
          await c.connect();
          await c.query('SELECT 1');
          return true;
        } catch {
          return false;
        } finally {
          await c.end().catch(() => {});
        }
      },
      { timeoutMs: 30_000, what: `postgres accepting connections on port ${port}`, everyMs: 100 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    port,
    async createDatabase(name) {
      const db = name ?? `vg_${process.pid}_${++dbCounter}`;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${db}`);
      } finally {
        await c.end();
      }
      return `postgres://postgres@127.0.0.1:${port}/${db}`;
    },
    stop,
  };
}
