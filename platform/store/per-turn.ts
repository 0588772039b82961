/**
 * Collects what is asked for during one turn of the event loop and hands it over as one list
 * after the turn's I/O callbacks and microtasks (setImmediate): the notifications that arrived
 * together then share one statement (batched-reads.ts, pay-created-batch.ts) instead of one
 * round trip each.
 */
export function perTurn<T>(flush: (items: T[]) => void): (item: T) => void {
  let pending: T[] = [];
  let scheduled = false;
  const run = () => {
    scheduled = false;
    const items = pending;
    pending = [];
    flush(items);
  };
  return (item) => {
    pending.push(item);
    if (!scheduled) {
      scheduled = true;
      setImmediate(run);
    }
  };
}

/** `items` in consecutive slices of at most `size` (a statement's bound on its members). */
export function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
