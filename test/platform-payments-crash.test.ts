/**
 * SIGKILL of the platform process at the two moments money can be lost or
 * doubled: after a verified notification is stored and acknowledged but
 * before its order.paid reached the gateway, and after a refund.requested
 * is stored but before the provider refunded. On restart the paid order is
 * signed and sent (and dispensed once), and the refund is sent with the same
 * out_refund_no (and refunded once).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WechatPayProvider } from '../platform/providers/wechatpay/index.ts';
import { tempDir, waitUntil } from '../testing/index.ts';
import {
  freePort,
  type PlatformProcess,
  platformConfig,
  platformProcess,
  type Sandboxes,
  startSandboxes,
} from './platform-payments-harness.ts';
import { useRig } from './support/rig.ts';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.ts';

describe('the platform killed between a payment and its outcome', () => {
  const h = useRig({ slotBoards: 1, platform: false });
  let sandboxes: Sandboxes;
  let proc: PlatformProcess;
  let proxy: TcpProxy;
  let port: number;
  const tmp = tempDir('vendgate-platform-crash-');
  const payerHashKey = Buffer.alloc(32, 7).toString('base64');
  const config = (brokerUrl: string) =>
    platformConfig({
      dir: tmp.dir,
      brokerUrl,
      signingKey: h.keys.privateKey,
      sandboxes,
      port,
      gatewayId: h.gatewayId,
      payerHashKey,
    });
  const brokerPort = () => Number(new URL(h.brokerUrl).port);

  beforeAll(async () => {
    sandboxes = await startSandboxes();
    port = await freePort();
    proxy = await startTcpProxy({ port: brokerPort() });
    proc = platformProcess(config(proxy.url));
    await proc.start();
  }, 60_000);
  afterAll(async () => {
    await proc?.stop();
    await proxy?.close();
    await sandboxes?.stop();
    tmp.cleanup();
  });

  const api = async <T>(path: string) => (await (await fetch(`${proc.url}${path}`)).json()) as T;
  const stateOf = async (no: string) =>
    (await api<{ order?: { state: string } }>(`/api/orders/${no}`)).order?.state;
  const buy = async (slot: number) =>
    (await (
      await fetch(`${proc.url}/m/${h.gatewayId}/m1/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ slot, provider: 'wechat' }),
      })
    ).json()) as { outTradeNo: string; qrContent: string };

  it('sends the order.paid of a payment stored before the kill, once, after the restart', async () => {
    const o = await buy(2);
    // The platform loses the broker: the payment is stored and acknowledged, its command cannot go out.
    await proxy.close();
    const paid = await sandboxes.wechat.pay(o.qrContent);
    expect(paid.ok).toBe(true);
    await waitUntil(async () => (await stateOf(o.outTradeNo)) === 'paid', {
      timeoutMs: 10_000,
      what: 'stored as paid',
    });
    await waitUntil(
      async () =>
        (await sandboxes.wechat.deliveries()).some(
          (d) => d.outTradeNo === o.outTradeNo && typeof d.status === 'number' && d.status < 300,
        ),
      { timeoutMs: 10_000, what: 'the notification acknowledged' },
    );
    proc.kill('SIGKILL');
    await waitUntil(() => proc.child?.exitCode !== null || proc.child?.signalCode !== null, {
      what: 'killed',
    });
    expect(h.gw.ledger.get(o.outTradeNo)).toBeUndefined();

    proxy = await startTcpProxy({ port: brokerPort() });
    proc.rewrite(config(proxy.url));
    await proc.start();
    await waitUntil(async () => (await stateOf(o.outTradeNo)) === 'dispensed', {
      timeoutMs: 20_000,
      what: 'dispensed after the restart',
    });
    expect(h.gw.ledger.get(o.outTradeNo)?.state).toBe('dispensed');
    expect(h.boards[0]!.readLog().filter((r) => r.outcome === 'dispensed')).toHaveLength(1);
  });

  it('sends a refund stored before the kill with the same out_refund_no after the restart, refunding once', async () => {
    h.boards[0]!.fault({ fault: 'jam', slot: 3, count: 1 });
    const o = await buy(3);
    await sandboxes.wechat.pay(o.qrContent);
    // The provider stops answering: the refund row is written and attempted, never answered.
    await sandboxes.wechat.fault('timeout');
    await waitUntil(
      async () => {
        const r = await api<{ refunds?: Array<{ attempts: number }> }>(`/api/orders/${o.outTradeNo}`);
        return (r.refunds?.[0]?.attempts ?? 0) >= 1;
      },
      { timeoutMs: 20_000, what: 'a refund attempt that timed out' },
    );
    proc.kill('SIGKILL');
    await waitUntil(() => proc.child?.exitCode !== null || proc.child?.signalCode !== null, {
      what: 'killed',
    });
    await sandboxes.wechat.fault('none');
    await proc.start();
    await waitUntil(async () => (await stateOf(o.outTradeNo)) === 'refunded', {
      timeoutMs: 20_000,
      what: 'refunded after the restart',
    });
    const r = await api<{ refunds: Array<{ outRefundNo: string; state: string }> }>(
      `/api/orders/${o.outTradeNo}`,
    );
    expect(r.refunds).toHaveLength(1);
    expect(r.refunds[0]!.outRefundNo).toBe(`rf${o.outTradeNo}`);
    const wechat = new WechatPayProvider({ config: sandboxes.providers.wechat });
    const bill = await wechat.fetchBill(new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10));
    expect(bill.rows.filter((row) => row.kind === 'refund' && row.outTradeNo === o.outTradeNo)).toHaveLength(
      1,
    );
    expect(h.gw.ledger.get(o.outTradeNo)?.state).toBe('refund_requested');
  });
});
