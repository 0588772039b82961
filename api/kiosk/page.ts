/**
 * The kiosk page: plain HTML, CSS and JS served as strings (no build step).
 * It fits an 800x480 landscape panel and a 1080x1920 portrait one: sizes are
 * in vmin/clamp, the layout turns from side-by-side to stacked with the
 * orientation, and the QR image is sized to a whole number of pixels per
 * module. It listens to /display/:id/events (SSE) and inserts every text
 * with textContent; the QR code is an <img> of a server-made SVG.
 */
import { createHash } from 'node:crypto';
import { MESSAGES } from '../../devices/display/messages.ts';
import type { Locale } from '../../devices/display/port.ts';

export const KIOSK_CSS = `
*, *::before, *::after { box-sizing: border-box; }
html, body { margin: 0; width: 100%; height: 100%; }
body {
  font-family: "Noto Sans CJK SC", "Noto Sans SC", "Noto Sans CJK JP", "Noto Sans", "DejaVu Sans", system-ui, sans-serif;
  background: #f4f6f8; color: #14181f; overflow: hidden;
  -webkit-font-smoothing: antialiased; user-select: none; cursor: none;
}
html:lang(ja) body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Noto Sans CJK SC", "Noto Sans", system-ui, sans-serif; }
main {
  width: 100vw; height: 100vh; padding: 4vmin; gap: 4vmin;
  display: flex; flex-direction: row; align-items: center; justify-content: center;
}
#visual {
  flex: 0 0 auto; display: flex; align-items: center; justify-content: center;
  width: min(calc(100vh - 8vmin), 55vw); height: min(calc(100vh - 8vmin), 55vw);
}
body:not([data-kind="idle"]):not([data-kind="awaiting-payment"]) #visual { width: min(calc(100vh - 8vmin), 38vw); height: min(calc(100vh - 8vmin), 38vw); }
#info {
  flex: 1 1 0; min-width: 0; min-height: 0; max-height: 100%;
  display: flex; flex-direction: column; justify-content: center; gap: 2.2vmin;
  overflow-wrap: anywhere; word-break: normal; line-height: 1.2;
}
@media (orientation: portrait) {
  main { flex-direction: column; justify-content: flex-start; padding-top: 6vmin; }
  #visual { width: min(calc(100vw - 8vmin), 56vh); height: min(calc(100vw - 8vmin), 56vh); }
  body:not([data-kind="idle"]):not([data-kind="awaiting-payment"]) #visual { width: 60vw; height: 60vw; }
  #info { width: 100%; text-align: center; justify-content: flex-start; align-items: center; }
}
#qr { display: block; background: #fff; image-rendering: pixelated; border-radius: 1.2vmin; box-shadow: 0 0.4vmin 2vmin #0002; }
h1, p { margin: 0; }
#title { font-size: clamp(18px, 6.4vmin, 96px); font-weight: 700; }
#subtitle { font-size: clamp(14px, 4.4vmin, 64px); color: #3b4452; line-height: 1.35; padding-bottom: 0.1em;
  display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; overflow: hidden; }
#amount { font-size: clamp(24px, 10vmin, 150px); font-weight: 800; font-variant-numeric: tabular-nums; letter-spacing: -0.02em; }
#reason { font-size: clamp(14px, 4.6vmin, 64px); font-weight: 600; }
#subtitle.long { font-size: clamp(12px, 3.6vmin, 52px); }
#reason.long { font-size: clamp(12px, 3.4vmin, 48px); }
#note { font-size: clamp(13px, 3.8vmin, 56px); color: #3b4452; }
#countdown { font-size: clamp(14px, 4.2vmin, 60px); color: #3b4452; display: flex; gap: 1.5vmin; align-items: baseline; flex-wrap: wrap; }
@media (orientation: portrait) { #countdown, #providers { justify-content: center; } }
#countdown-value { font-size: 1.5em; font-weight: 700; color: #14181f; font-variant-numeric: tabular-nums; }
#countdown.low #countdown-value { color: #c5221f; }
#countdown.up #countdown-value { color: #c5221f; font-size: 1em; }
#providers { display: flex; flex-wrap: wrap; gap: 1.2vmin; align-items: center; font-size: clamp(12px, 3.4vmin, 48px); color: #3b4452; }
#provider-list { display: contents; list-style: none; }
.provider { list-style: none; display: inline-block; background: #fff; border: 0.25vmin solid #d0d5dd; border-radius: 99px; padding: 0.4vmin 2vmin; color: #14181f; white-space: nowrap; }
#icon { width: 62%; height: 62%; border-radius: 50%; display: flex; align-items: center; justify-content: center;
  font-size: clamp(40px, 24vmin, 360px); font-weight: 700; color: #fff; line-height: 1; }
body[data-kind="dispensing"] #icon { background: none; border: 3vmin solid #d7e3fc; border-top-color: #1a73e8; animation: spin 1.1s linear infinite; }
body[data-kind="done"] #icon { background: #188038; }
body[data-kind="done"] #icon::after { content: "\\2713"; }
body[data-kind="failed"] #icon { background: #c5221f; }
body[data-kind="failed"] #icon::after { content: "!"; }
body[data-kind="out-of-service"] #icon { background: #5f6368; }
body[data-kind="out-of-service"] #icon::after { content: "\\2014"; }
body[data-kind="waiting"] #icon { background: none; border: 3vmin solid #e3e6ea; border-top-color: #9aa0a6; animation: spin 1.6s linear infinite; }
body[data-kind="failed"] #note { color: #14181f; font-weight: 600; background: #fdecea; border-radius: 1.2vmin; padding: 1.2vmin 2vmin; }
@keyframes spin { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { #icon { animation: none !important; } }
[hidden] { display: none !important; }
#link { position: fixed; right: 1.2vmin; bottom: 1.2vmin; width: 1.6vmin; height: 1.6vmin; border-radius: 50%; background: #c5221f; }
`;

