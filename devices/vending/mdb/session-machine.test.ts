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

const cfg: SessionMachineConfig = {
  machineId: 'm1',
  money: { currency: 'CNY', scaleFactor: 1, decimalPlaces: 2, priceFormat: 'scaled' },
  maxResponseTimeSec: 30,
  deadlineMarginMs: 1000,
  vendResultTimeoutMs: 60_000,
  replyTimeoutMs: 1000,
};

/** Feeds inputs in order; returns the final state and every effect, plus the last transition's error. */
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

/** The effects that leave the machine (no logs, no counters). */
const visible = (effects: SessionEffect[]) => effects.filter((e) => e.type !== 'log' && e.type !== 'count');
const counters = (effects: SessionEffect[]) =>
  effects.flatMap((e) => (e.type === 'count' ? [e.counter] : []));

const request = (sessionId = 's1', price = '350', item = 3): SessionInput => ({
  type: 'vend-request',
  sessionId,
  price,
  item,
  now: 1_000_000,
});

describe('sessionTransition', () => {
  it('opens a session on a vend request, with the price in minor units and a deadline inside the response time', () => {
    const { state, effects } = run([request()]);
    expect(state.session).toEqual({
      id: 's1',
      item: 3,
      price: 350,
      receivedAt: 1_000_000,
      deadline: 1_029_000,
      state: 'requested',
      amount: 0,
      funds: null,
      idleMs: 0,
      startAnswered: true,
    });
    expect(state.readerState).toBe('VEND');
    expect(visible(effects)).toEqual([
      { type: 'set-timer', sessionId: 's1', ms: 29_000 },
      {
        type: 'vend-request',
        event: {
          sessionId: 's1',
          machineId: 'm1',
          item: 3,
          price: { amount: 350, currency: 'CNY' },
          receivedAt: 1_000_000,
          deadline: 1_029_000,
        },
      },
    ]);
    expect(counters(effects)).toEqual(['sessions']);
  });

  it('caps the deadline margin at half the window', () => {
    const t = sessionTransition(
      { ...cfg, maxResponseTimeSec: 2, deadlineMarginMs: 5000 },
      initialSessionState,
      request(),
    );
    expect(t.state.session?.deadline).toBe(1_001_000);
  });

  it('sends the approval once, in MDB price units, and counts the vend approved once the adapter acknowledged it', () => {
    const opened = run([request()]).state;
    const asked = sessionTransition(cfg, opened, {
      type: 'approve',
      sessionId: 's1',
      amount: 300,
      ready: true,
    });
    expect(asked.error).toBeUndefined();
    expect(asked.effects).toEqual([{ type: 'send-approve', sessionId: 's1', amount: '300' }]);
    expect(asked.state.session).toMatchObject({ state: 'approving', amount: 300 });
    const acked = sessionTransition(cfg, asked.state, { type: 'approve-acked', sessionId: 's1' });
    expect(acked.state.session?.state).toBe('approved');
    expect(visible(acked.effects)).toEqual([{ type: 'set-timer', sessionId: 's1', ms: 60_000 }]);
    expect(counters(acked.effects)).toEqual(['approved']);
  });

  it('refuses to approve a session that is not open, is already being approved, or for more than its price', () => {
    const opened = run([request()]).state;
    const unknown = sessionTransition(cfg, opened, {
      type: 'approve',
      sessionId: 'x',
      amount: 1,
      ready: true,
    });
    expect(unknown.error).toMatchObject({ code: ErrorCode.CashlessSessionUnknown, context: { open: 's1' } });
    const tooMuch = sessionTransition(cfg, opened, {
      type: 'approve',
      sessionId: 's1',
      amount: 351,
      ready: true,
    });
    expect(tooMuch.error).toMatchObject({ code: ErrorCode.CashlessPriceInvalid });
    const notInt = sessionTransition(cfg, opened, {
      type: 'approve',
      sessionId: 's1',
      amount: 1.5,
      ready: true,
    });
    expect(notInt.error).toMatchObject({ code: ErrorCode.CashlessPriceInvalid });
    const notReady = sessionTransition(cfg, opened, {
      type: 'approve',
      sessionId: 's1',
      amount: 350,
      ready: false,
    });
    expect(notReady.error).toMatchObject({ code: ErrorCode.DeviceOffline });
    for (const t of [unknown, tooMuch, notInt, notReady]) {
      expect(t.effects).toEqual([]);
      expect(t.state).toBe(opened);
    }
    const approving = sessionTransition(cfg, opened, {
      type: 'approve',
      sessionId: 's1',
      amount: 350,
      ready: true,
    });
    const twice = sessionTransition(cfg, approving.state, {
      type: 'approve',
      sessionId: 's1',
      amount: 350,
      ready: true,
    });
    expect(twice.error).toMatchObject({
      code: ErrorCode.CashlessSessionBusy,
      context: { state: 'approving' },
    });
    expect(twice.effects).toEqual([]);
  });

  it('refuses an approval the price unit cannot express', () => {
    const scaled = { ...cfg, money: { ...cfg.money, scaleFactor: 5 } };
    const opened = sessionTransition(scaled, initialSessionState, request('s1', '70')).state; // 350 minor
    const t = sessionTransition(scaled, opened, {
      type: 'approve',
      sessionId: 's1',
      amount: 349,
      ready: true,
    });
    expect(t.error).toMatchObject({ code: ErrorCode.CashlessPriceInvalid });
  });

  it('puts a session whose approval the adapter refused back to requested, so deny or the deadline ends it', () => {
    const { state, error } = run([
      request(),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'approve-refused', sessionId: 's1', amount: 350, reason: 'not in VEND' },
    ]);
    expect(error).toMatchObject({
      code: ErrorCode.CashlessCommandRefused,
      message: 'adapter refused the approval: not in VEND',
    });
    expect(state.session?.state).toBe('requested');
  });

  it('keeps a session whose approval went unanswered open as approved: the approval may have reached the machine', () => {
    const { state } = run([
      request(),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'approve-unanswered', sessionId: 's1' },
    ]);
    expect(state.session?.state).toBe('approved');
  });

  it('says the session ended when its approval is acknowledged after it closed', () => {
    const { error } = run([
      request(),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'link-lost', reason: 'port closed' },
      { type: 'approve-acked', sessionId: 's1' },
    ]);
    expect(error).toMatchObject({ code: ErrorCode.CashlessSessionUnknown });
  });

  it('denies with C,STOP and reports the session cancelled with the caller reason', () => {
    const { state, effects } = run([
      request('s1', '150', 1),
      { type: 'deny', sessionId: 's1', reason: 'payment failed' },
    ]);
    expect(state.session).toBeNull();
    expect(visible(effects).slice(-3)).toEqual([
      { type: 'clear-timer' },
      {
        type: 'session-cancelled',
        event: { sessionId: 's1', machineId: 'm1', item: 1, reason: 'denied', detail: 'payment failed' },
      },
      { type: 'send-stop' },
    ]);
    expect(counters(effects)).toEqual(['sessions', 'denied']);
  });

  it('denies a session nobody answered by its deadline', () => {
    const { state, effects } = run([request(), { type: 'deadline', sessionId: 's1' }]);
    expect(state.session).toBeNull();
    expect(visible(effects).slice(-2)).toEqual([
      { type: 'session-cancelled', event: { sessionId: 's1', machineId: 'm1', item: 3, reason: 'timeout' } },
      { type: 'send-stop' },
    ]);
    expect(counters(effects)).toEqual(['sessions', 'timeouts']);
  });

  it('waits for the reply of an approval on the wire at the deadline, and ends an approved session without result', () => {
    const approving = run([request(), { type: 'approve', sessionId: 's1', amount: 350, ready: true }]).state;
    const t = sessionTransition(cfg, approving, { type: 'deadline', sessionId: 's1' });
    expect(t.effects).toEqual([{ type: 'set-timer', sessionId: 's1', ms: 1000 }]);
    expect(t.state).toBe(approving);
    const approved = sessionTransition(cfg, approving, { type: 'approve-acked', sessionId: 's1' }).state;
    const end = sessionTransition(cfg, approved, { type: 'deadline', sessionId: 's1' });
    expect(visible(end.effects)).toContainEqual({
      type: 'vend-result',
      event: {
        sessionId: 's1',
        machineId: 'm1',
        item: 3,
        ok: false,
        amount: { amount: 350, currency: 'CNY' },
        reason: 'result-timeout',
        detail: 'no vend result within 60000 ms of the approval',
      },
    });
  });

  it('ignores the timer of a session that already ended', () => {
    const { state } = run([request('s1'), { type: 'deny', sessionId: 's1', reason: 'no' }, request('s2')]);
    const t = sessionTransition(cfg, state, { type: 'deadline', sessionId: 's1' });
    expect(t.effects).toEqual([]);
    expect(t.state.session?.id).toBe('s2');
  });

  it('treats a second vend request while one is open as a protocol error: ends the open one, opens none, sends C,STOP', () => {
    const { state, effects } = run([request('s1'), request('s2', '150', 1)]);
    expect(state.session).toBeNull();
    const v = visible(effects);
    expect(v.filter((e) => e.type === 'vend-request')).toHaveLength(1);
    expect(v).toContainEqual(
      expect.objectContaining({
        type: 'adapter-error',
        error: expect.objectContaining({ code: ErrorCode.CashlessSessionBusy, sessionId: 's1' }),
      }),
    );
    expect(v).toContainEqual(
      expect.objectContaining({
        type: 'session-cancelled',
        event: expect.objectContaining({ sessionId: 's1', reason: 'protocol-error' }),
      }),
    );
    expect(v.at(-1)).toEqual({ type: 'send-stop' });
    expect(counters(effects)).toEqual(['sessions', 'protocolErrors']);
  });

  it('reports an approved session superseded by a second request as a failed vend result', () => {
    const { effects } = run([
      request('s1'),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'approve-acked', sessionId: 's1' },
      request('s2'),
    ]);
    expect(visible(effects)).toContainEqual(
      expect.objectContaining({
        type: 'vend-result',
        event: expect.objectContaining({ sessionId: 's1', ok: false, reason: 'superseded' }),
      }),
    );
  });

  it('denies a vend request whose price is not a whole number of minor units, opening no session', () => {
    const dp3 = { ...cfg, money: { ...cfg.money, decimalPlaces: 3 } };
    const t = sessionTransition(dp3, initialSessionState, request('s1', '3505'));
    expect(t.state.session).toBeNull();
    expect(visible(t.effects)).toEqual([
      {
        type: 'adapter-error',
        error: expect.objectContaining({ code: ErrorCode.CashlessPriceInvalid }),
      },
      { type: 'send-stop' },
    ]);
  });

  it('reads a reader status while a session is open as the machine ending it', () => {
    const cancelled = run([request(), { type: 'status', state: 'ENABLED' }]);
    expect(cancelled.state).toEqual({ session: null, readerState: 'ENABLED' });
    expect(visible(cancelled.effects)).toContainEqual(
      expect.objectContaining({
        type: 'session-cancelled',
        event: expect.objectContaining({ reason: 'machine-cancelled', detail: 'status ENABLED' }),
      }),
    );
    const ended = run([
      request(),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'approve-acked', sessionId: 's1' },
      { type: 'status', state: 'IDLE' },
    ]);
    expect(visible(ended.effects)).toContainEqual(
      expect.objectContaining({
        type: 'vend-result',
        event: expect.objectContaining({ ok: false, reason: 'session-ended' }),
      }),
    );
  });

  it('reports the machine result of an approved vend, also when it overtook the acknowledgement', () => {
    const ok = run([
      request(),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'vend-success', item: 3 },
    ]);
    expect(ok.state.session).toBeNull();
    expect(visible(ok.effects)).toContainEqual({
      type: 'vend-result',
      event: {
        sessionId: 's1',
        machineId: 'm1',
        item: 3,
        ok: true,
        amount: { amount: 350, currency: 'CNY' },
      },
    });
    const failed = run([
      request(),
      { type: 'approve', sessionId: 's1', amount: 350, ready: true },
      { type: 'approve-acked', sessionId: 's1' },
      { type: 'vend-fail', item: 3, reason: 'motor' },
    ]);
    expect(visible(failed.effects)).toContainEqual(
      expect.objectContaining({
        type: 'vend-result',
        event: expect.objectContaining({ ok: false, reason: 'vend-failed', detail: 'motor' }),
      }),
    );
  });

  it('reports a vend result without an approved session as a protocol error and leaves the session alone', () => {
    const opened = run([request()]).state;
    const t = sessionTransition(cfg, opened, { type: 'vend-success' });
    expect(t.state.session).toBe(opened.session);
    expect(visible(t.effects)).toEqual([
      {
        type: 'adapter-error',
        error: {
          code: ErrorCode.DeviceProtocol,
          text: 'vend success without an approved session',
          sessionId: 's1',
        },
      },
    ]);
  });

  it('ends the open session on link loss, and on stop denies an unanswered one with a last C,STOP', () => {
    const lost = run([request(), { type: 'link-lost', reason: 'silence' }]);
    expect(visible(lost.effects)).toContainEqual(
      expect.objectContaining({
        type: 'session-cancelled',
        event: expect.objectContaining({ reason: 'link-lost', detail: 'silence' }),
      }),
    );
    const stopped = run([request(), { type: 'stop', canSend: true }]);
    expect(visible(stopped.effects).slice(-3)).toEqual([
      { type: 'clear-timer' },
      expect.objectContaining({
        type: 'session-cancelled',
        event: expect.objectContaining({ reason: 'denied', detail: 'driver stopped' }),
      }),
      { type: 'write-stop' },
    ]);
  });
});

