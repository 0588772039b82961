/**
 * The dashboard's client script, plain browser JavaScript served as
 * /dashboard/app.js (no build step): the formatting helpers (format.ts),
 * the text tables (i18n.ts) and the app below. It polls the gateway's REST
 * API, renders every section with textContent only (nothing from an order,
 * a product name or a condition can inject markup), and draws the sales
 * charts with chart.js, served by the gateway itself so the page works
 * without the internet.
 *
 * Each section has its own source; a source answering 404 makes its
 * section say "not available" (an older gateway), 401 asks for the
 * operator token. A poll that cannot reach the gateway at all turns the
 * page to its unreachable state: a red banner with the time it was lost,
 * every section greyed with the time of its data, and nothing green.
 */
import { FORMAT_JS } from './format.ts';
import { DASHBOARD_MESSAGES } from './i18n.ts';

const APP_JS = `
const SITE = JSON.parse(document.getElementById('site').textContent);
const POLL_MS = SITE.pollMs || 3000;
const FETCH_TIMEOUT_MS = Math.max(1500, Math.min(POLL_MS, 8000));
const LANG_NAMES = { 'zh-CN': '中文', en: 'English', de: 'Deutsch', ja: '日本語' };
const query = new URLSearchParams(location.search);
let locale = pickLocale(query.get('lang'), navigator.languages || [navigator.language], SITE.locale);

const t = (key, values) => fill((MESSAGES[locale] || MESSAGES.en)[key] ?? key, values);
const tz = SITE.timeZone;
const money = (m) => fmtMoney(m, locale);
const time = (ms) => fmtTime(ms, locale, tz);
const when = (ms) => fmtDateTime(ms, locale, tz, Date.now());
const $ = (id) => document.getElementById(id);
function el(tag, text, cls, attrs) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
  return e;
}
function table(headers, rows, wideCols) {
  const wide = new Set(wideCols || []);
  const tb = el('table');
  const hr = el('tr');
  headers.forEach((h, i) => hr.append(el('th', h, wide.has(i) ? 'wide' : '')));
  tb.append(el('thead'), el('tbody'));
  tb.tHead.append(hr);
  for (const r of rows) {
    const tr = el('tr');
    r.forEach((c, i) => {
      const td = c instanceof Node ? (() => { const d = el('td'); d.append(c); return d; })() : el('td', c);
      if (wide.has(i)) td.classList.add('wide');
      tr.append(td);
    });
    tb.tBodies[0].append(tr);
  }
  const wrap = el('div', undefined, 'scroll');
  wrap.append(tb);
  return wrap;
}
const pill = (text, cls) => el('span', text, 'pill ' + (cls || ''));
const productOf = (machineId, slot) => {
  const fromStock = sources.stock.data && (sources.stock.data.machines || []).find((m) => m.machineId === machineId);
  const s = fromStock && fromStock.slots.find((x) => x.slot === slot);
  if (s && s.product) return s.product;
  const names = SITE.products[machineId];
  return (names && names[slot]) || '#' + slot;
};
const stateClass = (s) => (s === 'dispensed' ? 'ok' : s === 'refund_requested' || s === 'unresolved' ? 'bad' : 'warn');

// ------------------------------------------------------------------ sources
/** A source is read every n-th poll (its every): the 7-day sales sums and the campaigns change slowly and cost more to read. */
function source(paths, every) { return { paths, every: every || 1, status: 'loading', data: undefined, at: undefined, error: undefined }; }
const sources = {
  health: source(['/health']),
  machines: source(['/api/machines']),
  conditions: source(['/api/conditions']),
  stock: source(['/api/stock']),
  sales: source(['/api/sales?days=7'], 10),
  sessions: source(['/api/sessions?limit=50']),
  orders: source(['/api/orders?limit=25']),
  refunds: source(['/api/orders?state=refund_requested&limit=50', '/api/orders?state=unresolved&limit=50']),
  coupons: source(['/api/coupons'], 5),
  beacons: source(['/api/beacons'], 2),
};
let round = 0;
/** Which sources each section shows, the first one deciding "not available". */
const SECTIONS = {
  machines: ['machines', 'conditions', 'health'],
  alerts: ['conditions'],
  stock: ['stock'],
  salesToday: ['sales'],
  sales7: ['sales'],
  refunds: ['refunds'],
  sessions: ['sessions'],
  orders: ['orders'],
  coupons: ['coupons'],
  beacons: ['beacons'],
  outbox: ['health'],
};
let unreachableSince;
let loginNeeded = false;
let notice;

class Unreachable extends Error {}
async function getJson(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), FETCH_TIMEOUT_MS);
  let res;
  try {
    res = await fetch(path, { signal: ctl.signal, headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw new Unreachable(String(e));
  } finally {
    clearTimeout(timer);
  }
  // /health answers 503 with its full body while degraded.
  if (res.ok || (res.status === 503 && path === '/health')) {
    try { return { status: 'ok', body: await res.json() }; } catch (e) { throw new Unreachable('not JSON'); }
  }
  if (res.status === 404) return { status: 'na' };
  if (res.status === 401) return { status: 'auth' };
  if (res.status === 502 || res.status === 504) throw new Unreachable('proxy ' + res.status);
  let message = 'HTTP ' + res.status;
  try { const b = await res.json(); if (b && b.message) message = b.message; } catch (e) {}
  return { status: 'error', error: message };
}

async function pollSource(s) {
  const answers = await Promise.all(s.paths.map(getJson));
  const bad = answers.find((a) => a.status !== 'ok');
  if (bad) {
    s.status = bad.status;
    s.error = bad.error;
    if (bad.status === 'na') { s.data = undefined; s.at = Date.now(); }
    return bad.status;
  }
  s.data = answers.length === 1 ? answers[0].body : answers.map((a) => a.body);
  s.status = 'ok';
  s.at = Date.now();
  return 'ok';
}

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    // After a loss every source is read again at once, so nothing stays greyed longer than it must.
    const all = unreachableSince !== undefined;
    const due = Object.values(sources).filter((s) => all || s.data === undefined || round % s.every === 0);
    round++;
    const results = await Promise.allSettled(due.map(pollSource));
    const lost = results.some((r) => r.status === 'rejected' && r.reason instanceof Unreachable);
    if (lost) { if (unreachableSince === undefined) unreachableSince = Date.now(); } else unreachableSince = undefined;
    loginNeeded = !lost && sources.health.status === 'auth';
  } finally {
    polling = false;
  }
  render();
}

// ------------------------------------------------------------------ rendering
function render() {
  document.documentElement.lang = locale;
  document.title = t('title') + ' · ' + SITE.gatewayId;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  const down = unreachableSince !== undefined;
  document.body.classList.toggle('unreachable', down);
  const banner = $('banner');
  banner.hidden = !down && !loginNeeded;
  banner.textContent = down ? t('unreachableSince', { time: time(unreachableSince) }) : loginNeeded ? t('loginNeeded') : '';
  renderHeader(down);
  for (const name of Object.keys(SECTIONS)) renderSection(name, down);
  document.body.dataset.ready = 'true';
}

function renderHeader(down) {
  const h = sources.health.data;
  $('gw').textContent = h ? h.gatewayId + ' · v' + h.version : SITE.gatewayId;
  const link = $('link');
  if (down || !h) { link.textContent = t('link.unknown'); link.className = 'pill muted'; }
  else if (h.platform.connected) { link.textContent = t('link.connected'); link.className = 'pill ok'; }
  else { link.textContent = t('link.disconnected'); link.className = 'pill bad'; }
}

function renderSection(name, down) {
  const sec = $('s-' + name);
  const body = sec.querySelector('.body');
  const used = SECTIONS[name].map((k) => sources[k]);
  const main = used[0];
  const at = used.map((s) => s.at).filter((x) => x !== undefined);
  sec.querySelector('.asof').textContent = at.length ? t('asOf', { time: time(Math.min(...at)) }) : '';
  sec.classList.toggle('stale', down);
  const fallback = name === 'machines' && main.status === 'na' && sources.health.data;
  if (main.status === 'na' && !fallback) {
    sec.dataset.state = 'na';
    body.replaceChildren(el('p', t('notAvailable'), 'muted na'));
    return;
  }
  if (main.data === undefined && !fallback) {
    sec.dataset.state = main.status;
    body.replaceChildren(el('p', main.status === 'error' ? main.error : t('loading'), 'muted'));
    return;
  }
  sec.dataset.state = 'ok';
  RENDER[name](body);
}

const RENDER = {
  machines(body) {
    const list = sources.machines.data ? sources.machines.data.machines : sources.health.data.machines;
    const active = (sources.conditions.data && sources.conditions.data.active) || [];
    const grid = el('div', undefined, 'cards');
    for (const m of list) {
      const card = el('div', undefined, 'card', { 'data-machine': m.machineId });
      const head = el('div', undefined, 'card-head');
      head.append(el('strong', m.machineId), pill(t(m.online ? 'machine.online' : 'machine.offline'), m.online ? 'ok' : 'bad'));
      if (m.doorOpen === true) head.append(pill(t('machine.doorOpen'), 'bad'));
      card.append(head);
      const facts = el('dl');
      const fact = (k, v) => { facts.append(el('dt', t(k)), el('dd', v)); };
      if (m.driver) fact('machine.driver', m.driver);
      if (m.temperatureDeciC !== undefined) fact('machine.temperature', fmtTemperature(m.temperatureDeciC, locale));
      if (m.doorOpen === false) facts.append(el('dt', ''), el('dd', t('machine.doorClosed'), 'muted'));
      if (m.lastSeenAt !== undefined) fact('machine.lastSeen', when(m.lastSeenAt));
      card.append(facts);
      const mine = active.filter((c) => c.machineId === m.machineId);
      if (mine.length) {
        const ul = el('ul', undefined, 'alerts');
        for (const c of mine) ul.append(alertItem(c, false));
        card.append(ul);
      }
      grid.append(card);
    }
    body.replaceChildren(grid);
  },
  alerts(body) {
    const { active, recent } = sources.conditions.data;
    const order = { critical: 0, warning: 1 };
    const sorted = [...active].sort((a, b) => (order[a.severity] ?? 2) - (order[b.severity] ?? 2) || a.since - b.since);
    const ul = el('ul', undefined, 'alerts');
    for (const c of sorted) ul.append(alertItem(c, true));
    body.replaceChildren(sorted.length ? ul : el('p', t('alerts.none'), 'muted'));
    if (recent && recent.length) {
      const det = el('details');
      det.append(el('summary', t('alerts.recent') + ' (' + recent.length + ')'));
      const rl = el('ul', undefined, 'alerts cleared');
      for (const c of recent.slice(0, 20)) rl.append(alertItem(c, true));
      det.append(rl);
      body.append(det);
    }
  },
  stock(body) {
    const out = [];
    if (notice) out.push(el('p', notice.text, 'notice ' + notice.cls));
    for (const m of sources.stock.data.machines) {
      const head = el('div', undefined, 'stock-head');
      head.append(el('strong', m.machineId), refillButton(m.machineId, undefined));
      out.push(head);
      const rows = m.slots.map((s) => {
        const level = el('div', undefined, 'level');
        const bar = el('div', undefined, 'bar' + (s.level <= s.lowAt ? ' low' : ''));
        const fillBar = el('span');
        fillBar.style.width = (s.capacity > 0 ? Math.min(100, Math.round((100 * s.level) / s.capacity)) : 0) + '%';
        bar.append(fillBar);
        level.append(bar, el('span', s.level + '/' + s.capacity, 'num'));
        const flags = el('span');
        if (s.level <= s.lowAt) flags.append(pill(t('stock.low'), 'bad'));
        if (!s.enabled) flags.append(pill(t('stock.disabled'), 'muted'));
        flags.append(el('span', t(s.source === 'sensed' ? 'stock.sensed' : 'stock.counted'), 'muted small'));
        return [String(s.slot), s.product || '–', s.price ? money(s.price) : '–', level, flags, refillButton(m.machineId, s.slot)];
      });
      out.push(table([t('col.slot'), t('col.product'), t('col.price'), t('col.level'), '', ''], rows, [2, 4]));
    }
    body.replaceChildren(...out);
  },
  salesToday(body) {
    const day = todayOf(sources.sales.data);
    const out = [];
    if (!day) { body.replaceChildren(el('p', t('none'), 'muted')); destroyChart('today'); return; }
    const totals = sumByCurrency(day.byMachine);
    const line = el('p', undefined, 'totals');
    for (const [cur, v] of totals) line.append(el('span', money({ amount: v.revenue, currency: cur }), 'big'), el('span', t('sales.count', { count: v.count }), 'muted'));
    if (!totals.size) line.append(el('span', t('sales.count', { count: 0 }), 'muted'));
    out.push(line);
    for (const r of day.refunds || []) if (r.count) out.push(el('p', t('sales.refunds', { count: r.count, amount: money({ amount: r.amount, currency: r.currency }) }), 'bad small'));
    const canvasWrap = chartBox('today');
    out.push(canvasWrap);
    out.push(el('h3', t('sales.byMachine')));
    out.push(table([t('col.machine'), t('sales.sold'), t('sales.revenue')], day.byMachine.map((m) => [m.machineId, fmtNumber(m.count, locale), money({ amount: m.revenue, currency: m.currency })])));
    body.replaceChildren(...out);
    const products = [...day.byProduct].sort((a, b) => b.revenue - a.revenue);
    drawChart('today', {
      type: 'bar',
      data: {
        labels: products.map((p) => (p.product || productOf(p.machineId, p.slot)) + ' · ' + p.machineId),
        datasets: [{ label: t('sales.sold'), data: products.map((p) => p.count), backgroundColor: '#3b6fd8' }],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false }, title: { display: true, text: t('sales.byProduct') } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } },
    });
  },
  sales7(body) {
    const days = sources.sales.data.days;
    const currencies = [...new Set(days.flatMap((d) => d.byMachine.map((m) => m.currency)))];
    const wrap = chartBox('week');
    body.replaceChildren(wrap);
    const palette = ['#3b6fd8', '#d8843b', '#8a5cd8', '#d83b6f'];
    const datasets = currencies.map((cur, i) => ({
      type: 'bar',
      label: t('sales.revenue') + ' (' + cur + ')',
      data: days.map((d) => majorUnits(d.byMachine.filter((m) => m.currency === cur).reduce((a, m) => a + m.revenue, 0), cur)),
      backgroundColor: palette[i % palette.length],
      yAxisID: 'y',
      currency: cur,
    }));
    datasets.push({
      type: 'line',
      label: t('sales.sold'),
      data: days.map((d) => d.byMachine.reduce((a, m) => a + m.count, 0)),
      borderColor: '#555c66',
      backgroundColor: '#555c66',
      yAxisID: 'y1',
    });
    drawChart('week', {
      type: 'bar',
      data: { labels: days.map((d) => fmtDay(d.date, locale)), datasets },
      options: {
        plugins: {
          tooltip: { callbacks: { label: (c) => c.dataset.currency
            ? c.dataset.label + ': ' + money({ amount: Math.round(c.parsed.y * 10 ** minorDigits(c.dataset.currency)), currency: c.dataset.currency })
            : c.dataset.label + ': ' + c.parsed.y } },
        },
        scales: {
          y: { beginAtZero: true, position: 'left' },
          y1: { beginAtZero: true, position: 'right', grid: { drawOnChartArea: false }, ticks: { precision: 0 } },
        },
      },
    });
  },
  refunds(body) {
    const lists = sources.refunds.data.flatMap((b) => b.orders);
    lists.sort((a, b) => b.updatedAt - a.updatedAt);
    body.replaceChildren(lists.length ? ordersTable(lists, true) : el('p', t('none'), 'muted'));
  },
  sessions(body) {
    const list = sources.sessions.data.sessions;
    if (!list.length) { body.replaceChildren(el('p', t('none'), 'muted')); return; }
    const itemOf = (s) => {
      const it = s.item;
      if (it && typeof it === 'object') return it.name || productOf(s.machineId, it.slot ?? it.item);
      return typeof it === 'number' ? productOf(s.machineId, it) : (it ?? '–');
    };
    body.replaceChildren(table(
      [t('col.started'), t('col.machine'), t('col.item'), t('col.price'), t('col.state'), t('col.outcome'), t('col.ended')],
      list.map((s) => [when(s.startedAt), s.machineId, itemOf(s), s.price ? money(s.price) : '–', s.state, s.outcome ?? '–', s.endedAt !== undefined && s.endedAt !== null ? when(s.endedAt) : '–']),
      [3, 6],
    ));
  },
  orders(body) {
    const list = sources.orders.data.orders;
    body.replaceChildren(list.length ? ordersTable(list, false) : el('p', t('none'), 'muted'));
  },
  coupons(body) {
    const list = sources.coupons.data.campaigns;
    if (!list.length) { body.replaceChildren(el('p', t('none'), 'muted')); return; }
    body.replaceChildren(table(
      [t('col.campaign'), t('col.state'), t('col.budget'), t('col.issued'), t('col.redeemed')],
      list.map((c) => {
        const issued = el('div', undefined, 'level');
        const bar = el('div', undefined, 'bar');
        const f = el('span');
        f.style.width = (c.budget.count > 0 ? Math.min(100, Math.round((100 * c.issued.count) / c.budget.count)) : 0) + '%';
        bar.append(f);
        issued.append(bar, el('span', fmtNumber(c.issued.count, locale) + ' · ' + money(c.issued.money), 'num'));
        return [c.name || c.id, pill(t('campaign.' + c.state), c.state === 'active' ? 'ok' : c.state === 'exhausted' ? 'bad' : 'muted'),
          fmtNumber(c.budget.count, locale) + ' · ' + money(c.budget.money), issued,
          fmtNumber(c.redeemed.count, locale) + ' · ' + money(c.redeemed.discount)];
      }),
    ));
  },
  beacons(body) {
    const b = sources.beacons.data;
    const out = [el('p', t('beacon.scanner', { state: t('scanner.' + b.scanner) }), 'muted small')];
    if (!b.beacons.length) out.push(el('p', t('none'), 'muted'));
    else out.push(table(
      [t('col.beacon'), t('col.state'), t('machine.lastSeen'), t('col.battery'), t('col.signal')],
      b.beacons.map((x) => {
        const st = el('span');
        st.append(pill(t(x.present ? 'beacon.present' : 'beacon.absent'), x.present ? 'ok' : 'bad'));
        if (x.cloneSuspected) st.append(pill(t('beacon.clone'), 'bad'));
        return [x.name + (x.location ? ' · ' + x.location : ''), st, x.lastSeenAt ? when(x.lastSeenAt) : t('never'),
          x.batteryPercent !== null && x.batteryPercent !== undefined ? x.batteryPercent + ' %' : x.batteryMv ? x.batteryMv + ' mV' : '–',
          x.rssi !== null && x.rssi !== undefined ? Math.round(x.rssi) + ' dBm' : '–'];
      }),
      [3, 4],
    ));
    body.replaceChildren(...out);
  },
  outbox(body) {
    const h = sources.health.data;
    const o = h.outbox;
    const lastAck = o.lastAckAt ?? (h.platform && h.platform.lastAckAt);
    const dl = el('dl', undefined, 'facts');
    const fact = (k, v, cls) => dl.append(el('dt', t(k)), el('dd', v, cls));
    fact('outbox.pending', fmtNumber(o.pending, locale), o.pending > 0 ? 'warn num' : 'num');
    fact('outbox.dropped', fmtNumber(o.dropped, locale), o.dropped > 0 ? 'bad num' : 'num');
    fact('outbox.expired', fmtNumber(o.expired, locale), o.expired > 0 ? 'bad num' : 'num');
    fact('outbox.lastSeq', fmtNumber(o.lastSeq, locale), 'num');
    fact('outbox.lastAck', typeof lastAck === 'number' ? when(lastAck) : t('never'));
    body.replaceChildren(dl);
  },
};

function alertItem(c, withMachine) {
  const li = el('li', undefined, 'alert ' + (c.severity === 'critical' ? 'critical' : 'warning'));
  const where = [withMachine ? c.machineId : undefined, c.slot !== undefined ? t('col.slot') + ' ' + c.slot : undefined].filter(Boolean).join(' · ');
  li.append(el('span', t('severity.' + c.severity), 'sev'), el('strong', t('kind.' + c.kind)));
  if (where) li.append(el('span', where, 'muted'));
  if (c.detail) li.append(el('span', c.detail));
  li.append(el('span', c.clearedAt !== undefined ? t('alerts.cleared', { time: when(c.clearedAt) }) : t('alerts.since', { time: when(c.since) }), 'muted small'));
  return li;
}

function ordersTable(list, withNote) {
  const headers = [t('col.updated'), t('col.order'), t('col.machine'), t('col.product'), t('col.amount'), t('col.state')];
  if (withNote) headers.push(t('col.outcome'));
  return table(headers, list.map((o) => {
    const row = [when(o.updatedAt), el('span', o.orderId, 'id', { title: o.orderId }), o.machineId, productOf(o.machineId, o.slot), money(o.price), el('span', t('state.' + o.state), stateClass(o.state))];
    if (withNote) row.push(o.outcomeNote ?? '–');
    return row;
  }), withNote ? [1, 6] : [1]);
}

function refillButton(machineId, slot) {
  const b = el('button', t(slot === undefined ? 'stock.refillAll' : 'stock.refill'), 'refill', { type: 'button', 'data-machine': machineId });
  if (slot !== undefined) b.dataset.slot = String(slot);
  b.disabled = unreachableSince !== undefined;
  return b;
}

async function refill(machineId, slot) {
  const question = slot === undefined ? t('stock.confirmMachine', { machine: machineId }) : t('stock.confirmSlot', { machine: machineId, slot });
  if (!confirm(question)) return;
  try {
    const res = await fetch('/api/machines/' + encodeURIComponent(machineId) + '/refill', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(slot === undefined ? {} : { slot }),
    });
    if (res.ok) notice = { text: t('stock.refilled', { machine: machineId }), cls: 'ok' };
    else {
      let reason = 'HTTP ' + res.status;
      try { const b = await res.json(); if (b && b.message) reason = b.message; } catch (e) {}
      notice = { text: t('stock.refillFailed', { reason }), cls: 'bad' };
    }
  } catch (e) {
    notice = { text: t('stock.refillFailed', { reason: String(e) }), cls: 'bad' };
  }
  await poll();
}

function todayOf(sales) {
  const today = siteDate(Date.now(), sales.timeZone || tz);
  return sales.days.find((d) => d.date === today);
}
function sumByCurrency(rows) {
  const m = new Map();
  for (const r of rows) {
    const v = m.get(r.currency) || { count: 0, revenue: 0 };
    v.count += r.count; v.revenue += r.revenue;
    m.set(r.currency, v);
  }
  return m;
}

// ------------------------------------------------------------------ charts
const charts = {};
const chartBoxes = {};
const chartSignatures = {};
const chartLocales = {};
/** A chart keeps its canvas across renders (chart.js owns it); only the data changes. */
function chartBox(name) {
  if (!chartBoxes[name]) {
    const box = el('div', undefined, 'chart');
    box.append(el('canvas', undefined, undefined, { id: 'chart-' + name, role: 'img' }));
    chartBoxes[name] = box;
  }
  return chartBoxes[name];
}
function drawChart(name, config) {
  if (typeof Chart === 'undefined') return;
  const canvas = chartBoxes[name].querySelector('canvas');
  canvas.setAttribute('aria-label', config.options.plugins.title ? config.options.plugins.title.text : t('section.' + (name === 'week' ? 'sales7' : 'salesToday')));
  config.options.animation = false;
  config.options.responsive = true;
  config.options.maintainAspectRatio = false;
  config.options.locale = intlLocale(locale);
  const c = charts[name];
  // Redrawing the same figures would only churn chart.js's caches: skip it.
  const signature = JSON.stringify([locale, config.type, config.data.labels, config.data.datasets.map((d) => [d.label, d.data])]);
  if (c && chartSignatures[name] === signature) return;
  chartSignatures[name] = signature;
  // New figures in the same language: only the data changes (new options on every update would pile up in chart.js).
  if (c && chartLocales[name] === locale && c.config.type === config.type) {
    c.data.labels = config.data.labels;
    c.data.datasets = config.data.datasets;
    c.update('none');
  } else {
    chartLocales[name] = locale;
    if (c) c.destroy();
    charts[name] = new Chart(canvas, config);
  }
  canvas.dataset.drawn = 'true';
}
function destroyChart(name) {
  if (charts[name]) { charts[name].destroy(); delete charts[name]; delete chartSignatures[name]; }
}

// ------------------------------------------------------------------ start
function setupLanguage() {
  const sel = $('lang');
  for (const l of DASH_LOCALES) sel.append(el('option', LANG_NAMES[l], undefined, { value: l }));
  sel.value = locale;
  sel.addEventListener('change', () => {
    locale = sel.value;
    const q = new URLSearchParams(location.search);
    q.set('lang', locale);
    history.replaceState(null, '', location.pathname + '?' + q.toString());
    render();
  });
}
document.addEventListener('click', (e) => {
  const b = e.target.closest && e.target.closest('button.refill');
  if (!b || b.disabled) return;
  refill(b.dataset.machine, b.dataset.slot === undefined ? undefined : Number(b.dataset.slot));
});
setupLanguage();
render();
poll();
setInterval(poll, POLL_MS);
`;

/** /dashboard/app.js: the helpers, the texts and the app, in that order. */
export const DASHBOARD_JS = `'use strict';
${FORMAT_JS}
const MESSAGES = ${JSON.stringify(DASHBOARD_MESSAGES)};
${APP_JS}`;
