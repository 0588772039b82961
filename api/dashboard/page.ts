/**
 * The dashboard page: HTML and CSS served as strings (no build step). The
 * page carries only the site's facts (gateway id, time zone, locale,
 * product names) as JSON in a non-executed script element; its script and
 * chart.js load from the gateway (plugin.ts), so a strict Content Security
 * Policy allows no inline script at all.
 *
 * Layout: a grid of cards that becomes one column below 720 px; tables that
 * cannot fit a 375 px phone hide their less important columns and scroll
 * inside their card, never the page.
 */
import { createHash } from 'node:crypto';
import type { DashboardLocale } from './i18n.ts';

export interface DashboardSite {
  gatewayId: string;
  /** IANA time zone of the site (config `timeZone`): every date and time on the page is in it. */
  timeZone: string;
  /** The page's language when neither ?lang= nor the browser's languages name one. */
  locale: DashboardLocale;
  /** Product names by machine and slot, from the machines' config (orders carry only slot numbers). */
  products: Record<string, Record<number, string>>;
  /** How often the page polls; default 3 s. */
  pollMs?: number;
}

export const DASHBOARD_CSS = `
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { font: 14px/1.4 "Noto Sans", "Noto Sans CJK SC", "Noto Sans CJK JP", "DejaVu Sans", system-ui, sans-serif;
  margin: 0; background: #f3f4f6; color: #1d2330; }
html:lang(ja) body { font-family: "Noto Sans", "Noto Sans CJK JP", "Noto Sans CJK SC", "DejaVu Sans", system-ui, sans-serif; }
header { background: #1d2330; color: #fff; padding: 10px 16px; display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: center; }
header h1 { font-size: 17px; margin: 0; }
header #gw { color: #b8c0cc; font-size: 13px; }
header .spacer { flex: 1 1 auto; }
header label { font-size: 13px; color: #b8c0cc; display: flex; gap: 6px; align-items: center; }
header select { font: inherit; padding: 2px 4px; }
#banner { background: #b3261e; color: #fff; font-weight: 700; padding: 10px 16px; }
#banner[hidden] { display: none; }
main { padding: 12px; display: grid; gap: 12px; grid-template-columns: repeat(2, minmax(0, 1fr)); max-width: 1400px; margin: 0 auto; }
section { background: #fff; border-radius: 8px; padding: 10px 14px 12px; box-shadow: 0 1px 2px #0002; min-width: 0; }
section.full { grid-column: 1 / -1; }
section > .head { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; margin-bottom: 6px; }
h2 { font-size: 15px; margin: 0; }
h3 { font-size: 13px; margin: 10px 0 4px; color: #4a5260; }
.asof { font-size: 12px; color: #667; white-space: nowrap; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid #eceef1; font-variant-numeric: tabular-nums; vertical-align: middle; }
th { font-size: 12px; color: #4a5260; font-weight: 600; }
td .id { display: inline-block; max-width: 22ch; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; vertical-align: bottom; }
.ok { color: #137333; } .bad { color: #b3261e; } .warn { color: #9a5b00; } .muted { color: #667; }
.small { font-size: 12px; }
.pill { display: inline-block; padding: 0 8px; border-radius: 10px; background: #eef0f4; margin: 1px 4px 1px 0; font-size: 12px; white-space: nowrap; }
.pill.ok { background: #e6f4ea; } .pill.bad { background: #fce8e6; }
.cards { display: grid; gap: 8px; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); }
.card { border: 1px solid #e2e5ea; border-radius: 6px; padding: 8px 10px; }
.card-head { display: flex; flex-wrap: wrap; gap: 6px; align-items: center; margin-bottom: 4px; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0; font-size: 13px; }
dt { color: #667; } dd { margin: 0; }
dl.facts { font-size: 14px; }
ul.alerts { list-style: none; padding: 0; margin: 6px 0 0; display: grid; gap: 4px; }
li.alert { display: flex; flex-wrap: wrap; gap: 2px 8px; align-items: baseline; padding: 4px 8px; border-left: 4px solid #9a5b00; background: #fff7e6; border-radius: 3px; }
li.alert.critical { border-left-color: #b3261e; background: #fce8e6; }
ul.cleared li.alert { border-left-color: #aab; background: #f3f4f6; }
li.alert .sev { font-size: 11px; text-transform: uppercase; letter-spacing: 0.04em; color: #4a5260; }
details { margin-top: 8px; } summary { cursor: pointer; color: #4a5260; }
.stock-head { display: flex; justify-content: space-between; align-items: center; margin: 8px 0 2px; }
.level { display: flex; align-items: center; gap: 6px; min-width: 90px; }
.bar { flex: 1 1 auto; height: 8px; background: #e4e7ec; border-radius: 4px; overflow: hidden; min-width: 40px; }
.bar > span { display: block; height: 100%; background: #3b6fd8; }
.bar.low > span { background: #b3261e; }
.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
button.refill { font: inherit; font-size: 12px; padding: 3px 10px; border: 1px solid #3b6fd8; color: #1f4fae; background: #fff; border-radius: 4px; cursor: pointer; white-space: nowrap; }
button.refill:disabled { border-color: #ccd; color: #99a; cursor: default; }
.notice { margin: 0 0 6px; font-weight: 600; }
.totals { display: flex; flex-wrap: wrap; gap: 4px 12px; align-items: baseline; margin: 0 0 6px; }
.big { font-size: 22px; font-weight: 700; font-variant-numeric: tabular-nums; }
.chart { position: relative; height: 220px; width: 100%; }
.na { font-style: italic; }
/* Unreachable: what the page shows is only as of its time; nothing may look healthy. */
body.unreachable section.stale > .body, body.unreachable section.stale h2 { opacity: 0.6; filter: grayscale(1); }
body.unreachable .ok, body.unreachable .pill.ok, body.unreachable .pill { color: #555c66; background: #e4e6ea; }
body.unreachable .asof { color: #b3261e; font-weight: 600; }
@media (max-width: 720px) {
  main { grid-template-columns: minmax(0, 1fr); padding: 8px; gap: 8px; }
  section { padding: 8px 10px; }
  .wide { display: none; }
  .chart { height: 200px; }
  .cards { grid-template-columns: minmax(0, 1fr); }
}
`;

