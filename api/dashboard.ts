/**
 * The operator dashboard: one static page that polls /health and
 * /api/orders. No build step, no framework; text is inserted with
 * textContent only, so nothing from an order can inject markup. With an
 * operator token its requests carry the session cookie (auth.ts).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vendgate dashboard</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 12px 20px; display: flex; gap: 16px; align-items: baseline; }
  header h1 { font-size: 18px; margin: 0; }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  section { background: #fff; border-radius: 8px; padding: 12px 16px; box-shadow: 0 1px 2px #0001; }
  h2 { font-size: 15px; margin: 0 0 8px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; font-variant-numeric: tabular-nums; }
  .ok { color: #137333; } .bad { color: #b3261e; } .muted { color: #667; }
  .pill { display: inline-block; padding: 1px 8px; border-radius: 10px; background: #eef; margin-right: 6px; }
</style>
</head>
<body>
<header><h1>vendgate</h1><span id="gw" class="muted"></span><span id="link"></span></header>
<main>
  <section><h2>Machines</h2><div id="machines"></div></section>
  <section><h2>Orders by state</h2><div id="states"></div><p class="muted" id="outbox"></p></section>
  <section><h2>Latest orders</h2>
    <table><thead><tr><th>Order</th><th>Machine</th><th>Slot</th><th>Amount</th><th>State</th><th>Updated</th></tr></thead>
    <tbody id="orders"></tbody></table>
  </section>
</main>
<script>
const el = (tag, text, cls) => { const e = document.createElement(tag); if (text !== undefined) e.textContent = text; if (cls) e.className = cls; return e; };
const money = (p) => new Intl.NumberFormat(navigator.language, { style: 'currency', currency: p.currency })
  .format(p.amount / 10 ** (new Intl.NumberFormat('en', { style: 'currency', currency: p.currency }).resolvedOptions().maximumFractionDigits));
async function refresh() {
  try {
    const res = await fetch('/health');
    if (res.status === 401) {
      // With http.token set, the browser logs in once by opening /?token=<token> (a session cookie).
      const link = document.getElementById('link');
      link.textContent = 'log in: open /?token=<operator token>'; link.className = 'bad';
      return;
    }
    const h = await res.json();
    document.getElementById('gw').textContent = h.gatewayId + ' · v' + h.version;
    const link = document.getElementById('link');
    link.textContent = h.platform.connected ? 'platform connected' : 'platform disconnected';
    link.className = h.platform.connected ? 'ok' : 'bad';
    const ms = document.getElementById('machines'); ms.replaceChildren();
    for (const m of h.machines) ms.append(el('span', m.machineId + (m.online ? ' online' : ' offline'), 'pill ' + (m.online ? 'ok' : 'bad')));
    const st = document.getElementById('states'); st.replaceChildren();
    for (const [k, v] of Object.entries(h.orders)) st.append(el('span', k + ': ' + v, 'pill'));
    document.getElementById('outbox').textContent = 'outbox: ' + h.outbox.pending + ' pending, ' + h.outbox.dropped + ' dropped, ' + h.outbox.expired + ' expired, last seq ' + h.outbox.lastSeq;
    const { orders } = await (await fetch('/api/orders?limit=25')).json();
    const tb = document.getElementById('orders'); tb.replaceChildren();
    for (const o of orders) {
      const tr = el('tr');
      tr.append(el('td', o.orderId), el('td', o.machineId), el('td', String(o.slot)), el('td', money(o.price)),
        el('td', o.state, o.state === 'dispensed' ? 'ok' : o.state === 'refund_requested' || o.state === 'unresolved' ? 'bad' : ''),
        el('td', new Date(o.updatedAt).toLocaleTimeString()));
      tb.append(tr);
    }
  } catch (e) { document.getElementById('link').textContent = 'gateway unreachable'; }
}
refresh(); setInterval(refresh, 2000);
</script>
</body>
</html>
`;
