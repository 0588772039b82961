/**
 * Process-wide memory settings of the gateway, applied once at start before
 * any MQTT packet is written (the embedded broker's or the platform link's).
 */
import { createRequire } from 'node:module';

interface MqttPacketModule {
  writeToStream: { cacheNumbers: boolean };
}

/**
 * mqtt-packet, the codec of both mqtt.js and aedes, builds on its first
 * packet a cache of 65,536 two-byte Buffers, one per packet id: ~6 MB of
 * heap at idle (a quarter of the gateway's), which V8 then takes as live and
 * grows the old generation from. Without it each packet id is written from a
 * fresh 2-byte allocation out of Node's buffer pool. Turned off in the copies
 * mqtt.js and aedes themselves load. Returns how many copies it turned off.
 */
export function skipPacketIdCache(): number {
  const here = createRequire(import.meta.url);
  const copies = new Set<MqttPacketModule>();
  for (const user of ['mqtt', 'aedes']) {
    copies.add(createRequire(here.resolve(user))('mqtt-packet') as MqttPacketModule);
  }
  for (const packet of copies) packet.writeToStream.cacheNumbers = false;
  return copies.size;
}
