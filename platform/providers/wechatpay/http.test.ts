import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import { type FetchLike, WechatPayHttp } from './http.ts';
import { parseAuthorization, requestMessage, verifySha256Rsa } from './signing.ts';
import { signedHeaders, testConfig, testKeys } from './test-fixtures.ts';

const NOW = 1_700_000_000_000;
const cfg = testConfig({ baseUrl: 'https://api.example.test', maxResponseBytes: 2048 });

function answer(status: number, body: string, headers: Record<string, string> = {}): FetchLike {
  return async () => new Response(status === 204 ? null : body, { status, headers });
}

function signed(status: number, body: string, timestampSec = NOW / 1000): FetchLike {
  return answer(status, body, signedHeaders(body, { timestampSec }));
}

describe('the signed WeChat Pay HTTP exchange', () => {
  it('signs the request over method, path with query, timestamp, nonce and the exact JSON body', async () => {
    let seen: { url: string; init: RequestInit } | undefined;
    const http = new WechatPayHttp(
      cfg,
      async (url, init) => {
        seen = { url, init };
        return new Response('{}', {
          status: 200,
          headers: signedHeaders('{}', { timestampSec: NOW / 1000 }),
        });
      },
      () => NOW,
    );
    await http.request('POST', '/v3/pay/transactions/out-trade-no/abc123/close?x=1', {
      json: { mchid: '1230000109' },
    });
    expect(seen?.url).toBe('https://api.example.test/v3/pay/transactions/out-trade-no/abc123/close?x=1');
    const headers = seen?.init.headers as Record<string, string>;
    const auth = parseAuthorization(headers.Authorization!)!;
    expect(auth.mchid).toBe('1230000109');
    expect(auth.serial_no).toBe('1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C');
    expect(auth.timestamp).toBe(String(NOW / 1000));
    const msg = requestMessage(
      'POST',
      '/v3/pay/transactions/out-trade-no/abc123/close?x=1',
      auth.timestamp,
      auth.nonce_str,
      '{"mchid":"1230000109"}',
    );
    expect(verifySha256Rsa(msg, auth.signature, testKeys().merchantPublic)).toBe(true);
    expect(seen?.init.body).toBe('{"mchid":"1230000109"}');
  });

  it('returns a verified answer, and refuses an unsigned, stale or tampered one', async () => {
    const ok = await new WechatPayHttp(cfg, signed(200, '{"a":1}'), () => NOW).request('GET', '/v3/x');
    expect(ok.body.toString()).toBe('{"a":1}');
    await expectVendgateError(
      new WechatPayHttp(cfg, answer(200, '{}'), () => NOW).request('GET', '/v3/x'),
      ErrorCode.WechatSignatureInvalid,
    );
    await expectVendgateError(
      new WechatPayHttp(cfg, signed(200, '{}', NOW / 1000 - 600), () => NOW).request('GET', '/v3/x'),
      ErrorCode.WechatTimestampStale,
    );
    const tampered: FetchLike = async () =>
      new Response('{"a":2}', {
        status: 200,
        headers: signedHeaders('{"a":1}', { timestampSec: NOW / 1000 }),
      });
    await expectVendgateError(
      new WechatPayHttp(cfg, tampered, () => NOW).request('GET', '/v3/x'),
      ErrorCode.WechatSignatureInvalid,
    );
  });

  it('bounds the answer size', async () => {
    const big = 'x'.repeat(4096);
    await expectVendgateError(
      new WechatPayHttp(cfg, signed(200, big), () => NOW).request('GET', '/v3/x'),
      ErrorCode.ProviderResponseTooLarge,
    );
  });

  it('makes a 5xx, a 429 and an unreachable host retryable', async () => {
    for (const status of [500, 502, 429]) {
      const e = await expectVendgateError(
        new WechatPayHttp(
          cfg,
          answer(status, '{"code":"SYSTEM_ERROR","message":"系统错误"}'),
          () => NOW,
        ).request('GET', '/v3/x'),
        ErrorCode.ProviderUnavailable,
      );
      expect(e.context.retryable).toBe(true);
    }
    const down: FetchLike = async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    };
    const e = await expectVendgateError(
      new WechatPayHttp(cfg, down, () => NOW).request('GET', '/v3/x'),
      ErrorCode.ProviderUnavailable,
    );
    expect(e.message).toContain('ECONNREFUSED');
  });

  it('never sends the merchant signature to another origin', async () => {
    await expectVendgateError(
      new WechatPayHttp(cfg, signed(200, '{}'), () => NOW).request(
        'GET',
        'https://elsewhere.test/v3/billdownload/file?token=x',
      ),
      ErrorCode.ProviderResponseInvalid,
    );
  });

  it('hands a verified 4xx business answer back for the caller to interpret', async () => {
    const r = await new WechatPayHttp(
      cfg,
      signed(400, '{"code":"ORDERPAID","message":"订单已支付"}'),
      () => NOW,
    ).request('POST', '/v3/x');
    expect(r.status).toBe(400);
  });
});
