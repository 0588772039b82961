/**
 * The kiosk page in a real browser: headless Chromium (Debian's, driven by
 * playwright-core) against a fastify app with the kiosk plugin and a
 * DisplayHub. Screenshots are decoded as QR codes with jsQR, so the test
 * checks what a phone camera would read, not what the DOM says.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kioskPlugin } from '../api/kiosk/plugin.ts';
import { formatMoney } from '../core/money.ts';
import { DisplayHub } from '../devices/display/hub.ts';
import { MESSAGES } from '../devices/display/messages.ts';
import { type DisplayScreen, LOCALES, type Locale } from '../devices/display/port.ts';
import { decodeQrPng } from '../devices/display/test-support.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SKIP_NOTE = hasChromium
  ? ''
  : ` (SKIPPED: ${CHROMIUM} is missing; install Debian's chromium package to run these tests)`;
if (!hasChromium) console.warn(`test/kiosk.test.ts${SKIP_NOTE}`);

const SCREENSHOTS = 'docs/screenshots';
const LANDSCAPE = { width: 800, height: 480 };
const PORTRAIT = { width: 1080, height: 1920 };

const PAYMENT_URL = 'https://pay.example.com/o/ORD-20261101-000042?sig=Zx8sQ2mP4vLkT9yB&exp=1790000000';
const STATIC_URL = 'https://vend.example.com/m/lobby-1';

function awaiting(
  overrides: Partial<Extract<DisplayScreen, { kind: 'awaiting-payment' }>> = {},
): DisplayScreen {
  return {
    kind: 'awaiting-payment',
    orderId: 'ORD-20261101-000042',
    paymentUrl: PAYMENT_URL,
    price: { amount: 350, currency: 'CNY' },
    deadline: Date.now() + 90_000,
    providers: ['wechat', 'alipay'],
    item: { name: 'Oolong Tea 500 ml', slot: 3 },
    ...overrides,
  };
}

const ITEM = { name: 'Oolong Tea 500 ml', slot: 3 };
/** As long as a name may be (80 characters). */
const LONG_ITEM = {
  name: 'Sparkling Mineral Water, Natural Lemon and Lime Flavour, Extra Large Bottle 1.5 l'.slice(0, 80),
  slot: 12,
};

/** Every kind of screen, with the longest texts a display may get. */
function allScreens(): DisplayScreen[] {
  return [
    { kind: 'idle', machineName: 'Lobby drinks, building B, ground floor', staticQrUrl: STATIC_URL },
    awaiting({ item: LONG_ITEM, providers: ['wechat', 'alipay', 'unionpay', 'card'] }),
    { kind: 'dispensing', item: LONG_ITEM },
    { kind: 'done', item: LONG_ITEM },
    {
      kind: 'failed',
      refund: { amount: 1250, currency: 'EUR' },
      reason: 'drop-sensor-miss',
      item: LONG_ITEM,
    },
    { kind: 'failed', refund: { amount: 0, currency: 'CNY' }, reason: 'timeout', item: LONG_ITEM },
    { kind: 'failed', refund: { amount: 0, currency: 'CNY' }, reason: 'empty-slot', item: LONG_ITEM },
    { kind: 'out-of-service', reason: 'maintenance' },
    {
      kind: 'out-of-service',
      reason: 'Der Münzprüfer ist voll. Bitte rufen Sie den Service an: 0800 555 0100. '
        .repeat(3)
        .slice(0, 120),
    },
  ];
}

