import { createHash, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { signBody } from './signing.ts';

/**
 * The one signed wire form of the contract, both ways: commands, acks and
 * responses from the platform (platform key), events, requests and the
 * status from the gateway (gateway key). `body` is the exact JSON text that
 * was signed, so no canonical JSON is needed; `sig` is the padded base64 of
 * the raw 64-byte Ed25519 signature (RFC 8032 section 5.1.6) over the UTF-8
 * bytes of `body`.
 */
export const SignatureBase64 = z
  .string()
  .regex(/^[A-Za-z0-9+/]{86}==$/, 'a padded base64 Ed25519 signature (88 characters)');

export const KeyId = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, '1-64 letters, digits, _ . : -')
  .describe('Which key signed it, when several are trusted (platform) or rotated (gateway).');

/** The biggest signed body any message of the contract may carry. */
export const MAX_SIGNED_BODY_CHARS = 16_384;

export const SignedEnvelope = z
  .object({
    body: z.string().max(MAX_SIGNED_BODY_CHARS).describe('The signed JSON text (see the body schema).'),
    sig: SignatureBase64,
    keyId: KeyId.optional(),
  })
  .strict()
  .describe('A signed message: `sig` is Ed25519 over the UTF-8 bytes of `body`, the exact JSON text signed.');
export type SignedEnvelope = z.infer<typeof SignedEnvelope>;

/** Signs `body` (JSON text) and returns the wire payload `{body, sig, keyId}`. */
export function sealBody(body: string, key: KeyObject, keyId: string | undefined): string {
  const sealed: SignedEnvelope = {
    body,
    sig: signBody(body, key),
    ...(keyId !== undefined ? { keyId } : {}),
  };
  return JSON.stringify(sealed);
}

/**
 * A gateway key's id: `gw-` and the first 16 hex digits of the SHA-256 of
 * the raw 32-byte public key. Derived, so it never has to be stored, and a
 * new key always gets a new id.
 */
export function keyIdOf(publicKeyBase64: string): string {
  const digest = createHash('sha256').update(Buffer.from(publicKeyBase64, 'base64')).digest('hex');
  return `gw-${digest.slice(0, 16)}`;
}

/** Hex SHA-256 of a request's signed body: what a response names to bind to it. */
export function requestDigest(body: string): string {
  return createHash('sha256').update(body, 'utf8').digest('hex');
}
