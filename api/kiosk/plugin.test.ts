import { createHash } from 'node:crypto';
import { get, type IncomingMessage } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { DisplayHub } from '../../devices/display/hub.ts';
import type { DisplayScreen } from '../../devices/display/port.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { waitUntil } from '../../testing/wait.ts';
import { kioskPlugin } from './plugin.ts';
import type { KioskView } from './view.ts';

const cleanups = cleanupsAfterEach();

const awaiting: DisplayScreen = {
  kind: 'awaiting-payment',
  orderId: 'ORD-000042',
  paymentUrl: 'https://pay.example.com/o/ORD-000042',
  price: { amount: 350, currency: 'CNY' },
  deadline: 1_790_000_000_000,
  providers: ['wechat'],
  item: { name: 'Tea' },
};

async function app(hub = new DisplayHub()): Promise<{ app: FastifyInstance; hub: DisplayHub }> {
  const a = Fastify();
  await a.register(kioskPlugin, { hub });
  cleanups.push(() => a.close());
  return { app: a, hub };
}

/** Opens the event stream and yields parsed `render` events. */
function events(url: string): Promise<{ res: IncomingMessage; next: () => Promise<KioskView> }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      res.setEncoding('utf8');
      let buf = '';
      const queue: KioskView[] = [];
      const waiters: Array<(v: KioskView) => void> = [];
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (!block.includes('event: render') || !data) continue;
          const view = JSON.parse(data) as KioskView;
          const w = waiters.shift();
          if (w) w(view);
          else queue.push(view);
        }
      });
      resolve({
        res,
        next: () => {
          const v = queue.shift();
          return v ? Promise.resolve(v) : new Promise((r) => waiters.push(r));
        },
      });
    }).on('error', reject);
  });
}

describe('the kiosk plugin', () => {
  it('serves the page with a content security policy that allows exactly its own inline script', async () => {
    const { app: a } = await app(new DisplayHub({ locales: { m1: 'ja' } }));
    const res = await a.inject('/display/m1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<html lang="ja">');
    const script = /<script>([\s\S]*)<\/script>/.exec(res.body)![1]!;
    const hash = createHash('sha256').update(script).digest('base64');
    expect(res.headers['content-security-policy']).toContain(`script-src 'sha256-${hash}'`);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
    expect(script).not.toContain('innerHTML');
  });

  it('refuses a display id that is not one', async () => {
    const { app: a } = await app();
    expect((await a.inject('/display/m1%2F..')).statusCode).toBe(400);
  });

  it('streams the current screen first, then every new one, with texts, QR and countdown deadline', async () => {
    const { app: a, hub } = await app(new DisplayHub({ defaultLocale: 'en' }));
    await hub.show('m1', awaiting);
    const base = await a.listen({ host: '127.0.0.1', port: 0 });
    const stream = await events(`${base}/display/m1/events`);
    expect(stream.res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const first = await stream.next();
    expect(first).toMatchObject({ kind: 'awaiting-payment', deadline: awaiting.deadline, locale: 'en' });
    expect(first.texts.amount).toBe('CN¥3.50');
    expect(first.qr?.src).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(first.qr?.modules).toBeGreaterThan(21);
    await hub.show('m1', { kind: 'done', item: { name: 'Tea' } });
    const second = await stream.next();
    expect(second.kind).toBe('done');
    expect(second.qr).toBeUndefined();
    expect(second.seq).toBeGreaterThan(first.seq);
  });

  it('unsubscribes a page whose connection closed', async () => {
    const { app: a, hub } = await app(new DisplayHub({ locales: { m1: 'en' } }));
    const base = await a.listen({ host: '127.0.0.1', port: 0 });
    const s1 = await events(`${base}/display/m1/events`);
    const s2 = await events(`${base}/display/m1/events`);
    await waitUntil(() => hub.subscriberCount('m1') === 2, { what: 'two subscribers on m1' });
    s1.res.destroy();
    await waitUntil(() => hub.subscriberCount('m1') === 1, { what: 'one subscriber on m1' });
    s2.res.destroy();
    await waitUntil(() => hub.subscriberCount('m1') === 0, { what: 'no subscribers on m1' });
  });

  it('ends open event streams when the app closes instead of waiting for the browsers', async () => {
    const { app: a, hub } = await app(new DisplayHub({ locales: { m1: 'en' } }));
    const base = await a.listen({ host: '127.0.0.1', port: 0 });
    const s = await events(`${base}/display/m1/events`);
    const ended = new Promise<void>((r) => s.res.on('end', () => r()));
    await waitUntil(() => hub.subscriberCount('m1') === 1, { what: 'one subscriber on m1' });
    await a.close();
    await ended;
    expect(hub.subscriberCount('m1')).toBe(0);
  });

  it("serves the current screen's QR code as SVG, and 404 when the screen has none", async () => {
    const { app: a, hub } = await app(new DisplayHub({ locales: { m1: 'en' } }));
    expect((await a.inject('/display/m1/qr.svg')).statusCode).toBe(404);
    await hub.show('m1', awaiting);
    const res = await a.inject('/display/m1/qr.svg?v=1');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('image/svg+xml');
    expect(res.body).toMatch(/^<svg [^>]*viewBox="0 0 \d+ \d+"/);
    await hub.show('m1', { kind: 'dispensing', item: { name: 'Tea' } });
    expect((await a.inject('/display/m1/qr.svg')).statusCode).toBe(404);
  });

  it('answers an unknown display id with a readable 404 page instead of a kiosk that connects forever', async () => {
    const { app: a } = await app(new DisplayHub({ locales: { m1: 'zh-CN' } }));
    const res = await a.inject('/display/nope');
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('<html lang="zh-CN">');
    expect(res.body).toContain('未找到此屏幕');
    expect(res.body).toContain('This gateway has no display with this id; check the address.');
    expect(res.body).toContain('>nope<');
    expect(res.body).not.toContain('<script>');
    expect((await a.inject('/display/m1')).statusCode).toBe(200);
  });

  it('answers the event stream and QR code of an unknown display with a 404 error from the catalogue', async () => {
    const { app: a } = await app(new DisplayHub({ locales: { m1: 'en' } }));
    for (const path of ['/display/nope/events', '/display/nope/qr.svg']) {
      const res = await a.inject(path);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({
        code: 9002,
        name: 'HttpNotFound',
        message: 'this gateway has no display "nope"',
      });
    }
  });

  it('knows a display that was shown something even without a configured language', async () => {
    const { app: a, hub } = await app();
    expect((await a.inject('/display/m9')).statusCode).toBe(404);
    await hub.show('m9', { kind: 'done', item: { name: 'Tea' } });
    expect((await a.inject('/display/m9')).statusCode).toBe(200);
  });
});
