import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { PacketBoundaryScanner } from './packet-limit.ts';

const connect = mqttPacket.generate({
  cmd: 'connect',
  protocolId: 'MQTT',
  protocolVersion: 4,
  clean: true,
  clientId: 'c1',
  keepalive: 30,
});

/** Packets a client sends after CONNECT, with payloads of arbitrary size and content. */
const clientPacket: fc.Arbitrary<Packet> = fc.oneof(
  fc
    .record({
      topic: fc.stringMatching(/^[a-z0-9/]{1,40}$/),
      payload: fc.uint8Array({ maxLength: 70_000 }),
      qos: fc.constantFrom(0, 1, 2) as fc.Arbitrary<0 | 1 | 2>,
    })
    .map(({ topic, payload, qos }) => ({
      cmd: 'publish' as const,
      topic,
      payload: Buffer.from(payload),
      qos,
      dup: false,
      retain: false,
      ...(qos > 0 ? { messageId: 7 } : {}),
    })),
  fc.constant({ cmd: 'pingreq' as const }),
  fc.constant({ cmd: 'disconnect' as const }),
  fc.constant({ cmd: 'puback' as const, messageId: 3 }),
  fc.array(fc.stringMatching(/^[a-z+#/]{1,20}$/), { minLength: 1, maxLength: 5 }).map((topics) => ({
    cmd: 'subscribe' as const,
    messageId: 9,
    subscriptions: topics.map((topic) => ({ topic, qos: 1 as const })),
  })),
);

/** Cuts `bytes` at the given points (in any order, repeats allowed) into consecutive chunks. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, p));
    from = p;
  }
  return chunks;
}

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

describe('packet boundary scanner', () => {
  it('finds every packet boundary of a valid stream however it is split into chunks', () => {
    fc.assert(
      fc.property(
        fc.array(clientPacket, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (packets, cuts) => {
          const bytes = Buffer.concat([connect, ...packets.map((p) => mqttPacket.generate(p))]);
          const scanner = new PacketBoundaryScanner(1024 * 1024);
          for (const chunk of split(bytes, cuts)) expect(scanner.feed(chunk)).toBeUndefined();
          expect(scanner.packets).toBe(packets.length + 1);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses a packet over the limit from its fixed header alone, whatever its size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 268_435_455 }),
        fc.integer({ min: 64, max: 1 << 20 }),
        (len, max) => {
          const header = Buffer.from([0x30, ...remainingLength(len)]);
          const scanner = new PacketBoundaryScanner(max);
          scanner.feed(connect);
          const total = header.length + len;
          const violation = scanner.feed(header);
          if (total > max) {
            expect(violation).toEqual({
              kind: 'too-large',
              packetType: 3,
              announcedBytes: total,
              maxPacketSize: max,
            });
          } else {
            expect(violation).toBeUndefined();
          }
        },
      ),
    );
  });

  it('accepts a packet of exactly the limit and refuses one byte more', () => {
    const publish = mqttPacket.generate({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.alloc(1000),
      qos: 0,
      dup: false,
      retain: false,
    });
    const exact = new PacketBoundaryScanner(publish.length);
    exact.feed(connect);
    expect(exact.feed(publish)).toBeUndefined();
    const under = new PacketBoundaryScanner(publish.length - 1);
    under.feed(connect);
    expect(under.feed(publish)).toMatchObject({ kind: 'too-large', announcedBytes: publish.length });
  });

  it('refuses any first packet but CONNECT [MQTT-3.1.0-1]', () => {
    fc.assert(
      fc.property(clientPacket, (p) => {
        const v = new PacketBoundaryScanner(1 << 20).feed(mqttPacket.generate(p));
        expect(v?.kind).toBe('not-connect-first');
      }),
    );
  });

  it('refuses a Remaining Length of more than four bytes (section 2.2.3)', () => {
    const scanner = new PacketBoundaryScanner(1 << 30);
    scanner.feed(connect);
    expect(scanner.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toEqual({
      kind: 'malformed-length',
      packetType: 3,
    });
  });

  it('keeps reporting the first violation for every later chunk', () => {
    const scanner = new PacketBoundaryScanner(100);
    const first = scanner.feed(Buffer.from([0x30, 0x7f]));
    expect(first?.kind).toBe('not-connect-first');
    expect(scanner.feed(connect)).toEqual(first);
  });
});
