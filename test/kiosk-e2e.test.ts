import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeQrPng } from '../devices/display/test-support.ts';
import { waitUntil } from '../testing/wait.ts';
import { type RigMdbMachine, useRig } from './support/rig.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn('test/kiosk-e2e.test.ts SKIPPED: /usr/bin/chromium is missing (apt-get install chromium)');

/**
 * What a customer sees, end to end: a button pressed on the simulated MDB
 * machine (its own process, on a pty) makes the gateway's kiosk page, open in
 * headless Chromium, show a QR; the QR read from a screenshot is the payment
 * URL the platform returned; paying shows dispensing and done, and a failed
 * vend shows the refund notice.
 */
describe.skipIf(!hasChromium)('the kiosk page during a select-then-pay vend', () => {
  const h = useRig({
    slotBoards: 1,
    mdbMachines: [
      {
        items: [
          { item: 1, price: 350 },
          { item: 2, price: 400 },
        ],
        vendMs: 400,
        machine: {
          display: { locale: 'en', name: 'Lobby', staticQrUrl: 'https://pay.example.com/m/c1' },
          slots: [
            { slot: 1, name: 'Cola' },
            { slot: 2, name: 'Oolong Tea' },
          ],
        },
      },
    ],
    config: { http: { enabled: true, host: '127.0.0.1', port: 0 } },
  });
  let sim: RigMdbMachine;
  let browser: Browser;
  let page: Page;
  const orders = new Map<
    string,
    { machineId: string; slot: number; price: { amount: number; currency: string } }
  >();
  let n = 0;

  beforeAll(async () => {
    sim = h.mdb[0]!;
    h.platform.onRequest('order.create', (data) => {
      const d = data as { machineId: string; slot: number; price: { amount: number; currency: string } };
      const orderId = `kiosk-${process.pid}-${++n}`;
      orders.set(orderId, { machineId: d.machineId, slot: d.slot, price: d.price });
      return {
        orderId,
        paymentUrl: `weixin://wxpay/bizpayurl?pr=${orderId}`,
        providers: ['wechat', 'alipay'],
        expiresAt: Date.now() + 7200_000,
      };
    });
    await sim.waitForEvent((e) => e.event === 'status' && (e.state === 'ENABLED' || e.state === 'IDLE'), {
      includePast: true,
      timeoutMs: 15_000,
    });
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
    const ctx = await browser.newContext({ viewport: { width: 800, height: 480 }, deviceScaleFactor: 1 });
    page = await ctx.newPage();
    await page.goto(`${h.gw.httpUrl}/display/c1`);
  });
  afterAll(async () => {
    await browser?.close();
  });

  const shown = (kind: string) =>
    page.waitForSelector(`body[data-kind="${kind}"][data-ready="true"]`, {
      state: 'attached',
      timeout: 15_000,
    });
  const pay = (orderId: string) =>
    h.platform.placeOrder({
      orderId,
      ...orders.get(orderId)!,
      provider: 'wechat',
      expiresAt: Date.now() + 7200_000,
    });

  it('shows the idle QR, then the payment QR of the selected item, then dispensing and done', async () => {
    await shown('idle');
    expect(decodeQrPng(await page.screenshot())).toBe('https://pay.example.com/m/c1');

    sim.select(1);
    await shown('awaiting-payment');
    const orderId = `kiosk-${process.pid}-${n}`;
    expect(decodeQrPng(await page.screenshot())).toBe(`weixin://wxpay/bizpayurl?pr=${orderId}`);
    expect(await page.locator('body').textContent()).toContain('3.50');

    await pay(orderId);
    await shown('dispensing');
    await shown('done');
    await h.settled([orderId]);
    expect(h.gw.ledger.get(orderId)?.state).toBe('dispensed');
  });

  it('shows the refund notice when the machine fails the vend after payment', async () => {
    sim.fault({ fault: 'vend-fail', count: 1 });
    sim.select(2);
    await shown('awaiting-payment');
    const orderId = `kiosk-${process.pid}-${n}`;
    await pay(orderId);
    await shown('failed');
    expect(await page.locator('body').textContent()).toContain('4.00');
    await h.settled([orderId]);
    expect(h.gw.ledger.get(orderId)?.state).toBe('refund_requested');
    await waitUntil(() => h.platform.eventsOfType('refund.requested').length === 1, {
      timeoutMs: 5_000,
      what: 'one refund',
    });
  });
});
