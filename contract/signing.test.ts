import { describe, expect, it } from 'vitest';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  signBody,
  verifyBody,
  verifyBodyAsync,
} from './signing.ts';

describe('Ed25519 command signing', () => {
  it('verifies a body signed with the matching raw key pair', () => {
    const { publicKey, privateKey } = generateRawKeyPair();
    expect(Buffer.from(publicKey, 'base64')).toHaveLength(32);
    expect(Buffer.from(privateKey, 'base64')).toHaveLength(32);
    const sig = signBody('{"hello":"world"}', privateKeyFromBase64(privateKey));
    expect(sig).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(verifyBody('{"hello":"world"}', sig, publicKeyFromBase64(publicKey))).toBe(true);
  });

  it('matches the RFC 8032 test vector 1 (empty message)', () => {
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const pub = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
    const expected =
      'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';
    const sig = signBody('', privateKeyFromBase64(seed.toString('base64')));
    expect(Buffer.from(sig, 'base64').toString('hex')).toBe(expected);
    expect(verifyBody('', sig, publicKeyFromBase64(pub.toString('base64')))).toBe(true);
  });

  it('refuses another key, a changed body and a truncated signature', () => {
    const a = generateRawKeyPair();
    const b = generateRawKeyPair();
    const sig = signBody('body', privateKeyFromBase64(a.privateKey));
    expect(verifyBody('body', sig, publicKeyFromBase64(b.publicKey))).toBe(false);
    expect(verifyBody('body ', sig, publicKeyFromBase64(a.publicKey))).toBe(false);
    expect(verifyBody('body', sig.slice(0, 40), publicKeyFromBase64(a.publicKey))).toBe(false);
  });

  it('gives the same verdicts on the thread pool as on the event loop', async () => {
    const a = generateRawKeyPair();
    const b = generateRawKeyPair();
    const sig = signBody('body', privateKeyFromBase64(a.privateKey));
    const pubA = publicKeyFromBase64(a.publicKey);
    expect(
      await Promise.all([
        verifyBodyAsync('body', sig, pubA),
        verifyBodyAsync('body', sig, publicKeyFromBase64(b.publicKey)),
        verifyBodyAsync('body ', sig, pubA),
        verifyBodyAsync('body', sig.slice(0, 40), pubA),
        verifyBodyAsync('body', 'not base64 at all!', pubA),
      ]),
    ).toEqual([true, false, false, false, false]);
  });

  it('says what is wrong with a key of the wrong length', () => {
    expect(() => publicKeyFromBase64(Buffer.alloc(31).toString('base64'))).toThrow(/32 bytes; got 31/);
    expect(() => privateKeyFromBase64(Buffer.alloc(64).toString('base64'))).toThrow(/32 bytes; got 64/);
  });
});
