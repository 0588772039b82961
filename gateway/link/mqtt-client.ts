import type { Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

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

export async function connectMqttAsync(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  const client = connectMqtt(url, options);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => {
      client.off('connect', onConnect);
      client.end(true);
      reject(err);
    };
    const onConnect = () => {
      client.off('error', onError);
      resolve();
    };
    client.once('connect', onConnect);
    client.once('error', onError);
  });
  return client;
}

function disableNagle(client: MqttClient): void {
  const socket = client.stream as Partial<Socket> | undefined;
  socket?.setNoDelay?.(true);
}
