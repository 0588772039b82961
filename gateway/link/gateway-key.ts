import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyIdOf } from '../../contract/signed.ts';
import { privateKeyFromBase64, publicKeyToBase64 } from '../../contract/signing.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';

/**
 * The gateway's own Ed25519 key: it signs every event, request and status
 * the gateway publishes, so the platform can tell them from what any other
 * client of the broker publishes. The platform pins `publicKey` (printed by
 * `vendgate keys gateway`, and announced in the status with its key id).
 */
export interface GatewayKey {
  keyId: string;
  /** Padded base64 of the raw 32-byte public key. */
  publicKey: string;
  privateKey: KeyObject;
}

export const GATEWAY_KEY_FILE = 'gateway-key.json';

/** The file's shape: the seed only; the public key and key id are derived from it. */
interface GatewayKeyFile {
  alg: 'Ed25519';
  /** Padded base64 of the raw 32-byte private seed. */
  seed: string;
}

export function gatewayKeyFromSeed(seedBase64: string, where: string): GatewayKey {
  let privateKey: KeyObject;
  try {
    privateKey = privateKeyFromBase64(seedBase64);
  } catch (err) {
    // The message says what was wrong (the length), never the seed itself.
    throw new VendgateError(ErrorCode.GatewayKeyInvalid, `${where}: ${(err as Error).message}`, { where });
  }
  const publicKey = publicKeyToBase64(privateKey);
  return { keyId: keyIdOf(publicKey), publicKey, privateKey };
}

/**
 * The gateway key: the configured seed when given, else the one kept in
 * `{dataDir}/gateway-key.json`, made on first start with mode 0600 (the
 * seed is a secret: anyone who reads it can sign events as this gateway).
 * A file other users can read has its mode tightened, and says so in
 * `tightened`.
 */
export function loadGatewayKey(opts: { dataDir: string; seed?: string | undefined }): GatewayKey & {
  source: 'config' | 'created' | 'file';
  path?: string;
  tightened?: boolean;
} {
  if (opts.seed !== undefined)
    return { ...gatewayKeyFromSeed(opts.seed, 'platform.gatewayKey'), source: 'config' };
  const path = join(opts.dataDir, GATEWAY_KEY_FILE);
  if (!existsSync(path)) {
    mkdirSync(opts.dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16).toString('base64');
    const file: GatewayKeyFile = { alg: 'Ed25519', seed };
    try {
      // 'wx': two processes starting at once must not overwrite each other's key.
      writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      return { ...gatewayKeyFromSeed(seed, path), source: 'created', path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new VendgateError(
          ErrorCode.GatewayKeyInvalid,
          `cannot write the gateway key to ${path}: ${(err as Error).message}`,
          { path },
          { cause: err },
        );
      }
    }
  }
  let tightened = false;
  let parsed: Partial<GatewayKeyFile>;
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      chmodSync(path, 0o600);
      tightened = true;
    }
    parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<GatewayKeyFile>;
  } catch (err) {
    throw new VendgateError(
      ErrorCode.GatewayKeyInvalid,
      `cannot read the gateway key ${path}: ${(err as Error).message}`,
      { path },
      { cause: err },
    );
  }
  if (parsed.alg !== 'Ed25519' || typeof parsed.seed !== 'string') {
    throw new VendgateError(
      ErrorCode.GatewayKeyInvalid,
      `${path} is not a gateway key file: expected {"alg": "Ed25519", "seed": "<base64>"}`,
      { path },
    );
  }
  return { ...gatewayKeyFromSeed(parsed.seed, path), source: 'file', path, tightened };
}

/**
 * A key for this process only, for links built without one (tests, tools):
 * a platform that pinned another key refuses what it signs.
 */
export function ephemeralGatewayKey(): GatewayKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  const publicKey = publicKeyToBase64(privateKey);
  return { keyId: keyIdOf(publicKey), publicKey, privateKey };
}
