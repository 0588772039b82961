import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../core/errors.ts';
import {
  initialSessionState,
  type SessionEffect,
  type SessionInput,
  type SessionMachineConfig,
  type SessionMachineState,
  sessionTransition,
} from './session-machine.ts';

/** Authorization first (docs/protocols/mdb-adapter.md section 7.5): sessions begun with funds. */
const cfg: SessionMachineConfig = {
  machineId: 'm1',
  money: { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2, priceFormat: 'scaled' },
  maxResponseTimeSec: 30,
  deadlineMarginMs: 1000,
  vendResultTimeoutMs: 60_000,
  replyTimeoutMs: 1000,
};

function run(inputs: SessionInput[], state: SessionMachineState = initialSessionState) {
  const effects: SessionEffect[] = [];
  let error: unknown;
  for (const input of inputs) {
    const t = sessionTransition(cfg, state, input);
    state = t.state;
    effects.push(...t.effects);
    error = t.error;
  }
  return { state, effects, error };
}

const visible = (effects: SessionEffect[]) =>
  effects.filter(
    (e) => e.type !== 'log' && e.type !== 'count' && e.type !== 'set-timer' && e.type !== 'clear-timer',
  );
const begin = (funds = 500): SessionInput => ({
  type: 'begin',
  sessionId: 'f1',
  funds,
  idleMs: 60_000,
  now: 1_000_000,
  ready: true,
});
const acked: SessionInput = { type: 'begin-acked', sessionId: 'f1' };
const request = (price: string, item: number): SessionInput => ({
  type: 'vend-request',
  sessionId: 'ignored-inside-a-funded-session',
  price,
  item,
  now: 1_001_000,
});

