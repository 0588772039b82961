import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AlertMessage, signAlertWebhook, verifyAlertWebhook } from './alerts.ts';

const SECRET = 'whsec-0123456789abcdef';

describe('the alert webhook signature', () => {
  it('verifies any body signed with the same secret at a time within the tolerance', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), fc.integer({ min: 0, max: 4_000_000_000 }), (body, t) => {
        const header = signAlertWebhook(SECRET, body, t);
        expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
        expect(verifyAlertWebhook(SECRET, body, header, { nowS: t + 10 })).toEqual({
          ok: true,
          timestamp: t,
        });
      }),
    );
  });

  it('refuses a body changed by one character, another secret, and an old timestamp', () => {
    const body = JSON.stringify({ alertId: 'a', state: 'raised' });
    const header = signAlertWebhook(SECRET, body, 1_700_000_000);
    const nowS = 1_700_000_000;
    expect(verifyAlertWebhook(SECRET, `${body} `, header, { nowS })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyAlertWebhook('another-secret-000000', body, header, { nowS })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
    expect(verifyAlertWebhook(SECRET, body, header, { nowS: nowS + 301 })).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('never throws on a malformed header, whatever it holds', () => {
    fc.assert(
      fc.property(fc.option(fc.string({ maxLength: 700 }), { nil: undefined }), (header) => {
        const r = verifyAlertWebhook(SECRET, '{}', header, { nowS: 0 });
        expect(r.ok).toBe(false);
      }),
    );
    expect(verifyAlertWebhook(SECRET, '{}', 't=1', { nowS: 1 })).toEqual({ ok: false, reason: 'malformed' });
    expect(verifyAlertWebhook(SECRET, '{}', 'v1=00', { nowS: 1 })).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });

  it('accepts a header that lists the right signature among others (secret rotation)', () => {
    const body = '{"a":1}';
    const good = signAlertWebhook(SECRET, body, 5).split('v1=')[1];
    const header = `t=5,v1=${'0'.repeat(64)},v1=${good}`;
    expect(verifyAlertWebhook(SECRET, body, header, { nowS: 5 }).ok).toBe(true);
  });
});

describe('the alert message schema', () => {
  const valid = {
    alertId: '6b2b5c1e-3f0a-4d3c-9a56-1f1f1f1f1f1f',
    gatewayId: 'shop-17',
    kind: 'jam',
    key: 'jam:m1:3',
    machineId: 'm1',
    slot: 3,
    severity: 'critical',
    detail: 'slot 3 jammed',
    state: 'raised',
    since: 1,
    at: 1,
  };

  it('accepts a raised jam and refuses an unknown kind, a field too many and a long detail', () => {
    expect(AlertMessage.parse(valid)).toEqual(valid);
    expect(AlertMessage.safeParse({ ...valid, kind: 'fire' }).success).toBe(false);
    expect(AlertMessage.safeParse({ ...valid, extra: 1 }).success).toBe(false);
    expect(AlertMessage.safeParse({ ...valid, detail: 'x'.repeat(501) }).success).toBe(false);
  });
});
