/**
 * The operator dashboard in headless Chromium (Debian's, driven by
 * playwright-core): first against a real gateway from the rig (a slot board
 * simulator on a pty, the embedded broker, the simulated platform) for the
 * sections today's gateway answers, then against a fastify server with the
 * real dashboard plugin and fixture answers in the shapes of the operator
 * endpoints (test/dashboard-fixture.ts) for the rest: texts in several
 * languages, the phone layout, the charts, the refill action, sections an
 * older gateway lacks, and the gateway going away. Screenshots go to a
 * temporary folder, so a test run leaves the checkout as it was;
 * `VENDGATE_SCREENSHOTS_DIR=docs/screenshots npx vitest run
 * test/dashboard-e2e.test.ts` refreshes the README's.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitUntil } from '../testing/wait.ts';
import { type DashboardFixture, startDashboardFixture } from './support/dashboard-fixture.ts';
import { useRig } from './support/rig.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const SKIP_NOTE = hasChromium ? '' : ` (SKIPPED: ${CHROMIUM} is missing; apt-get install chromium)`;
if (!hasChromium) console.warn(`test/dashboard-e2e.test.ts${SKIP_NOTE}`);

const SCREENSHOTS = process.env.VENDGATE_SCREENSHOTS_DIR ?? join(tmpdir(), 'vendgate-dashboard-screenshots');
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };
const NEW_SECTIONS = ['alerts', 'stock', 'salesToday', 'sales7', 'sessions', 'coupons', 'beacons'];

/** HH:MM on the Shanghai site's clock, as the page shows it. */
const shanghaiTime = (ms: number) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: 'Asia/Shanghai',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(ms);

let browser: Browser;
beforeAll(async () => {
  if (!hasChromium) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
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
});
afterAll(async () => {
  await browser?.close();
});

async function openPage(url: string, opts: BrowserContextOptions = {}): Promise<Page> {
  const ctx = await browser.newContext({ viewport: DESKTOP, deviceScaleFactor: 1, locale: 'en-US', ...opts });
  const page = await ctx.newPage();
  await page.goto(url);
  return page;
}
const sectionReady = (page: Page, name: string, state = 'ok') =>
  page.waitForSelector(`#s-${name}[data-state="${state}"]`, { state: 'attached', timeout: 15_000 });
const text = async (page: Page, name: string) => (await page.locator(`#s-${name}`).textContent()) ?? '';

describe.skipIf(!hasChromium)(`the dashboard on a real gateway${SKIP_NOTE}`, () => {
  const h = useRig({ slotBoards: 1, config: { http: { enabled: true, host: '127.0.0.1', port: 0 } } });

  it('shows the machine online, the latest order with its product name on the site clock, and the outbox', async () => {
    const order = h.order('m1', 2);
    await h.platform.placeOrder(order);
    await h.settled([order.orderId]);
    const page = await openPage(`${h.gw.httpUrl}/?lang=en`);
    try {
      await sectionReady(page, 'orders');
      await sectionReady(page, 'outbox');
      const machines = await text(page, 'machines');
      expect(machines).toContain('m1');
      expect(machines).toContain('online');
      expect(await page.locator('#link').textContent()).toBe('Platform connected');

      await page.waitForFunction(
        (id) => document.querySelector('#s-orders')?.textContent?.includes(id),
        order.orderId,
        { timeout: 10_000 },
      );
      const row = page.locator('#s-orders tr', { hasText: order.orderId });
      const cells = await row.locator('td').allTextContents();
      const stored = h.gw.ledger.get(order.orderId)!;
      expect(cells).toEqual([
        shanghaiTime(stored.updatedAt),
        order.orderId,
        'm1',
        'Oolong Tea 500 ml',
        'CN¥3.50',
        'dispensed',
      ]);

      const outbox = await text(page, 'outbox');
      expect(outbox).toContain('Waiting for the platform0');
      expect(outbox).toContain(`Last sequence number${h.gw.outbox.stats().lastSeq}`);
      // The coupon and beacon views are this gateway's own.
      await sectionReady(page, 'coupons');
      await sectionReady(page, 'beacons');
      expect(await text(page, 'beacons')).toContain('Scanner: off');
    } finally {
      await page.context().close();
    }
  });
});