describe('sessions with funds (authorization first)', () => {
  it('begins with C,START carrying the funds in MDB units and waits for a selection', () => {
    const { state, effects } = run([begin(500)]);
    expect(state.session).toMatchObject({ id: 'f1', state: 'funded', funds: 500, idleMs: 60_000 });
    expect(effects).toContainEqual({ type: 'send-begin', sessionId: 'f1', funds: '500' });
    expect(effects).toContainEqual({ type: 'set-timer', sessionId: 'f1', ms: 60_000 });
  });

  it('reports a vend request inside the session under the session id, with the credit', () => {
    const { state, effects } = run([begin(500), request('350', 3)]);
    expect(state.session).toMatchObject({ id: 'f1', state: 'requested', item: 3, price: 350, funds: 500 });
    const ev = effects.find((e) => e.type === 'vend-request');
    expect(ev).toMatchObject({
      event: { sessionId: 'f1', item: 3, price: { amount: 350 }, credit: { amount: 500, currency: 'CNY' } },
    });
  });

  it('denies one request with C,VEND,-1 and keeps the session open for another choice', () => {
    const { state, effects } = run([
      begin(500),
      request('800', 7),
      { type: 'deny', sessionId: 'f1', reason: 'above the credit' },
    ]);
    expect(state.session).toMatchObject({ id: 'f1', state: 'funded', item: 0, price: 0 });
    expect(visible(effects).map((e) => e.type)).toEqual(['send-begin', 'vend-request', 'send-deny-vend']);
    const again = run([request('300', 2)], state);
    expect(again.state.session).toMatchObject({ state: 'requested', item: 2, price: 300 });
  });

  it('refuses to approve more than the funds even when the price is higher', () => {
    const { error, state } = run([
      begin(500),
      request('800', 7),
      { type: 'approve', sessionId: 'f1', amount: 800, ready: true },
    ]);
    expect(error).toMatchObject({ code: ErrorCode.CashlessPriceInvalid });
    expect(state.session?.state).toBe('requested');
  });

  it('ends the session with the vend result after one approved vend', () => {
    const { state, effects } = run([
      begin(500),
      request('350', 3),
      { type: 'approve', sessionId: 'f1', amount: 350, ready: true },
      { type: 'approve-acked', sessionId: 'f1' },
      { type: 'vend-success', item: 3 },
    ]);
    expect(state.session).toBeNull();
    expect(effects).toContainEqual({ type: 'send-approve', sessionId: 'f1', amount: '350' });
    const result = effects.find((e) => e.type === 'vend-result');
    expect(result).toMatchObject({ event: { sessionId: 'f1', ok: true, item: 3, amount: { amount: 350 } } });
  });

  it('treats IDLE as session idle while funded, and ENABLED as the machine ending the session', () => {
    const idle = run([begin(), acked, { type: 'status', state: 'IDLE' }]);
    expect(idle.state.session?.state).toBe('funded');
    const ended = run([{ type: 'status', state: 'ENABLED' }], idle.state);
    expect(ended.state.session).toBeNull();
    expect(ended.effects.find((e) => e.type === 'session-cancelled')).toMatchObject({
      event: { sessionId: 'f1', reason: 'machine-cancelled' },
    });
  });

  it('ignores a reader status that arrives before the adapter answered C,START: it predates the session', () => {
    // The ENABLED that followed the reader's configuration, read after C,START went out.
    const early = run([begin(), { type: 'status', state: 'ENABLED' }]);
    expect(early.state.session).toMatchObject({ id: 'f1', state: 'funded' });
    expect(early.effects.some((e) => e.type === 'session-cancelled')).toBe(false);
    const chosen = run([request('350', 3)], early.state);
    expect(chosen.effects.find((e) => e.type === 'vend-request')).toMatchObject({
      event: { sessionId: 'f1', credit: { amount: 500 } },
    });
    // Once answered (or its reply timed out), the reader's statuses are the session's again.
    for (const answer of [acked, { type: 'begin-unanswered', sessionId: 'f1' } as const]) {
      const ended = run([begin(), answer, { type: 'status', state: 'ENABLED' }]);
      expect(ended.state.session).toBeNull();
    }
  });

  it('ends a session with no selection within its idle time with C,STOP, reported as a timeout', () => {
    const { state, effects } = run([begin(), { type: 'deadline', sessionId: 'f1' }]);
    expect(state.session).toBeNull();
    expect(visible(effects).map((e) => e.type)).toEqual(['send-begin', 'session-cancelled', 'send-stop']);
    expect(effects.find((e) => e.type === 'session-cancelled')).toMatchObject({
      event: { reason: 'timeout' },
    });
  });

  it('denies an unanswered request at its deadline but keeps the session', () => {
    const { state, effects } = run([begin(), request('350', 3), { type: 'deadline', sessionId: 'f1' }]);
    expect(state.session?.state).toBe('funded');
    expect(effects.at(-1)).toEqual({ type: 'send-deny-vend' });
  });

  it('refuses a second session while one is open, and funds that are not whole MDB units', () => {
    expect(run([begin(), begin()]).error).toMatchObject({ code: ErrorCode.CashlessSessionBusy });
    const coarse = sessionTransition(
      { ...cfg, money: { ...cfg.money, scaleFactor: 5, decimalPlaces: 1 } },
      initialSessionState,
      begin(333),
    );
    expect(coarse.error).toMatchObject({ code: ErrorCode.CashlessPriceInvalid });
    expect(coarse.effects).toEqual([]);
  });

  it('closes the session when the adapter refuses C,START, and keeps it to its idle time when C,START got no reply', () => {
    const refused = run([begin(), { type: 'begin-refused', sessionId: 'f1', reason: 'reader not enabled' }]);
    expect(refused.state.session).toBeNull();
    expect(refused.error).toMatchObject({ code: ErrorCode.CashlessCommandRefused });
    const lost = run([begin(), { type: 'begin-unanswered', sessionId: 'f1' }]);
    expect(lost.state.session?.state).toBe('funded');
    const idle = run([{ type: 'deadline', sessionId: 'f1' }], lost.state);
    expect(visible(idle.effects).map((e) => e.type)).toEqual(['session-cancelled', 'send-stop']);
  });

  it('will not end a session whose vend is approved: its result ends it', () => {
    const { error } = run([
      begin(),
      request('350', 3),
      { type: 'approve', sessionId: 'f1', amount: 350, ready: true },
      { type: 'end', sessionId: 'f1', reason: 'customer left' },
    ]);
    expect(error).toMatchObject({ code: ErrorCode.CashlessSessionBusy });
  });

  it('ends every session with funds exactly once, whatever the machine and the host do', () => {
    const step: fc.Arbitrary<SessionInput> = fc.oneof(
      fc
        .tuple(fc.integer({ min: 1, max: 900 }), fc.integer({ min: 1, max: 9 }))
        .map(([p, i]) => request(String(p), i)),
      fc.constantFrom<SessionInput>(
        { type: 'status', state: 'IDLE' },
        { type: 'status', state: 'ENABLED' },
        { type: 'vend-success' },
        { type: 'vend-fail' },
        { type: 'deny', sessionId: 'f1', reason: 'r' },
        { type: 'end', sessionId: 'f1', reason: 'r' },
        { type: 'approve', sessionId: 'f1', amount: 100, ready: true },
        { type: 'approve-acked', sessionId: 'f1' },
        { type: 'approve-unanswered', sessionId: 'f1' },
        { type: 'begin-acked', sessionId: 'f1' },
        { type: 'deadline', sessionId: 'f1' },
        { type: 'link-lost', reason: 'gone' },
      ),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        const { state, effects } = run([begin(500), ...steps, { type: 'link-lost', reason: 'end of test' }]);
        expect(state.session).toBeNull();
        const ends = effects.filter(
          (e) => (e.type === 'vend-result' || e.type === 'session-cancelled') && e.event.sessionId === 'f1',
        );
        expect(ends).toHaveLength(1);
        // Never an approval above the funds.
        for (const e of effects)
          if (e.type === 'send-approve') expect(Number(e.amount)).toBeLessThanOrEqual(500);
      }),
    );
  });
});
