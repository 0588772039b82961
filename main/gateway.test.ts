/**
 * The composition root's start and stop order, on the real parts: a store
 * file, the embedded broker on a TCP port, machines through the
 * machineFactory seam, the HTTP API.
 */
import { createServer, type Server } from 'node:net';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/log.ts';
import { parseConfig } from '../gateway/config/load.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { FakeMachine } from '../testing/fake-machine.ts';
import { freePort } from '../testing/ports.ts';
import { tempDir } from '../testing/tmp.ts';
import { startGateway } from './gateway.ts';

const cleanups = cleanupsAfterEach();

class CountingMachine extends FakeMachine {
  starts = 0;
  stops = 0;
  override async start(): Promise<void> {
    this.starts++;
  }
  override async stop(): Promise<void> {
    this.stops++;
  }
}

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, '127.0.0.1', () => resolve(srv));
  });
}

async function rig(httpPort: number) {
  const tmp = tempDir('vendgate-root-');
  cleanups.push(tmp.cleanup);
  const brokerPort = await freePort();
  const config = parseConfig({
    dataDir: tmp.dir,
    broker: { embedded: { port: brokerPort } },
    http: { enabled: true, port: httpPort },
    machines: [{ id: 'm1', port: '/dev/null', slots: [{ slot: 1 }] }],
  });
  const machine = new CountingMachine('m1');
  return { config, machine, brokerPort };
}

describe('the composition root', () => {
  it('starts every part and stops them all, releasing the broker port', async () => {
    const { config, machine, brokerPort } = await rig(0);
    const gw = await startGateway({ config, log: silentLogger(), machineFactory: () => machine });
    expect(gw.machines.get('m1')).toBe(machine);
    expect(machine.starts).toBe(1);
    expect(gw.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gw.health().machines).toEqual([{ machineId: 'm1', online: true }]);
    await gw.stop();
    await gw.stop();
    expect(machine.stops).toBe(1);
    const srv = await listen(brokerPort);
    cleanups.push(() => new Promise((r) => srv.close(r)));
  });

  it('stops what already started when a later part fails to start, then rethrows', async () => {
    const taken = await listen(0);
    cleanups.push(() => new Promise((r) => taken.close(r)));
    const addr = taken.address();
    const httpPort = typeof addr === 'object' && addr ? addr.port : 0;
    const { config, machine, brokerPort } = await rig(httpPort);
    await expect(
      startGateway({ config, log: silentLogger(), machineFactory: () => machine }),
    ).rejects.toThrow(/EADDRINUSE/);
    // The machines were started before the HTTP API, so they were stopped again; so was the broker.
    expect(machine.starts).toBe(1);
    expect(machine.stops).toBe(1);
    const srv = await listen(brokerPort);
    cleanups.push(() => new Promise((r) => srv.close(r)));
  });
});
