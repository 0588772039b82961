/**
 * Alerts out, across the layers: the condition board -> the dispatcher ->
 * the queue in a real SQLite file -> signed POSTs to a real HTTP receiver
 * on loopback (node:http), and -> the platform link -> the gateway's
 * broker, with the whole gateway and a simulated slot board on a pty.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApi } from '../api/server.ts';
import { AlertMessage, verifyAlertWebhook } from '../contract/alerts.ts';
import { connectMqttAsync } from '../contract/mqtt-client.ts';
import { SignedEnvelope } from '../contract/signed.ts';
import { publicKeyFromBase64, verifyBody } from '../contract/signing.ts';
import { gatewayTopics } from '../contract/topics.ts';
import { createRootLogger, type Log } from '../core/log.ts';
import { AlertsConfig } from '../gateway/alerts/config.ts';
import { AlertService } from '../gateway/alerts/service.ts';
import { webhookSinkId } from '../gateway/alerts/webhook-sink.ts';
import { ConditionBoard, type ConditionInput } from '../gateway/conditions/conditions.ts';
import { catalogFrom } from '../gateway/ledger/catalog.ts';
import { OrderLedger } from '../gateway/ledger/ledger.ts';
import { Outbox } from '../gateway/outbox/outbox.ts';
import { type Db, openStore } from '../gateway/store/db.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';
import { startRig } from './support/rig.ts';

const cleanups = cleanupsAfterEach();
const SECRET = 'whsec-cross-layer-0123456789';

interface Post {
  body: string;
  signature: string | undefined;
  alert: AlertMessage;
}

/** A webhook receiver on 127.0.0.1: `answer` decides each request's fate (the 1-based attempt number given). */
async function webhook(
  answer: (res: ServerResponse, n: number, alert: AlertMessage) => void = (res) => res.end(),
) {
  const requests: Post[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const alert = AlertMessage.parse(JSON.parse(body));
      const post = { body, signature: req.headers['x-vendgate-signature'] as string | undefined, alert };
      requests.push(post);
      answer(res, requests.length, alert);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/vendgate`, requests };
}

function recordingLog(): { log: Log; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = createRootLogger({
    level: 'debug',
    repeats: false,
    destination: { write: (s: string) => lines.push(JSON.parse(s)) } as unknown as NodeJS.WritableStream,
  });
  return { log, lines };
}

/** One gateway's alerts on a store file: start, stop and start again on the same file. */
function alertsOn(path: string, config: unknown, log: Log) {
  let db: Db | undefined;
  let service: AlertService | undefined;
  let board: ConditionBoard | undefined;
  const start = () => {
    db = openStore({ path });
    board = new ConditionBoard({ wallMs: () => Date.now() });
    service = new AlertService({
      config: AlertsConfig.parse(config),
      db,
      board,
      gatewayId: 'shop-17',
      alertTopic: gatewayTopics('shop-17').alert,
      outboxPending: () => 0,
      log,
    });
    service.start();
    return { db, board, service };
  };
  const stop = async () => {
    await service?.stop();
    db?.close();
    service = undefined;
  };
  cleanups.push(stop);
  return { start, stop };
}

function store(): string {
  const tmp = tempDir('vendgate-alerts-');
  cleanups.push(tmp.cleanup);
  return join(tmp.dir, 'vendgate.db');
}

const jam = (slot: number): ConditionInput => ({
  kind: 'jam',
  machineId: 'm1',
  slot,
  severity: 'critical',
  detail: `slot ${slot} jammed`,
});

const fastRetry = { initialMs: 20, maxMs: 100 };

describe('alerts to a webhook', () => {
  it('sends a raised then a cleared condition as two signed posts, in order, that the secret verifies', async () => {
    const hook = await webhook();
    const { start } = alertsOn(
      store(),
      { webhooks: [{ url: hook.url, secret: SECRET }], mqtt: false },
      recordingLog().log,
    );
    const { board } = start();
    board.raise(jam(3));
    board.clear(jam(3));
    await waitUntil(() => hook.requests.length === 2, { what: 'two posts' });
    const [raised, cleared] = hook.requests;
    for (const post of hook.requests)
      expect(verifyAlertWebhook(SECRET, post.body, post.signature)).toMatchObject({ ok: true });
    expect(verifyAlertWebhook('not-the-secret-000000', raised!.body, raised!.signature).ok).toBe(false);
    expect([raised!.alert.state, cleared!.alert.state]).toEqual(['raised', 'cleared']);
    expect(cleared!.alert).toMatchObject({
      alertId: raised!.alert.alertId,
      key: 'jam:m1:3',
      gatewayId: 'shop-17',
    });
  });

  it('times out an endpoint that hangs, retries it, and sends later alerts meanwhile', async () => {
    const hook = await webhook((res, n) => {
      if (n === 1) return; // the first request hangs for good
      res.end();
    });
    const { start } = alertsOn(
      store(),
      { webhooks: [{ url: hook.url, secret: SECRET, timeoutMs: 300 }], mqtt: false, retry: fastRetry },
      recordingLog().log,
    );
    const { board, service } = start();
    board.raise(jam(1));
    await waitUntil(() => hook.requests.length === 1, { what: 'the first post' });
    board.raise(jam(2));
    await waitUntil(() => hook.requests.some((p) => p.alert.key === 'jam:m1:2'), { what: 'the later alert' });
    await waitUntil(() => service.report().sinks[0]!.counts.delivered === 2, {
      what: 'both delivered',
      timeoutMs: 5000,
    });
    const first = hook.requests.filter((p) => p.alert.key === 'jam:m1:1');
    expect(first.length).toBeGreaterThanOrEqual(2);
    const sink = service.report().sinks[0]!;
    expect(sink.delivered.find((d) => d.key === 'jam:m1:1')!.attempts).toBeGreaterThanOrEqual(2);
  });

  it('delivers an alert once to an endpoint answering 500 three times and then 200', async () => {
    const hook = await webhook((res, n) => res.writeHead(n <= 3 ? 500 : 200).end());
    const { lines, log } = recordingLog();
    const { start } = alertsOn(
      store(),
      { webhooks: [{ url: hook.url, secret: SECRET }], mqtt: false, retry: fastRetry },
      log,
    );
    const { board, service } = start();
    board.raise(jam(4));
    await waitUntil(() => service.report().sinks[0]!.counts.delivered === 1, { what: 'delivered' });
    expect(hook.requests).toHaveLength(4);
    expect(new Set(hook.requests.map((p) => p.alert.alertId)).size).toBe(1);
    expect(service.report().sinks[0]!.delivered[0]).toMatchObject({ key: 'jam:m1:4', attempts: 4 });
    expect(lines.filter((l) => l.msg === 'alert not delivered; retrying')).toHaveLength(3);
    expect(JSON.stringify(lines)).not.toContain(SECRET);
  });

  it('drops the oldest cleared alerts first when the queue is at its bound, and logs it', async () => {
    const hook = await webhook((res) => res.writeHead(503).end());
    const { lines, log } = recordingLog();
    const { start } = alertsOn(
      store(),
      // Retries far apart: the queue fills while nothing leaves it.
      {
        webhooks: [{ url: hook.url, secret: SECRET }],
        mqtt: false,
        queueMax: 10,
        retry: { initialMs: 3600_000, maxMs: 3600_000 },
      },
      log,
    );
    const { board, service } = start();
    for (let slot = 1; slot <= 4; slot++) {
      board.raise(jam(slot));
      board.clear(jam(slot)); // 8 rows: jam 1-4 raised and cleared
    }
    for (let slot = 10; slot <= 13; slot++) board.raise(jam(slot)); // 12 rows for a bound of 10
    const sink = service.report().sinks[0]!;
    expect(sink.counts.pending).toBeLessThanOrEqual(10);
    const pendingKeys = sink.pending.map((p) => `${p.key}/${p.state}`);
    for (let slot = 10; slot <= 13; slot++) expect(pendingKeys).toContain(`jam:m1:${slot}/raised`);
    const dropped = lines.filter((l) => l.msg === 'alert queue full: dropped an undelivered alert');
    expect(dropped.length).toBe(sink.counts.dropped);
    expect(dropped[0]).toMatchObject({ state: 'cleared', key: expect.stringMatching(/^jam:m1:[1-4]$/) });
    expect(dropped.every((l) => /^jam:m1:[1-4]$/.test(l.key as string))).toBe(true);
  });

  it('delivers after a restart the alert pending before it, and never re-sends one delivered', async () => {
    let up = false;
    const hook = await webhook((res) => res.writeHead(up ? 200 : 500).end());
    const path = store();
    const config = {
      webhooks: [{ url: hook.url, secret: SECRET }],
      mqtt: false,
      retry: { initialMs: 50, maxMs: 50 },
    };
    const gateway = alertsOn(path, config, recordingLog().log);
    let g = gateway.start();
    up = true;
    g.board.raise(jam(1));
    await waitUntil(() => g.service.report().sinks[0]!.counts.delivered === 1, { what: 'jam 1 delivered' });
    up = false;
    g.board.raise(jam(2));
    await waitUntil(() => hook.requests.some((p) => p.alert.key === 'jam:m1:2'), { what: 'jam 2 tried' });
    await gateway.stop();
    const before = hook.requests.length;

    up = true;
    g = gateway.start();
    g.board.raise(jam(1)); // still jammed after the restart: no second raised
    await waitUntil(() => g.service.report().sinks[0]!.counts.delivered === 2, { what: 'jam 2 delivered' });
    const after = hook.requests.slice(before);
    expect(after.map((p) => `${p.alert.key}/${p.alert.state}`)).toEqual(['jam:m1:2/raised']);
    const raisedJam1 = hook.requests.filter((p) => p.alert.key === 'jam:m1:1');
    expect(raisedJam1).toHaveLength(1);
  });

  it('lists the queue per sink on GET /api/alerts', async () => {
    const hook = await webhook();
    const { start } = alertsOn(
      store(),
      { webhooks: [{ url: `${hook.url}?token=t0p`, secret: SECRET }], mqtt: false },
      recordingLog().log,
    );
    const { db, board, service } = start();
    board.raise(jam(5));
    await waitUntil(() => service.report().sinks[0]!.counts.delivered === 1, { what: 'delivered' });
    const outbox = new Outbox(db, { gatewayId: 'shop-17', maxRows: 10, telemetryTtlMs: 1000 });
    const api = await buildApi({
      ledger: new OrderLedger({ db, outbox, catalog: catalogFrom([]) }),
      health: () => {
        throw new Error('not used');
      },
      alerts: () => service.report(),
    });
    cleanups.push(() => api.close());
    const res = await api.inject({ method: 'GET', url: '/api/alerts' });
    expect(res.statusCode).toBe(200);
    const report = res.json() as { active: number; sinks: Array<Record<string, unknown>> };
    expect(report.active).toBe(1);
    expect(report.sinks).toMatchObject([
      {
        id: webhookSinkId(`${hook.url}?token=t0p`),
        type: 'webhook',
        target: hook.url,
        counts: { pending: 0, delivered: 1, failed: 0, dropped: 0 },
        delivered: [{ key: 'jam:m1:5', state: 'raised', attempts: 1 }],
      },
    ]);
    expect(res.body).not.toContain('t0p');
  });
});

describe('alerts from the sources that belong to no device', () => {
  it('raises outbox_growing for an outbox that keeps growing', async () => {
    const db = openStore({ path: store() });
    cleanups.push(() => db.close());
    const outbox = new Outbox(db, { gatewayId: 'shop-17', maxRows: 100_000, telemetryTtlMs: 3600_000 });
    const board = new ConditionBoard({ wallMs: () => Date.now() });
    const service = new AlertService({
      config: AlertsConfig.parse({ mqtt: false, outboxGrowing: { depth: 5, forMs: 1000 } }),
      db,
      board,
      gatewayId: 'shop-17',
      alertTopic: gatewayTopics('shop-17').alert,
      outboxPending: () => outbox.stats().pending,
      log: recordingLog().log,
    });
    service.start();
    cleanups.push(() => service.stop());
    // Nobody acknowledges: every event stays in the outbox.
    const grow = setInterval(() => outbox.append('machine.status', { machineId: 'm1', online: true }), 20);
    cleanups.push(() => clearInterval(grow));
    await waitUntil(() => board.isActive({ kind: 'outbox_growing' }), {
      what: 'outbox_growing',
      timeoutMs: 5000,
    });
    expect(service.report().active).toBe(1);
  });
});

describe('alerts in the whole gateway', () => {
  it('publishes raise and clear on the broker, signed by the gateway key, and offline past the grace', async () => {
    const hook = await webhook();
    const rig = await startRig({
      slotBoards: 1,
      slotBoardMachine: { telemetry: { offlineGraceMs: 300 } },
      config: {
        alerts: { webhooks: [{ url: hook.url, secret: SECRET, kinds: ['door_open'] }] },
      },
    });
    const topic = gatewayTopics(rig.gatewayId).alert;
    const client = await connectMqttAsync(rig.brokerUrl, { reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    const got: AlertMessage[] = [];
    const key = publicKeyFromBase64(rig.gw.link.eventKey.publicKey);
    client.on('message', (t, payload) => {
      if (t !== topic) return;
      const env = SignedEnvelope.parse(JSON.parse(payload.toString('utf8')));
      expect(verifyBody(env.body, env.sig, key)).toBe(true);
      got.push(AlertMessage.parse(JSON.parse(env.body)));
    });
    await client.subscribeAsync(topic, { qos: 1 });
    await waitUntil(() => rig.gw.link.connected, { what: 'link up' });

    rig.gw.conditions.raise({
      kind: 'door_open',
      machineId: 'm1',
      severity: 'warning',
      detail: 'door open 12 min',
    });
    rig.gw.conditions.clear({ kind: 'door_open', machineId: 'm1' });
    await waitUntil(() => got.length === 2, { what: 'raise and clear on MQTT' });
    expect(got.map((a) => `${a.key}/${a.state}`)).toEqual([
      'door_open:m1:-/raised',
      'door_open:m1:-/cleared',
    ]);
    // The configured webhook takes door_open only: the same two, signed.
    await waitUntil(() => hook.requests.length === 2, { what: 'the two door posts' });
    expect(hook.requests.map((p) => [p.alert.alertId, p.alert.state])).toEqual(
      got.map((a) => [a.alertId, a.state]),
    );
    expect(hook.requests.every((p) => verifyAlertWebhook(SECRET, p.body, p.signature).ok)).toBe(true);

    const board = rig.boards[0]!;
    // Long enough past the driver's silence timeout (1.5 s) and the grace (300 ms) on a loaded box.
    board.fault({ fault: 'silent', ms: 6000 });
    await waitUntil(() => got.some((a) => a.kind === 'offline' && a.state === 'raised'), {
      what: 'offline raised',
      timeoutMs: 20_000,
    });
    expect(rig.gw.conditions.isActive({ kind: 'offline', machineId: 'm1' })).toBe(true);
    await waitUntil(() => got.some((a) => a.kind === 'offline' && a.state === 'cleared'), {
      what: 'offline cleared once back online',
      timeoutMs: 20_000,
    });
    expect(rig.gw.machines.get('m1')!.online).toBe(true);
    // The board may also have been offline for a moment at the start (the grace is short here): counted, not seen.
    const mqtt = rig.gw.alerts.report().sinks.find((s) => s.id === 'mqtt')!;
    expect(mqtt.counts.pending).toBe(0);
    expect(mqtt.counts.delivered).toBeGreaterThanOrEqual(got.length);
    expect(hook.requests.map((p) => p.alert.kind)).toEqual(['door_open', 'door_open']);
  }, 60_000);
});
