import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { skipPacketIdCache } from './memory.ts';

describe('the gateway process memory settings', () => {
  it('turn off the packet id cache of the mqtt-packet mqtt.js and aedes use, and packets still carry their ids', () => {
    const here = createRequire(import.meta.url);
    const packet = createRequire(here.resolve('mqtt'))('mqtt-packet') as {
      writeToStream: { cacheNumbers: boolean };
      generate: (p: object) => Buffer;
    };
    expect(skipPacketIdCache()).toBeGreaterThanOrEqual(1);
    expect(packet.writeToStream.cacheNumbers).toBe(false);
    // PUBACK of packet id 0x1234 (MQTT 3.1.1 section 3.4): 0x40, length 2, the id big-endian.
    expect([...packet.generate({ cmd: 'puback', messageId: 0x1234 })]).toEqual([0x40, 0x02, 0x12, 0x34]);
    expect([...packet.generate({ cmd: 'puback', messageId: 0xffff })]).toEqual([0x40, 0x02, 0xff, 0xff]);
  });
});
