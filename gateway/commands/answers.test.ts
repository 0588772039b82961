import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { cleanupsAfterEach, tempDir, waitUntil } from '../../testing/index.ts';
import type { GuardedCommand } from '../link/command-guard.ts';
import { Outbox } from '../outbox/outbox.ts';
import { openStore } from '../store/db.ts';
import { type CommandAnswerLimits, CommandAnswers, type CommandRefusal } from './answers.ts';

const cleanups = cleanupsAfterEach();
const topic = 'vendgate/v1/gw1/cmd/order.paid';

function setup(limits: Partial<CommandAnswerLimits> = {}) {
  const tmp = tempDir();
  const db = openStore({ path: join(tmp.dir, 'answers.db') });
  cleanups.push(() => {
    db.close();
    tmp.cleanup();
  });
  const outbox = new Outbox(db, { gatewayId: 'gw1', maxRows: 10_000, telemetryTtlMs: 60_000 });
  const clock = { now: 1_750_000_000_000 };
  let notified = 0;
  const answers = new CommandAnswers({
    db,
    outbox,
    log: silentLogger(),
    notify: () => notified++,
    now: () => clock.now,
    limits: { refusals: { burst: 3, perSecond: 1 }, answers: { burst: 2, perSecond: 1 }, ...limits },
  });
  cleanups.push(() => answers.stop());
  const events = (type: string) =>
    (
      db.prepare('SELECT envelope FROM outbox WHERE type = ? ORDER BY seq').all(type) as {
        envelope: string;
      }[]
    ).map((r) => JSON.parse(r.envelope).data as Record<string, unknown>);
  return { db, answers, clock, events, notified: () => notified };
}

const refusal = (code: number, extra: Partial<CommandRefusal> = {}): CommandRefusal => ({
  ok: false,
  code: code as CommandRefusal['code'],
  reason: 'why',
  ...extra,
});

const paidCommand = (id: string): GuardedCommand => ({
  id,
  type: 'order.paid',
  issuedAt: 0,
  expiresAt: 1,
  data: {
    orderId: `order-${id}`,
    machineId: 'm1',
    slot: 1,
    price: { amount: 350, currency: 'CNY' },
    provider: 'wechat',
    expiresAt: 1,
  },
});

describe('the answers to commands not acted on', () => {
  it('stores refusals up to the burst and summarises the rest in one event, by code', () => {
    const s = setup();
    for (let i = 0; i < 10; i++)
      s.answers.refused(topic, refusal(i % 2 ? ErrorCode.CommandSignatureInvalid : ErrorCode.PayloadNotJson));
    expect(s.events('command.rejected')).toHaveLength(3);
    expect(s.events('command.suppressed')).toHaveLength(0);
    s.answers.flush();
    expect(s.events('command.suppressed')).toEqual([
      {
        count: 7,
        byCode: expect.arrayContaining([
          { code: ErrorCode.CommandSignatureInvalid, count: 4 },
          { code: ErrorCode.PayloadNotJson, count: 3 },
        ]),
        firstAt: s.clock.now,
        lastAt: s.clock.now,
        lastTopic: topic,
      },
    ]);
    expect(s.notified()).toBe(1);
    s.answers.flush();
    expect(s.events('command.suppressed')).toHaveLength(1);
  });

  it('stores refusals again as the bucket refills', () => {
    const s = setup();
    for (let i = 0; i < 5; i++) s.answers.refused(topic, refusal(ErrorCode.PayloadNotJson));
    expect(s.events('command.rejected')).toHaveLength(3);
    s.clock.now += 2000;
    for (let i = 0; i < 5; i++) s.answers.refused(topic, refusal(ErrorCode.PayloadNotJson));
    expect(s.events('command.rejected')).toHaveLength(5);
  });

  it('answers a deferral with command.deferred and its retry hint, from a bucket refusals cannot empty', () => {
    const s = setup();
    for (let i = 0; i < 50; i++) s.answers.refused(topic, refusal(ErrorCode.CommandSignatureInvalid));
    s.answers.refused(
      topic,
      refusal(ErrorCode.OutboxFull, {
        retryAfterMs: 5000,
        commandId: 'cmd-00000001',
        commandType: 'order.paid',
      }),
    );
    expect(s.events('command.deferred')).toEqual([
      {
        topic,
        commandId: 'cmd-00000001',
        commandType: 'order.paid',
        code: ErrorCode.OutboxFull,
        reason: 'why',
        retryAfterMs: 5000,
      },
    ]);
  });

  it('echoes a 60 KB topic and a long reason only as short excerpts', () => {
    const s = setup();
    const long = `vendgate/v1/gw1/cmd/${'A'.repeat(60 * 1024)}`;
    s.answers.refused(long, refusal(ErrorCode.CommandMisaddressed, { reason: 'r'.repeat(10_000) }));
    const [e] = s.events('command.rejected');
    expect((e!.topic as string).length).toBeLessThanOrEqual(256);
    expect((e!.reason as string).length).toBeLessThanOrEqual(512);
    expect(e!.topic).toContain(`(${long.length} chars)`);
  });

  it('answers redelivered orders within the answers bucket and counts the rest, and never limits other types', () => {
    const s = setup();
    expect([1, 2, 3].map((i) => s.answers.mayAnswerRedelivery(topic, paidCommand(`c-${i}`)))).toEqual([
      true,
      true,
      false,
    ]);
    const claim = {
      ...paidCommand('c-4'),
      type: 'campaign.end',
      data: { campaignId: 'spring' },
    } as GuardedCommand;
    expect(s.answers.mayAnswerRedelivery(topic, claim)).toBe(true);
    s.answers.flush();
    expect(s.events('command.suppressed')[0]).toMatchObject({ count: 1, byCode: [{ code: 0, count: 1 }] });
  });

  it('stores the summary by itself once its delay has passed', async () => {
    const s = setup({ summaryAfterMs: 20 });
    for (let i = 0; i < 4; i++) s.answers.refused(topic, refusal(ErrorCode.PayloadNotJson));
    await waitUntil(() => s.events('command.suppressed').length === 1, { what: 'the summary' });
    expect(s.events('command.suppressed')[0]).toMatchObject({ count: 1 });
  });
});
