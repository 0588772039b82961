/**
 * What the link's mechanisms need of the MQTT connection: a QoS 1 publish
 * whose callback reports a failure. An mqtt.js client is one; tests pass a
 * recorder.
 */
export interface QosOnePublisher {
  publish(topic: string, message: string, opts: { qos: 1 }, callback: (err?: Error) => void): unknown;
}
