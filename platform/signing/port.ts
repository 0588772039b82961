/**
 * The platform's signing, in one place: commands, acks and request
 * responses are signed with Ed25519 (docs/contract.md); events, requests
 * and statuses carry a gateway signature, verified in link-messages.ts. Keys have ids; two may be
 * valid at once for rotation: the newest signs, and both are listed so a
 * gateway can be configured to trust either.
 */

export interface SigningKeyConfig {
  /** Shown in `keyId` of what it signs; 1-64 characters. */
  keyId: string;
  /** base64 of the raw 32-byte Ed25519 seed. */
  privateKey: string;
  /** Unix ms from which this key signs; the newest active key is used. Default 0. */
  activeFrom?: number;
}

export interface PublishedKey {
  keyId: string;
  /** base64 raw 32-byte Ed25519 public key, for the gateway's trusted keys. */
  publicKey: string;
}

export interface SignedPayload {
  /** The exact JSON string that was signed. */
  body: string;
  sig: string;
  keyId: string;
}

export interface CommandSigner {
  /** The key id that signs now. */
  currentKeyId(): string;
  /** Every configured key's public half (the current and the previous one during a rotation). */
  publicKeys(): PublishedKey[];
  /** Signs the UTF-8 bytes of `body` with the current key. */
  sign(body: string): SignedPayload;
  /**
   * The wire payload `{body, sig, keyId}` (contract `sealBody`) of the body
   * `bodyFor` builds for the current key id: acks and responses repeat the
   * key id in their body, and building it from the key that then signs
   * keeps the two equal across a rotation boundary.
   */
  seal(bodyFor: (keyId: string) => string): string;
}
