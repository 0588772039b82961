/**
 * Outcome events and the unresolved queue over a real broker: a gateway
 * client on MQTT receives the platform's signed order.paid and reports
 * order.unresolved / refund.requested / vend.succeeded envelopes (one
 * redelivered); the operator resolves the queue through the API and the
 * refund goes to the WeChat Pay sandbox process.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandBody, SignedCommand } from '../contract/commands.ts';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { publicKeyFromBase64, verifyBody } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { ErrorCode } from '../core/errors.ts';
import type { PlatformService } from '../platform/service.ts';
import { tempDir, waitUntil } from '../testing/index.ts';
import {
  capturingLog,
  freePort,
  platformConfig,
  type Sandboxes,
  startPlatformInProcess,
  startSandboxes,
} from './platform-payments-harness.ts';
import { type GatewaySigner, gatewaySigner } from './support/gateway-signer.ts';
import { useRig } from './support/rig.ts';

const GW = 'gw-hand';

describe('outcome events and the unresolved queue', () => {
  const h = useRig({ gateway: 'none', broker: 'aedes', platform: false });
  let sandboxes: Sandboxes;
  let platform: PlatformService;
  let client: MqttClient;
  const commands: CommandBody[] = [];
  let seq = 0;
  const captured = capturingLog();
  const tmp = tempDir('vendgate-platform-unresolved-');

  beforeAll(async () => {
    sandboxes = await startSandboxes();
    const port = await freePort();
    platform = await startPlatformInProcess(
      platformConfig({
        dir: tmp.dir,
        brokerUrl: h.brokerUrl,
        signingKey: h.keys.privateKey,
        sandboxes,
        port,
        gatewayId: GW,
      }),
      captured.log,
    );
    client = await connectMqttAsync(h.brokerUrl, { clientId: `hand-${randomUUID()}` });
    const key = publicKeyFromBase64(h.keys.publicKey);
    client.on('message', (_topic, payload) => {
      const signed = SignedCommand.parse(JSON.parse(payload.toString('utf8')));
      if (!verifyBody(signed.body, signed.sig, key)) throw new Error('an unsigned command');
      commands.push(CommandBody.parse(JSON.parse(signed.body)));
    });
    await client.subscribeAsync(gatewayTopics(GW).commandWildcard, { qos: 1 });
  }, 60_000);
  afterAll(async () => {
    await client?.endAsync(true);
    await platform?.stop();
    await sandboxes?.stop();
    tmp.cleanup();
  });

  const signers = new Map<string, GatewaySigner>();
  /** Each hand-played gateway signs with its own key, announced in a status before its first event. */
  const signerFor = async (gatewayId: string) => {
    let signer = signers.get(gatewayId);
    if (!signer) {
      signer = gatewaySigner();
      signers.set(gatewayId, signer);
      await client.publishAsync(
        gatewayTopics(gatewayId).status,
        signer.status({ state: 'online', gatewayId }),
        { qos: 1 },
      );
    }
    return signer;
  };
  const state = async (no: string) => (await platform.store.orders.get(no))?.state;
  const publish = async (type: string, data: unknown, over: { seq?: number; gatewayId?: string } = {}) => {
    const gatewayId = over.gatewayId ?? GW;
    const env = { id: randomUUID(), seq: over.seq ?? ++seq, gatewayId, ts: Date.now(), type, data };
    const signer = await signerFor(gatewayId);
    await client.publishAsync(gatewayTopics(gatewayId).event(type), signer.seal(env), { qos: 1 });
    return env;
  };
  /** A paid order: bought on the API, paid on the sandbox phone, order.paid received here signed. */
  const paidOrder = async (slot: number) => {
    const res = await fetch(`${platform.url}/m/${GW}/m1/orders`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slot, provider: 'wechat' }),
    });
    const o = (await res.json()) as { outTradeNo: string; qrContent: string };
    await sandboxes.wechat.pay(o.qrContent);
    await waitUntil(() => commands.some((c) => (c.data as { orderId: string }).orderId === o.outTradeNo), {
      timeoutMs: 10_000,
      what: 'a signed order.paid',
    });
    return o.outTradeNo;
  };
  const price = { amount: 350, currency: 'CNY' };
  const resolve = (no: string, resolution: string) =>
    fetch(`${platform.url}/api/unresolved/${no}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resolution, note: 'checked the machine' }),
    });

  it('sends one signed order.paid carrying the order, its price and a dispense deadline', async () => {
    const no = await paidOrder(1);
    const cmd = commands.find((c) => (c.data as { orderId: string }).orderId === no)!;
    expect(cmd).toMatchObject({ id: `paid-${no}`, type: 'order.paid', gatewayId: GW });
    expect(cmd.data).toMatchObject({ orderId: no, machineId: 'm1', slot: 1, price, provider: 'wechat' });
    expect((cmd.data as { expiresAt: number }).expiresAt).toBeGreaterThan(Date.now());
    await publish('vend.succeeded', { orderId: no, machineId: 'm1', slot: 1, price });
    await waitUntil(async () => (await state(no)) === 'dispensed', { what: 'dispensed' });
  });

  it('queues an order.unresolved for an operator, who resolves it as a refund at the provider', async () => {
    const no = await paidOrder(2);
    await publish('order.unresolved', {
      orderId: no,
      machineId: 'm1',
      slot: 2,
      price,
      vendToken: 7,
      code: ErrorCode.OrderUnresolved,
      reason: 'controller silent',
    });
    await waitUntil(async () => (await state(no)) === 'unresolved', { what: 'unresolved' });
    const queue = (await (await fetch(`${platform.url}/api/unresolved`)).json()) as {
      orders: Array<{ outTradeNo: string; reason: string }>;
    };
    expect(queue.orders.find((o) => o.outTradeNo === no)?.reason).toContain('controller silent');
    const ops = await (await fetch(`${platform.url}/ops`)).text();
    expect(ops).toContain(`/ops/unresolved/${no}/resolve`);
    const r = await resolve(no, 'refund');
    expect(r.status).toBe(200);
    await waitUntil(async () => (await state(no)) === 'refunded', { timeoutMs: 10_000, what: 'refunded' });
    expect((await platform.store.refunds.forOrder(no))[0]).toMatchObject({
      outRefundNo: `rf${no}`,
      amount: 350,
    });
    const again = await resolve(no, 'dispensed');
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: number }).code).toBe(ErrorCode.PlatformOrderState);
  });

  it('resolves an unresolved order as dispensed from the operator page form', async () => {
    const no = await paidOrder(3);
    await publish('order.unresolved', {
      orderId: no,
      machineId: 'm1',
      slot: 3,
      price,
      vendToken: 8,
      code: ErrorCode.OrderUnresolved,
      reason: 'no answer',
    });
    await waitUntil(async () => (await state(no)) === 'unresolved', { what: 'unresolved' });
    const r = await fetch(`${platform.url}/ops/unresolved/${no}/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'resolution=dispensed',
      redirect: 'manual',
    });
    expect(r.status).toBe(303);
    expect(await state(no)).toBe('dispensed');
  });

  it('refunds a refund.requested once, even when the event is delivered twice', async () => {
    const no = await paidOrder(4);
    const data = { orderId: no, refund: price, code: ErrorCode.VendJammed, reason: 'jam' };
    const env = await publish('refund.requested', data);
    await publish('refund.requested', data, { seq: env.seq });
    await waitUntil(async () => (await state(no)) === 'refunded', { timeoutMs: 10_000, what: 'refunded' });
    expect(await platform.store.refunds.forOrder(no)).toHaveLength(1);
  });

  it('ignores an outcome from a gateway the order is not for, and logs it', async () => {
    const no = await paidOrder(5);
    await publish(
      'vend.succeeded',
      { orderId: no, machineId: 'm1', slot: 5, price },
      { gatewayId: 'gw-other', seq: 1 },
    );
    await waitUntil(
      () =>
        captured.lines.some(
          (l) => l.msg === 'an outcome from a gateway the order is not for: ignored' && l.orderId === no,
        ),
      {
        what: 'the refusal logged',
      },
    );
    expect(await state(no)).toBe('paid');
  });

  it('refuses an operator call with a bad parameter, naming the field', async () => {
    const r = await resolve('no!', 'refund');
    expect(r.status).toBe(400);
    const bad = await fetch(`${platform.url}/api/unresolved/vgabcdef/resolve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resolution: 'maybe' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('resolution');
    expect((await fetch(`${platform.url}/api/orders/vgunknown1`)).status).toBe(404);
  });
});
