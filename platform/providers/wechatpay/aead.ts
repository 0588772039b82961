/**
 * AEAD_AES_256_GCM decryption of a notification's `resource` (回调报文解密 /
 * "Decrypting callbacks"; RFC 5116): the key is the 32-byte APIv3 key, the
 * nonce 12 bytes, `associated_data` (possibly empty) is authenticated, and the
 * base64 `ciphertext` ends with the 16-byte authentication tag.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export interface EncryptedResource {
  algorithm: string;
  ciphertext: string;
  nonce: string;
  associated_data?: string;
  original_type?: string;
}

const TAG_BYTES = 16;

/** The plaintext, or undefined when it does not authenticate (wrong key, tampered, truncated). */
export function decryptResource(resource: EncryptedResource, apiV3Key: Buffer): string | undefined {
  if (resource.algorithm !== 'AEAD_AES_256_GCM') return undefined;
  const nonce = Buffer.from(resource.nonce, 'utf8');
  if (nonce.length !== 12 || apiV3Key.length !== 32) return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(resource.ciphertext)) return undefined;
  const data = Buffer.from(resource.ciphertext, 'base64');
  if (data.length < TAG_BYTES) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', apiV3Key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(resource.associated_data ?? '', 'utf8'));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    return Buffer.concat([
      decipher.update(data.subarray(0, data.length - TAG_BYTES)),
      decipher.final(),
    ]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** The inverse, for tests: ciphertext || tag, base64. */
export function encryptResource(
  plaintext: string,
  apiV3Key: Buffer,
  nonce: string,
  associatedData: string,
): string {
  const cipher = createCipheriv('aes-256-gcm', apiV3Key, Buffer.from(nonce, 'utf8'), {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const out = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
  return out.toString('base64');
}