export const KIOSK_JS = `
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const el = {
    visual: $('visual'), qr: $('qr'), icon: $('icon'), title: $('title'), subtitle: $('subtitle'),
    amount: $('amount'), reason: $('reason'), note: $('note'), countdown: $('countdown'),
    cdLabel: $('countdown-label'), cdValue: $('countdown-value'), providers: $('providers'),
    provLabel: $('providers-label'), provList: $('provider-list'), link: $('link'),
  };
  let view = null;
  let skew = 0;
  let timer = 0;

  const setText = (node, text) => {
    node.hidden = text === undefined || text === null || text === '';
    node.textContent = node.hidden ? '' : String(text);
  };

  const fitQr = () => {
    if (!view || !view.qr) return;
    const box = el.visual.getBoundingClientRect();
    const side = Math.min(box.width, box.height);
    const perModule = Math.max(1, Math.floor(side / view.qr.modules));
    const px = perModule * view.qr.modules;
    el.qr.style.width = px + 'px';
    el.qr.style.height = px + 'px';
    body.dataset.qrModulePx = String(perModule);
  };

  const tick = () => {
    if (!view || view.deadline === undefined) return;
    const left = Math.max(0, view.deadline - (Date.now() + skew));
    const s = Math.ceil(left / 1000);
    el.countdown.classList.toggle('low', s <= 15);
    el.countdown.classList.toggle('up', s === 0);
    el.cdValue.textContent = s === 0 ? view.texts.timeUp : Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
    if (s === 0) { clearInterval(timer); timer = 0; }
  };

  const render = (v) => {
    view = v;
    skew = v.at - Date.now();
    const t = v.texts;
    document.documentElement.lang = v.locale;
    body.dataset.kind = v.kind;
    body.dataset.seq = String(v.seq);
    body.dataset.ready = 'false';
    setText(el.title, t.title);
    setText(el.subtitle, t.subtitle);
    el.subtitle.classList.toggle('long', (t.subtitle || '').length > 40);
    setText(el.amount, t.amount);
    setText(el.reason, t.reason);
    el.reason.classList.toggle('long', (t.reason || '').length > 48);
    setText(el.note, t.note);
    el.provList.replaceChildren();
    if (t.providers && t.providers.length) {
      el.provLabel.textContent = t.providersLabel || '';
      for (const name of t.providers) {
        const li = document.createElement('li');
        li.className = 'provider';
        li.textContent = name;
        el.provList.append(li);
      }
      el.providers.hidden = false;
    } else {
      el.providers.hidden = true;
    }
    if (timer) { clearInterval(timer); timer = 0; }
    if (v.deadline !== undefined) {
      el.countdown.hidden = false;
      el.cdLabel.textContent = t.countdownLabel || '';
      tick();
      timer = setInterval(tick, 250);
    } else {
      el.countdown.hidden = true;
    }
    if (v.qr) {
      el.icon.hidden = true;
      el.qr.hidden = false;
      fitQr();
      el.qr.src = v.qr.src;
      const seq = v.seq;
      el.qr.decode().then(() => { if (view && view.seq === seq) body.dataset.ready = 'true'; }, () => {});
    } else {
      el.qr.hidden = true;
      el.qr.removeAttribute('src');
      el.icon.hidden = false;
      body.dataset.ready = 'true';
    }
  };

  addEventListener('resize', fitQr);
  const path = location.pathname.replace(/\\/+$/, '');
  const connect = () => {
    const es = new EventSource(path + '/events');
    es.addEventListener('open', () => { el.link.hidden = true; });
    es.addEventListener('error', () => { el.link.hidden = false; });
    es.addEventListener('render', (e) => {
      try { render(JSON.parse(e.data)); } catch (err) { console.error('bad render event', err); }
    });
  };
  connect();
})();
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** Inline script and style are allowed by hash only; EventSource goes to this origin; images are data: URLs. */
export const KIOSK_CSP = [
  "default-src 'none'",
  `script-src ${sha256(KIOSK_JS)}`,
  `style-src ${sha256(KIOSK_CSS)}`,
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

/** The page for one display; its language is used until the first render arrives. */
export function kioskHtml(locale: Locale): string {
  const waiting = escapeHtml(MESSAGES[locale].waiting);
  return `<!doctype html>
