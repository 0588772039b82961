import { createServer, type Server } from 'node:http';
import type { IClientOptions, MqttClient } from 'mqtt';
import type { GatewayStatus } from '../../contract/events.ts';
import { connectMqtt, connectMqttOver } from '../../contract/mqtt-client.ts';
import { sealBody } from '../../contract/signed.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { ErrorCode } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { VERSION } from '../../core/version.ts';
import { type EmbeddedBroker, startEmbeddedBroker } from '../broker/embedded.ts';
import type { Config } from '../config/schema.ts';
import { loadGatewayKey } from '../link/gateway-key.ts';
import type { StoreDistrust } from '../store/store-check.ts';

/** What /health answers in safe mode (always with HTTP 503). */
export interface SafeModeHealth {
  status: 'safe-mode';
  gatewayId: string;
  version: string;
  code: number;
  safeMode: { fault: StoreDistrust['fault']; message: string; action: string; since: number };
  store: Record<string, unknown>;
}

export interface SafeMode {
  readonly distrust: StoreDistrust;
  readonly httpUrl: string | undefined;
  readonly brokerUrl: string | undefined;
  health(): SafeModeHealth;
  stop(): Promise<void>;
}

/**
 * Safe mode: the store cannot be trusted (store-check.ts), so the gateway
 * takes no order, sends nothing to a machine and publishes no event (each
 * could reuse a seq the platform holds or a vend token a controller
 * remembers). It only says what happened and what to do: once in the log,
 * on /health (503 with the reason, on the configured HTTP port), and in the
 * retained MQTT status (state offline, with `safeMode`), until the operator
 * restores the store or runs `vendgate store accept` and restarts.
 */
export async function startSafeMode(opts: {
  config: Pick<Config, 'gatewayId' | 'http' | 'broker' | 'dataDir' | 'platform'>;
  log: Log;
  distrust: StoreDistrust;
}): Promise<SafeMode> {
  const { config, log, distrust } = opts;
  const since = Date.now();
  log.fatal(
    { code: ErrorCode.StoreUntrusted, fault: distrust.fault, action: distrust.action, ...distrust.details },
    `SAFE MODE: ${distrust.message}. Nothing is dispensed or published until the operator acts: ${distrust.action}`,
  );
  const health = (): SafeModeHealth => ({
    status: 'safe-mode',
    gatewayId: config.gatewayId,
    version: VERSION,
    code: ErrorCode.StoreUntrusted,
    safeMode: { fault: distrust.fault, message: distrust.message, action: distrust.action, since },
    store: distrust.details,
  });

  let http: Server | undefined;
  let httpUrl: string | undefined;
  if (config.http.enabled) {
    const server = createServer((req, res) => {
      const body = req.url === '/health' || req.url?.startsWith('/health?') ? health() : notServed(req.url);
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '60' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.http.port, config.http.host, () => resolve());
    });
    http = server;
    const addr = server.address();
    httpUrl = typeof addr === 'object' && addr ? `http://${config.http.host}:${addr.port}` : undefined;
  }

  // The platform learns it from the retained status, on the broker it watches.
  let broker: EmbeddedBroker | undefined;
  let brokerUrl = config.broker.url;
  if (!brokerUrl) {
    broker = await startEmbeddedBroker({
      host: config.broker.embedded.host,
      port: config.broker.embedded.port,
      users: config.broker.embedded.users,
      log,
    });
    brokerUrl = broker.url;
  }
  const topics = gatewayTopics(config.gatewayId);
  const status: GatewayStatus = {
    state: 'offline',
    gatewayId: config.gatewayId,
    version: VERSION,
    startedAt: since,
    safeMode: { fault: distrust.fault, message: distrust.message, action: distrust.action },
  };
  // Signed with the gateway's key like every status, so the platform believes it (the key lives
  // beside the store, not in it: a damaged store does not take it along).
  const key = loadGatewayKey({ dataDir: config.dataDir, seed: config.platform.gatewayKey });
  const payload = sealBody(
    JSON.stringify({
      ...status,
      issuedAt: Date.now(),
      eventKey: { alg: 'Ed25519', keyId: key.keyId, publicKey: key.publicKey },
    } satisfies GatewayStatus),
    key.privateKey,
    key.keyId,
  );
  const options: IClientOptions = {
    // Not the link's client id: its persistent session holds commands that must wait for a trusted store.
    clientId: `vendgate-${config.gatewayId}-safe-mode`,
    clean: true,
    reconnectPeriod: 2000,
    will: { topic: topics.status, payload: Buffer.from(payload), qos: 1, retain: true },
    ...(config.broker.username !== undefined ? { username: config.broker.username } : {}),
    ...(config.broker.password !== undefined ? { password: config.broker.password } : {}),
  };
  const embedded = broker;
  const client: MqttClient = embedded
    ? connectMqttOver(() => embedded.openInProcess(), options)
    : connectMqtt(brokerUrl, options);
  client.on('connect', () => {
    client.publish(topics.status, payload, { qos: 1, retain: true }, (err) => {
      if (err) log.warn({ err: err.message }, 'could not publish the safe-mode status');
    });
  });
  client.on('error', (err) => log.warn({ err: err.message }, 'safe-mode status link error'));

  return {
    distrust,
    httpUrl,
    brokerUrl,
    health,
    async stop() {
      await client.endAsync(false).catch(() => client.endAsync(true));
      await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
      await broker?.close();
    },
  };
}

function notServed(url: string | undefined) {
  return {
    code: ErrorCode.StoreUntrusted,
    name: 'StoreUntrusted',
    message: `${url ?? ''} is not served in safe mode: the store is not trusted; see /health`,
  };
}
