import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decryptResource, encryptResource } from './aead.ts';
import { documentedTransaction } from './test-fixtures.ts';

const key = Buffer.from('0123456789abcdefghijklmnopqrstuv', 'utf8');

describe('notification resource decryption (AEAD_AES_256_GCM)', () => {
  it('decrypts the documented payment resource encrypted with the APIv3 key', () => {
    const plaintext = JSON.stringify(documentedTransaction());
    // 回调报文解密: 12-byte nonce, associated_data "transaction", tag appended to the ciphertext.
    const ciphertext = encryptResource(plaintext, key, 'fdasflkja484', 'transaction');
    expect(Buffer.from(ciphertext, 'base64').length).toBe(Buffer.byteLength(plaintext) + 16);
    const r = {
      algorithm: 'AEAD_AES_256_GCM',
      ciphertext,
      nonce: 'fdasflkja484',
      associated_data: 'transaction',
    };
    expect(decryptResource(r, key)).toBe(plaintext);
  });

  it('refuses a wrong key, other associated data, a tampered or truncated ciphertext, a bad nonce', () => {
    const ciphertext = encryptResource('{"x":1}', key, 'fdasflkja484', 'transaction');
    const good = {
      algorithm: 'AEAD_AES_256_GCM',
      ciphertext,
      nonce: 'fdasflkja484',
      associated_data: 'transaction',
    };
    expect(decryptResource(good, Buffer.from('v'.repeat(32)))).toBeUndefined();
    expect(decryptResource({ ...good, associated_data: 'refund' }, key)).toBeUndefined();
    const bytes = Buffer.from(ciphertext, 'base64');
    bytes[0]! ^= 1;
    expect(decryptResource({ ...good, ciphertext: bytes.toString('base64') }, key)).toBeUndefined();
    expect(decryptResource({ ...good, ciphertext: ciphertext.slice(0, 12) }, key)).toBeUndefined();
    expect(decryptResource({ ...good, nonce: 'short' }, key)).toBeUndefined();
    expect(decryptResource({ ...good, algorithm: 'AEAD_AES_128_GCM' }, key)).toBeUndefined();
    expect(decryptResource({ ...good, ciphertext: '!!!' }, key)).toBeUndefined();
  });

  it('round-trips any resource text and associated data (property)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string({ maxLength: 15 }), (text, aad) => {
        const ciphertext = encryptResource(text, key, 'abcdefghijkl', aad);
        expect(
          decryptResource(
            { algorithm: 'AEAD_AES_256_GCM', ciphertext, nonce: 'abcdefghijkl', associated_data: aad },
            key,
          ),
        ).toBe(text);
      }),
      { numRuns: 200 },
    );
  });
});
