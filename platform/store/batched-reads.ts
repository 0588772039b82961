/**
 * Store.getOrderBatched on PostgreSQL: the order reads asked for in one turn of the event loop go
 * to the server as one `SELECT ... WHERE out_trade_no IN (...)`, one round trip for every
 * notification that arrived together instead of one each (each round trip costs the replica the
 * pool checkout, the protocol messages and a socket write and read). A read resolves with the row
 * as committed when the statement ran: whoever writes after it conditions the write on it.
 */
import type { OrderRepo, OrderRow } from './port.ts';

/** Most out_trade_nos per statement (also bounds the statement texts: 1, 2, 4, ... 64 placeholders). */
const MAX_BATCH = 64;

interface Waiter {
  resolve: (row: OrderRow | undefined) => void;
  reject: (err: unknown) => void;
}

export function batchedOrderReads(
  orders: Pick<OrderRepo, 'getMany'>,
): (outTradeNo: string) => Promise<OrderRow | undefined> {
  let pending = new Map<string, Waiter[]>();
  let scheduled = false;
  const run = async (nos: string[], waiting: Map<string, Waiter[]>) => {
    try {
      const rows = await orders.getMany(nos);
      for (const no of nos) for (const w of waiting.get(no) ?? []) w.resolve(rows.get(no));
    } catch (err) {
      for (const no of nos) for (const w of waiting.get(no) ?? []) w.reject(err);
    }
  };
  const flush = () => {
    scheduled = false;
    const waiting = pending;
    pending = new Map();
    const nos = [...waiting.keys()];
    for (let i = 0; i < nos.length; i += MAX_BATCH) void run(nos.slice(i, i + MAX_BATCH), waiting);
  };
  return (outTradeNo) =>
    new Promise((resolve, reject) => {
      const list = pending.get(outTradeNo);
      if (list) list.push({ resolve, reject });
      else pending.set(outTradeNo, [{ resolve, reject }]);
      if (!scheduled) {
        scheduled = true;
        // After the I/O callbacks of this turn: every request read in it has asked for its order.
        setImmediate(flush);
      }
    });
}
