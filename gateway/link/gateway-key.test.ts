import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { keyIdOf } from '../../contract/signed.ts';
import { generateRawKeyPair, publicKeyFromBase64, signBody, verifyBody } from '../../contract/signing.ts';
import { ErrorCode } from '../../core/errors.ts';
import { cleanupsAfterEach, tempDir } from '../../testing/index.ts';
import { GATEWAY_KEY_FILE, loadGatewayKey } from './gateway-key.ts';

const cleanups = cleanupsAfterEach();
function dataDir(): string {
  const t = tempDir();
  cleanups.push(() => t.cleanup());
  return join(t.dir, 'data');
}

describe('the gateway key', () => {
  it('is made on first start in the data dir with mode 0600 and is the same key on every later start', () => {
    const dir = dataDir();
    const first = loadGatewayKey({ dataDir: dir });
    expect(first.source).toBe('created');
    expect(statSync(join(dir, GATEWAY_KEY_FILE)).mode & 0o777).toBe(0o600);
    const again = loadGatewayKey({ dataDir: dir });
    expect(again.source).toBe('file');
    expect(again.publicKey).toBe(first.publicKey);
    expect(again.keyId).toBe(keyIdOf(first.publicKey));
    expect(verifyBody('x', signBody('x', again.privateKey), publicKeyFromBase64(first.publicKey))).toBe(true);
  });

  it('tightens a key file other users can read back to 0600', () => {
    const dir = dataDir();
    loadGatewayKey({ dataDir: dir });
    chmodSync(join(dir, GATEWAY_KEY_FILE), 0o644);
    expect(loadGatewayKey({ dataDir: dir }).tightened).toBe(true);
    expect(statSync(join(dir, GATEWAY_KEY_FILE)).mode & 0o777).toBe(0o600);
  });

  it('uses the seed given in the config instead of the file', () => {
    const pair = generateRawKeyPair();
    const k = loadGatewayKey({ dataDir: dataDir(), seed: pair.privateKey });
    expect(k).toMatchObject({ source: 'config', publicKey: pair.publicKey, keyId: keyIdOf(pair.publicKey) });
  });

  it('refuses a malformed key file or seed with GatewayKeyInvalid, never echoing the secret', () => {
    const dir = dataDir();
    loadGatewayKey({ dataDir: dir });
    const path = join(dir, GATEWAY_KEY_FILE);
    const seed = (JSON.parse(readFileSync(path, 'utf8')) as { seed: string }).seed;
    writeFileSync(path, JSON.stringify({ alg: 'Ed25519', seed: seed.slice(0, 20) }), { mode: 0o600 });
    try {
      loadGatewayKey({ dataDir: dir });
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: ErrorCode.GatewayKeyInvalid });
      expect((err as Error).message).toMatch(/32 bytes/);
      expect((err as Error).message).not.toContain(seed.slice(0, 20));
    }
    expect(() => loadGatewayKey({ dataDir: dir, seed: 'c2hvcnQ=' })).toThrow(/platform\.gatewayKey/);
  });
});