// ---- properties ---------------------------------------------------------------------

/** An abstract step; session ids are chosen at run time (the open one, a stale one, or one never seen). */
type Step =
  | { op: 'request'; price: number }
  /** `amount` relative to the open session's price: at it, below, above, not an integer. */
  | {
      op: 'approve';
      target: 'open' | 'stale' | 'never';
      amount: 'price' | 'below' | 'above' | 'fraction';
      ready: boolean;
    }
  | { op: 'reply'; kind: 'acked' | 'refused' | 'unanswered' }
  | { op: 'deny'; target: 'open' | 'stale' }
  | { op: 'deadline'; target: 'open' | 'stale' }
  | { op: 'status' }
  | { op: 'success' }
  | { op: 'fail' }
  | { op: 'lost' }
  | { op: 'error' };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant('request' as const), price: fc.integer({ min: 0, max: 2000 }) }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('approve' as const),
      target: fc.oneof(
        { weight: 8, arbitrary: fc.constant('open' as const) },
        { weight: 1, arbitrary: fc.constant('stale' as const) },
        { weight: 1, arbitrary: fc.constant('never' as const) },
      ),
      amount: fc.constantFrom('price' as const, 'below' as const, 'above' as const, 'fraction' as const),
      ready: fc.oneof(
        { weight: 9, arbitrary: fc.constant(true) },
        { weight: 1, arbitrary: fc.constant(false) },
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('reply' as const),
      kind: fc.constantFrom('acked' as const, 'refused' as const, 'unanswered' as const),
    }),
  },
  fc.record({ op: fc.constant('deny' as const), target: fc.constantFrom('open' as const, 'stale' as const) }),
  fc.record({
    op: fc.constant('deadline' as const),
    target: fc.constantFrom('open' as const, 'stale' as const),
  }),
  fc.constant<Step>({ op: 'status' }),
  { weight: 2, arbitrary: fc.constant<Step>({ op: 'success' }) },
  { weight: 2, arbitrary: fc.constant<Step>({ op: 'fail' }) },
  fc.constant<Step>({ op: 'lost' }),
  fc.constant<Step>({ op: 'error' }),
);

