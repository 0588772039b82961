// Small server-rendered pages: escaping and one layout, no client framework.
import type { Money } from '../../core/money.ts';

export function esc(s: unknown): string {
  return String(s ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** "CNY 3.50": minor units shown with the currency's digits (Intl), never through a float sum. */
export function money(m: Money): string {
  const digits =
    new Intl.NumberFormat('en', { style: 'currency', currency: m.currency }).resolvedOptions()
      .maximumFractionDigits ?? 2;
  const s = String(m.amount).padStart(digits + 1, '0');
  return digits === 0 ? `${m.currency} ${s}` : `${m.currency} ${s.slice(0, -digits)}.${s.slice(-digits)}`;
}

export function page(title: string, body: string, opts: { refreshSeconds?: number } = {}): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${opts.refreshSeconds ? `<meta http-equiv="refresh" content="${opts.refreshSeconds}">` : ''}
<title>${esc(title)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:60rem;padding:1rem;color:#222}
table{border-collapse:collapse;width:100%;font-size:.9rem}td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:left}
.product{display:flex;justify-content:space-between;align-items:center;border:1px solid #ddd;border-radius:.5rem;padding:.7rem;margin:.5rem 0}
button{font-size:1rem;padding:.5rem .9rem;border-radius:.4rem;border:0;color:#fff;cursor:pointer}
.wechat{background:#07c160}.alipay{background:#1677ff}.plain{background:#555}
.bad{color:#b00}.ok{color:#070}.qr svg{width:16rem;height:16rem}
</style></head><body>${body}</body></html>`;
}
