import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ResponseEnvelope } from '../../contract/envelopes.ts';
import { EventAck } from '../../contract/events.ts';
import { requestDigest, SignedEnvelope, sealBody } from '../../contract/signed.ts';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  verifyBody,
} from '../../contract/signing.ts';
import { ErrorCode } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/index.ts';
import { SigningKeyring } from './keyring.ts';
import { decodeEvent, decodeStatus, encodeAck, encodeResponse, trustedGatewayKey } from './link-messages.ts';

const envelope = (seq: number) => ({
  id: randomUUID(),
  seq,
  gatewayId: 'gw1',
  ts: 1,
  type: 'machine.status',
  data: { machineId: 'm1', online: true },
});

describe('the signing key ring', () => {
  it('signs with the newest active key and publishes both during a rotation', () => {
    const old = generateRawKeyPair();
    const next = generateRawKeyPair();
    let now = 1_000;
    const ring = new SigningKeyring(
      [
        { keyId: 'k1', privateKey: old.privateKey, activeFrom: 0 },
        { keyId: 'k2', privateKey: next.privateKey, activeFrom: 5_000 },
      ],
      () => now,
    );
    expect(ring.publicKeys()).toEqual([
      { keyId: 'k1', publicKey: old.publicKey },
      { keyId: 'k2', publicKey: next.publicKey },
    ]);
    const before = ring.sign('{"a":1}');
    expect(before.keyId).toBe('k1');
    expect(verifyBody(before.body, before.sig, publicKeyFromBase64(old.publicKey))).toBe(true);
    now = 5_000;
    const after = ring.sign('{"a":1}');
    expect(after.keyId).toBe('k2');
    expect(verifyBody(after.body, after.sig, publicKeyFromBase64(next.publicKey))).toBe(true);
  });

  it('refuses three keys, a repeated id and a malformed seed without showing it', async () => {
    const k = generateRawKeyPair().privateKey;
    await expectVendgateError(
      () => new SigningKeyring([1, 2, 3].map((i) => ({ keyId: `k${i}`, privateKey: k }))),
      ErrorCode.ConfigInvalid,
    );
    await expectVendgateError(
      () =>
        new SigningKeyring([
          { keyId: 'k', privateKey: k },
          { keyId: 'k', privateKey: k },
        ]),
      ErrorCode.ConfigInvalid,
    );
    const err = await expectVendgateError(
      () => new SigningKeyring([{ keyId: 'k', privateKey: 'c2hvcnQ=' }]),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).not.toContain('c2hvcnQ');
  });
});

describe('the link message forms', () => {
  const platform = generateRawKeyPair();
  const ring = new SigningKeyring([{ keyId: 'default', privateKey: platform.privateKey }]);
  const gateway = generateRawKeyPair();
  const gatewayKey = trustedGatewayKey(gateway.publicKey);
  const sealByGateway = (body: unknown, privateKey = gateway.privateKey) =>
    Buffer.from(sealBody(JSON.stringify(body), privateKeyFromBase64(privateKey), gatewayKey.keyId));
  const topic = { gatewayId: 'gw1', type: 'machine.status' };

  it('seals an ack the way the gateway opens it: the contract EventAck, signed, naming its key', () => {
    const signed = SignedEnvelope.parse(JSON.parse(encodeAck('gw1', 7, ring, 100)));
    expect(signed.keyId).toBe('default');
    expect(verifyBody(signed.body, signed.sig, publicKeyFromBase64(platform.publicKey))).toBe(true);
    expect(EventAck.parse(JSON.parse(signed.body))).toEqual({
      gatewayId: 'gw1',
      upTo: 7,
      issuedAt: 100,
      expiresAt: 300_100,
      keyId: 'default',
    });
  });

  it('seals a response bound to the SHA-256 of the request body it answers', () => {
    const requestBody = '{"correlationId":"corr-0001"}';
    const payload = encodeResponse(
      {
        gatewayId: 'gw1',
        type: 'order.create',
        correlationId: 'corr-0001',
        requestBody,
        result: { data: 1 },
      },
      ring,
      100,
    );
    const signed = SignedEnvelope.parse(JSON.parse(payload));
    expect(verifyBody(signed.body, signed.sig, publicKeyFromBase64(platform.publicKey))).toBe(true);
    expect(ResponseEnvelope.parse(JSON.parse(signed.body))).toEqual({
      correlationId: 'corr-0001',
      type: 'order.create',
      gatewayId: 'gw1',
      requestSha256: requestDigest(requestBody),
      issuedAt: 100,
      expiresAt: 300_100,
      keyId: 'default',
      data: 1,
    });
  });

  it('opens any valid envelope signed by the gateway key, and refuses it signed by another', () => {
    const other = generateRawKeyPair();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), (seq) => {
        const env = envelope(seq);
        expect(decodeEvent(sealByGateway(env), topic, gatewayKey)).toEqual(env);
        expect(() => decodeEvent(sealByGateway(env, other.privateKey), topic, gatewayKey)).toThrow(
          /does not verify/,
        );
      }),
      { numRuns: 50 },
    );
  });

  it('refuses an unsigned event, one before the key is known, and one filed under another gateway', async () => {
    const env = envelope(1);
    await expectVendgateError(
      () => decodeEvent(Buffer.from(JSON.stringify(env)), topic, gatewayKey),
      ErrorCode.EventSignatureInvalid,
    );
    await expectVendgateError(
      () => decodeEvent(sealByGateway(env), topic, undefined),
      ErrorCode.EventSignatureInvalid,
    );
    await expectVendgateError(
      () => decodeEvent(sealByGateway(env), { gatewayId: 'gw2', type: 'machine.status' }, gatewayKey),
      ErrorCode.PayloadInvalid,
    );
    await expectVendgateError(
      () => decodeEvent(Buffer.from('{'), { gatewayId: 'gw1', type: 'x' }, gatewayKey),
      ErrorCode.PayloadNotJson,
    );
  });

  it('trusts the key a first status announces and verifies with, and then refuses any other', async () => {
    const status = {
      state: 'online',
      gatewayId: 'gw1',
      eventKey: { alg: 'Ed25519', keyId: gatewayKey.keyId, publicKey: gateway.publicKey },
    };
    const first = decodeStatus(sealByGateway(status), 'gw1', undefined);
    expect(first).toMatchObject({ firstUse: true, key: { keyId: gatewayKey.keyId }, status });
    expect(decodeStatus(sealByGateway(status), 'gw1', first.key).firstUse).toBe(false);

    const impostor = generateRawKeyPair();
    const impostorKey = trustedGatewayKey(impostor.publicKey);
    const impostorStatus = Buffer.from(
      sealBody(
        JSON.stringify({
          ...status,
          eventKey: { alg: 'Ed25519', keyId: impostorKey.keyId, publicKey: impostor.publicKey },
        }),
        privateKeyFromBase64(impostor.privateKey),
        impostorKey.keyId,
      ),
    );
    await expectVendgateError(
      () => decodeStatus(impostorStatus, 'gw1', first.key),
      ErrorCode.EventSignatureInvalid,
    );
    // A status whose announced key does not sign it teaches nothing.
    await expectVendgateError(
      () => decodeStatus(sealByGateway(status, impostor.privateKey), 'gw1', undefined),
      ErrorCode.EventSignatureInvalid,
    );
  });
});
