/**
 * Bench helper process: the bare transport's relay, laid out as the gateway
 * is. One process holds an embedded aedes broker (as the gateway's does) and
 * a relay that reaches it in-process (as the gateway's link does) and copies
 * fixed-size frames between MQTT topics and serial ports:
 *
 *   bench/bare/<i>/req -> pty i -> (echo device) -> pty i -> bench/bare/<i>/res
 *
 * No ledger, no protocol, no validation. The load generator is another
 * process, as the platform is for the gateway, so the bare round trip
 * crosses the same process boundaries as an order does.
 *
 *   node --import tsx bench/bare-relay-process.ts --port PATH ...
 *
 * Prints one JSON line `{"ready":true,"brokerPort":N}`; exits when stdin ends.
 */
import { parseArgs } from 'node:util';
import { connectMqttOver, untilConnected } from '../contract/mqtt-client.ts';
import { silentLogger } from '../core/log.ts';
import { SerialTransport } from '../devices/vending/transport.ts';
import { startEmbeddedBroker } from '../gateway/broker/embedded.ts';

const BARE_FRAME_BYTES = 16;

const { values } = parseArgs({ options: { port: { type: 'string', multiple: true, default: [] } } });

const broker = await startEmbeddedBroker({ port: 0, log: silentLogger() });
const relay = await untilConnected(connectMqttOver(() => broker.openInProcess(), { clientId: 'bare-relay' }));
const ports = values.port.map((path) => new SerialTransport(path, { baudRate: 9600 }));
await Promise.all(ports.map((p) => p.open()));

ports.forEach((port, i) => {
  let buf: Buffer = Buffer.alloc(0);
  port.on('data', (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    while (buf.length >= BARE_FRAME_BYTES) {
      const frame = buf.subarray(0, BARE_FRAME_BYTES);
      buf = buf.subarray(BARE_FRAME_BYTES);
      relay.publish(`bench/bare/${i}/res`, Buffer.from(frame), { qos: 1 });
    }
  });
});
relay.on('message', (topic, payload) => {
  const port = ports[Number(topic.split('/')[2])];
  if (!port) return;
  const frame = Buffer.alloc(BARE_FRAME_BYTES);
  payload.copy(frame, 0, 0, Math.min(BARE_FRAME_BYTES, payload.length));
  port.write(frame);
});
await relay.subscribeAsync('bench/bare/+/req', { qos: 1 });

process.stdout.write(`${JSON.stringify({ ready: true, brokerPort: broker.port })}\n`);
process.stdin.resume();
process.stdin.on('end', async () => {
  await Promise.all(ports.map((p) => p.close().catch(() => {})));
  await relay.endAsync(true);
  await broker.close();
  process.exit(0);
});
