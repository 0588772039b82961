/**
 * Creating payment orders: a remote vend chosen on the phone page, and a
 * select-then-pay session asking over `req/order.create`. The order row is
 * stored (`created`) before the provider is asked, so a notification can
 * never arrive for an order the platform has not written down; a provider
 * that fails leaves a `created` row the poller closes.
 */
import { RequestSchemas, type ResponseData } from '../../contract/requests.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Money } from '../../core/money.ts';
import type { PaymentProvider, ProviderName } from '../providers/port.ts';
import type { OrderKind, OrderRow } from '../store/port.ts';
import { creditOf } from './catalogue.ts';
import type { PaymentsContext } from './context.ts';
import { newOutTradeNo, sessionOutTradeNo } from './ids.ts';

export interface CreatedOrder {
  order: OrderRow;
  qrContent: string;
}

export function providerFor(ctx: PaymentsContext, name: ProviderName): PaymentProvider {
  const p = ctx.providers[name];
  if (!p) {
    throw new VendgateError(
      ErrorCode.PlatformProviderUnavailable,
      `payment provider "${name}" is not configured`,
      {
        provider: name,
      },
    );
  }
  return p;
}

export function notifyUrl(ctx: PaymentsContext, provider: ProviderName): string {
  return `${ctx.config.publicBaseUrl}/notify/${provider}`;
}

interface NewOrder {
  outTradeNo: string;
  gatewayId: string;
  machineId: string;
  slot: number;
  price: Money;
  provider: ProviderName;
  description: string;
  expiresAt: number;
  sessionId?: string;
  kind?: OrderKind;
}

async function createAtProvider(ctx: PaymentsContext, o: NewOrder): Promise<CreatedOrder> {
  const provider = providerFor(ctx, o.provider);
  const at = ctx.now();
  await ctx.store.orders.create({
    outTradeNo: o.outTradeNo,
    gatewayId: o.gatewayId,
    machineId: o.machineId,
    slot: o.slot,
    amount: o.price.amount,
    currency: o.price.currency,
    provider: o.provider,
    ...(o.sessionId ? { sessionId: o.sessionId } : {}),
    ...(o.kind ? { kind: o.kind } : {}),
    expiresAt: o.expiresAt,
    createdAt: at,
  });
  const order = await ctx.store.orders.get(o.outTradeNo);
  if (!order) throw new VendgateError(ErrorCode.PlatformOrderUnknown, `order ${o.outTradeNo} was not stored`);
  if (order.state !== 'created') {
    throw new VendgateError(ErrorCode.PlatformOrderState, `order ${o.outTradeNo} is ${order.state}`, {
      outTradeNo: o.outTradeNo,
      state: order.state,
    });
  }
  const { qrContent } = await provider.create({
    outTradeNo: o.outTradeNo,
    amount: o.price,
    description: o.description.slice(0, 127),
    expiresAt: o.expiresAt,
    notifyUrl: notifyUrl(ctx, o.provider),
  });
  ctx.log.info(
    {
      outTradeNo: o.outTradeNo,
      provider: o.provider,
      gatewayId: o.gatewayId,
      machineId: o.machineId,
      slot: o.slot,
    },
    'payment order created',
  );
  return { order, qrContent };
}

/** The phone page's purchase: the price comes from the catalogue, never from the phone. */
export async function createRemoteOrder(
  ctx: PaymentsContext,
  input: { gatewayId: string; machineId: string; slot: number; provider: ProviderName },
): Promise<CreatedOrder> {
  const machine = ctx.catalogue.machine(input.gatewayId, input.machineId);
  const product = machine?.products.find((p) => p.slot === input.slot);
  if (machine?.mode === 'pay-first') {
    throw new VendgateError(
      ErrorCode.PlatformMachineUnknown,
      `machine ${input.machineId} at gateway ${input.gatewayId} is pay-first: buy a credit, then choose on the machine`,
      { gatewayId: input.gatewayId, machineId: input.machineId },
    );
  }
  if (!machine || !product) {
    throw new VendgateError(
      ErrorCode.PlatformMachineUnknown,
      `no product in slot ${input.slot} of machine ${input.machineId} at gateway ${input.gatewayId}`,
      { gatewayId: input.gatewayId, machineId: input.machineId, slot: input.slot },
    );
  }
  const now = ctx.now();
  return createAtProvider(ctx, {
    outTradeNo: newOutTradeNo(now),
    gatewayId: input.gatewayId,
    machineId: input.machineId,
    slot: input.slot,
    price: product.price,
    provider: input.provider,
    description: `${product.name} at ${machine.name}`,
    expiresAt: now + ctx.config.remoteOrderTtlMs,
  });
}

