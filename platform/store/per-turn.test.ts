import { describe, expect, it } from 'vitest';
import { perTurn, slices } from './per-turn.ts';

describe('perTurn', () => {
  it('hands over everything asked for in one turn as one list, and the next turn as another', async () => {
    const flushed: number[][] = [];
    const ask = perTurn<number>((items) => flushed.push(items));
    ask(1);
    ask(2);
    await Promise.resolve();
    ask(3);
    expect(flushed).toEqual([]);
    await new Promise((r) => setImmediate(r));
    ask(4);
    await new Promise((r) => setImmediate(r));
    expect(flushed).toEqual([[1, 2, 3], [4]]);
  });
});

describe('slices', () => {
  it('cuts a list into consecutive slices of at most the size, losing nothing', () => {
    expect(slices([1, 2, 3, 4, 5], 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(slices([], 64)).toEqual([]);
  });
});
