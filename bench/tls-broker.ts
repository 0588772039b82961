import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from '../testing/ports.ts';
import { waitUntil } from '../testing/wait.ts';

/**
 * The operator's broker for the uplink benchmark: Mosquitto in its own
 * process with a plain TCP listener and a TLS listener that requires a
 * client certificate, the way an operator's broker on mqtts:// is usually
 * set up. The certificates are made here with the `openssl` CLI (P-256,
 * valid for two days), the same shape as the TLS tests' PKI.
 */
export interface UplinkBroker {
  /** `mqtt://127.0.0.1:{port}`: the plain listener (the platform and the plain gateway). */
  plainUrl: string;
  /** `mqtts://localhost:{port}`: the TLS listener (the name on the broker certificate). */
  tlsUrl: string;
  /** PEM files the gateway's `uplink.tls` names. */
  tls: { ca: string; cert: string; key: string };
  pid: number;
  stop(): Promise<void>;
}

const CANDIDATES = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/opt/homebrew/sbin/mosquitto'];

/** The mosquitto binary, or undefined when it is not installed. */
export function findMosquittoBinary(): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const p of [...dirs.map((d) => join(d, 'mosquitto')), ...CANDIDATES]) {
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

/** Starts the broker in a temp dir of its own (removed on stop()). */
export async function startUplinkBroker(): Promise<UplinkBroker> {
  const bin = findMosquittoBinary();
  if (!bin)
    throw new Error('mosquitto is not installed: apt-get install mosquitto (the TLS uplink bench needs it)');
  const dir = mkdtempSync(join(tmpdir(), 'vendgate-bench-broker-'));
  const pki = makePki(dir);
  const [plainPort, tlsPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      `listener ${plainPort} 127.0.0.1`,
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${pki.ca.cert}`,
      `certfile ${pki.server.cert}`,
      `keyfile ${pki.server.key}`,
      'require_certificate true',
      'allow_anonymous true',
      'persistence false',
      // The bench's 1,000 orders in flight: Mosquitto's default of 20
      // in-flight QoS 1 messages per client would pace the platform, not TLS.
      'max_inflight_messages 0',
      // Nagle held each small QoS 1 packet back until the peer's delayed ACK (~40 ms a round trip).
      'set_tcp_nodelay true',
      'max_queued_messages 100000',
      'log_dest stderr',
      'log_type error',
      '',
    ].join('\n'),
  );
  chmodSync(conf, 0o644);
  let stderr = '';
  const child: ChildProcess = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      });
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of [plainPort, tlsPort]) {
      await waitUntil(
        async () => {
          if (child.exitCode !== null) throw new Error(`mosquitto exited early: ${stderr.trim()}`);
          return accepts(port);
        },
        { timeoutMs: 10_000, what: `mosquitto listening on ${port}`, everyMs: 25 },
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    plainUrl: `mqtt://127.0.0.1:${plainPort}`,
    tlsUrl: `mqtts://localhost:${tlsPort}`,
    tls: { ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key },
    pid: child.pid!,
    stop,
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

interface CertFiles {
  cert: string;
  key: string;
}

/** A CA, a broker certificate for localhost / 127.0.0.1 and a client certificate it signed. */
function makePki(dir: string): { ca: CertFiles; server: CertFiles; client: CertFiles } {
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const files = (name: string) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  const newKey = (path: string) =>
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  const ca = files('ca');
  newKey(ca.key);
  openssl([
    ...[
      'req',
      '-x509',
      '-new',
      '-key',
      ca.key,
      '-out',
      ca.cert,
      '-days',
      '2',
      '-subj',
      '/CN=vendgate bench CA',
    ],
    ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
  ]);
  const signed = (name: string, cn: string, extensions: string[]) => {
    const f = files(name);
    const csr = join(dir, `${name}.csr`);
    const ext = join(dir, `${name}.ext`);
    newKey(f.key);
    openssl(['req', '-new', '-key', f.key, '-out', csr, '-subj', `/CN=${cn}`]);
    writeFileSync(ext, `${['basicConstraints=CA:FALSE', ...extensions].join('\n')}\n`);
    openssl([
      ...['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial'],
      ...['-out', f.cert, '-days', '2', '-extfile', ext],
    ]);
    return f;
  };
  const server = signed('server', 'localhost', [
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'extendedKeyUsage=serverAuth',
  ]);
  const client = signed('client', 'vendgate-bench-gateway', ['extendedKeyUsage=clientAuth']);
  // Mosquitto started as root drops to the `mosquitto` user before it reads
  // its certificates; these throwaway keys may be world-readable.
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
  return { ca, server, client };
}