<html lang="${escapeHtml(locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vendgate display</title>
<style>${KIOSK_CSS}</style>
</head>
<body data-kind="waiting" data-ready="false">
<main id="screen">
  <section id="visual"><img id="qr" alt="QR" hidden><div id="icon" aria-hidden="true"></div></section>
  <section id="info" aria-live="polite">
    <h1 id="title">${waiting}</h1>
    <p id="subtitle" hidden></p>
    <p id="amount" hidden></p>
    <p id="reason" hidden></p>
    <p id="note" hidden></p>
    <div id="countdown" hidden><span id="countdown-label"></span><span id="countdown-value"></span></div>
    <div id="providers" hidden><span id="providers-label"></span><ul id="provider-list"></ul></div>
  </section>
</main>
<div id="link" hidden></div>
<script>${KIOSK_JS}</script>
</body>
</html>
`;
}

/**
 * The 404 page of a display id the gateway does not know: a readable page
 * instead of a kiosk that says "connecting…" forever. In the gateway's
 * default display language, and in English too for the person installing it.
 */
export function unknownDisplayHtml(displayId: string, locale: Locale): string {
  const m = MESSAGES[locale];
  const english =
    locale === 'en' ? '' : `\n    <p id="note">${escapeHtml(MESSAGES.en.unknownDisplayBody)}</p>`;
  return `<!doctype html>
<html lang="${escapeHtml(locale)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(m.unknownDisplayTitle)}</title>
<style>${KIOSK_CSS}</style>
</head>
<body data-kind="out-of-service" data-ready="true">
<main id="screen">
  <section id="info">
    <h1 id="title">${escapeHtml(m.unknownDisplayTitle)}</h1>
    <p id="subtitle">${escapeHtml(displayId)}</p>
    <p id="reason">${escapeHtml(m.unknownDisplayBody)}</p>${english}
  </section>
</main>
</body>
</html>
`;
}
