import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { displayBrokerUser } from '../../devices/display/mqtt-display.ts';
import { expectVendgateError } from '../../testing/index.ts';
import {
  ClientIdOwnership,
  type EmbeddedBrokerUser,
  namesGatewayTree,
  userMayPublish,
  userMayReceive,
  userMaySubscribe,
} from './access.ts';

const user = (username: string, extra: Partial<EmbeddedBrokerUser> = {}): EmbeddedBrokerUser => ({
  username,
  password: 'long-enough-password',
  publish: [],
  subscribe: [],
  ...extra,
});

describe('client id ownership', () => {
  it('gives each user its username and {username}-* by default', () => {
    const ids = new ClientIdOwnership([user('display-m1'), user('tool')], 'gw1');
    expect(ids.ownerOf('display-m1')).toEqual({ kind: 'user', username: 'display-m1' });
    expect(ids.ownerOf('display-m1-2')).toEqual({ kind: 'user', username: 'display-m1' });
    expect(ids.ownerOf('tool')).toEqual({ kind: 'user', username: 'tool' });
    expect(ids.ownerOf('display-m10')).toBeUndefined();
    expect(ids.ownerOf('mqttjs_1234')).toBeUndefined();
  });

  it('reserves vendgate-{gatewayId} and vendgate-{gatewayId}-* for the gateway, whatever users claim', () => {
    const ids = new ClientIdOwnership([user('any', { clientId: '*' })], 'gw1');
    expect(ids.ownerOf('vendgate-gw1')).toEqual({ kind: 'gateway' });
    expect(ids.ownerOf('vendgate-gw1-displays')).toEqual({ kind: 'gateway' });
    expect(ids.ownerOf('vendgate-gw10')).toEqual({ kind: 'user', username: 'any' });
  });

  it('lets a user own an exact id or a prefix of its choosing', () => {
    const ids = new ClientIdOwnership(
      [user('platform', { clientId: 'sim-platform-*' }), user('bridge', { clientId: 'site-bridge' })],
      undefined,
    );
    expect(ids.ownerOf('sim-platform-gw1-ab12')).toEqual({ kind: 'user', username: 'platform' });
    expect(ids.ownerOf('platform')).toBeUndefined();
    expect(ids.ownerOf('site-bridge')).toEqual({ kind: 'user', username: 'bridge' });
    expect(ids.ownerOf('site-bridge-2')).toBeUndefined();
  });

  it("does not let a user's prefix cover the ids of a user with a longer name", () => {
    const ids = new ClientIdOwnership([user('display-m1'), user('display-m1-x')], undefined);
    expect(ids.ownerOf('display-m1-x')).toEqual({ kind: 'user', username: 'display-m1-x' });
    expect(ids.ownerOf('display-m1-x-1')).toEqual({ kind: 'user', username: 'display-m1-x' });
    expect(ids.ownerOf('display-m1-y')).toEqual({ kind: 'user', username: 'display-m1' });
  });

  it('resolves every id to the most specific owner, never to two', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z]{1,3}(-[a-z]{1,3})?$/), { maxLength: 6 }),
        (names) => {
          const ids = new ClientIdOwnership(
            names.map((n) => user(n)),
            undefined,
          );
          for (const n of names) expect(ids.ownerOf(n)).toEqual({ kind: 'user', username: n });
          for (const n of names) expect(ids.ownerOf(`${n}-zzzz`)).toEqual({ kind: 'user', username: n });
        },
      ),
    );
  });

  it('refuses two users claiming the same id, and a user claiming a gateway id', async () => {
    await expectVendgateError(
      () => new ClientIdOwnership([user('a', { clientId: 'x' }), user('b', { clientId: 'x' })], undefined),
      ErrorCode.ConfigInvalid,
    );
    const err = await expectVendgateError(
      () => new ClientIdOwnership([user('a', { clientId: 'vendgate-gw1' })], 'gw1'),
      ErrorCode.ConfigInvalid,
    );
    expect(err.message).toContain('reserved');
    await expectVendgateError(
      () => new ClientIdOwnership([user('a', { clientId: 'a*b' })], undefined),
      ErrorCode.ConfigInvalid,
    );
  });
});

describe('topic rights of a user', () => {
  const wide = user('wide', { publish: ['#'], subscribe: ['#'] });
  const platform = user('platform', {
    publish: ['vendgate/v1/+/cmd/#', 'vendgate/v1/+/ack'],
    subscribe: ['vendgate/v1/#'],
  });

  it("grants the contract's tree only through filters that name it", () => {
    expect(namesGatewayTree('vendgate/v1/gw1/ack')).toBe(true);
    expect(namesGatewayTree('vendgate/v1/+/cmd/#')).toBe(true);
    expect(namesGatewayTree('vendgate/v1')).toBe(false);
    expect(namesGatewayTree('#')).toBe(false);
    expect(namesGatewayTree('vendgate/+/gw1/ack')).toBe(false);
    expect(userMayPublish(wide, 'site/lights')).toBe(true);
    expect(userMayPublish(wide, 'vendgate/v1/gw1/ack')).toBe(false);
    expect(userMayPublish(platform, 'vendgate/v1/gw1/ack')).toBe(true);
    expect(userMayPublish(platform, 'vendgate/v1/gw1/evt/order.created')).toBe(false);
  });

  it("refuses every user a gateway's event batches, whatever its ACL names", () => {
    const gatewayish = user('gatewayish', { publish: ['vendgate/v1/#', 'vendgate/v1/gw1/evts'] });
    expect(userMayPublish(gatewayish, 'vendgate/v1/gw1/evts')).toBe(false);
    expect(userMayPublish(wide, 'vendgate/v1/gw1/evts')).toBe(false);
    expect(userMayPublish(gatewayish, 'vendgate/v1/gw1/evt/x')).toBe(true);
    expect(userMayPublish(gatewayish, 'vendgate/v1/gw1/evts/x')).toBe(true);
  });

  it('grants a wildcard subscription but never delivers messages of the tree it does not name', () => {
    expect(userMaySubscribe(wide, '#')).toBe(true);
    expect(userMaySubscribe(wide, 'vendgate/v1/#')).toBe(false);
    expect(userMayReceive(wide, 'site/lights')).toBe(true);
    expect(userMayReceive(wide, 'vendgate/v1/gw1/cmd/order.paid')).toBe(false);
    expect(userMayReceive(platform, 'vendgate/v1/gw1/evt/x')).toBe(true);
  });

  it('lets a display read only its render topic and write only its state topic', () => {
    const d = displayBrokerUser({ gatewayId: 'gw1', displayId: 'm1', password: 'display-m1-secret' });
    expect(userMaySubscribe(d, 'vendgate/v1/gw1/display/m1/render')).toBe(true);
    expect(userMaySubscribe(d, 'vendgate/v1/gw1/display/m2/render')).toBe(false);
    expect(userMaySubscribe(d, 'vendgate/v1/gw1/display/+/render')).toBe(false);
    expect(userMayPublish(d, 'vendgate/v1/gw1/display/m1/state')).toBe(true);
    expect(userMayPublish(d, 'vendgate/v1/gw1/display/m1/render')).toBe(false);
    for (const t of ['ack', 'status', 'evt/x', 'cmd/order.paid', 'res/order.create']) {
      expect(userMayPublish(d, `vendgate/v1/gw1/${t}`), t).toBe(false);
    }
  });
});
