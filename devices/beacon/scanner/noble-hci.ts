/**
 * noble's own HCI stack (lib/hci-socket: Hci -> Gap -> NobleBindings ->
 * Noble) on an HCI socket handed in by the caller instead of the kernel's
 * raw Bluetooth socket.
 *
 * Everything above the socket is noble's code, unchanged: command packets
 * are built by noble's Hci, Command Complete and LE Advertising Report event
 * bytes are parsed by noble's Hci, advertisement objects are built by
 * noble's Gap (including its merge of successive reports per address), and
 * 'discover' comes from noble's Noble. Only the socket differs, so the
 * scanner running on it follows the same code path as on hardware. The
 * beacon simulator passes a virtual controller here; another
 * HCI transport (a UART or TCP bridge to a controller) would fit too.
 *
 * noble's Hci constructor opens the native socket itself, so the Hci and
 * NobleBindings objects are set up field for field as their constructors do
 * (lib/hci-socket/hci.js and bindings.js of @abandonware/noble 1.9.2-26),
 * with the given socket in place of `new BluetoothHciSocket()`.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { NobleLike } from './types.ts';

/** What noble's Hci uses of @abandonware/bluetooth-hci-socket. */
export interface HciSocketLike {
  on(event: 'data', listener: (data: Buffer) => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  removeAllListeners(event?: string): unknown;
  bindRaw(deviceId?: number): number;
  bindUser(deviceId?: number): number;
  start(): void;
  stop(): void;
  isDevUp(): boolean;
  setFilter(filter: Buffer): void;
  write(data: Buffer): void;
}

export interface NobleOnSocket {
  noble: NobleLike;
  /** Stops scanning and noble's 1 s adapter poll on this socket. */
  close(): void;
}

type Ctor = { prototype: Record<string, unknown> } & ((...args: never[]) => unknown);
type Obj = Record<string, unknown> & EventEmitter;

/**
 * Builds a noble instance whose HCI layer talks to `socket`. Loads noble's
 * JavaScript modules (not its index, which would open the kernel socket).
 */
export function createNobleOnHciSocket(
  socket: HciSocketLike,
  opts: { deviceId?: number } = {},
): NobleOnSocket {
  const require = createRequire(import.meta.url);
  const Noble = require('@abandonware/noble/lib/noble.js') as new (bindings: unknown) => NobleLike;
  const NobleBindings = require('@abandonware/noble/lib/hci-socket/bindings.js') as Ctor;
  const Hci = require('@abandonware/noble/lib/hci-socket/hci.js') as Ctor;
  const Gap = require('@abandonware/noble/lib/hci-socket/gap.js') as new (hci: unknown) => EventEmitter;

  let closed = false;
  const hci = Object.create(Hci.prototype) as Obj;
  EventEmitter.call(hci);
  let resolveAcl: (v: { length: number; num: number }) => void = () => {};
  const aclPromise = new Promise<{ length: number; num: number }>((r) => {
    resolveAcl = r;
  });
  Object.assign(hci, {
    _socket: socket,
    _isDevUp: null,
    _isExtended: false,
    _state: null,
    _handleBuffers: {},
    _aclBuffers: undefined,
    _aclConnections: new Map(),
    _aclQueue: [],
    _deviceId: opts.deviceId,
    _userChannel: undefined,
    async getAclBuffers() {
      return (hci._aclBuffers as { length: number; num: number } | undefined) ?? aclPromise;
    },
    setAclBuffers(length: number, num: number) {
      const cur = hci._aclBuffers as { length: number; num: number } | undefined;
      if (cur) {
        cur.length = length;
        cur.num = num;
        return;
      }
      hci._aclBuffers = { length, num };
      resolveAcl({ length, num });
    },
    // noble polls the adapter every second forever; stop when closed.
    pollIsDevUp(this: Obj) {
      if (!closed) (Hci.prototype.pollIsDevUp as (this: Obj) => void).call(this);
    },
  });
  hci.on('stateChange', (hci.onStateChange as (s: string) => void).bind(hci));

  const bindings = Object.create(NobleBindings.prototype) as Obj;
  EventEmitter.call(bindings);
  Object.assign(bindings, {
    _state: null,
    _addresses: {},
    _addresseTypes: {},
    _connectable: {},
    _isExtended: false,
    scannable: {},
    _pendingConnectionUuid: null,
    _connectionQueue: [],
    _handles: {},
    _gatts: {},
    _aclStreams: {},
    _signalings: {},
    _hci: hci,
    _gap: new Gap(hci),
  });
  // noble's init also hooks SIGINT/exit to stop scanning on the kernel
  // socket; for a socket we were handed, close() does that instead.
  const init = NobleBindings.prototype.init as (this: Obj) => void;
  bindings.init = function (this: Obj) {
    const exitBefore = new Set(process.listeners('exit'));
    init.call(this);
    process.removeListener('SIGINT', this.onSigIntBinded as () => void);
    for (const l of process.listeners('exit')) if (!exitBefore.has(l)) process.removeListener('exit', l);
  };

  const noble = new Noble(bindings);
  return {
    noble,
    close() {
      if (closed) return;
      closed = true;
      try {
        (bindings.stopScanning as () => void).call(bindings);
      } catch {
        // the socket may already be gone
      }
    },
  };
}
