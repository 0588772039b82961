import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestEnvelope, ResponseEnvelope } from './envelopes.ts';

const correlationId = fc.string({ minLength: 8, maxLength: 64 });
const data = fc.jsonValue();
const epochMs = fc.integer({ min: 0, max: 2 ** 45 });
const sha256 = fc.stringMatching(/^[0-9a-f]{64}$/);
const stamp = { type: 'order.create', gatewayId: 'gw-1' };

describe('the request and response bodies', () => {
  it('accept every request that round-trips through JSON with a correlation id of 8 to 64 characters', () => {
    fc.assert(
      fc.property(correlationId, data, epochMs, epochMs, (id, d, issuedAt, expiresAt) => {
        const wire = JSON.parse(
          JSON.stringify({ correlationId: id, ...stamp, issuedAt, expiresAt, data: d }),
        );
        expect(RequestEnvelope.parse(wire)).toEqual(wire);
      }),
    );
  });

  it('accept a response carrying data or an error with a reason, bound to a request digest', () => {
    fc.assert(
      fc.property(
        correlationId,
        sha256,
        epochMs,
        fc.oneof(
          data.map((d) => ({ data: d })),
          fc.record({
            error: fc.record({ reason: fc.string(), code: fc.integer() }, { requiredKeys: ['reason'] }),
          }),
        ),
        (id, digest, issuedAt, body) => {
          const wire = JSON.parse(
            JSON.stringify({
              correlationId: id,
              ...stamp,
              requestSha256: digest,
              issuedAt,
              expiresAt: issuedAt + 1,
              keyId: 'default',
              ...body,
            }),
          );
          expect(ResponseEnvelope.parse(wire)).toEqual(wire);
        },
      ),
    );
  });

  it('refuse a correlation id shorter than 8 or longer than 64 characters, naming the field', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 7 }), fc.string({ minLength: 65, maxLength: 200 })),
        (id) => {
          for (const schema of [RequestEnvelope, ResponseEnvelope]) {
            const r = schema.safeParse({ correlationId: id, data: null });
            expect(r.success).toBe(false);
            expect(r.error?.issues[0]?.path).toEqual(['correlationId']);
          }
        },
      ),
    );
  });

  it('refuse a response whose request digest is not 64 lowercase hex digits', () => {
    fc.assert(
      fc.property(
        fc.string().filter((s) => !/^[0-9a-f]{64}$/.test(s)),
        (digest) => {
          const r = ResponseEnvelope.safeParse({
            correlationId: 'abcdefgh',
            ...stamp,
            requestSha256: digest,
            issuedAt: 1,
            expiresAt: 2,
            keyId: 'default',
          });
          expect(r.success).toBe(false);
          expect(r.error?.issues.map((i) => i.path[0])).toContain('requestSha256');
        },
      ),
    );
  });

  it('refuse unknown keys, so a misspelt field is an error rather than silently dropped', () => {
    const req = { correlationId: 'abcdefgh', ...stamp, issuedAt: 1, expiresAt: 2, data: 1 };
    expect(RequestEnvelope.safeParse(req).success).toBe(true);
    expect(RequestEnvelope.safeParse({ ...req, extra: true }).success).toBe(false);
    const res = {
      correlationId: 'abcdefgh',
      ...stamp,
      requestSha256: 'a'.repeat(64),
      issuedAt: 1,
      expiresAt: 2,
      keyId: 'k',
    };
    expect(ResponseEnvelope.safeParse(res).success).toBe(true);
    expect(ResponseEnvelope.safeParse({ ...res, eror: { reason: 'x' } }).success).toBe(false);
  });

  it('refuse an error without a reason or with a fractional code', () => {
    const res = {
      correlationId: 'abcdefgh',
      ...stamp,
      requestSha256: 'a'.repeat(64),
      issuedAt: 1,
      expiresAt: 2,
      keyId: 'k',
    };
    expect(ResponseEnvelope.safeParse({ ...res, error: {} }).success).toBe(false);
    expect(ResponseEnvelope.safeParse({ ...res, error: { reason: 'x', code: 1.5 } }).success).toBe(false);
  });
});