describe.skipIf(!hasChromium)(`the kiosk page in headless Chromium${SKIP_NOTE}`, () => {
  let app: FastifyInstance;
  let hub: DisplayHub;
  let base: string;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  beforeAll(async () => {
    hub = new DisplayHub({ defaultLocale: 'en' });
    app = Fastify();
    await app.register(kioskPlugin, { hub });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    // playwright-core adds --headless and a fresh, empty user data dir of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    mkdirSync(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await app?.close();
  });

  /**
   * A page showing one display. `frozen` pins the page's Date.now() so the countdown
   * stays at its first value (deadline minus render time) and screenshots are the same every run.
   */
  async function open(
    displayId: string,
    viewport: { width: number; height: number },
    opts: { frozen?: boolean } = {},
  ): Promise<Page> {
    const ctx = await browser.newContext({ viewport, deviceScaleFactor: 1 });
    contexts.push(ctx);
    if (opts.frozen) await ctx.clock.setFixedTime(new Date('2026-11-01T09:00:00Z'));
    const page = await ctx.newPage();
    page.on('pageerror', (err) => {
      throw err;
    });
    // As a configured display: the hub answers an unknown id 404.
    await hub.setLocale(displayId, hub.localeOf(displayId));
    await page.goto(`${base}/display/${displayId}`);
    return page;
  }

  /** Shows a screen and waits until the page has rendered exactly that render (QR image decoded). */
  async function show(page: Page, displayId: string, screen: DisplayScreen): Promise<void> {
    await hub.show(displayId, screen);
    const seq = hub.current(displayId)!.seq;
    await page.waitForSelector(`body[data-seq="${seq}"][data-ready="true"]`, { state: 'attached' });
  }

  async function decodeScreenshot(page: Page, path?: string): Promise<string | undefined> {
    const png = await page.screenshot(path ? { path } : {});
    return decodeQrPng(png);
  }

  const text = (page: Page, id: string) => page.locator(`#${id}`).textContent();

  /** Scroll sizes of the document and the rectangles of the visible key elements. */
  async function layout(page: Page) {
    return page.evaluate(() => {
      const se = document.scrollingElement!;
      const ids = [
        'info',
        'visual',
        'qr',
        'icon',
        'title',
        'subtitle',
        'amount',
        'reason',
        'note',
        'countdown',
        'providers',
      ];
      const rects = ids
        .map((id) => document.getElementById(id)!)
        .filter((e) => !e.hidden && e.getClientRects().length > 0)
        .map((e) => {
          const r = e.getBoundingClientRect();
          return { id: e.id, left: r.left, top: r.top, right: r.right, bottom: r.bottom };
        });
      return {
        scrollWidth: se.scrollWidth,
        clientWidth: se.clientWidth,
        scrollHeight: se.scrollHeight,
        clientHeight: se.clientHeight,
        width: innerWidth,
        height: innerHeight,
        rects,
        // Text wider than its box (a long word), or more lines than the info column holds.
        overflowing: [
          ...[...document.querySelectorAll('#info > *')].filter((e) => e.scrollWidth > e.clientWidth + 1),
          ...[document.getElementById('info')!].filter((e) => e.scrollHeight > e.clientHeight + 1),
        ].map((e) => e.id),
      };
    });
  }

  async function expectFits(page: Page, what: string): Promise<void> {
    const l = await layout(page);
    expect(l.scrollWidth, `${what}: horizontal overflow`).toBeLessThanOrEqual(l.clientWidth);
    expect(l.scrollHeight, `${what}: vertical overflow`).toBeLessThanOrEqual(l.clientHeight);
    expect(l.overflowing, `${what}: text wider than its box`).toEqual([]);
    expect(l.rects.map((r) => r.id)).toContain('title');
    for (const r of l.rects) {
      expect(r.left, `${what}: #${r.id} left`).toBeGreaterThanOrEqual(0);
      expect(r.top, `${what}: #${r.id} top`).toBeGreaterThanOrEqual(0);
      expect(r.right, `${what}: #${r.id} right`).toBeLessThanOrEqual(l.width);
      expect(r.bottom, `${what}: #${r.id} bottom`).toBeLessThanOrEqual(l.height);
    }
  }

  it('shows the payment URL as a QR code that a screenshot decodes back to, with price, countdown and providers', async () => {
    const page = await open('m1', LANDSCAPE);
    await show(page, 'm1', awaiting());

    expect(await decodeScreenshot(page)).toBe(PAYMENT_URL);
    expect(await text(page, 'amount')).toBe(formatMoney({ amount: 350, currency: 'CNY' }, 'en'));
    expect(await text(page, 'title')).toBe(MESSAGES.en.payTitle);
    expect(await page.locator('.provider').allTextContents()).toEqual(['WeChat Pay', 'Alipay']);
    const modulePx = Number(await page.evaluate(() => document.body.dataset.qrModulePx));
    expect(modulePx, 'pixels per QR module on the 800x480 panel').toBeGreaterThanOrEqual(4);

    const first = await text(page, 'countdown-value');
    expect(first).toMatch(/^1:(30|29|28)$/);
    await page.waitForFunction((t) => document.getElementById('countdown-value')!.textContent !== t, first);
    expect(await text(page, 'countdown-value')).toMatch(/^1:[0-2]\d$/);
    await expectFits(page, 'awaiting-payment 800x480 en');
  });

  it('follows the order through dispensing and done, then shows a refund notice with the formatted amount when it fails', async () => {
    const page = await open('m2', LANDSCAPE, { frozen: true });
    await show(page, 'm2', awaiting());
    await show(page, 'm2', { kind: 'dispensing', item: ITEM });
    expect(await text(page, 'title')).toBe(MESSAGES.en.dispensingTitle);
    expect(await text(page, 'subtitle')).toBe(ITEM.name);
    expect(await text(page, 'note')).toBe(MESSAGES.en.dispensingNote);
    expect(await page.locator('#qr').isHidden()).toBe(true);
    expect(await page.locator('#countdown').isHidden()).toBe(true);

    await show(page, 'm2', { kind: 'done', item: ITEM });
    expect(await text(page, 'title')).toBe(MESSAGES.en.doneTitle);
    expect(await text(page, 'note')).toBe(MESSAGES.en.doneNote);

    await hub.setLocale('m2', 'zh-CN');
    await show(page, 'm2', { kind: 'failed', refund: { amount: 350, currency: 'CNY' }, reason: 'jammed' });
    const refund = formatMoney({ amount: 350, currency: 'CNY' }, 'zh-CN');
    expect(refund).toBe('¥3.50');
    expect(await text(page, 'title')).toBe(MESSAGES['zh-CN'].failedTitle);
    expect(await text(page, 'note')).toBe(MESSAGES['zh-CN'].refund(refund));
    expect(await text(page, 'reason')).toBe(MESSAGES['zh-CN'].reasons.jammed);
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('zh-CN');
    await page.screenshot({ path: join(SCREENSHOTS, 'kiosk-failed-800x480-zh-CN.png') });
  });

  it('shows the machine static remote-vend QR when idle and says out of service when it is', async () => {
    const page = await open('m3', PORTRAIT);
    await show(page, 'm3', { kind: 'idle', machineName: 'Lobby drinks', staticQrUrl: STATIC_URL });
    expect(await decodeScreenshot(page)).toBe(STATIC_URL);
    expect(await text(page, 'subtitle')).toBe('Lobby drinks');
    await show(page, 'm3', { kind: 'out-of-service', reason: 'Coin box full, call 555-0100' });
    expect(await text(page, 'title')).toBe(MESSAGES.en.outOfServiceTitle);
    expect(await text(page, 'reason')).toBe('Coin box full, call 555-0100');
  });

  it('renders the payment QR readable on the 1080x1920 portrait panel and in Chinese', async () => {
    const landscape = await open('m4l', LANDSCAPE, { frozen: true });
    await show(landscape, 'm4l', awaiting());
    expect(
      await decodeScreenshot(landscape, join(SCREENSHOTS, 'kiosk-awaiting-payment-800x480-en.png')),
    ).toBe(PAYMENT_URL);
    expect(await text(landscape, 'countdown-value')).toBe('1:30');

    const portrait = await open('m4', PORTRAIT, { frozen: true });
    await show(portrait, 'm4', awaiting());
    expect(
      await decodeScreenshot(portrait, join(SCREENSHOTS, 'kiosk-awaiting-payment-1080x1920-en.png')),
    ).toBe(PAYMENT_URL);
    await expectFits(portrait, 'awaiting-payment 1080x1920 en');

    await hub.setLocale('m5', 'zh-CN');
    const zh = await open('m5', LANDSCAPE, { frozen: true });
    await show(zh, 'm5', awaiting());
    expect(await decodeScreenshot(zh, join(SCREENSHOTS, 'kiosk-awaiting-payment-800x480-zh-CN.png'))).toBe(
      PAYMENT_URL,
    );
    expect(await text(zh, 'title')).toBe(MESSAGES['zh-CN'].payTitle);
    expect(await zh.locator('.provider').allTextContents()).toEqual(['微信支付', '支付宝']);
    const fonts = await zh.evaluate(async () => {
      await document.fonts.ready;
      return document.fonts.check('16px "Noto Sans CJK SC"', '扫码支付');
    });
    expect(fonts, 'Noto Sans CJK SC is available to the page').toBe(true);
  });

  it('puts text from order data in as text, never as markup', async () => {
    const page = await open('m6', LANDSCAPE);
    const name = '<img src=x onerror="document.body.dataset.pwned=1">Tea';
    await show(page, 'm6', { kind: 'done', item: { name } });
    expect(await text(page, 'subtitle')).toBe(name);
    expect(await page.locator('#info img').count()).toBe(0);
    expect(await page.evaluate(() => document.body.dataset.pwned)).toBeUndefined();
  });

  it('shows a readable page, not a kiosk connecting forever, for a display id the gateway does not know', async () => {
    const ctx = await browser.newContext({ viewport: LANDSCAPE, deviceScaleFactor: 1 });
    contexts.push(ctx);
    const page = await ctx.newPage();
    const res = await page.goto(`${base}/display/not-configured`);
    expect(res?.status()).toBe(404);
    expect(await page.locator('#title').textContent()).toBe(MESSAGES.en.unknownDisplayTitle);
    expect(await page.locator('#subtitle').textContent()).toBe('not-configured');
    // The page's style is allowed by the same hashed policy as the kiosk's.
    expect(await page.evaluate(() => getComputedStyle(document.body).overflow)).toBe('hidden');
  });

  for (const [label, viewport] of [
    ['800x480 landscape', LANDSCAPE],
    ['1080x1920 portrait', PORTRAIT],
  ] as const) {
    it(`fits every screen in all four languages on the ${label} panel without overflow`, async () => {
      const id = `fit-${viewport.width}`;
      const page = await open(id, viewport);
      for (const locale of LOCALES as readonly Locale[]) {
        await hub.setLocale(id, locale);
        for (const screen of allScreens()) {
          await show(page, id, screen);
          await expectFits(page, `${screen.kind} ${label} ${locale}`);
        }
      }
    });
  }
});
