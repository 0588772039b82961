import { Duplex } from 'node:stream';

/**
 * Two connected in-memory byte streams: what one end writes, the other end
 * reads, in order. The gateway's own MQTT clients reach the embedded aedes
 * broker in its own process through such a pair (aedes `handle()` takes any
 * duplex) instead of a loopback TCP socket: a socket costs a send and a
 * receive syscall per packet on each side, which the profile of a burst of
 * orders showed as the largest single item of the gateway's CPU.
 *
 * Bytes are delivered on the next tick, never inside the writer's own
 * `write()` call, so a broker answering a packet can never re-enter the
 * client that is still sending it. Ending or destroying one end ends the
 * other (a closed connection is seen on both sides, as with a socket).
 */
export function createDuplexPair(): [InProcessStream, InProcessStream] {
  const a = new InProcessStream();
  const b = new InProcessStream();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export class InProcessStream extends Duplex {
  peer: InProcessStream | null = null;
  #queued: Buffer[] = [];
  #deliveryScheduled = false;

  constructor() {
    // allowHalfOpen false: an end from the peer ends this side too, as MQTT needs.
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Data is pushed by the peer as it is written; nothing to pull.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#send(chunk);
    done();
  }

  override _writev(chunks: { chunk: Buffer }[], done: (err?: Error | null) => void): void {
    // mqtt-packet writes a packet as several small chunks under cork(): one buffer for the peer.
    this.#send(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)));
    done();
  }

  override _final(done: (err?: Error | null) => void): void {
    this.#flush();
    const peer = this.peer;
    if (peer && !peer.destroyed) process.nextTick(() => peer.push(null));
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    this.#queued = [];
    if (peer && !peer.destroyed) process.nextTick(() => peer.destroy());
    done(err);
  }

  #send(chunk: Buffer): void {
    this.#queued.push(chunk);
    if (this.#deliveryScheduled) return;
    this.#deliveryScheduled = true;
    process.nextTick(() => this.#flush());
  }

  #flush(): void {
    this.#deliveryScheduled = false;
    const peer = this.peer;
    const queued = this.#queued;
    this.#queued = [];
    if (!peer || peer.destroyed) return;
    for (const c of queued) peer.push(c);
  }
}
