/**
 * The simulated platform's CLI (main.ts) as its own process, placing signed
 * orders on a broker for a bare MQTT client standing in for the gateway.
 */
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '../../contract/signing.ts';
import { gatewayTopics } from '../../contract/topics.ts';
import { silentLogger } from '../../core/log.ts';
import { startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';
import { waitUntil } from '../../testing/wait.ts';

const keys = generateRawKeyPair();
const cleanups = cleanupsAfterEach();

async function setup(gatewayId: string) {
  const broker = await startEmbeddedBroker({ port: 0, log: silentLogger() });
  cleanups.push(() => broker.close());
  const gw = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
  cleanups.push(() => gw.endAsync(true));
  const commands: Array<{ topic: string; payload: string }> = [];
  gw.on('message', (topic, payload) => commands.push({ topic, payload: payload.toString() }));
  await gw.subscribeAsync(gatewayTopics(gatewayId).commandWildcard, { qos: 1 });
  return { broker, commands };
}

describe('the simulated platform process', () => {
  it('runs as a process that places orders and prints a summary', async () => {
    const { commands, broker } = await setup('gw-main');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'firmware-sim/platform/main.ts',
        '--broker',
        broker.url,
        '--gateway',
        'gw-main',
        '--key',
        keys.privateKey,
        '--machines',
        'm1:1-3,m2:5',
        '--rate',
        '20',
        '--duplicates',
        '0.3',
        '--count',
        '10',
        '--summary-every',
        '200',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VENDGATE_LOG_LEVEL: 'warn' } },
    );
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    await waitUntil(() => commands.length >= 10, { timeoutMs: 20_000, what: 'ten commands from the CLI' });
    expect(commands.length).toBe(10);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toMatch(/platform-sim: final/);
    expect(out).toMatch(/orders \d+ \(\+\d+ duplicate notifications/);
  });
});
