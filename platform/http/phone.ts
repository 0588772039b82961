/**
 * The customer's side: the machine's static QR opens
 * `GET /m/{gatewayId}/{machineId}`, a page listing its products and prices;
 * choosing one creates the provider order and shows its payment QR (and,
 * inside the provider's own app, a link straight to it). A WeChat browser
 * (User-Agent "MicroMessenger") is offered WeChat Pay only, Alipay's
 * ("AlipayClient") Alipay only, any other browser both. A pay-first
 * machine offers its credit instead of a product list: the customer pays
 * the credit, chooses on the machine, and gets the unspent rest back.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import QRCode from 'qrcode';
import { creditOf } from '../payments/catalogue.ts';
import type { Payments } from '../payments/payments.ts';
import type { ProviderName } from '../providers/port.ts';
import { esc, money, page } from './html.ts';
import { BuyBody, CreditBody, MachineParams, OrderNoParams } from './schemas.ts';

export interface PhoneOptions {
  /** Extra "pay" links per provider (the demo points them at the sandbox's simulated phone). */
  payLinks?: Partial<Record<ProviderName, (qrContent: string) => string>>;
}

const LABEL: Record<ProviderName, string> = { wechat: 'WeChat Pay', alipay: 'Alipay' };

export function providersForAgent(userAgent: string | undefined, configured: ProviderName[]): ProviderName[] {
  const ua = userAgent ?? '';
  if (/MicroMessenger\//i.test(ua) && configured.includes('wechat')) return ['wechat'];
  if (/AlipayClient\//i.test(ua) && configured.includes('alipay')) return ['alipay'];
  return configured;
}

/** QR contents of recent orders, for their order page only (bounded; the store is the record). */
class RecentQrs {
  readonly #m = new Map<string, string>();
  set(no: string, qr: string) {
    this.#m.set(no, qr);
    if (this.#m.size > 10_000) this.#m.delete(this.#m.keys().next().value as string);
  }
  get(no: string) {
    return this.#m.get(no);
  }
}

export async function phoneRoutes(
  app: FastifyInstance,
  payments: Payments,
  opts: PhoneOptions,
): Promise<void> {
  const ctx = payments.ctx;
  const configured = (['wechat', 'alipay'] as const).filter((p) => ctx.providers[p]);
  const qrs = new RecentQrs();
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );

  app.get('/m/:gatewayId/:machineId', async (req, reply) => {
    const { gatewayId, machineId } = MachineParams.parse(req.params);
    const machine = ctx.catalogue.machine(gatewayId, machineId);
    if (!machine) {
      return reply
        .status(404)
        .type('text/html')
        .send(page('Unknown machine', '<h1>This machine is not known here</h1>'));
    }
    const offered = providersForAgent(req.headers['user-agent'], configured);
    const online = (await ctx.store.gateways.get(gatewayId))?.lastStatus?.machines?.find(
      (m) => m.machineId === machineId,
    )?.online;
    const status = online === false ? '<p class="bad">This machine is offline right now.</p>' : '';
    if (machine.mode === 'pay-first') {
      const credit = creditOf(machine);
      const body = credit
        ? `<form class="product" method="post" action="/m/${esc(gatewayId)}/${esc(machineId)}/credit">
<span><b>Pay ${esc(money(credit))} credit, then choose on the machine</b><br>What you do not spend comes back to you.</span><span>${offered
            .map((pr) => `<button class="${pr}" name="provider" value="${pr}">${LABEL[pr]}</button>`)
            .join(' ')}</span></form>`
        : '<p class="bad">Nothing is on sale here right now.</p>';
      return reply
        .type('text/html; charset=utf-8')
        .send(page(machine.name, `<h1>${esc(machine.name)}</h1>${status}${body}`));
    }
    const rows = machine.products
      .map(
        (p) => `<form class="product" method="post" action="/m/${esc(gatewayId)}/${esc(machineId)}/buy">
<span><b>${esc(p.name)}</b><br>${esc(money(p.price))}</span><input type="hidden" name="slot" value="${p.slot}"><span>${offered
          .map((pr) => `<button class="${pr}" name="provider" value="${pr}">${LABEL[pr]}</button>`)
          .join(' ')}</span></form>`,
      )
      .join('\n');
    return reply
      .type('text/html; charset=utf-8')
      .send(
        page(machine.name, `<h1>${esc(machine.name)}</h1>${status}<p>Choose a drink, then pay.</p>${rows}`),
      );
  });

  const buy = async (req: FastifyRequest, reply: FastifyReply, html: boolean) => {
    const { gatewayId, machineId } = MachineParams.parse(req.params);
    const { slot, provider } = BuyBody.parse(req.body);
    const { order, qrContent } = await payments.createRemoteOrder({ gatewayId, machineId, slot, provider });
    qrs.set(order.outTradeNo, qrContent);
    const orderPage = `${ctx.config.publicBaseUrl}/o/${order.outTradeNo}`;
    if (html) return reply.redirect(`/o/${order.outTradeNo}`, 303);
    return reply.send({
      outTradeNo: order.outTradeNo,
      provider,
      qrContent,
      price: { amount: order.amount, currency: order.currency },
      expiresAt: order.expiresAt,
      orderPage,
    });
  };
  const credit = async (req: FastifyRequest, reply: FastifyReply, html: boolean) => {
    const { gatewayId, machineId } = MachineParams.parse(req.params);
    const { provider } = CreditBody.parse(req.body);
    const { order, qrContent } = await payments.createCreditOrder({ gatewayId, machineId, provider });
    qrs.set(order.outTradeNo, qrContent);
    if (html) return reply.redirect(`/o/${order.outTradeNo}`, 303);
    return reply.send({
      outTradeNo: order.outTradeNo,
      provider,
      qrContent,
      price: { amount: order.amount, currency: order.currency },
      expiresAt: order.expiresAt,
      orderPage: `${ctx.config.publicBaseUrl}/o/${order.outTradeNo}`,
    });
  };
  app.post('/m/:gatewayId/:machineId/credit', (req, reply) => credit(req, reply, true));
  app.post('/m/:gatewayId/:machineId/credits', (req, reply) => credit(req, reply, false));
  app.post('/m/:gatewayId/:machineId/buy', (req, reply) => buy(req, reply, true));
  app.post('/m/:gatewayId/:machineId/orders', (req, reply) => buy(req, reply, false));

  app.get('/o/:outTradeNo', async (req, reply) => {
    const { outTradeNo } = OrderNoParams.parse(req.params);
    const order = await ctx.store.orders.get(outTradeNo);
    if (!order)
      return reply.status(404).type('text/html').send(page('Unknown order', '<h1>No such order</h1>'));
    const product = ctx.catalogue.product(order.gatewayId, order.machineId, order.slot);
    const qr = qrs.get(outTradeNo);
    const provider = order.provider as ProviderName;
    const isCredit = order.kind === 'credit';
    const title = isCredit ? 'Credit' : (product?.name ?? `Slot ${order.slot}`);
    let body = `<h1>${esc(title)}: ${esc(money({ amount: order.amount, currency: order.currency }))}</h1>`;
    const words: Record<string, string> = {
      created: 'Waiting for your payment…',
      paid: 'Paid. Your drink is coming…',
      dispensed: 'Enjoy your drink!',
      refund_requested: 'The machine could not serve it; refunding…',
      refunded: 'Refunded: the money is on its way back.',
      closed: 'This order expired unpaid.',
      unresolved: 'We are checking what happened; you will get your drink or your money back.',
    };
    if (isCredit) {
      const rest = order.amount - (order.vendedAmount ?? 0);
      const back = money({ amount: rest, currency: order.currency });
      words.paid = 'Paid. Choose your drink on the machine now.';
      words.refund_requested =
        order.vendedAmount === null
          ? 'Nothing was chosen; refunding the credit…'
          : `Refunding the unspent ${back}…`;
      words.refunded =
        order.vendedAmount === null
          ? 'Refunded: the credit is on its way back.'
          : `Enjoy your drink! The unspent ${back} is on its way back.`;
    }
    body += `<p id="state" data-state="${esc(order.state)}">${esc(words[order.state] ?? order.state)}</p>`;
    if (order.state === 'created' && qr) {
      const svg = await QRCode.toString(qr, { type: 'svg', errorCorrectionLevel: 'M', margin: 4 });
      const link = opts.payLinks?.[provider]?.(qr);
      body += `<p>Scan with ${LABEL[provider] ?? esc(provider)}:</p><div class="qr">${svg}</div>
<p><a href="${esc(qr)}">Open in ${LABEL[provider] ?? esc(provider)}</a>${link ? ` · <a href="${esc(link)}">Pay on the simulated phone</a>` : ''}</p>`;
    }
    const final = ['dispensed', 'refunded', 'closed'].includes(order.state);
    return reply
      .type('text/html; charset=utf-8')
      .send(page(`Order ${outTradeNo}`, body, final ? {} : { refreshSeconds: 2 }));
  });

  app.get('/o/:outTradeNo/status', async (req, reply) => {
    const { outTradeNo } = OrderNoParams.parse(req.params);
    const order = await ctx.store.orders.get(outTradeNo);
    if (!order) return reply.status(404).send({ state: null });
    return { outTradeNo, state: order.state };
  });
}
