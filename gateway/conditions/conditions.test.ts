import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { ConditionBoard, conditionKey } from './conditions.ts';

const jam = { kind: 'jam', machineId: 'm1', slot: 3, severity: 'critical', detail: 'slot 3 jammed' } as const;

describe('ConditionBoard', () => {
  it('announces a condition once however often it is raised, and keeps its first time', () => {
    const clock = new ManualClock();
    const board = new ConditionBoard(clock);
    const changes: string[] = [];
    board.onChange((c) => changes.push(`${c.type}:${c.condition.key}`));
    expect(board.raise(jam)).toBe(true);
    const since = clock.wallMs();
    clock.advance(1000);
    expect(board.raise({ ...jam, detail: 'still jammed' })).toBe(false);
    expect(changes).toEqual(['raised:jam:m1:3']);
    const [active] = board.active();
    expect(active?.since).toBe(since);
    expect(active?.detail).toBe('still jammed');
    expect(active?.updatedAt).toBe(since + 1000);
  });

  it('announces the clearing of an active condition and keeps it among the recent ones', () => {
    const board = new ConditionBoard(new ManualClock());
    const changes: string[] = [];
    board.onChange((c) => changes.push(c.type));
    expect(board.clear(jam)).toBe(false);
    board.raise(jam);
    expect(board.clear(jam)).toBe(true);
    expect(changes).toEqual(['raised', 'cleared']);
    expect(board.active()).toEqual([]);
    expect(board.recent()[0]?.key).toBe(conditionKey(jam));
  });

  it('keeps conditions of different slots and machines apart', () => {
    const board = new ConditionBoard(new ManualClock());
    board.set(jam, true);
    board.set({ ...jam, slot: 4 }, true);
    board.set({ ...jam, machineId: 'm2' }, true);
    board.set({ ...jam, slot: 4 }, false);
    expect(board.active().map((c) => c.key)).toEqual(['jam:m1:3', 'jam:m2:3']);
    expect(board.isActive({ kind: 'jam', machineId: 'm1', slot: 4 })).toBe(false);
  });

  it('goes on telling the other listeners when one listener throws', () => {
    const board = new ConditionBoard(new ManualClock());
    let told = 0;
    board.onChange(() => {
      throw new Error('broken sink');
    });
    board.onChange(() => told++);
    board.raise(jam);
    expect(told).toBe(1);
  });
});
