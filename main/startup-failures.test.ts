import { describe, expect, it } from 'vitest';
import { connectMqtt } from '../contract/mqtt-client.ts';
import { ErrorCode } from '../core/errors.ts';
import { silentLogger } from '../core/log.ts';
import { startEmbeddedBroker } from '../gateway/broker/embedded.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { expectVendgateError } from '../testing/errors.ts';
import { freePort } from '../testing/ports.ts';
import { untilBrokerAccepts } from './startup-failures.ts';

const cleanups = cleanupsAfterEach();

describe('start-up failures', () => {
  it('reports a broker that refuses the login as one line naming the settings, without the URL credentials', async () => {
    const broker = await startEmbeddedBroker({
      port: 0,
      users: [{ username: 'bridge', password: 'bridge-pass-1', publish: ['#'], subscribe: ['#'] }],
      allowAnonymousLoopback: false,
      log: silentLogger(),
    });
    cleanups.push(() => broker.close());
    const url = `mqtt://someone:wrong-pass@127.0.0.1:${broker.port}`;
    const client = connectMqtt(url, { reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    const err = await expectVendgateError(
      untilBrokerAccepts(client, url, 'MQTT displays'),
      ErrorCode.BrokerUnreachable,
    );
    expect(err.message).toContain(
      `the broker at mqtt://127.0.0.1:${broker.port} refused the MQTT displays client`,
    );
    expect(err.message).toContain('check broker.username and broker.password');
    expect(err.message).not.toContain('wrong-pass');
    expect(err.message).not.toContain('\n');
  });

  it('reports a broker nobody listens for as one line naming its address', async () => {
    const url = `mqtt://127.0.0.1:${await freePort()}`;
    const client = connectMqtt(url, { reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync(true));
    const err = await expectVendgateError(
      untilBrokerAccepts(client, url, 'MQTT displays'),
      ErrorCode.BrokerUnreachable,
    );
    expect(err.message).toMatch(
      /^the MQTT displays client cannot reach the broker at mqtt:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/,
    );
  });
});