describe.skipIf(!hasChromium)(`the dashboard with every operator endpoint${SKIP_NOTE}`, () => {
  let fx: DashboardFixture;
  beforeAll(async () => {
    fx = await startDashboardFixture();
  });
  afterAll(async () => {
    await fx?.close();
  });

  const ready = async (page: Page) => {
    for (const s of ['machines', 'orders', 'stock', 'sales7', 'coupons', 'beacons'])
      await sectionReady(page, s);
  };

  it('shows machines, alerts, stock, sales, refunds, sessions, coupons and beacons in English', async () => {
    const page = await openPage(`${fx.url}/?lang=en`);
    try {
      await ready(page);
      expect(await page.locator('#s-machines h2').textContent()).toBe('Machines');
      const machines = await text(page, 'machines');
      expect(machines).toContain('door open');
      expect(machines).toContain('4.5°C');
      expect(await text(page, 'alerts')).toContain('criticalOffline');
      expect(await text(page, 'alerts')).toContain('Slot 2');
      const stock = await text(page, 'stock');
      expect(stock).toContain('Oolong Tea 500 ml');
      expect(stock).toContain('2/20');
      expect(stock).toContain('CN¥4.50');
      const today = await text(page, 'salesToday');
      expect(today).toContain('Refunds: 1 (CN¥4.00)');
      expect(await text(page, 'refunds')).toContain('no answer from the slot board');
      expect(await text(page, 'refunds')).toContain('unresolved');
      expect(await text(page, 'sessions')).toContain('乌龙茶 500 ml');
      const coupons = await text(page, 'coupons');
      expect(coupons).toContain('Spring shake');
      expect(coupons).toContain('out of budget');
      expect(coupons).toContain('97 · CN¥97.00');
      expect(await text(page, 'beacons')).toContain('clone suspected');
      expect(await text(page, 'outbox')).toContain('Waiting for the platform3');
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-en.png'), fullPage: true });
    } finally {
      await page.context().close();
    }
  });

  it('speaks Chinese with ?lang=zh-CN and switches to German from the language menu', async () => {
    const page = await openPage(`${fx.url}/?lang=zh-CN`);
    try {
      await ready(page);
      expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
      expect(await page.locator('#s-stock h2').textContent()).toBe('库存');
      expect(await text(page, 'stock')).toContain('¥3.50');
      expect(await text(page, 'alerts')).toContain('门未关');
      expect(await text(page, 'orders')).toContain('已出货');
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-zh-CN.png'), fullPage: true });

      await page.selectOption('#lang', 'de');
      expect(await page.locator('#s-machines h2').textContent()).toBe('Automaten');
      expect(await text(page, 'stock')).toContain('3,50');
      expect(new URL(page.url()).searchParams.get('lang')).toBe('de');
    } finally {
      await page.context().close();
    }
  });

  it("follows the browser's language without ?lang=, and the site's locale when the browser's is not one of the four", async () => {
    const ja = await openPage(`${fx.url}/`, { locale: 'ja-JP' });
    const fr = await openPage(`${fx.url}/`, { locale: 'fr-FR' });
    try {
      await sectionReady(ja, 'machines');
      expect(await ja.locator('#s-machines h2').textContent()).toBe('自販機');
      await sectionReady(fr, 'machines');
      expect(await fr.locator('#s-machines h2').textContent()).toBe('售货机');
    } finally {
      await ja.context().close();
      await fr.context().close();
    }
  });

  it('fits a 375 px phone: one column, nothing wider than the screen, no horizontal scroll', async () => {
    const page = await openPage(`${fx.url}/?lang=en`, {
      viewport: PHONE,
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      await ready(page);
      const layout = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        widest: Math.max(
          ...[...document.querySelectorAll('section')].map((s) => s.getBoundingClientRect().right),
        ),
        columns: new Set([...document.querySelectorAll('section')].map((s) => s.getBoundingClientRect().left))
          .size,
      }));
      expect(layout.innerWidth).toBe(375);
      expect(layout.scrollWidth).toBeLessThanOrEqual(375);
      expect(layout.widest).toBeLessThanOrEqual(375);
      expect(layout.columns).toBe(1);
      // The first screen, as a phone shows it (twice the pixels, as a phone's screen has).
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-phone.png') });
    } finally {
      await page.context().close();
    }
  });

  it('draws the sales charts of today and of the last 7 days', async () => {
    const page = await openPage(`${fx.url}/?lang=en`);
    try {
      await ready(page);
      await page.waitForSelector('#chart-today[data-drawn="true"]', { state: 'attached' });
      await page.waitForSelector('#chart-week[data-drawn="true"]', { state: 'attached' });
      const painted = await page.evaluate(() =>
        ['chart-today', 'chart-week'].map((id) => {
          const c = document.getElementById(id) as HTMLCanvasElement;
          const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i]! > 0) n++;
          return { id, width: c.width, height: c.height, painted: n };
        }),
      );
      for (const c of painted) {
        expect(c.width, c.id).toBeGreaterThan(200);
        expect(c.painted, c.id).toBeGreaterThan(2000);
      }
      // The week's labels are the site's days, oldest first, today last.
      const labels = await page.evaluate(() => {
        // chart.js keeps its charts by canvas; the global is its UMD build served by the gateway.
        const chart = (
          window as unknown as { Chart: { getChart(id: string): { data: { labels: string[] } } } }
        ).Chart;
        return chart.getChart('chart-week').data.labels;
      });
      expect(labels).toHaveLength(7);
      const today = new Intl.DateTimeFormat('en-GB', {
        timeZone: 'Asia/Shanghai',
        weekday: 'short',
        month: 'numeric',
        day: 'numeric',
      }).format(Date.now());
      expect(labels[6]!.replace(',', '')).toBe(today.replace(',', ''));
    } finally {
      await page.context().close();
    }
  });

  it('asks before a refill and posts it for one slot or the whole machine; a declined confirm posts nothing', async () => {
    const page = await openPage(`${fx.url}/?lang=en`);
    const questions: string[] = [];
    let answer = true;
    page.on('dialog', (d) => {
      questions.push(d.message());
      void (answer ? d.accept() : d.dismiss());
    });
    try {
      await ready(page);
      const before = fx.refills.length;
      answer = false;
      await page.click('#s-stock button.refill[data-machine="m1"][data-slot="2"]');
      await waitUntil(() => questions.length === 1, { what: 'the confirm', timeoutMs: 5_000 });
      answer = true;
      await page.click('#s-stock button.refill[data-machine="m1"][data-slot="2"]');
      await waitUntil(() => fx.refills.length === before + 1, { what: 'a refill posted', timeoutMs: 5_000 });
      await page.click('#s-stock button.refill[data-machine="c1"]:not([data-slot])');
      await waitUntil(() => fx.refills.length === before + 2, { what: 'a machine refill', timeoutMs: 5_000 });
      expect(fx.refills.slice(before)).toEqual([
        { machineId: 'm1', body: { slot: 2 } },
        { machineId: 'c1', body: {} },
      ]);
      expect(questions).toEqual([
        'Mark slot 2 of m1 as refilled to capacity?',
        'Mark slot 2 of m1 as refilled to capacity?',
        'Mark every slot of c1 as refilled to capacity?',
      ]);
      await page.waitForFunction(
        () => document.querySelector('#s-stock .notice')?.textContent === 'Refilled c1',
      );
    } finally {
      await page.context().close();
    }
  });
});

