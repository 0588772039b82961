import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import mqtt, { type IClientOptions, MqttClient } from 'mqtt';

/**
 * mqtt.js opens plain TCP sockets without TCP_NODELAY. A QoS 1 exchange is
 * several small writes in a row, which Nagle's algorithm holds back until the
 * peer's delayed ACK: ~40-90 ms per round trip on loopback instead of ~0.2 ms
 * (REFERENCE.md, MQTT brokers and clients). Every client of ours disables
 * Nagle on each new connection's socket.
 */
export function connectMqtt(url: string, options: IClientOptions = {}): MqttClient {
  const client = mqtt.connect(url, options);
  disableNagle(client);
  client.on('connect', () => disableNagle(client));
  return client;
}

/**
 * An mqtt.js client over streams that `open` makes, one per (re)connect:
 * e.g. `broker.openInProcess` for the embedded broker in this process.
 */
export function connectMqttOver(open: () => Duplex, options: IClientOptions = {}): MqttClient {
  return new MqttClient(() => open(), { reconnectPeriod: 1000, ...options });
}

export function connectMqttAsync(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return untilConnected(connectMqtt(url, options));
}

/** Resolves with the client once connected; rejects (and ends it) on its first error. */
export function untilConnected(client: MqttClient): Promise<MqttClient> {
  return new Promise<MqttClient>((resolve, reject) => {
    const onError = (err: Error) => {
      client.off('connect', onConnect);
      client.end(true);
      reject(err);
    };
    const onConnect = () => {
      client.off('error', onError);
      resolve(client);
    };
    client.once('connect', onConnect);
    client.once('error', onError);
  });
}

function disableNagle(client: MqttClient): void {
  const socket = client.stream as Partial<Socket> | undefined;
  socket?.setNoDelay?.(true);
}
