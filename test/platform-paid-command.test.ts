/**
 * A command recorded in the caller's transaction (the payment's, so the
 * payment and its order.paid share one commit): nothing reaches the broker
 * before the caller publishes it after the commit, a rollback forgets it
 * whole, and a publish sends the exact recorded bytes and marks the row
 * published.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { createFleetLink } from '../platform/fleet/link.ts';
import type { RecordedFleetCommand } from '../platform/fleet/port.ts';
import { SigningKeyring } from '../platform/signing/keyring.ts';
import type { StoreBackend } from '../platform/store/port.ts';
import { openStore } from '../platform/store/store.ts';
import { cleanupsAfterEach, tempDir, waitUntil } from '../testing/index.ts';
import { type PostgresHandle, startPostgres } from './support/postgres.ts';
import { startRig } from './support/rig.ts';

const KEY = Buffer.from('paid-command-test-payer-key-0123');
const cleanups = cleanupsAfterEach();
let pg: PostgresHandle | undefined;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

describe.each(['sqlite', 'postgres'] as const)(
  'a command recorded in a transaction on %s',
  (backend: StoreBackend) => {
    it('is not published before its transaction commits, is forgotten by a rollback, and publishes its recorded bytes once', async () => {
      const rig = await startRig({ slotBoards: 1, devices: 'memory', platform: false });
      const tmp = tempDir('vendgate-paid-command-');
      cleanups.push(tmp.cleanup);
      const store = await openStore({
        backend,
        sqlitePath: join(tmp.dir, 'platform.db'),
        postgresUrl: backend === 'postgres' ? await pg!.createDatabase() : undefined,
        payerHashKey: KEY,
      });
      cleanups.push(() => store.close());
      const link = createFleetLink({
        brokerUrl: rig.brokerUrl,
        store,
        signer: new SigningKeyring([{ keyId: 'default', privateKey: rig.keys.privateKey }]),
        protocolVersion: 4, // the rig's embedded aedes speaks MQTT 3.1.1
      });
      await link.start();
      cleanups.push(() => link.stop());
      const watcher = await connectMqttAsync(rig.brokerUrl, { clientId: `watch-${randomUUID()}` });
      cleanups.push(() => watcher.endAsync(true));
      const seen: string[] = [];
      watcher.on('message', (_topic, payload) => seen.push(payload.toString('utf8')));
      await watcher.subscribeAsync(gatewayTopics(rig.gatewayId).command('order.paid'), { qos: 1 });

      // Rolled back: neither a row nor a publish.
      await expect(
        store.tx(async (t) => {
          await link.sendCommand(rig.gatewayId, 'order.paid', rig.order('m1', 1), {
            commandId: 'cmd-rolled-back',
            tx: t,
          });
          throw new Error('the payment failed');
        }),
      ).rejects.toThrow('the payment failed');
      expect(await store.commands.get('cmd-rolled-back')).toBeUndefined();

      let recorded: RecordedFleetCommand | undefined;
      await store.tx(async (t) => {
        recorded = await link.sendCommand(rig.gatewayId, 'order.paid', rig.order('m1', 2), {
          commandId: 'cmd-committed',
          tx: t,
        });
      });
      expect(await store.commands.get('cmd-committed')).toMatchObject({
        state: 'recorded',
        payload: recorded?.payload,
      });
      expect(seen).toEqual([]);
      await recorded?.publish();
      await waitUntil(() => seen.length > 0, { timeoutMs: 5_000, what: 'the order.paid publish' });
      expect(seen).toEqual([recorded?.payload]);
      expect((await store.commands.get('cmd-committed'))?.state).toBe('published');
      expect(link.stats().commandsSent).toBe(1);
    });
  },
);
