import type { KeyObject } from 'node:crypto';
import { createPublicKey } from 'node:crypto';
import { sealBody } from '../../contract/signed.ts';
import { privateKeyFromBase64, signBody } from '../../contract/signing.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { CommandSigner, PublishedKey, SignedPayload, SigningKeyConfig } from './port.ts';

const KEY_ID = /^[A-Za-z0-9_.:-]{1,64}$/;
/** The raw public key is the tail of the SPKI DER (RFC 8410 section 4): 12 bytes of prefix, then 32. */
const SPKI_PREFIX_BYTES = 12;

/**
 * The platform's Ed25519 signing keys (contract/signing.ts), at most two at
 * once for a rotation: the newest key whose `activeFrom` has passed signs,
 * and both public keys are published so gateways can trust either while
 * the new one rolls out.
 */
export class SigningKeyring implements CommandSigner {
  readonly #keys: { keyId: string; key: KeyObject; publicKey: string; activeFrom: number }[];
  readonly #now: () => number;

  constructor(keys: readonly SigningKeyConfig[], now: () => number = Date.now) {
    if (keys.length === 0 || keys.length > 2) {
      throw new VendgateError(
        ErrorCode.ConfigInvalid,
        `platform signing needs one key, or two during a rotation; got ${keys.length}`,
        { count: keys.length },
      );
    }
    const seen = new Set<string>();
    this.#keys = keys.map((k, i) => {
      if (!KEY_ID.test(k.keyId)) {
        throw new VendgateError(
          ErrorCode.ConfigInvalid,
          `signing key ${i + 1}: keyId must be 1-64 letters, digits, _ . : -`,
          { index: i },
        );
      }
      if (seen.has(k.keyId))
        throw new VendgateError(ErrorCode.ConfigInvalid, `signing key id "${k.keyId}" is listed twice`, {
          keyId: k.keyId,
        });
      seen.add(k.keyId);
      let key: KeyObject;
      try {
        key = privateKeyFromBase64(k.privateKey);
      } catch (err) {
        // The message says what is wrong with the key, never the key.
        throw new VendgateError(
          ErrorCode.ConfigInvalid,
          `signing key "${k.keyId}": ${(err as Error).message}`,
          { keyId: k.keyId },
        );
      }
      const der = createPublicKey(key).export({ format: 'der', type: 'spki' });
      return {
        keyId: k.keyId,
        key,
        publicKey: der.subarray(SPKI_PREFIX_BYTES).toString('base64'),
        activeFrom: k.activeFrom ?? 0,
      };
    });
    this.#now = now;
  }

  #current() {
    const now = this.#now();
    const active = this.#keys.filter((k) => k.activeFrom <= now).sort((a, b) => b.activeFrom - a.activeFrom);
    // Before any activeFrom has passed, the oldest key signs: there is always a signer.
    return active[0] ?? [...this.#keys].sort((a, b) => a.activeFrom - b.activeFrom)[0]!;
  }

  currentKeyId(): string {
    return this.#current().keyId;
  }

  publicKeys(): PublishedKey[] {
    return this.#keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey }));
  }

  sign(body: string): SignedPayload {
    const k = this.#current();
    return { body, sig: signBody(body, k.key), keyId: k.keyId };
  }

  seal(bodyFor: (keyId: string) => string): string {
    const k = this.#current();
    return sealBody(bodyFor(k.keyId), k.key, k.keyId);
  }
}
