import { generateKeyPairSync } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AUTH_SCHEMA,
  authorize,
  formatAuthorization,
  parseAuthorization,
  requestMessage,
  responseMessage,
  signSha256Rsa,
  verifySha256Rsa,
} from './signing.ts';

const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });

describe('WeChat Pay API v3 signatures', () => {
  it('builds the documented request signature string of GET /v3/certificates', () => {
    // 签名生成 §2 第六步: the five lines for the certificate download, an empty body line included.
    expect(
      requestMessage('GET', '/v3/certificates', '1554208460', '593BEC0C930BF1AFEB40B4A08C8FB242', ''),
    ).toBe('GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n');
  });

  it('signs a POST over the exact JSON sent and the query string', () => {
    const body = '{"mchid":"1900009191"}';
    expect(
      requestMessage('post', '/v3/pay/transactions/out-trade-no/ab123456/close?x=1', '1', 'N', body),
    ).toBe(`POST\n/v3/pay/transactions/out-trade-no/ab123456/close?x=1\n1\nN\n${body}\n`);
  });

  it('parses the documented Authorization header example', () => {
    // 签名生成 §4 "设置HTTP头": the example header (one line).
    const doc =
      'WECHATPAY2-SHA256-RSA2048 mchid="1900009191",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="uOVRnA4qG/MNnYzdQxJanN+zU+lTgIcnU9BxGw5dKjK+VdEUz2FeIoC+D5sB/LN+nGzX3hfZg6r5wT1pl2ZobmIc6p0ldN7J6yDgUzbX8Uk3sD4a4eZVPTBvqNDoUqcYMlZ9uuDdCvNv4TM3c1WzsXUrExwVkI1XO5jCNbgDJ25nkT/c1gIFvqoogl7MdSFGc4W4xZsqCItnqbypR3RuGIlR9h9vlRsy7zJR9PBI83X8alLDIfR1ukt1P7tMnmogZ0cuDY8cZsd8ZlCgLadmvej58SLsIkVxFJ8XyUgx9FmutKSYTmYtWBZ0+tNvfGmbXU7cob8H/4nLBiCwIUFluw==",timestamp="1554208460",serial_no="1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"';
    const p = parseAuthorization(doc);
    expect(p).toMatchObject({
      mchid: '1900009191',
      nonce_str: '593BEC0C930BF1AFEB40B4A08C8FB242',
      timestamp: '1554208460',
      serial_no: '1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C',
    });
    expect(p?.signature).toMatch(/^uOVRnA4qG.*Fluw==$/);
  });

  it('accepts the five Authorization items in any order and refuses anything else', () => {
    const items = ['mchid="1"', 'nonce_str="n"', 'signature="s"', 'timestamp="2"', 'serial_no="S"'];
    expect(parseAuthorization(`${AUTH_SCHEMA} ${[...items].reverse().join(',')}`)).toEqual({
      mchid: '1',
      nonce_str: 'n',
      signature: 's',
      timestamp: '2',
      serial_no: 'S',
    });
    expect(parseAuthorization(`${AUTH_SCHEMA} ${items.slice(1).join(',')}`)).toBeUndefined();
    expect(parseAuthorization(`${AUTH_SCHEMA} ${items.join(',')},mchid="2"`)).toBeUndefined();
    expect(parseAuthorization(`Bearer ${items.join(',')}`)).toBeUndefined();
    expect(parseAuthorization(`${AUTH_SCHEMA} ${items.join(',')},extra="x"`)).toBeUndefined();
  });

  it('round-trips every Authorization header it formats (property)', () => {
    const value = fc.string().filter((s) => !s.includes('"') && !s.includes(','));
    fc.assert(
      fc.property(value, value, value, value, value, (mchid, nonce_str, signature, timestamp, serial_no) => {
        const p = { mchid, nonce_str, signature, timestamp, serial_no };
        expect(parseAuthorization(formatAuthorization(p))).toEqual(p);
      }),
    );
  });

  it('never throws on an arbitrary Authorization header (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => void parseAuthorization(`${AUTH_SCHEMA} ${s}`)));
  });

  it('produces a signature the public key verifies, and no other message', () => {
    const msg = requestMessage(
      'GET',
      '/v3/certificates',
      '1554208460',
      '593BEC0C930BF1AFEB40B4A08C8FB242',
      '',
    );
    const sig = signSha256Rsa(msg, keys.privateKey);
    expect(verifySha256Rsa(msg, sig, keys.publicKey)).toBe(true);
    expect(verifySha256Rsa(`${msg} `, sig, keys.publicKey)).toBe(false);
    expect(verifySha256Rsa(msg, 'not base64!', keys.publicKey)).toBe(false);
    expect(verifySha256Rsa(msg, '', keys.publicKey)).toBe(false);
  });

  it('authorizes a request so the server can rebuild and verify it', () => {
    const header = authorize({
      method: 'POST',
      pathAndQuery: '/v3/pay/transactions/native',
      body: '{"a":1}',
      mchid: '1900009191',
      serialNo: 'ABC123',
      privateKey: keys.privateKey,
      timestamp: 1554208460_123,
      nonce: 'NONCE',
    });
    const p = parseAuthorization(header)!;
    expect(p.timestamp).toBe('1554208460');
    const msg = requestMessage('POST', '/v3/pay/transactions/native', p.timestamp, p.nonce_str, '{"a":1}');
    expect(verifySha256Rsa(msg, p.signature, keys.publicKey)).toBe(true);
  });

  it('signs responses over timestamp, nonce and the raw body bytes', () => {
    expect(responseMessage('1554209980', 'c5ac7061fccab6bf3e254dcf98995b8c', '{"a":1}').toString()).toBe(
      '1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{"a":1}\n',
    );
    const raw = Buffer.from([0xe6, 0x94, 0xaf]);
    expect(responseMessage('1', 'n', raw).subarray(4, 7)).toEqual(raw);
  });
});
