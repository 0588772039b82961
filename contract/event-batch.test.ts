import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isVendgateError } from '../core/errors.ts';
import { expectVendgateError } from '../testing/index.ts';
import {
  EVENT_BATCH_MAX_BYTES,
  EVENT_BATCH_MAX_EVENTS,
  EventBatchBody,
  EventBatchSizer,
  escapedBytes,
  openEventBatch,
  SignedEventBatch,
  sealEventBatch,
} from './event-batch.ts';
import { EventEnvelope } from './events.ts';
import { keyIdOf } from './signed.ts';
import { generateRawKeyPair, privateKeyFromBase64, publicKeyFromBase64, signBody } from './signing.ts';

const pair = generateRawKeyPair();
const priv = privateKeyFromBase64(pair.privateKey);
const keyId = keyIdOf(pair.publicKey);
const trusted = { keyId, key: publicKeyFromBase64(pair.publicKey) };
const GW = 'gw-batch';

/** The catalogue code `work` throws with (it must throw a VendgateError). */
function codeOf(work: () => unknown): number | undefined {
  try {
    work();
  } catch (err) {
    expect(isVendgateError(err)).toBe(true);
    return (err as { code: number }).code;
  }
  throw new Error('expected it to throw');
}

/** Envelopes as the outbox stores them: JSON text of an EventEnvelope, any data. */
const envelopes = fc
  .array(
    fc.record({
      seq: fc.integer({ min: 1, max: 2 ** 31 }),
      ts: fc.integer({ min: 0, max: 2 ** 45 }),
      type: fc.string({ minLength: 1, maxLength: 24 }),
      data: fc.jsonValue({ maxDepth: 2 }),
    }),
    { minLength: 1, maxLength: 30 },
  )
  .map((es) =>
    es
      .sort((a, b) => a.seq - b.seq)
      .map((e) =>
        JSON.stringify({ id: randomUUID(), seq: e.seq, gatewayId: GW, ts: e.ts, type: e.type, data: e.data }),
      ),
  );

describe('the signed event batch', () => {
  it('opens to exactly the stored envelopes, in order, and its size is known before signing', () => {
    const sizer = new EventBatchSizer(GW, keyId);
    fc.assert(
      fc.property(envelopes, (texts) => {
        const wire = sealEventBatch(GW, texts, priv, keyId);
        const payload = Buffer.from(wire, 'utf8');
        expect(
          sizer.bytesOf(
            texts.length,
            texts.reduce((n, t) => n + escapedBytes(t), 0),
          ),
        ).toBe(payload.length);
        const opened = openEventBatch(payload, GW, trusted);
        expect(opened.gatewayId).toBe(GW);
        expect(opened.events).toEqual(texts.map((t) => JSON.parse(t)));
        expect(opened.events.map((e) => JSON.stringify(e))).toEqual(texts);
        expect(SignedEventBatch.parse(JSON.parse(wire)).keyId).toBe(keyId);
        // The body is what the contract documents.
        const body = EventBatchBody.safeParse(JSON.parse(JSON.parse(wire).body));
        expect(body.success).toBe(true);
        for (const e of opened.events) expect(EventEnvelope.safeParse(e).success).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses a batch with any one byte changed, as not JSON or as not verifying', () => {
    const texts = fc.sample(envelopes, { numRuns: 1, seed: 7 })[0]!;
    const wire = Buffer.from(sealEventBatch(GW, texts, priv, keyId), 'utf8');
    fc.assert(
      fc.property(fc.nat({ max: wire.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const tampered = Buffer.from(wire);
        tampered[at] = tampered[at]! ^ flip;
        expect([ErrorCode.PayloadNotJson, ErrorCode.EventSignatureInvalid]).toContain(
          codeOf(() => openEventBatch(tampered, GW, trusted)),
        );
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a batch signed by another key, or naming another key id', async () => {
    const other = generateRawKeyPair();
    const texts = fc.sample(envelopes, { numRuns: 1, seed: 3 })[0]!;
    const forged = sealEventBatch(GW, texts, privateKeyFromBase64(other.privateKey), keyId);
    const e1 = await expectVendgateError(
      () => openEventBatch(Buffer.from(forged), GW, trusted),
      ErrorCode.EventSignatureInvalid,
    );
    expect(e1.message).toContain('does not verify');
    const renamed = sealEventBatch(GW, texts, priv, 'gw-0000000000000000');
    const e2 = await expectVendgateError(
      () => openEventBatch(Buffer.from(renamed), GW, trusted),
      ErrorCode.EventSignatureInvalid,
    );
    expect(e2.message).toContain('names key gw-0000000000000000');
  });

  it('refuses to seal more events or more bytes than a batch may carry, saying which bound', async () => {
    const one = JSON.stringify({ id: randomUUID(), seq: 1, gatewayId: GW, ts: 1, type: 'x', data: null });
    const tooMany = await expectVendgateError(
      () => sealEventBatch(GW, Array(EVENT_BATCH_MAX_EVENTS + 1).fill(one), priv, keyId),
      ErrorCode.PayloadTooLarge,
    );
    expect(tooMany.message).toContain(`1 to ${EVENT_BATCH_MAX_EVENTS} events`);
    await expectVendgateError(() => sealEventBatch(GW, [], priv, keyId), ErrorCode.PayloadTooLarge);
    const big = JSON.stringify({
      id: randomUUID(),
      seq: 1,
      gatewayId: GW,
      ts: 1,
      type: 'x',
      data: 'y'.repeat(EVENT_BATCH_MAX_BYTES / 2),
    });
    const tooBig = await expectVendgateError(
      () => sealEventBatch(GW, [big, big], priv, keyId),
      ErrorCode.PayloadTooLarge,
    );
    expect(tooBig.message).toMatch(/is \d+ bytes; at most 65536/);
  });

  it('refuses to open an over-size payload or a body of more than the most events, saying which', async () => {
    const huge = Buffer.alloc(EVENT_BATCH_MAX_BYTES + 1, 0x20);
    const e1 = await expectVendgateError(() => openEventBatch(huge, GW, trusted), ErrorCode.PayloadTooLarge);
    expect(e1.message).toContain(`${EVENT_BATCH_MAX_BYTES + 1} bytes; at most ${EVENT_BATCH_MAX_BYTES}`);
    // Signed, yet breaking the bound: a sender that ignores it is refused after verifying.
    const body = JSON.stringify({ gatewayId: GW, events: Array(EVENT_BATCH_MAX_EVENTS + 1).fill({}) });
    const wire = JSON.stringify({ body, sig: signBody(body, priv), keyId });
    const e2 = await expectVendgateError(
      () => openEventBatch(Buffer.from(wire), GW, trusted),
      ErrorCode.PayloadTooLarge,
    );
    expect(e2.message).toContain('events');
  });
});
