/**
 * The platform's signing, in one place: commands (and, once the contract
 * says so, acks and request responses) are signed with Ed25519; upstream
 * events may carry a gateway signature to verify. Keys have ids; two may be
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
}
