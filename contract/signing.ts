import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

/**
 * Ed25519 signatures for platform commands. Keys travel as base64 of the raw
 * 32-byte key (the form most platforms and libsodium use); node:crypto wants
 * DER, so we wrap them in the fixed SPKI/PKCS#8 prefixes (RFC 8410).
 */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export function publicKeyFromBase64(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32)
    throw new Error(`an Ed25519 public key is 32 bytes; got ${bytes.length} after base64 decoding`);
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes]), format: 'der', type: 'spki' });
}

export function privateKeyFromBase64(raw: string): KeyObject {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32)
    throw new Error(`an Ed25519 private key seed is 32 bytes; got ${bytes.length} after base64 decoding`);
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, bytes]), format: 'der', type: 'pkcs8' });
}

export interface RawKeyPair {
  publicKey: string;
  privateKey: string;
}

/** A fresh key pair as base64 raw keys (for the simulated platform and tests). */
export function generateRawKeyPair(): RawKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length);
  const priv = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  return { publicKey: pub.toString('base64'), privateKey: priv.toString('base64') };
}

export function signBody(body: string, privateKey: KeyObject): string {
  return sign(null, Buffer.from(body, 'utf8'), privateKey).toString('base64');
}

/**
 * verifyBody on libuv's thread pool: the ~60 us of an Ed25519 verification
 * leave the event loop, which under a burst of orders is the gateway's
 * bottleneck. Resolves false for a malformed signature, as verifyBody.
 */
export function verifyBodyAsync(body: string, sigBase64: string, publicKey: KeyObject): Promise<boolean> {
  const sig = Buffer.from(sigBase64, 'base64');
  if (sig.length !== 64) return Promise.resolve(false);
  return new Promise((resolve) => {
    verify(null, Buffer.from(body, 'utf8'), publicKey, sig, (err, ok) => resolve(!err && ok));
  });
}

export function verifyBody(body: string, sigBase64: string, publicKey: KeyObject): boolean {
  const sig = Buffer.from(sigBase64, 'base64');
  if (sig.length !== 64) return false;
  return verify(null, Buffer.from(body, 'utf8'), publicKey, sig);
}

/** The base64 raw 32-byte public key of an Ed25519 key (private or public). */
export function publicKeyToBase64(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length).toString('base64');
}
