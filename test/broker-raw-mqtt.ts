/**
 * Hand-built MQTT 3.1.1 packets over a plain `node:net` socket, for tests
 * that check the broker's exact answer bytes (MQTT 3.1.1 section 3). No MQTT
 * library is involved on this side, so a test cannot pass because the client
 * library papered over what the broker did.
 */
import { connect as netConnect, type Socket } from 'node:net';

/** Section 1.5.3: a UTF-8 string is a two-byte big-endian length, then the bytes. */
export function mqttString(s: string | Buffer): Buffer {
  const bytes = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

/** Section 2.2.3: the Remaining Length as a variable-length integer. */
export function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

export interface RawConnect {
  clientId: string;
  clean?: boolean;
  username?: string;
  password?: string;
  keepalive?: number;
  protocolName?: string;
  protocolLevel?: number;
  will?: { topic: string; payload: string; qos?: 0 | 1 | 2; retain?: boolean };
}

/** Section 3.1: CONNECT. */
export function connectPacket(c: RawConnect): Buffer {
  let flags = 0;
  if (c.clean ?? true) flags |= 0x02;
  if (c.will) flags |= 0x04 | ((c.will.qos ?? 0) << 3) | (c.will.retain ? 0x20 : 0);
  if (c.password !== undefined) flags |= 0x40;
  if (c.username !== undefined) flags |= 0x80;
  const keepalive = Buffer.alloc(2);
  keepalive.writeUInt16BE(c.keepalive ?? 60);
  const parts = [
    mqttString(c.protocolName ?? 'MQTT'),
    Buffer.from([c.protocolLevel ?? 4, flags]),
    keepalive,
    mqttString(c.clientId),
  ];
  if (c.will) parts.push(mqttString(c.will.topic), mqttString(c.will.payload));
  if (c.username !== undefined) parts.push(mqttString(c.username));
  if (c.password !== undefined) parts.push(mqttString(c.password));
  return packet(0x10, Buffer.concat(parts));
}

/** Section 3.8: SUBSCRIBE (fixed header flags 0b0010, [MQTT-3.8.1-1]). */
export function subscribePacket(messageId: number, filters: Array<[string, 0 | 1 | 2]>): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(
    0x82,
    Buffer.concat([id, ...filters.flatMap(([f, qos]) => [mqttString(f), Buffer.from([qos])])]),
  );
}

/** Section 3.3: PUBLISH at QoS 0 or 1. */
export function publishPacket(topic: string, payload: Buffer, qos: 0 | 1 = 0, messageId = 1): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(0x30 | (qos << 1), Buffer.concat([mqttString(topic), ...(qos > 0 ? [id] : []), payload]));
}

/** The fixed header of a PUBLISH announcing `bodyBytes` of Remaining Length, and nothing else. */
export function publishHeader(bodyBytes: number): Buffer {
  return Buffer.concat([Buffer.from([0x30]), remainingLength(bodyBytes)]);
}

/** A socket that collects what the broker sends and splits it into whole packets. */
export class RawMqttSocket {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  #buffer = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  #isClosed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, d]);
      this.#wake();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static open(port: number, host = '127.0.0.1'): Promise<RawMqttSocket> {
    return new Promise((resolve, reject) => {
      const s = netConnect({ port, host, noDelay: true });
      s.once('connect', () => resolve(new RawMqttSocket(s)));
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /**
   * The next whole packet the broker sent, as its bytes; undefined when the
   * connection closed first. Rejects after `timeoutMs` without either.
   */
  async nextPacket(timeoutMs = 5000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const p = this.#take();
      if (p) return p;
      if (this.#isClosed) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no packet from the broker within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Every byte the broker still sends until it closes the connection. */
  async restUntilClosed(): Promise<Buffer> {
    await this.closed;
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #take(): Buffer | undefined {
    const b = this.#buffer;
    if (b.length < 2) return undefined;
    let len = 0;
    let mult = 1;
    let i = 1;
    for (;;) {
      if (i >= b.length) return undefined;
      const byte = b[i]!;
      len += (byte & 0x7f) * mult;
      mult *= 128;
      i++;
      if (!(byte & 0x80)) break;
    }
    if (b.length < i + len) return undefined;
    const p = b.subarray(0, i + len);
    this.#buffer = b.subarray(i + len);
    return Buffer.from(p);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Opens a socket, sends a CONNECT and returns it with the broker's first answer (or undefined if it closed). */
export async function rawConnect(
  port: number,
  c: RawConnect,
): Promise<{ raw: RawMqttSocket; connack: Buffer | undefined }> {
  const raw = await RawMqttSocket.open(port);
  raw.send(connectPacket(c));
  return { raw, connack: await raw.nextPacket() };
}

/** A CONNACK as bytes (section 3.2): 0x20, length 2, session present flag, return code. */
export function connack(sessionPresent: boolean, returnCode: number): Buffer {
  return Buffer.from([0x20, 0x02, sessionPresent ? 1 : 0, returnCode]);
}
