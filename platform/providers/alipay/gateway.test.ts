import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/log.ts';
import { expectVendgateError } from '../../../testing/index.ts';
import { AlipayGateway } from './gateway.ts';
import { rsa2Sign } from './sign.ts';
import { testKeyPair } from './testkeys.test-support.ts';

const app = testKeyPair();
const alipay = testKeyPair();
const stranger = testKeyPair();

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

/** A gateway whose server answers with `answer(request body)`; 'hang' never answers. */
async function gatewayWith(
  answer: (body: string) => { status?: number; body: string } | 'hang',
  timeoutMs = 1000,
) {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const a = answer(body);
      if (a === 'hang') return;
      res.writeHead(a.status ?? 200, { 'content-type': 'text/html;charset=utf-8' }).end(a.body);
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return new AlipayGateway({
    gatewayUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/gateway.do`,
    appId: '2021000000000001',
    appPrivateKey: app.privateKey,
    alipayPublicKey: alipay.publicKey,
    timeoutMs,
    maxResponseBytes: 2048,
    log: silentLogger(),
  });
}

function signed(key: string, value: string, by = alipay): string {
  return `{"${key}":${value},"sign":"${rsa2Sign(value, by.privateKey)}"}`;
}

const QUERY_OK = '{"code":"10000","msg":"Success","out_trade_no":"vg000001","trade_status":"WAIT_BUYER_PAY"}';

describe('the gateway answer check', () => {
  const gw = new AlipayGateway({
    gatewayUrl: 'http://127.0.0.1:1/gateway.do',
    appId: '2021000000000001',
    appPrivateKey: app.privateKey,
    alipayPublicKey: alipay.publicKey,
    timeoutMs: 1000,
    maxResponseBytes: 2048,
    log: silentLogger(),
  });
  const check = (text: string) => gw.verifyAnswer('alipay.trade.query', Buffer.from(text));

  it('accepts an answer signed by Alipay over the exact <method>_response text', () => {
    expect(check(signed('alipay_trade_query_response', QUERY_OK))).toMatchObject({
      code: '10000',
      fields: { trade_status: 'WAIT_BUYER_PAY' },
    });
  });

  it('rejects the same JSON re-serialized with other whitespace (the signature is over the text)', async () => {
    const sign = rsa2Sign(QUERY_OK, alipay.privateKey);
    const reformatted = JSON.stringify(JSON.parse(QUERY_OK), null, 1);
    await expectVendgateError(
      () => check(`{"alipay_trade_query_response":${reformatted},"sign":"${sign}"}`),
      ErrorCode.AlipayResponseSignatureInvalid,
    );
  });

  it('rejects a forged, an unsigned and a truncated answer', async () => {
    await expectVendgateError(
      () => check(signed('alipay_trade_query_response', QUERY_OK, stranger)),
      ErrorCode.AlipayResponseSignatureInvalid,
    );
    await expectVendgateError(
      () => check(`{"alipay_trade_query_response":${QUERY_OK}}`),
      ErrorCode.AlipayResponseSignatureInvalid,
    );
    const whole = signed('alipay_trade_query_response', QUERY_OK);
    await expectVendgateError(() => check(whole.slice(0, -10)), ErrorCode.AlipayResponseInvalid);
    await expectVendgateError(
      () => check(signed('alipay_trade_close_response', QUERY_OK)),
      ErrorCode.AlipayResponseInvalid,
    );
  });
});

describe('gateway calls over HTTP', () => {
  it('posts a signed form and returns the verified answer', async () => {
    let got = '';
    const gw = await gatewayWith((body) => {
      got = body;
      return { body: signed('alipay_trade_query_response', QUERY_OK) };
    });
    const a = await gw.call('alipay.trade.query', { out_trade_no: 'vg000001' });
    expect(a.code).toBe('10000');
    const p = new URLSearchParams(got);
    expect(p.get('method')).toBe('alipay.trade.query');
    expect(p.get('sign_type')).toBe('RSA2');
    expect(p.get('biz_content')).toBe('{"out_trade_no":"vg000001"}');
  });

  it('makes 5xx and an Alipay "retry" answer retryable, and 4xx final', async () => {
    const e503 = await expectVendgateError(
      (await gatewayWith(() => ({ status: 503, body: 'busy' }))).call('alipay.trade.query', {}),
      ErrorCode.AlipayUnavailable,
    );
    expect(e503.context.retryable).toBe(true);
    const busy = await expectVendgateError(
      (
        await gatewayWith(() => ({
          body: signed(
            'alipay_trade_query_response',
            '{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR"}',
          ),
        }))
      ).call('alipay.trade.query', {}),
      ErrorCode.AlipayUnavailable,
    );
    expect(busy.context.retryable).toBe(true);
    const e404 = await expectVendgateError(
      (await gatewayWith(() => ({ status: 404, body: 'no' }))).call('alipay.trade.query', {}),
      ErrorCode.AlipayHttpRejected,
    );
    expect(e404.context.retryable).toBe(false);
  });

  it('gives up on a gateway that does not answer, with a retryable timeout', async () => {
    const err = await expectVendgateError(
      (await gatewayWith(() => 'hang', 200)).call('alipay.trade.query', {}),
      ErrorCode.AlipayTimeout,
    );
    expect(err.context.retryable).toBe(true);
  });

  it('refuses an answer larger than the bound', async () => {
    await expectVendgateError(
      (await gatewayWith(() => ({ body: 'x'.repeat(5000) }))).call('alipay.trade.query', {}),
      ErrorCode.AlipayResponseTooLarge,
    );
  });

  it('makes a refused connection retryable', async () => {
    const gw = await gatewayWith(() => ({ body: '' }));
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    const err = await expectVendgateError(gw.call('alipay.trade.query', {}), ErrorCode.AlipayUnavailable);
    expect(err.context.retryable).toBe(true);
  });
});
