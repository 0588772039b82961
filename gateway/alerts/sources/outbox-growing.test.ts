import { describe, expect, it } from 'vitest';
import { ConditionBoard } from '../../conditions/conditions.ts';
import { OutboxGrowingSource } from './outbox-growing.ts';

function setup() {
  const state = { pending: 0, mono: 0 };
  const board = new ConditionBoard({ wallMs: () => 1 });
  const source = new OutboxGrowingSource({
    board,
    pending: () => state.pending,
    depth: 100,
    forMs: 60_000,
    clock: { monoMs: () => state.mono },
  });
  const at = (mono: number, pending: number) => {
    state.mono = mono;
    state.pending = pending;
    source.check();
  };
  const active = () => board.isActive({ kind: 'outbox_growing' });
  return { board, at, active };
}

describe('the outbox growing source', () => {
  it('raises when the outbox is above its depth and still rising after forMs, and clears at the depth', () => {
    const { board, at, active } = setup();
    at(0, 150);
    at(30_000, 400);
    expect(active()).toBe(false);
    at(60_000, 900);
    expect(active()).toBe(true);
    expect(board.active()[0]).toMatchObject({ severity: 'warning' });
    expect(board.active()[0]!.detail).toMatch(/^900 events wait for the platform/);
    at(70_000, 300);
    expect(active()).toBe(true);
    at(80_000, 100);
    expect(active()).toBe(false);
  });

  it('raises nothing for a backlog that is above the depth but draining', () => {
    const { at, active } = setup();
    at(0, 5000);
    at(60_000, 4000);
    at(120_000, 3000);
    expect(active()).toBe(false);
  });

  it('starts counting again when the outbox dips to the depth in between', () => {
    const { at, active } = setup();
    at(0, 150);
    at(30_000, 90);
    at(40_000, 200);
    at(60_000, 300);
    expect(active()).toBe(false);
    at(100_000, 400);
    expect(active()).toBe(true);
  });
});
