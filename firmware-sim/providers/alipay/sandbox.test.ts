import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanupsAfterEach, waitUntil } from '../../../testing/index.ts';
import { RETRY_DELAYS_MS } from './notifier.ts';
import { AlipaySandbox } from './sandbox.ts';
import { beijing, formBody, sign, signContent } from './wire.ts';

const app = generateKeyPairSync('rsa', { modulusLength: 2048 });
const cleanups = cleanupsAfterEach();
let sandbox: AlipaySandbox;
let sandboxUrl: string;

// One sandbox for the file (each generates its Alipay key); 25 h of retries compressed to about 2 s.
beforeAll(async () => {
  sandbox = new AlipaySandbox({
    appId: '2021000000000001',
    sellerId: '2088000000000001',
    appPublicKey: app.publicKey,
    retryScale: 0.00002,
  });
  sandboxUrl = await sandbox.listen();
});
afterAll(() => sandbox.close());

async function start() {
  return { url: sandboxUrl };
}

async function call(
  url: string,
  method: string,
  biz: Record<string, unknown>,
  extra: Record<string, string> = {},
) {
  const p: Record<string, string> = {
    app_id: '2021000000000001',
    method,
    format: 'JSON',
    charset: 'utf-8',
    sign_type: 'RSA2',
    timestamp: beijing(Date.now()),
    version: '1.0',
    biz_content: JSON.stringify(biz),
    ...extra,
  };
  p.sign = sign(signContent(p, ['sign']), app.privateKey);
  const res = await fetch(`${url}/gateway.do`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    body: formBody(p),
  });
  return res.text();
}

describe('the Alipay sandbox', () => {
  it('keeps the documented retry schedule: 4m, 10m, 10m, 1h, 2h, 6h, 15h', () => {
    expect(RETRY_DELAYS_MS.map((ms) => ms / 60_000)).toEqual([4, 10, 10, 60, 120, 360, 900]);
  });

  it('answers a request signed with another key with isv.invalid-signature, signed', async () => {
    const { url } = await start();
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const p: Record<string, string> = {
      app_id: '2021000000000001',
      method: 'alipay.trade.query',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: beijing(Date.now()),
      version: '1.0',
      biz_content: '{"out_trade_no":"vg000001"}',
    };
    p.sign = sign(signContent(p, ['sign']), stranger.privateKey);
    const res = await fetch(`${url}/gateway.do`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: formBody(p),
    });
    const text = await res.text();
    expect(text).toMatch(
      /^\{"alipay_trade_query_response":\{"code":"40002".*"sub_code":"isv.invalid-signature".*\},"sign":"[A-Za-z0-9+/=]+"\}$/,
    );
  });

  it('escapes slashes in answers as Alipay does', async () => {
    const { url } = await start();
    const text = await call(url, 'alipay.trade.precreate', {
      out_trade_no: 'vg000001',
      total_amount: '3.50',
      subject: 'Cola',
    });
    expect(text).toContain('"qr_code":"https:\\/\\/qr.alipay.com\\/bax0');
  });

  it('posts the notification again until the merchant answers "success", and stops after eight attempts', async () => {
    const { url } = await start();
    const bodies: string[] = [];
    let answer = 'fail';
    const merchant: Server = createServer((req, res) => {
      let b = '';
      req.on('data', (c) => {
        b += c;
      });
      req.on('end', () => {
        bodies.push(b);
        res.end(answer);
      });
    });
    await new Promise<void>((r) => merchant.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => merchant.close(r)));
    const notifyUrl = `http://127.0.0.1:${(merchant.address() as AddressInfo).port}/n`;
    const created = await call(
      url,
      'alipay.trade.precreate',
      { out_trade_no: 'vg000002', total_amount: '1.00', subject: 'Cola' },
      { notify_url: notifyUrl },
    );
    const qr = (JSON.parse(created) as { alipay_trade_precreate_response: { qr_code: string } })
      .alipay_trade_precreate_response.qr_code;
    await fetch(`${url}/phone/pay`, { method: 'POST', body: JSON.stringify({ qr }) });
    await waitUntil(() => bodies.length === 8, { what: 'eight attempts', timeoutMs: 20_000 });
    const ids = bodies.map((b) => new URLSearchParams(b).get('notify_id'));
    expect(new Set(ids).size).toBe(1);
    // A second order, answered "success" at once: one attempt only.
    answer = 'success';
    const before = bodies.length;
    const c2 = await call(
      url,
      'alipay.trade.precreate',
      { out_trade_no: 'vg000003', total_amount: '1.00', subject: 'Cola' },
      { notify_url: notifyUrl },
    );
    const qr2 = (JSON.parse(c2) as { alipay_trade_precreate_response: { qr_code: string } })
      .alipay_trade_precreate_response.qr_code;
    await fetch(`${url}/phone/pay`, { method: 'POST', body: JSON.stringify({ qr: qr2 }) });
    await waitUntil(() => bodies.length === before + 1, { what: 'the delivery' });
    const deliveries = (await (await fetch(`${url}/sandbox/notifications`)).json()) as {
      outTradeNo: string;
    }[];
    expect(deliveries.filter((d) => d.outTradeNo === 'vg000002')).toHaveLength(8);
  });

  it('serves the phone page', async () => {
    const { url } = await start();
    const res = await fetch(`${url}/phone?qr=x`);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toContain('Pay (notification delivered twice)');
  });
});
