/**
 * Store.getOrderBatched on PostgreSQL: the order reads asked for in one turn of the event loop go
 * to the server as one `SELECT ... WHERE out_trade_no IN (...)`, one round trip for every
 * notification that arrived together instead of one each (each round trip costs the replica the
 * pool checkout, the protocol messages and a socket write and read). A read resolves with the row
 * as committed when the statement ran: whoever writes after it conditions the write on it.
 */
import { perTurn, slices } from './per-turn.ts';
import type { OrderRepo, OrderRow } from './port.ts';

/** Most out_trade_nos per statement (also bounds the statement texts: 1, 2, 4, ... 64 placeholders). */
const MAX_BATCH = 64;

interface Waiter {
  outTradeNo: string;
  resolve: (row: OrderRow | undefined) => void;
  reject: (err: unknown) => void;
}

export function batchedOrderReads(
  orders: Pick<OrderRepo, 'getMany'>,
): (outTradeNo: string) => Promise<OrderRow | undefined> {
  const run = async (nos: string[], waiters: readonly Waiter[]) => {
    try {
      const rows = await orders.getMany(nos);
      for (const w of waiters) w.resolve(rows.get(w.outTradeNo));
    } catch (err) {
      for (const w of waiters) w.reject(err);
    }
  };
  // Every read asked for in one turn, each order once per statement.
  const ask = perTurn<Waiter>((waiters) => {
    const byOrder = new Map<string, Waiter[]>();
    for (const w of waiters) {
      const list = byOrder.get(w.outTradeNo);
      if (list) list.push(w);
      else byOrder.set(w.outTradeNo, [w]);
    }
    for (const nos of slices([...byOrder.keys()], MAX_BATCH)) {
      void run(
        nos,
        nos.flatMap((no) => byOrder.get(no) ?? []),
      );
    }
  });
  return (outTradeNo) => new Promise((resolve, reject) => ask({ outTradeNo, resolve, reject }));
}