/** Every section: its id (also its i18n key) and whether it spans the page. */
const SECTIONS: ReadonlyArray<[string, boolean]> = [
  ['machines', true],
  ['alerts', false],
  ['outbox', false],
  ['salesToday', false],
  ['sales7', false],
  ['stock', true],
  ['refunds', false],
  ['sessions', false],
  ['orders', true],
  ['coupons', false],
  ['beacons', false],
];

/** The site JSON inside a script element: `<` escaped so no value can close the element. */
function siteJson(site: DashboardSite): string {
  return JSON.stringify(site)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

export function dashboardHtml(
  site: DashboardSite,
  assets: { js: string; css: string; chart: string },
): string {
  const sections = SECTIONS.map(
    ([id, full]) =>
      `<section id="s-${id}"${full ? ' class="full"' : ''} data-state="loading"><div class="head"><h2 data-i18n="section.${id}"></h2><span class="asof"></span></div><div class="body"></div></section>`,
  ).join('\n  ');
  return `<!doctype html>
<html lang="${site.locale}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vendgate dashboard</title>
<link rel="stylesheet" href="${assets.css}">
<script type="application/json" id="site">${siteJson(site)}</script>
<script src="${assets.chart}" defer></script>
<script src="${assets.js}" defer></script>
</head>
<body>
<header><h1 data-i18n="title"></h1><span id="gw"></span><span id="link" class="pill muted"></span><span class="spacer"></span>
<label><span data-i18n="language"></span><select id="lang"></select></label></header>
<div id="banner" role="alert" hidden></div>
<main>
  ${sections}
</main>
</body>
</html>
`;
}

/** No inline script, no framing; style attributes set from script (chart.js, level bars) are CSSOM, which CSP allows. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function etagOf(body: string | Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}
