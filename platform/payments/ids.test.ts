import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  newOutTradeNo,
  OUT_TRADE_NO,
  orderOfPaidCommand,
  paidCommandId,
  refundNoFor,
  sessionOutTradeNo,
} from './ids.ts';

describe('order numbers', () => {
  it('makes out_trade_no values the providers accept, unique per call (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (now) => {
        const a = newOutTradeNo(now);
        expect(a).toMatch(OUT_TRADE_NO);
        expect(newOutTradeNo(now)).not.toBe(a);
      }),
    );
  });

  it('gives a session the same order number every time it asks, and another session another (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 64 }),
        fc.string({ minLength: 1, maxLength: 64 }),
        (gw, session) => {
          const no = sessionOutTradeNo(gw, session);
          expect(no).toMatch(OUT_TRADE_NO);
          expect(sessionOutTradeNo(gw, session)).toBe(no);
          expect(sessionOutTradeNo(gw, `${session}x`)).not.toBe(no);
        },
      ),
    );
  });

  it('derives a refund number and a command id the providers and the contract accept, and reads the order back (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{6,32}$/), (no) => {
        expect(refundNoFor(no)).toMatch(/^[A-Za-z0-9_*@|-]{1,64}$/);
        expect(refundNoFor(no)).toBe(refundNoFor(no));
        const id = paidCommandId(no);
        expect(id.length).toBeGreaterThanOrEqual(8);
        expect(id.length).toBeLessThanOrEqual(64);
        expect(orderOfPaidCommand(id)).toBe(no);
      }),
    );
    expect(orderOfPaidCommand('3f2c9a1e-0000-4000-8000-000000000000')).toBeUndefined();
    expect(orderOfPaidCommand(undefined)).toBeUndefined();
    expect(orderOfPaidCommand('paid-no!')).toBeUndefined();
  });
});
