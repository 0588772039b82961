/**
 * The simulated phone's page: what a payer sees after scanning a Native
 * payment QR code (the order, its amount) and three buttons: pay, pay twice
 * (so the merchant receives a duplicate notification), or walk away.
 */
export interface PhoneOrder {
  codeUrl: string;
  description: string;
  total: number;
  currency: string;
  state: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function amountText(total: number, currency: string): string {
  const digits = ['JPY', 'KRW'].includes(currency) ? 0 : 2;
  return `${currency} ${(total / 10 ** digits).toFixed(digits)}`;
}

export function phonePage(order: PhoneOrder | undefined): string {
  const body = order
    ? `<h1>${escapeHtml(order.description)}</h1>
  <p class="amount">${escapeHtml(amountText(order.total, order.currency))}</p>
  <p id="state">${escapeHtml(order.state)}</p>
  <button data-action="pay" data-times="1">Pay</button>
  <button data-action="pay" data-times="2">Pay twice (duplicate notification)</button>
  <button data-action="abandon">Abandon</button>
  <script>
    const code = ${JSON.stringify(order.codeUrl).replace(/</g, '\\u003c')};
    for (const b of document.querySelectorAll('button')) {
      b.addEventListener('click', async () => {
        const path = b.dataset.action === 'pay' ? 'pay' : 'abandon';
        const res = await fetch('/sandbox/phone/' + path, {
          method: 'POST', headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ code, times: Number(b.dataset.times || 1) }),
        });
        const j = await res.json();
        document.getElementById('state').textContent = j.ok ? (path === 'pay' ? 'PAID' : 'ABANDONED') : j.error;
      });
    }
  </script>`
    : '<h1>No such payment code</h1>';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>WeChat Pay sandbox</title>
<style>body{font-family:sans-serif;max-width:24rem;margin:2rem auto;padding:0 1rem}
.amount{font-size:2rem;font-weight:bold}button{display:block;width:100%;margin:.5rem 0;padding:.8rem;font-size:1rem}
button[data-action=pay]{background:#07c160;color:#fff;border:0;border-radius:.3rem}</style></head>
<body>${body}</body></html>`;
}
