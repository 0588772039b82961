// One platform replica as its own process, for the shared-subscription test
// (test/platform-replicas.test.ts): a fleet link in a shared group on a
// PostgreSQL store. Its handler records every event it processes; a second
// processing would find the row there and says so on stderr.
import { createFleetLink } from '../../platform/fleet/link.ts';
import { SigningKeyring } from '../../platform/signing/keyring.ts';
import { openStore } from '../../platform/store/store.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`platform-replica: ${name} is not set`);
  return v;
};

const store = await openStore({
  backend: 'postgres',
  postgresUrl: env('REPLICA_PG_URL'),
  payerHashKey: Buffer.from('replica-test-payer-key-0123456789'),
});
const link = createFleetLink({
  brokerUrl: env('REPLICA_BROKER_URL'),
  sharedGroup: env('REPLICA_GROUP'),
  protocolVersion: 5,
  clientId: env('REPLICA_NAME'),
  store,
  signer: new SigningKeyring([{ keyId: 'default', privateKey: env('REPLICA_KEY') }]),
});
link.onEvent('*', async (e, t) => {
  const first = await t.notifications.record(
    `handled-by-${env('REPLICA_NAME')}`,
    e.eventId,
    null,
    e.receivedAt,
  );
  const anyone = await t.notifications.record('handled', e.eventId, null, e.receivedAt);
  if (!first || !anyone) process.stderr.write(`DOUBLE ${e.eventId}\n`);
});
await link.start();
process.stdout.write('ready\n');
const shutdown = async () => {
  await link.stop();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void shutdown());
