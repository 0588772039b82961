import { execFileSync } from 'node:child_process';
import { chmodSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Paths of one certificate (PEM) and its private key (PEM, unencrypted). */
export interface CertFiles {
  cert: string;
  key: string;
}

/**
 * A throwaway PKI for TLS tests, made with the `openssl` CLI: a CA, a broker
 * certificate for localhost / 127.0.0.1, a client certificate the CA signed,
 * and a second, unrelated CA with a client certificate of its own (the
 * "wrong certificate" a broker must refuse).
 */
export interface TestPki {
  dir: string;
  /** The CA that signs the broker and the good client certificate. */
  ca: CertFiles;
  /** Broker certificate: CN localhost, SAN DNS:localhost and IP:127.0.0.1, serverAuth. */
  server: CertFiles;
  /** Client certificate signed by `ca`, CN `clientName`, clientAuth. */
  client: CertFiles;
  /** A CA the broker does not trust. */
  rogueCa: CertFiles;
  /** Client certificate signed by `rogueCa`, same CN as `client`. */
  rogueClient: CertFiles;
}

const DAYS = '2';

/** Writes the PKI into `dir` (which must exist). P-256 keys keep it fast. */
export function createTestPki(dir: string, opts: { clientName?: string } = {}): TestPki {
  const clientName = opts.clientName ?? 'vendgate-test-gateway';
  const ca = selfSignedCa(dir, 'ca', 'vendgate test CA');
  const rogueCa = selfSignedCa(dir, 'rogue-ca', 'vendgate rogue CA');
  const server = signed(dir, 'server', ca, 'localhost', [
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
    'extendedKeyUsage=serverAuth',
  ]);
  const clientExt = ['extendedKeyUsage=clientAuth'];
  const client = signed(dir, 'client', ca, clientName, clientExt);
  const rogueClient = signed(dir, 'rogue-client', rogueCa, clientName, clientExt);
  // Mosquitto started as root drops to the `mosquitto` user before it reads
  // its certificates; throwaway test keys may be world-readable.
  chmodSync(dir, 0o755);
  for (const f of readdirSync(dir)) chmodSync(join(dir, f), 0o644);
  return { dir, ca, server, client, rogueCa, rogueClient };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function newKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function selfSignedCa(dir: string, name: string, cn: string): CertFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  newKey(files.key);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    files.key,
    '-out',
    files.cert,
    '-days',
    DAYS,
    '-subj',
    `/CN=${cn}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return files;
}

function signed(dir: string, name: string, ca: CertFiles, cn: string, extensions: string[]): CertFiles {
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  newKey(files.key);
  openssl(['req', '-new', '-key', files.key, '-out', csr, '-subj', `/CN=${cn}`]);
  writeFileSync(ext, `${['basicConstraints=CA:FALSE', ...extensions].join('\n')}\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    files.cert,
    '-days',
    DAYS,
    '-extfile',
    ext,
  ]);
  return files;
}
