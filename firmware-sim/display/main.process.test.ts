import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { connectMqttAsync } from '../../contract/mqtt-client.ts';
import { silentLogger } from '../../core/log.ts';
import {
  displayBrokerUser,
  gatewayDisplayAcl,
  MqttPaymentDisplay,
} from '../../devices/display/mqtt-display.ts';
import { startEmbeddedBroker } from '../../gateway/broker/embedded.ts';
import { cleanupsAfterEach } from '../../testing/cleanups.ts';

const log = silentLogger();
const cleanups = cleanupsAfterEach();

/** Resolves with the next stdout JSON line that satisfies `pred`. */
function nextLine(child: ChildProcess, pred: (o: Record<string, unknown>) => boolean) {
  return new Promise<Record<string, unknown>>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (pred(o)) {
        rl.close();
        resolve(o);
      }
    });
    child.once('exit', (code) => reject(new Error(`display sim exited with ${code}`)));
  });
}

describe('the display simulator process', () => {
  it('logs in with the password from its environment, prints what it shows and reports offline on SIGTERM', async () => {
    const broker = await startEmbeddedBroker({
      port: 0,
      log,
      users: [
        { username: 'gateway', password: 'gateway-secret', ...gatewayDisplayAcl('gw1') },
        displayBrokerUser({ gatewayId: 'gw1', displayId: 'm1', password: 'display-m1-secret' }),
      ],
      trustLoopback: false,
    });
    cleanups.push(() => broker.close());
    const gw = await connectMqttAsync(broker.url, {
      clientId: 'gateway',
      username: 'gateway',
      password: 'gateway-secret',
    });
    cleanups.push(() => gw.endAsync(true));
    const display = new MqttPaymentDisplay({ client: gw, gatewayId: 'gw1', defaultLocale: 'de', log });
    await display.start();

    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'firmware-sim/display/main.ts',
        '--url',
        broker.url,
        '--gateway',
        'gw1',
        '--display',
        'm1',
      ],
      {
        env: { ...process.env, VENDGATE_DISPLAY_PASSWORD: 'display-m1-secret' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    cleanups.push(() => child.kill('SIGKILL'));
    await nextLine(child, (o) => o.event === 'ready');

    const rendered = nextLine(child, (o) => o.event === 'render');
    await display.show('m1', { kind: 'out-of-service', reason: 'maintenance' });
    expect(await rendered).toMatchObject({
      kind: 'out-of-service',
      locale: 'de',
      texts: { title: 'Außer Betrieb', reason: 'Wartung läuft.' },
    });
    await display.waitForState('m1', (s) => s.online && s.kind === 'out-of-service');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect((await display.waitForState('m1', (s) => !s.online)).online).toBe(false);
  });
});
