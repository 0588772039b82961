import { sealEventBatch } from '../../contract/event-batch.ts';
import type { GatewayStatus } from '../../contract/events.ts';
import { keyIdOf, sealBody } from '../../contract/signed.ts';
import { generateRawKeyPair, privateKeyFromBase64 } from '../../contract/signing.ts';

/**
 * A gateway key for tests that play the gateway by hand: seals events,
 * requests and statuses exactly as gateway/link does (contract sealBody
 * under the derived `gw-` key id), and the status announces the key in
 * `eventKey`, so a platform can learn it on first use.
 */
export function gatewaySigner() {
  const pair = generateRawKeyPair();
  const privateKey = privateKeyFromBase64(pair.privateKey);
  const keyId = keyIdOf(pair.publicKey);
  const seal = (body: unknown) => sealBody(JSON.stringify(body), privateKey, keyId);
  return {
    publicKey: pair.publicKey,
    keyId,
    /** The signed payload of any body (an event envelope, a request envelope). */
    seal,
    /** The signed `evts` payload of these envelopes, the body naming `gatewayId` (as gateway/link/delivery does). */
    sealBatch: (gatewayId: string, envelopes: readonly unknown[]) =>
      sealEventBatch(
        gatewayId,
        envelopes.map((e) => JSON.stringify(e)),
        privateKey,
        keyId,
      ),
    /** A signed status announcing this key; `status` gives the rest of it. */
    status(status: Omit<GatewayStatus, 'eventKey'>): string {
      const body: GatewayStatus = {
        issuedAt: Date.now(),
        ...status,
        eventKey: { alg: 'Ed25519', keyId, publicKey: pair.publicKey },
      };
      return seal(body);
    },
  };
}

export type GatewaySigner = ReturnType<typeof gatewaySigner>;
