import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../../testing/ports.ts';
import { waitUntil } from '../../testing/wait.ts';

export interface MosquittoHandle {
  url: string;
  port: number;
  /** With `tls`: the TLS listener, `mqtts://localhost:{tlsPort}` (the name on the test broker certificate). */
  tlsUrl: string | undefined;
  tlsPort: number | undefined;
  /** With `tls.websockets`: MQTT over WebSocket on TLS, `wss://localhost:{wssPort}`. */
  wssUrl: string | undefined;
  wssPort: number | undefined;
  /** Stops the broker (SIGTERM, then SIGKILL) and removes its temp dir. */
  stop(): Promise<void>;
  /** Stops the process and starts a fresh one on the same port (sessions are lost: persistence is off). */
  restart(): Promise<void>;
  /** Stops the process but keeps the config, for an outage of any length; `up()` brings it back. */
  down(): Promise<void>;
  up(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto'];

/** Finds the mosquitto binary, or throws saying how to install it. */
export function findMosquitto(): string {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const p of [...dirs.map((d) => join(d, 'mosquitto')), ...CANDIDATES]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  throw new Error(
    'mosquitto is not installed (looked in PATH and /usr/sbin): install it with `apt-get install mosquitto` (or `brew install mosquitto`)',
  );
}

export function mosquittoAvailable(): boolean {
  try {
    findMosquitto();
    return true;
  } catch {
    return false;
  }
}

/** A TLS listener beside the plain one (Mosquitto's `listener`, `cafile`, `certfile`, `keyfile`). */
export interface MosquittoTlsOptions {
  /** CA bundle the broker checks client certificates against. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Refuse clients without a certificate the CA signed (`require_certificate true`). Default true. */
  requireCertificate?: boolean;
  /** Default a free port. */
  port?: number;
  /** Also listen for MQTT over WebSocket on TLS, same certificates. */
  websockets?: boolean;
  wssPort?: number;
}

export interface MosquittoOptions {
  port?: number;
  tls?: MosquittoTlsOptions;
}

/**
 * Starts a throwaway Mosquitto with anonymous access and no persistence: a
 * plain listener on 127.0.0.1 and, with `tls`, a TLS listener (and a
 * WebSocket one) that may require client certificates. Listeners share
 * `allow_anonymous` (per_listener_settings is off), so a client that passes
 * the TLS handshake needs no username.
 */
export async function startMosquitto(opts: MosquittoOptions = {}): Promise<MosquittoHandle> {
  const bin = findMosquitto();
  const port = opts.port ?? (await freePort());
  const tls = opts.tls;
  const tlsPort = tls ? (tls.port ?? (await freePort())) : undefined;
  const wssPort = tls?.websockets ? (tls.wssPort ?? (await freePort())) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'vendgate-mosquitto-'));
  const conf = join(dir, 'mosquitto.conf');
  const tlsLines = (listener: string[]) =>
    tls
      ? [
          ...listener,
          `cafile ${tls.caFile}`,
          `certfile ${tls.certFile}`,
          `keyfile ${tls.keyFile}`,
          `require_certificate ${tls.requireCertificate === false ? 'false' : 'true'}`,
        ]
      : [];
  writeFileSync(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      ...(tlsPort ? tlsLines([`listener ${tlsPort} 127.0.0.1`]) : []),
      ...(wssPort ? tlsLines([`listener ${wssPort} 127.0.0.1`, 'protocol websockets']) : []),
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      // The gateway bounds its own queue; keep Mosquitto's defaults elsewhere.
      '',
    ].join('\n'),
  );

  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async () => {
    stderr = '';
    const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = proc;
    proc.stderr?.setEncoding('utf8');
    proc.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    const exited = new Promise<never>((_, reject) => {
      proc.once('exit', (code, signal) =>
        reject(new Error(`mosquitto exited early (code ${code}, signal ${signal}): ${stderr.trim()}`)),
      );
      proc.once('error', reject);
    });
    exited.catch(() => {});
    await Promise.race([
      Promise.all([port, tlsPort, wssPort].flatMap((p) => (p ? [waitForPort(p, 10_000)] : []))),
      exited,
    ]);
  };
  const kill = async () => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      proc.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  };

  try {
    await launch();
  } catch (err) {
    await kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    tlsUrl: tlsPort ? `mqtts://localhost:${tlsPort}` : undefined,
    tlsPort,
    wssUrl: wssPort ? `wss://localhost:${wssPort}` : undefined,
    wssPort,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await kill();
      await launch();
    },
    down: kill,
    async up() {
      if (child) return;
      await launch();
    },
  };
}

function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const accepts = () =>
    new Promise<boolean>((resolve) => {
      const s = connect({ port, host: '127.0.0.1' });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  return waitUntil(accepts, {
    timeoutMs,
    what: `mosquitto accepting connections on port ${port}`,
    everyMs: 25,
  });
}