/**
 * Pay first, then choose: the phone page sells the machine's credit (its
 * amount from the catalogue, never from the phone); once paid, a signed
 * `credit.paid` lets the customer choose on the machine, and the gateway
 * reports the vended part and the unspent rest to refund.
 */
export async function createCreditOrder(
  ctx: PaymentsContext,
  input: { gatewayId: string; machineId: string; provider: ProviderName },
): Promise<CreatedOrder> {
  const machine = ctx.catalogue.machine(input.gatewayId, input.machineId);
  const credit = machine && creditOf(machine);
  if (!machine || !credit) {
    throw new VendgateError(
      ErrorCode.PlatformMachineUnknown,
      `machine ${input.machineId} at gateway ${input.gatewayId} is not a pay-first machine with a priced product`,
      { gatewayId: input.gatewayId, machineId: input.machineId },
    );
  }
  const now = ctx.now();
  return createAtProvider(ctx, {
    outTradeNo: newOutTradeNo(now),
    gatewayId: input.gatewayId,
    machineId: input.machineId,
    // No item yet: the machine reports the slot it vended (vend.succeeded).
    slot: 0,
    price: credit,
    provider: input.provider,
    description: `Credit at ${machine.name}`,
    expiresAt: now + ctx.config.remoteOrderTtlMs,
    kind: 'credit',
  });
}

/** The provider a session's single QR is for: the configured one, else WeChat Pay, else Alipay. */
export function sessionProvider(ctx: PaymentsContext): ProviderName {
  const wanted = ctx.config.sessionProvider;
  if (wanted && ctx.providers[wanted]) return wanted;
  if (ctx.providers.wechat) return 'wechat';
  if (ctx.providers.alipay) return 'alipay';
  throw new VendgateError(ErrorCode.PlatformProviderUnavailable, 'no payment provider is configured');
}

/** Answers a gateway's `req/order.create` (select then pay). */
export async function answerOrderCreate(
  ctx: PaymentsContext,
  gatewayId: string,
  data: unknown,
): Promise<ResponseData<'order.create'>> {
  const parsed = RequestSchemas['order.create'].request.safeParse(data);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new VendgateError(ErrorCode.PlatformOrderCreateRefused, `order.create is malformed: ${where}`, {
      gatewayId,
    });
  }
  const req = parsed.data;
  const now = ctx.now();
  const refuse = (why: string): never => {
    ctx.log.warn({ gatewayId, machineId: req.machineId, slot: req.slot, why }, 'order.create refused');
    throw new VendgateError(ErrorCode.PlatformOrderCreateRefused, `order.create refused: ${why}`, {
      gatewayId,
      machineId: req.machineId,
    });
  };
  if (req.deadline <= now) refuse('the session deadline has passed');
  const listed = ctx.catalogue.product(gatewayId, req.machineId, req.slot);
  if (listed && (listed.price.amount !== req.price.amount || listed.price.currency !== req.price.currency)) {
    refuse(`the price differs from the catalogue's ${listed.price.currency} ${listed.price.amount}`);
  }
  if (req.price.amount <= 0) refuse('the price is zero');
  const provider = sessionProvider(ctx);
  const machineName = ctx.catalogue.machine(gatewayId, req.machineId)?.name ?? req.machineId;
  const { order, qrContent } = await createAtProvider(ctx, {
    outTradeNo: sessionOutTradeNo(gatewayId, req.sessionId),
    gatewayId,
    machineId: req.machineId,
    slot: req.slot,
    price: req.price,
    provider,
    description: `${listed?.name ?? `Item ${req.slot}`} at ${machineName}`,
    expiresAt: req.deadline,
    sessionId: req.sessionId,
  });
  return {
    orderId: order.outTradeNo,
    paymentUrl: qrContent,
    providers: [provider],
    expiresAt: order.expiresAt,
  };
}
