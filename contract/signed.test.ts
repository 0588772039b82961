import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keyIdOf, requestDigest, SignedEnvelope, sealBody } from './signed.ts';
import { generateRawKeyPair, privateKeyFromBase64, publicKeyFromBase64, verifyBody } from './signing.ts';

const pair = generateRawKeyPair();
const key = privateKeyFromBase64(pair.privateKey);

describe('the signed envelope', () => {
  it('carries any JSON body as its exact text, with a padded base64 signature of the raw 64 bytes that verifies', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const body = JSON.stringify(value) ?? 'null';
        const wire = SignedEnvelope.parse(JSON.parse(sealBody(body, key, 'k1')));
        expect(wire.body).toBe(body);
        expect(wire.keyId).toBe('k1');
        expect(wire.sig).toMatch(/^[A-Za-z0-9+/]{86}==$/);
        expect(Buffer.from(wire.sig, 'base64')).toHaveLength(64);
        expect(verifyBody(wire.body, wire.sig, publicKeyFromBase64(pair.publicKey))).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses a signature that is not 88 characters of padded base64, or an unknown field', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/^[A-Za-z0-9+/]{86}==$/.test(s)),
        (sig) => {
          expect(SignedEnvelope.safeParse({ body: '{}', sig }).success).toBe(false);
        },
      ),
    );
    const ok = JSON.parse(sealBody('{}', key, undefined)) as object;
    expect(SignedEnvelope.safeParse(ok).success).toBe(true);
    expect(SignedEnvelope.safeParse({ ...ok, extra: 1 }).success).toBe(false);
  });

  it('derives a stable gateway key id from the public key, and a request digest from the exact body text', () => {
    expect(keyIdOf(pair.publicKey)).toMatch(/^gw-[0-9a-f]{16}$/);
    expect(keyIdOf(pair.publicKey)).toBe(keyIdOf(pair.publicKey));
    expect(keyIdOf(generateRawKeyPair().publicKey)).not.toBe(keyIdOf(pair.publicKey));
    expect(requestDigest('{"a":1}')).toMatch(/^[0-9a-f]{64}$/);
    expect(requestDigest('{"a":1}')).not.toBe(requestDigest('{"a": 1}'));
  });
});
