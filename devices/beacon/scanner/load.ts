/**
 * Lazy loading of the BLE libraries. @abandonware/noble and bleno open an
 * HCI socket while their modules load, and throw on a machine without
 * Bluetooth sockets, so they are imported only when
 * BLE is configured, and their failures become a BleUnavailable error that
 * says what is missing.
 */
import { platform } from 'node:os';
import { ErrorCode, VendgateError } from '../../../core/errors.ts';
import type { NobleLike } from './types.ts';

function errCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err && typeof err.code === 'string') return err.code;
  const m = err instanceof Error ? /^(E[A-Z]+)\b/.exec(err.message) : null;
  return m?.[1];
}

/**
 * Turns a failure from loading or starting noble/bleno into a BleUnavailable
 * VendgateError naming the missing piece.
 */
export function bleUnavailable(err: unknown, lib: 'noble' | 'bleno', hciDeviceId?: number): VendgateError {
  if (err instanceof VendgateError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const code = errCode(err);
  const dev = `hci${hciDeviceId ?? 0}`;
  let what: string;
  switch (code) {
    case 'EAFNOSUPPORT':
      what =
        'this machine has no Bluetooth sockets (socket(AF_BLUETOOTH) is not supported: no Bluetooth support in the kernel, or a container without it)';
      break;
    case 'ENODEV':
      what = `no Bluetooth adapter ${dev} (is one plugged in, and is it up: \`hciconfig ${dev} up\`?)`;
      break;
    case 'EPERM':
    case 'EACCES':
      what = `no permission to open the raw HCI socket (run with CAP_NET_RAW, e.g. \`sudo setcap cap_net_raw+eip $(eval readlink -f $(which node))\`)`;
      break;
    case 'EBUSY':
      what = `adapter ${dev} is busy (another process holds it in user-channel mode)`;
      break;
    case 'MODULE_NOT_FOUND':
    case 'ERR_MODULE_NOT_FOUND':
    case 'ERR_DLOPEN_FAILED':
      what = `@abandonware/${lib} or its native HCI addon is not installed for this platform`;
      break;
    default:
      what = message;
  }
  return new VendgateError(
    ErrorCode.BleUnavailable,
    `BLE is unavailable: ${what}`,
    { lib, platform: platform(), cause: message, errno: code ?? null },
    { cause: err },
  );
}

export interface LoadNobleOptions {
  /** HCI device index (hciN); default noble's (NOBLE_HCI_DEVICE_ID or the first adapter). */
  hciDeviceId?: number;
}

/**
 * Imports @abandonware/noble with its platform bindings (HCI socket on
 * Linux). Rejects with BleUnavailable when the library cannot open
 * Bluetooth. Called only when BLE scanning is configured.
 */
export async function loadNoble(opts: LoadNobleOptions = {}): Promise<NobleLike> {
  try {
    // A specifier in a variable: the import happens here, at run time, only.
    const specifier = '@abandonware/noble/with-custom-binding.js';
    const mod = (await import(specifier)) as {
      default: (options?: Record<string, unknown>) => NobleLike;
    };
    const options: Record<string, unknown> = {};
    if (opts.hciDeviceId !== undefined) options.deviceId = opts.hciDeviceId;
    return mod.default(options);
  } catch (err) {
    throw bleUnavailable(err, 'noble', opts.hciDeviceId);
  }
}
