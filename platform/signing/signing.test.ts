import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  generateRawKeyPair,
  privateKeyFromBase64,
  publicKeyFromBase64,
  signBody,
  verifyBody,
} from '../../contract/signing.ts';
import { ErrorCode } from '../../core/errors.ts';
import { expectVendgateError } from '../../testing/index.ts';
import { SigningKeyring } from './keyring.ts';
import { decodeEvent, encodeAck } from './link-messages.ts';

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
  const ring = new SigningKeyring([{ keyId: 'default', privateKey: generateRawKeyPair().privateKey }]);

  it('writes today’s plain ack, and a signed ack body naming the gateway and key', () => {
    expect(encodeAck('gw1', 7, 'plain', ring, 0)).toBe('{"upTo":7}');
    const signed = JSON.parse(encodeAck('gw1', 7, 'signed', ring, 100));
    expect(JSON.parse(signed.body)).toEqual({
      gatewayId: 'gw1',
      upTo: 7,
      issuedAt: 100,
      expiresAt: 300_100,
      keyId: 'default',
    });
    expect(signed.keyId).toBe('default');
  });

  it('accepts any valid envelope plain or signed by the gateway key, and refuses it signed by another', () => {
    const gw = generateRawKeyPair();
    const other = generateRawKeyPair();
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), (seq) => {
        const env = envelope(seq);
        const topic = { gatewayId: 'gw1', type: 'machine.status' };
        const body = JSON.stringify(env);
        expect(decodeEvent(Buffer.from(body), topic, null, false)).toEqual({ envelope: env, signed: false });
        const good = JSON.stringify({
          body,
          sig: signBody(body, privateKeyFromBase64(gw.privateKey)),
          keyId: 'gw-1',
        });
        expect(decodeEvent(Buffer.from(good), topic, gw.publicKey, true)).toEqual({
          envelope: env,
          signed: true,
        });
        const forged = JSON.stringify({ body, sig: signBody(body, privateKeyFromBase64(other.privateKey)) });
        expect(() => decodeEvent(Buffer.from(forged), topic, gw.publicKey, false)).toThrow(/does not verify/);
      }),
      { numRuns: 50 },
    );
  });

  it('refuses an unsigned event where signatures are required, and one filed under another gateway', async () => {
    const body = Buffer.from(JSON.stringify(envelope(1)));
    await expectVendgateError(
      () => decodeEvent(body, { gatewayId: 'gw1', type: 'machine.status' }, null, true),
      ErrorCode.EventSignatureInvalid,
    );
    await expectVendgateError(
      () => decodeEvent(body, { gatewayId: 'gw2', type: 'machine.status' }, null, false),
      ErrorCode.PayloadInvalid,
    );
    await expectVendgateError(
      () => decodeEvent(Buffer.from('{'), { gatewayId: 'gw1', type: 'x' }, null, false),
      ErrorCode.PayloadNotJson,
    );
  });
});
