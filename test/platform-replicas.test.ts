import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { SigningKeyring } from '../platform/signing/keyring.ts';
import { openStore } from '../platform/store/store.ts';
import { cleanupsAfterEach, waitUntil } from '../testing/index.ts';
import { mosquittoAvailable } from './support/mosquitto.ts';
import { type PostgresHandle, startPostgres } from './support/postgres.ts';
import { startRig } from './support/rig.ts';

const REPLICA = join(dirname(fileURLToPath(import.meta.url)), 'support/platform-replica.ts');
const cleanups = cleanupsAfterEach();
let pg: PostgresHandle | undefined;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => {
  await pg?.stop();
});

interface Replica {
  child: ChildProcess;
  stderr: () => string;
}

async function startReplica(name: string, env: Record<string, string>): Promise<Replica> {
  const child = spawn(process.execPath, ['--import', 'tsx', REPLICA], {
    env: { ...process.env, ...env, REPLICA_NAME: name },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  await waitUntil(
    () => {
      if (child.exitCode !== null) throw new Error(`replica ${name} exited: ${err}`);
      return out.includes('ready');
    },
    { timeoutMs: 30_000, what: `replica ${name} ready` },
  );
  return { child, stderr: () => err };
}

describe.skipIf(!mosquittoAvailable())(
  'two platform replicas on Mosquitto with a shared subscription',
  () => {
    it('share a gateway fleet with nothing processed twice and nothing lost when one is SIGKILLed', async () => {
      const rig = await startRig({ slotBoards: 1, devices: 'memory', broker: 'mosquitto', platform: false });
      const pgUrl = await pg!.createDatabase();
      // Migrate once before the replicas race to.
      const store = await openStore({
        backend: 'postgres',
        postgresUrl: pgUrl,
        payerHashKey: Buffer.alloc(32, 7),
      });
      cleanups.push(() => store.close());
      const env = {
        REPLICA_PG_URL: pgUrl,
        REPLICA_BROKER_URL: rig.brokerUrl,
        REPLICA_GROUP: 'platform',
        REPLICA_KEY: rig.keys.privateKey,
      };
      const a = await startReplica('replica-a', env);
      const b = await startReplica('replica-b', env);

      // Orders signed like the platform's, published by the test (not a subscriber, so it takes no share).
      const signer = new SigningKeyring([{ keyId: 'default', privateKey: rig.keys.privateKey }]);
      const sender = await connectMqttAsync(rig.brokerUrl, { clientId: `orders-${randomUUID()}` });
      cleanups.push(() => sender.endAsync(true));
      const place = async (n: number) => {
        for (let i = 0; i < n; i++) {
          const now = Date.now();
          const body = JSON.stringify({
            id: randomUUID(),
            type: 'order.paid',
            gatewayId: rig.gatewayId,
            issuedAt: now,
            expiresAt: now + 60_000,
            nonce: randomBytes(16).toString('hex'),
            data: rig.order('m1', (i % 6) + 1),
          });
          await sender.publishAsync(
            gatewayTopics(rig.gatewayId).command('order.paid'),
            JSON.stringify(signer.sign(body)),
            {
              qos: 1,
            },
          );
        }
      };
      const stored = async () => (await store.events.list(rig.gatewayId, { limit: 10_000 })).length;

      await place(10);
      await waitUntil(async () => (await stored()) >= 10, { timeoutMs: 30_000, what: 'first events stored' });
      a.child.kill('SIGKILL');
      await place(10);
      await waitUntil(
        async () =>
          (await store.events.list(rig.gatewayId, { type: 'vend.succeeded', limit: 1000 })).length === 20,
        { timeoutMs: 60_000, what: 'all twenty vends stored' },
      );
      await waitUntil(() => rig.gw.outbox.stats().pending === 0, {
        timeoutMs: 30_000,
        what: 'the outbox drained',
      });

      const lastSeq = rig.gw.outbox.stats().lastSeq;
      const events = await store.events.list(rig.gatewayId, { limit: 10_000 });
      expect(events.map((e) => e.seq)).toEqual(Array.from({ length: lastSeq }, (_, i) => i + 1));
      expect((await store.gateways.get(rig.gatewayId))?.ackedUpTo).toBe(lastSeq);
      // Every event was handled exactly once, by one replica or the other, and both took a share.
      const { rows } = await pgQuery(
        pgUrl,
        "SELECT provider, COUNT(*)::int AS n FROM notifications WHERE provider LIKE 'handled%' GROUP BY provider",
      );
      const counts = Object.fromEntries(rows.map((r) => [r.provider, r.n]));
      expect(counts.handled).toBe(lastSeq);
      expect((counts['handled-by-replica-a'] ?? 0) + (counts['handled-by-replica-b'] ?? 0)).toBe(lastSeq);
      expect(counts['handled-by-replica-a']).toBeGreaterThan(0);
      expect(counts['handled-by-replica-b']).toBeGreaterThan(0);
      expect(a.stderr() + b.stderr()).not.toContain('DOUBLE');
    });
  },
);

async function pgQuery(url: string, sql: string): Promise<{ rows: { provider: string; n: number }[] }> {
  const { default: pgLib } = await import('pg');
  const c = new pgLib.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql)) as unknown as { rows: { provider: string; n: number }[] };
  } finally {
    await c.end();
  }
}
