/**
 * The simulated phone: a small mobile page on the sandbox. Paste (or pass as
 * ?qr=) what the payment QR encodes, see the order, then pay, abandon, or
 * pay twice (Alipay then delivers the same notification twice). Tests use
 * the same endpoints with plain HTTP (POST /phone/<action> {"qr": "..."}).
 */
export const PHONE_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Alipay sandbox phone</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f5f5f5;color:#222}
header{background:#1677ff;color:#fff;padding:14px 16px;font-size:18px}
main{padding:16px;max-width:420px;margin:auto}
input{width:100%;box-sizing:border-box;padding:10px;font-size:15px;border:1px solid #ccc;border-radius:6px}
button{width:100%;margin-top:10px;padding:12px;font-size:16px;border:0;border-radius:6px;background:#1677ff;color:#fff}
button.alt{background:#888}
#order{margin:14px 0;padding:12px;background:#fff;border-radius:6px;min-height:44px}
#amount{font-size:28px;font-weight:600}
</style></head>
<body><header>支付宝 · sandbox phone</header><main>
<label for="qr">Payment code (QR content)</label>
<input id="qr" placeholder="https://qr.alipay.com/..." autocomplete="off">
<div id="order">Scan or paste a code.</div>
<button id="pay">Pay</button>
<button id="twice" class="alt">Pay (notification delivered twice)</button>
<button id="abandon" class="alt">Abandon</button>
<p id="result" role="status"></p>
</main>
<script>
const $ = (id) => document.getElementById(id);
const qr = new URLSearchParams(location.search).get('qr');
if (qr) $('qr').value = qr;
async function show() {
  const v = $('qr').value.trim();
  if (!v) return;
  const r = await fetch('/phone/trade?qr=' + encodeURIComponent(v));
  const o = await r.json();
  $('order').innerHTML = o.ok
    ? '<div>' + o.subject.replace(/</g, '&lt;') + '</div><div id="amount">¥' + o.totalAmount + '</div><div>' + o.status + '</div>'
    : o.error;
}
async function act(action) {
  const r = await fetch('/phone/' + action, { method: 'POST', body: JSON.stringify({ qr: $('qr').value.trim() }) });
  const o = await r.json();
  $('result').textContent = o.ok ? 'Done: ' + o.status : 'Refused: ' + o.error;
  show();
}
$('qr').addEventListener('change', show);
$('pay').onclick = () => act('pay');
$('twice').onclick = () => act('pay-twice');
$('abandon').onclick = () => act('abandon');
show();
</script></body></html>
`;