describe('sessionTransition, whatever the input sequence', () => {
  it('never has two sessions, never approves a vend it was not asked to approve, and ends every session exactly once', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 5, maxLength: 60 }), (steps) => {
        let state = initialSessionState;
        let n = 0;
        const ids: string[] = [];
        const opened = new Set<string>();
        const ended = new Set<string>();
        /** Approvals sent and not yet answered: (sessionId, amount). */
        const onWire: Array<{ sessionId: string; amount: number }> = [];
        /** Sessions for which an approval went out. */
        const approvedSent = new Set<string>();
        const stale = () => ids.find((id) => id !== state.session?.id) ?? 'stale';
        for (const s of steps) {
          let input: SessionInput;
          const openId = state.session?.id ?? 'none';
          switch (s.op) {
            case 'request':
              input = {
                type: 'vend-request',
                sessionId: `s${++n}`,
                price: String(s.price),
                item: 3,
                now: 1000 * n,
              };
              ids.push(`s${n}`);
              break;
            case 'approve': {
              const sessionId = s.target === 'open' ? openId : s.target === 'stale' ? stale() : 'never';
              const price = state.session?.price ?? 100;
              const amount = {
                price,
                below: Math.floor(price / 2),
                above: price + 1,
                fraction: price / 3 + 0.5,
              }[s.amount];
              input = { type: 'approve', sessionId, amount, ready: s.ready };
              break;
            }
            case 'reply': {
              const sent = onWire.shift();
              if (!sent) continue;
              input =
                s.kind === 'acked'
                  ? { type: 'approve-acked', sessionId: sent.sessionId }
                  : s.kind === 'refused'
                    ? { type: 'approve-refused', sessionId: sent.sessionId, amount: sent.amount }
                    : { type: 'approve-unanswered', sessionId: sent.sessionId };
              break;
            }
            case 'deny':
              input = { type: 'deny', sessionId: s.target === 'open' ? openId : stale(), reason: 'test' };
              break;
            case 'deadline':
              input = { type: 'deadline', sessionId: s.target === 'open' ? openId : stale() };
              break;
            case 'status':
              input = { type: 'status', state: 'ENABLED' };
              break;
            case 'success':
              input = { type: 'vend-success', item: 3 };
              break;
            case 'fail':
              input = { type: 'vend-fail', item: 3 };
              break;
            case 'lost':
              input = { type: 'link-lost', reason: 'test' };
              break;
            case 'error':
              input = { type: 'adapter-error', text: 'bus' };
              break;
          }
          const before = state;
          const t = sessionTransition(cfg, before, input);
          const approvals = t.effects.filter((e) => e.type === 'send-approve');
          // An approval goes out only for an approve() of the open, requested session, within its price, once.
          if (approvals.length > 0) {
            expect(approvals).toHaveLength(1);
            expect(input.type).toBe('approve');
            if (input.type !== 'approve') return;
            expect(t.error).toBeUndefined();
            expect(before.session?.id).toBe(input.sessionId);
            expect(before.session?.state).toBe('requested');
            expect(input.amount).toBeLessThanOrEqual(before.session!.price);
            expect(input.ready).toBe(true);
            onWire.push({ sessionId: input.sessionId, amount: input.amount });
            approvedSent.add(input.sessionId);
          }
          if (input.type === 'approve' && approvals.length === 0) expect(t.error).toBeDefined();
          for (const e of t.effects) {
            if (e.type === 'vend-request') {
              // A new session only when none is open (or the one open just ended in this transition).
              for (const id of opened) expect(ended.has(id)).toBe(true);
              opened.add(e.event.sessionId);
            }
            if (e.type === 'vend-result' || e.type === 'session-cancelled') {
              const id = e.event.sessionId;
              expect(opened.has(id)).toBe(true);
              expect(ended.has(id)).toBe(false);
              ended.add(id);
            }
            if (e.type === 'vend-result' && e.event.ok) {
              // A dispensed result only for a vend we approved, on the machine's word.
              expect(approvedSent.has(e.event.sessionId)).toBe(true);
              expect(input.type).toBe('vend-success');
            }
          }
          state = t.state;
          // The open session, if any, is the last one opened and not ended.
          if (state.session) {
            expect(opened.has(state.session.id)).toBe(true);
            expect(ended.has(state.session.id)).toBe(false);
          }
          expect([...opened].filter((id) => !ended.has(id)).length).toBe(state.session ? 1 : 0);
        }
      }),
      { numRuns: 500 },
    );
  });
});
