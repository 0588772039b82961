/**
 * The payment display the flows use: every screen goes to the kiosk pages
 * (the primary display, whose locale is the one that counts), and also to
 * the device display (MQTT) of the machines that have one. A failing device
 * render is logged, never allowed to stop a vend: the kiosk page still shows
 * the screen and the device gets the next one.
 */
import type { Log } from '../../core/log.ts';
import type { DisplayScreen, Locale, PaymentDisplay } from './port.ts';

export interface DisplayFanoutOptions {
  /** The kiosk pages (DisplayHub): every display id. */
  primary: PaymentDisplay;
  /** The MQTT display devices, for the ids in `deviceIds`; none = kiosk pages only. */
  devices?: PaymentDisplay | undefined;
  deviceIds?: ReadonlySet<string>;
  log: Log;
}

export class DisplayFanout implements PaymentDisplay {
  readonly #primary: PaymentDisplay;
  readonly #devices: PaymentDisplay | undefined;
  readonly #deviceIds: ReadonlySet<string>;
  readonly #log: Log;

  constructor(opts: DisplayFanoutOptions) {
    this.#primary = opts.primary;
    this.#devices = opts.devices;
    this.#deviceIds = opts.deviceIds ?? new Set();
    this.#log = opts.log;
  }

  async show(displayId: string, screen: DisplayScreen): Promise<void> {
    await this.#primary.show(displayId, screen);
    const device = this.#deviceFor(displayId);
    if (!device) return;
    await device
      .show(displayId, screen)
      .catch((err: Error) => this.#log.warn({ displayId, err: err.message }, 'MQTT display render failed'));
  }

  async setLocale(displayId: string, locale: Locale): Promise<void> {
    await this.#primary.setLocale(displayId, locale);
    await this.#deviceFor(displayId)?.setLocale(displayId, locale);
  }

  localeOf(displayId: string): Locale {
    return this.#primary.localeOf(displayId);
  }

  #deviceFor(displayId: string): PaymentDisplay | undefined {
    return this.#devices && this.#deviceIds.has(displayId) ? this.#devices : undefined;
  }
}
