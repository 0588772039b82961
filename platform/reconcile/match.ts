/**
 * Daily reconciliation as a pure function: every transaction of a
 * provider's trade bill for one day is matched to the platform's outcome
 * for its order, and for every provider and currency the day must balance
 * to the minor unit: paid = dispensed + refunded (a credit order, pay first
 * then choose, counts its vended part dispensed and its unspent rest
 * refunded). Everything that does not
 * match is listed, one mismatch per finding.
 */
import type { BillRow, ProviderName, TradeBill } from '../providers/port.ts';
import type { OrderRow } from '../store/port.ts';

export const MISMATCH_KINDS = [
  /** Paid at the provider, but the platform's order is neither dispensed nor refunded. */
  'paid-not-settled',
  /** Two or more refund rows for one order. */
  'refunded-twice',
  /** A bill transaction for no order of ours, or a second transaction for an order. */
  'unknown-transaction',
  /** The bill amount or currency differs from the order's. */
  'amount-differs',
  /** The platform recorded a payment that day that the bill does not list. */
  'missing-from-bill',
] as const;
export type MismatchKind = (typeof MISMATCH_KINDS)[number];

export interface Mismatch {
  kind: MismatchKind;
  provider: ProviderName;
  outTradeNo: string;
  transactionId: string | null;
  amount: number | null;
  currency: string | null;
  detail: string;
}

export interface ReconcileTotal {
  provider: ProviderName;
  currency: string;
  /** Sums of the day's payment rows, split by what became of them; minor units. */
  paid: number;
  dispensed: number;
  refunded: number;
  /** paid - dispensed - refunded: zero when the day balances. */
  unsettled: number;
  balanced: boolean;
  payments: number;
  refunds: number;
}

export interface ReconcileReport {
  day: string;
  generatedAt: number;
  providers: ProviderName[];
  totals: ReconcileTotal[];
  mismatches: Mismatch[];
  /** Bills that could not be fetched or parsed, by provider, with the error. */
  errors: Array<{ provider: ProviderName; error: string }>;
}

export interface ReconcileInput {
  day: string;
  bills: TradeBill[];
  /** Every order a bill row names, and every order paid within the day. */
  orders: ReadonlyMap<string, OrderRow>;
  /** The day as Unix ms [from, to) in the bills' time zone. */
  from: number;
  to: number;
  generatedAt: number;
  errors?: ReconcileReport['errors'];
}

