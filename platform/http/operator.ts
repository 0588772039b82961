/**
 * The operator's API (`/api/...`, JSON) and pages (`/ops/...`, HTML): the
 * fleet (online/offline from the retained status and will, last seen, ack
 * watermark, outbox depth), orders with their provider transaction ids,
 * refunds, the unresolved queue with its resolve action, and the
 * reconciliation reports. With a token configured, every route here wants
 * `Authorization: Bearer <token>` (the pages also take `?token=`).
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Payments } from '../payments/payments.ts';
import type { ReconcileReport } from '../reconcile/match.ts';
import type { ReportStore } from '../reconcile/reports.ts';
import { ORDER_STATES, type OrderRow, type RefundRow } from '../store/port.ts';
import { esc, money, page } from './html.ts';
import { DayParams, OrderNoParams, OrderQuery, ResolveBody } from './schemas.ts';
import { gatewayView, orderView, refundView } from './views.ts';

export interface OperatorOptions {
  token?: string;
  reports: ReportStore;
  /** Runs and saves the reconciliation of a day. */
  reconcile(day: string): Promise<ReconcileReport>;
}

function authorised(req: FastifyRequest, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization ?? '';
  const given = header.startsWith('Bearer ')
    ? header.slice(7)
    : ((req.query as { token?: string }).token ?? '');
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function operatorRoutes(
  app: FastifyInstance,
  payments: Payments,
  opts: OperatorOptions,
): Promise<void> {
  const { store } = payments.ctx;
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.addHook('onRequest', async (req) => {
    if (!authorised(req, opts.token)) {
      throw new VendgateError(ErrorCode.PlatformUnauthorized, 'an operator token is required', {});
    }
  });

  const listOrders = async (q: { state?: OrderRow['state']; gatewayId?: string; limit: number }) => {
    const states = q.state ? [q.state] : ORDER_STATES;
    const rows = (
      await Promise.all(states.map((s) => store.orders.listByState(s, { limit: q.limit })))
    ).flat();
    return rows
      .filter((o) => !q.gatewayId || o.gatewayId === q.gatewayId)
      .sort((a, b) => b.createdAt - a.createdAt)
      .slice(0, q.limit);
  };
  const listRefunds = async (limit: number) => {
    const orders = (
      await Promise.all(
        (['refund_requested', 'refunded', 'unresolved'] as const).map((s) =>
          store.orders.listByState(s, { limit }),
        ),
      )
    ).flat();
    const refunds: RefundRow[] = [];
    for (const o of orders) refunds.push(...(await store.refunds.forOrder(o.outTradeNo)));
    return refunds.sort((a, b) => b.createdAt - a.createdAt).slice(0, limit);
  };

  app.get('/api/fleet', async () => ({ gateways: (await store.gateways.list()).map(gatewayView) }));
  app.get('/api/orders', async (req) => {
    const orders = (await listOrders(OrderQuery.parse(req.query))).map(orderView);
    return { orders, count: orders.length };
  });
  app.get('/api/orders/:outTradeNo', async (req) => {
    const { outTradeNo } = OrderNoParams.parse(req.params);
    const o = await store.orders.get(outTradeNo);
    if (!o) throw new VendgateError(ErrorCode.PlatformOrderUnknown, `no order ${outTradeNo}`, { outTradeNo });
    return { order: orderView(o), refunds: (await store.refunds.forOrder(outTradeNo)).map(refundView) };
  });
  app.get('/api/refunds', async () => ({ refunds: (await listRefunds(500)).map(refundView) }));
  app.get('/api/unresolved', async () => ({
    orders: (await store.orders.listByState('unresolved', { limit: 1000 })).map(orderView),
  }));
  app.post('/api/unresolved/:outTradeNo/resolve', async (req) => {
    const { outTradeNo } = OrderNoParams.parse(req.params);
    const { resolution, note } = ResolveBody.parse(req.body ?? {});
    return { order: orderView(await payments.resolve(outTradeNo, resolution, note)) };
  });
  app.get('/api/reconcile', async () => ({ days: opts.reports.days() }));
  app.get('/api/reconcile/:day', async (req) => opts.reports.get(DayParams.parse(req.params).day));
  app.post('/api/reconcile/:day', async (req) => opts.reconcile(DayParams.parse(req.params).day));

  // ------------------------------------------------------------------ pages
  const tokenQs = (req: FastifyRequest) => {
    const t = (req.query as { token?: string }).token;
    return t ? `?token=${encodeURIComponent(t)}` : '';
  };
  const td = (v: unknown) => `<td>${esc(v ?? '')}</td>`;
  const when = (ms: number | null) => (ms ? new Date(ms).toISOString().replace('T', ' ').slice(0, 19) : '');

  app.get('/ops', async (req, reply) => {
    const qs = tokenQs(req);
    const gateways = await store.gateways.list();
    const orders = await listOrders({ limit: 100 });
    const unresolved = await store.orders.listByState('unresolved', { limit: 200 });
    const refunds = await listRefunds(100);
    const gwRows = gateways
      .map(
        (g) =>
          `<tr>${td(g.gatewayId)}<td class="${g.online ? 'ok' : 'bad'}">${g.online ? 'online' : 'offline'}</td>${td(when(g.lastSeenAt))}${td(g.ackedUpTo)}${td(g.outboxDepth)}${td((g.lastStatus?.machines ?? []).map((m) => `${m.machineId}${m.online ? '' : ' (offline)'}`).join(', '))}</tr>`,
      )
      .join('');
    const orderRows = orders
      .map(
        (o) =>
          `<tr>${td(when(o.createdAt))}${td(o.outTradeNo)}${td(`${o.gatewayId}/${o.machineId}#${o.slot}`)}${td(money({ amount: o.amount, currency: o.currency }))}${td(o.provider)}${td(o.state)}${td(o.transactionId)}${td(o.reason)}</tr>`,
      )
      .join('');
    const unresolvedRows = unresolved
      .map(
        (o) =>
          `<tr>${td(o.outTradeNo)}${td(`${o.gatewayId}/${o.machineId}#${o.slot}`)}${td(money({ amount: o.amount, currency: o.currency }))}${td(o.reason)}<td>
<form method="post" action="/ops/unresolved/${esc(o.outTradeNo)}/resolve${qs}"><button class="plain" name="resolution" value="dispensed">Dispensed</button>
<button class="alipay" name="resolution" value="refund">Refund</button></form></td></tr>`,
      )
      .join('');
    const refundRows = refunds
      .map(
        (r) =>
          `<tr>${td(r.outRefundNo)}${td(r.outTradeNo)}${td(money({ amount: r.amount, currency: r.currency }))}${td(r.state)}${td(r.attempts)}${td(r.providerRefundId)}${td(r.outcome)}</tr>`,
      )
      .join('');
    const days = opts.reports
      .days()
      .slice(0, 30)
      .map((d) => `<a href="/ops/reconcile/${d}${qs}">${d}</a>`)
      .join(' · ');
    const html = `<h1>vendgate platform</h1>
<h2>Fleet</h2><table><tr><th>Gateway</th><th>State</th><th>Last seen</th><th>Acked up to</th><th>Outbox</th><th>Machines</th></tr>${gwRows}</table>
<h2>Unresolved (${unresolved.length})</h2><table><tr><th>Order</th><th>Machine</th><th>Amount</th><th>Why</th><th></th></tr>${unresolvedRows}</table>
<h2>Orders</h2><table><tr><th>Created</th><th>Order</th><th>Machine</th><th>Amount</th><th>Provider</th><th>State</th><th>Transaction</th><th>Note</th></tr>${orderRows}</table>
<h2>Refunds</h2><table><tr><th>Refund</th><th>Order</th><th>Amount</th><th>State</th><th>Attempts</th><th>Provider id</th><th>Outcome</th></tr>${refundRows}</table>
<h2>Reconciliation</h2><p>${days || 'no reports yet'}</p>`;
    return reply
      .type('text/html; charset=utf-8')
      .send(page('vendgate platform', html, { refreshSeconds: 5 }));
  });

  app.post('/ops/unresolved/:outTradeNo/resolve', async (req, reply) => {
    const { outTradeNo } = OrderNoParams.parse(req.params);
    const { resolution } = ResolveBody.parse({
      resolution: (req.body as { resolution?: string })?.resolution,
    });
    await payments.resolve(outTradeNo, resolution, 'from the operator page');
    return reply.redirect(`/ops${tokenQs(req)}`, 303);
  });

  app.get('/ops/reconcile/:day', async (req, reply) => {
    const r = opts.reports.get(DayParams.parse(req.params).day);
    const totals = r.totals
      .map(
        (t) =>
          `<tr>${td(t.provider)}${td(money({ amount: t.paid, currency: t.currency }))}${td(money({ amount: t.dispensed, currency: t.currency }))}${td(money({ amount: t.refunded, currency: t.currency }))}<td class="${t.balanced ? 'ok' : 'bad'}">${esc(money({ amount: t.unsettled, currency: t.currency }))}</td></tr>`,
      )
      .join('');
    const rows = r.mismatches
      .map(
        (m) =>
          `<tr>${td(m.kind)}${td(m.provider)}${td(m.outTradeNo)}${td(m.transactionId)}${td(m.amount === null ? '' : money({ amount: m.amount, currency: m.currency ?? 'CNY' }))}${td(m.detail)}</tr>`,
      )
      .join('');
    const errors = r.errors.map((e) => `<li class="bad">${esc(e.provider)}: ${esc(e.error)}</li>`).join('');
    const html = `<h1>Reconciliation ${esc(r.day)}</h1>${errors ? `<ul>${errors}</ul>` : ''}
<table><tr><th>Provider</th><th>Paid</th><th>Dispensed</th><th>Refunded</th><th>Unsettled</th></tr>${totals}</table>
<h2>Mismatches (${r.mismatches.length})</h2><table><tr><th>Kind</th><th>Provider</th><th>Order</th><th>Transaction</th><th>Amount</th><th>Detail</th></tr>${rows}</table>`;
    return reply.type('text/html; charset=utf-8').send(page(`Reconciliation ${r.day}`, html));
  });
}