describe.skipIf(!hasChromium)(`the dashboard on a gateway without the new endpoints${SKIP_NOTE}`, () => {
  let fx: DashboardFixture;
  beforeAll(async () => {
    fx = await startDashboardFixture({
      omit: ['machines', 'conditions', 'stock', 'sales', 'sessions', 'coupons', 'beacons'],
    });
  });
  afterAll(async () => {
    await fx?.close();
  });

  it('says "not available" in each section whose endpoint answers 404 and still shows machines and orders', async () => {
    const page = await openPage(`${fx.url}/?lang=en`);
    try {
      for (const s of NEW_SECTIONS) {
        await sectionReady(page, s, 'na');
        expect(await text(page, s), s).toContain('Not available on this gateway');
      }
      await sectionReady(page, 'machines');
      expect(await text(page, 'machines')).toContain('m1online');
      await sectionReady(page, 'orders');
      expect(await text(page, 'orders')).toContain('Orange Juice');
      expect(await text(page, 'refunds')).toContain('refund requested');
    } finally {
      await page.context().close();
    }
  });
});

describe.skipIf(!hasChromium)(`the dashboard when the gateway goes away${SKIP_NOTE}`, () => {
  it('shows a red banner with the time it was lost, greys every section with its time, and shows nothing green', async () => {
    const fx = await startDashboardFixture();
    const page = await openPage(`${fx.url}/?lang=en`);
    try {
      for (const s of ['machines', 'orders', 'stock', 'coupons', 'beacons']) await sectionReady(page, s);
      expect(await page.locator('#banner').isHidden()).toBe(true);
      const green = () =>
        page.evaluate(() => {
          const isGreen = (c: string) => {
            const m = c.match(/rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)/);
            if (!m || m[4] === '0') return false;
            const [r, g, b] = [Number(m[1]), Number(m[2]), Number(m[3])];
            return g > r + 30 && g > b + 30;
          };
          return [...document.querySelectorAll('body *')]
            .filter((e) => {
              const s = getComputedStyle(e);
              return isGreen(s.color) || isGreen(s.backgroundColor);
            })
            .map((e) => e.textContent?.slice(0, 30));
        });
      expect((await green()).length).toBeGreaterThan(0);

      const lostAfter = Date.now();
      await fx.close();
      await page.waitForSelector('#banner:not([hidden])', { timeout: 15_000 });
      const banner = (await page.locator('#banner').textContent()) ?? '';
      const m = banner.match(/^Gateway unreachable since (\d\d:\d\d)$/);
      expect(m, banner).not.toBeNull();
      expect([shanghaiTime(lostAfter), shanghaiTime(Date.now())]).toContain(m![1]);
      expect(await page.locator('#banner').evaluate((e) => getComputedStyle(e).backgroundColor)).toBe(
        'rgb(179, 38, 30)',
      );

      const sections = await page.evaluate(() =>
        [...document.querySelectorAll('section')].map((s) => ({
          id: s.id,
          stale: s.classList.contains('stale'),
          filter: getComputedStyle(s.querySelector('.body')!).filter,
          asOf: s.querySelector('.asof')?.textContent ?? '',
        })),
      );
      for (const s of sections) {
        expect(s.stale, s.id).toBe(true);
        expect(s.filter, s.id).toBe('grayscale(1)');
        expect(s.asOf, s.id).toMatch(/^as of \d\d:\d\d$/);
      }
      expect(await green()).toEqual([]);
      expect(await page.locator('#link').textContent()).toBe('Platform link unknown');
      expect(await page.locator('#s-machines').textContent()).toContain('m1online');
      expect(await page.locator('button.refill:not([disabled])').count()).toBe(0);
      await page.screenshot({ path: join(SCREENSHOTS, 'dashboard-unreachable-en.png') });
    } finally {
      await page.context().close();
      await fx.close().catch(() => {});
    }
  });

  it('clears the banner and the grey as soon as the gateway answers again', async () => {
    const first = await startDashboardFixture();
    const page = await openPage(`${first.url}/?lang=de`);
    let second: DashboardFixture | undefined;
    try {
      await sectionReady(page, 'orders');
      await first.close();
      await page.waitForSelector('#banner:not([hidden])', { timeout: 15_000 });
      expect(await page.locator('#banner').textContent()).toMatch(
        /^Gateway seit \d\d:\d\d nicht erreichbar$/,
      );
      second = await startDashboardFixture({ port: first.port });
      await page.waitForSelector('#banner[hidden]', { state: 'attached', timeout: 15_000 });
      expect(await page.locator('section.stale').count()).toBe(0);
      expect(await page.locator('#link').textContent()).toBe('Plattform verbunden');
      expect(await page.locator('button.refill[disabled]').count()).toBe(0);
    } finally {
      await page.context().close();
      await first.close().catch(() => {});
      await second?.close();
    }
  });
});