export function reconcile(input: ReconcileInput): ReconcileReport {
  const mismatches: Mismatch[] = [];
  const totals = new Map<string, ReconcileTotal>();
  const total = (provider: ProviderName, currency: string) => {
    const k = `${provider}/${currency}`;
    let t = totals.get(k);
    if (!t) {
      t = {
        provider,
        currency,
        paid: 0,
        dispensed: 0,
        refunded: 0,
        unsettled: 0,
        balanced: true,
        payments: 0,
        refunds: 0,
      };
      totals.set(k, t);
    }
    return t;
  };
  const add = (m: Omit<Mismatch, 'transactionId' | 'amount' | 'currency'>, row?: BillRow) =>
    mismatches.push({
      ...m,
      transactionId: row?.transactionId ?? null,
      amount: row?.amount.amount ?? null,
      currency: row?.amount.currency ?? null,
    });

  for (const bill of input.bills) {
    const p = bill.provider;
    const payments = new Map<string, BillRow[]>();
    const refunds = new Map<string, BillRow[]>();
    for (const row of bill.rows) {
      const into = row.kind === 'payment' ? payments : refunds;
      into.set(row.outTradeNo, [...(into.get(row.outTradeNo) ?? []), row]);
    }
    for (const [no, rows] of payments) {
      const order = input.orders.get(no);
      const ours = order?.provider === p ? order : undefined;
      const refundRows = refunds.get(no) ?? [];
      for (const [i, row] of rows.entries()) {
        const t = total(p, row.amount.currency);
        t.paid += row.amount.amount;
        t.payments++;
        if (!ours) {
          add(
            {
              kind: 'unknown-transaction',
              provider: p,
              outTradeNo: no,
              detail: 'no order of ours has this out_trade_no',
            },
            row,
          );
          continue;
        }
        if (i > 0 || (ours.transactionId !== null && ours.transactionId !== row.transactionId)) {
          add(
            {
              kind: 'unknown-transaction',
              provider: p,
              outTradeNo: no,
              detail: `a second transaction; the order was paid by ${ours.transactionId ?? 'none'}`,
            },
            row,
          );
          continue;
        }
        const billRefunded = refundRows.reduce((s, r) => s + r.amount.amount, 0);
        if (ours.kind === 'credit' && ours.vendedAmount !== null) {
          // Pay first: the vended part is dispensed, the unspent rest refunded (a partial refund).
          const rest = row.amount.amount - ours.vendedAmount;
          t.dispensed += ours.vendedAmount;
          t.refunded += billRefunded;
          if (billRefunded !== rest)
            add(
              {
                kind: billRefunded < rest ? 'paid-not-settled' : 'amount-differs',
                provider: p,
                outTradeNo: no,
                detail: `a credit order: vended ${ours.vendedAmount}, refunded ${billRefunded} of the unspent ${rest} (the order is ${ours.state})`,
              },
              row,
            );
          continue;
        }
        const refunded = refundRows.length > 0 || ours.state === 'refunded';
        if (!refunded && (row.amount.amount !== ours.amount || row.amount.currency !== ours.currency)) {
          add(
            {
              kind: 'amount-differs',
              provider: p,
              outTradeNo: no,
              detail: `the order is ${ours.currency} ${ours.amount}`,
            },
            row,
          );
        }
        if (refunded) t.refunded += refundRows.length > 0 ? billRefunded : row.amount.amount;
        else if (ours.state === 'dispensed') t.dispensed += row.amount.amount;
        else
          add(
            { kind: 'paid-not-settled', provider: p, outTradeNo: no, detail: `the order is ${ours.state}` },
            row,
          );
      }
    }
    for (const [no, rows] of refunds) {
      const order = input.orders.get(no);
      for (const row of rows) total(p, row.amount.currency).refunds++;
      if (!order || order.provider !== p) {
        add(
          {
            kind: 'unknown-transaction',
            provider: p,
            outTradeNo: no,
            detail: 'a refund for no order of ours',
          },
          rows[0],
        );
      } else if (rows.length > 1) {
        add(
          {
            kind: 'refunded-twice',
            provider: p,
            outTradeNo: no,
            detail: `${rows.length} refunds: ${rows.map((r) => r.outRefundNo ?? '?').join(', ')}`,
          },
          rows[1],
        );
      }
    }
    for (const order of input.orders.values()) {
      if (order.provider !== p || order.paidAt === null || order.transactionId === null) continue;
      if (order.paidAt < input.from || order.paidAt >= input.to) continue;
      if (!(payments.get(order.outTradeNo) ?? []).some((r) => r.transactionId === order.transactionId)) {
        add({
          kind: 'missing-from-bill',
          provider: p,
          outTradeNo: order.outTradeNo,
          detail: `the platform recorded ${order.transactionId} paid that day`,
        });
        const last = mismatches.at(-1);
        if (last)
          Object.assign(last, {
            transactionId: order.transactionId,
            amount: order.amount,
            currency: order.currency,
          });
      }
    }
  }
  for (const t of totals.values()) {
    t.unsettled = t.paid - t.dispensed - t.refunded;
    t.balanced = t.unsettled === 0;
  }
  return {
    day: input.day,
    generatedAt: input.generatedAt,
    providers: input.bills.map((b) => b.provider),
    totals: [...totals.values()].sort((a, b) =>
      `${a.provider}${a.currency}`.localeCompare(`${b.provider}${b.currency}`),
    ),
    mismatches,
    errors: input.errors ?? [],
  };
}

/** The Unix ms bounds [from, to) of a bill day `YYYY-MM-DD` in Asia/Shanghai (UTC+8, no DST). */
export function beijingDayBounds(day: string): { from: number; to: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) throw new RangeError(`"${day.slice(0, 20)}" is not a day YYYY-MM-DD`);
  const utcMidnight = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (new Date(utcMidnight).toISOString().slice(0, 10) !== day)
    throw new RangeError(`"${day}" is not a calendar day`);
  const from = utcMidnight - 8 * 3600_000;
  return { from, to: from + 24 * 3600_000 };
}

/** The bill day (Asia/Shanghai) an instant falls in. */
export function beijingDay(at: number): string {
  return new Date(at + 8 * 3600_000).toISOString().slice(0, 10);
}
