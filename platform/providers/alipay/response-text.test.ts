import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanTopLevel } from './response-text.ts';

describe('locating <method>_response in the raw answer', () => {
  it("returns the value's exact characters, escapes included (the gateway writes \\/)", () => {
    const value =
      '{"code":"10000","msg":"Success","out_trade_no":"6823789339978248","qr_code":"https:\\/\\/qr.alipay.com\\/bax03431ljhokirwl38f00a7"}';
    const body = `{"alipay_trade_precreate_response":${value},"sign":"abc="}`;
    const r = scanTopLevel(body);
    expect(r.ok && r.spans.members.get('alipay_trade_precreate_response')).toBe(value);
    expect(r.ok && r.spans.members.get('sign')).toBe('"abc="');
  });

  it('finds the value in any formatting, with braces and quotes inside strings', () => {
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        fc.string({ unit: 'grapheme' }),
        fc.constantFrom('{', '}', '"', '\\', '[', ']', ',', ':'),
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
      ),
    })).value;
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), json, { maxKeys: 5 }),
        fc.constantFrom(0, 1, 2, '\t'),
        (obj, indent) => {
          const text = JSON.stringify(obj, null, indent);
          const body = `{ "x_response" :${indent ? '\n' : ''}${text} , "sign":"s"}`;
          const r = scanTopLevel(body);
          expect(r.ok).toBe(true);
          if (r.ok) expect(r.spans.members.get('x_response')).toBe(text);
        },
      ),
    );
  });

  it('refuses truncated bodies, text after the object and repeated members', () => {
    const good = '{"a_response":{"code":"10000"},"sign":"s"}';
    for (let n = 1; n < good.length; n++) expect(scanTopLevel(good.slice(0, n)).ok).toBe(false);
    expect(scanTopLevel(`${good}x`).ok).toBe(false);
    expect(
      scanTopLevel('{"a_response":{"code":"10000"},"a_response":{"code":"40004"},"sign":"s"}'),
    ).toMatchObject({
      ok: false,
    });
  });
});
