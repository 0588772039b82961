import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RequestEnvelope, ResponseEnvelope } from './envelopes.ts';

const correlationId = fc.string({ minLength: 8, maxLength: 64 });
const data = fc.jsonValue();

describe('the request and response envelopes', () => {
  it('accept every request that round-trips through JSON with a correlation id of 8 to 64 characters', () => {
    fc.assert(
      fc.property(correlationId, data, (id, d) => {
        const wire = JSON.parse(JSON.stringify({ correlationId: id, data: d }));
        expect(RequestEnvelope.parse(wire)).toEqual(wire);
      }),
    );
  });

  it('accept a response carrying data or an error with a reason', () => {
    fc.assert(
      fc.property(
        correlationId,
        fc.oneof(
          data.map((d) => ({ data: d })),
          fc.record({
            error: fc.record({ reason: fc.string(), code: fc.integer() }, { requiredKeys: ['reason'] }),
          }),
        ),
        (id, body) => {
          const wire = JSON.parse(JSON.stringify({ correlationId: id, ...body }));
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

  it('refuse unknown keys, so a misspelt field is an error rather than silently dropped', () => {
    expect(RequestEnvelope.safeParse({ correlationId: 'abcdefgh', data: 1, extra: true }).success).toBe(
      false,
    );
    expect(ResponseEnvelope.safeParse({ correlationId: 'abcdefgh', eror: { reason: 'x' } }).success).toBe(
      false,
    );
  });

  it('refuse an error without a reason or with a fractional code', () => {
    expect(ResponseEnvelope.safeParse({ correlationId: 'abcdefgh', error: {} }).success).toBe(false);
    expect(
      ResponseEnvelope.safeParse({ correlationId: 'abcdefgh', error: { reason: 'x', code: 1.5 } }).success,
    ).toBe(false);
  });
});
