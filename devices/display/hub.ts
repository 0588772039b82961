/**
 * DisplayHub: the PaymentDisplay behind the kiosk pages. It keeps the latest
 * render of each display and hands it to subscribers (the SSE streams of the
 * pages showing that display): a new subscriber gets the current render at
 * once, then every later one. No I/O here; api/kiosk turns renders into
 * server-sent events.
 */
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import {
  DEFAULT_LOCALE,
  DisplayId,
  type DisplayLocaleOptions,
  DisplayScreen,
  Locale,
  type PaymentDisplay,
  type RenderCommand,
} from './port.ts';

export type RenderListener = (render: RenderCommand) => void;

export interface DisplayHubOptions extends DisplayLocaleOptions {
  now?: () => number;
  log?: Log;
}

export class DisplayHub implements PaymentDisplay {
  readonly #now: () => number;
  readonly #log: Log | undefined;
  readonly #defaultLocale: Locale;
  readonly #locales = new Map<string, Locale>();
  readonly #current = new Map<string, RenderCommand>();
  readonly #listeners = new Map<string, Set<RenderListener>>();
  #seq = 0;

  constructor(opts: DisplayHubOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#defaultLocale = opts.defaultLocale ?? DEFAULT_LOCALE;
    for (const [id, locale] of Object.entries(opts.locales ?? {}))
      this.#locales.set(id, Locale.parse(locale));
  }

  async show(displayId: string, screen: DisplayScreen): Promise<void> {
    const id = checkDisplayId(displayId);
    const parsed = DisplayScreen.safeParse(screen);
    if (!parsed.success) {
      throw new VendgateError(
        ErrorCode.DisplayScreenInvalid,
        `screen for display "${id}" is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
        { displayId: id, kind: (screen as { kind?: unknown })?.kind },
      );
    }
    this.#publish(id, parsed.data);
  }

  async setLocale(displayId: string, locale: Locale): Promise<void> {
    const id = checkDisplayId(displayId);
    this.#locales.set(id, Locale.parse(locale));
    const cur = this.#current.get(id);
    if (cur && cur.locale !== locale) this.#publish(id, cur.screen);
  }

  localeOf(displayId: string): Locale {
    return this.#locales.get(displayId) ?? this.#defaultLocale;
  }

  /**
   * Whether this display id is one of the gateway's: configured (it has a
   * language here) or shown something. The kiosk answers any other id 404.
   */
  knows(displayId: string): boolean {
    return this.#locales.has(displayId) || this.#current.has(displayId);
  }

  /** The latest render of a display, if it was ever shown something. */
  current(displayId: string): RenderCommand | undefined {
    return this.#current.get(displayId);
  }

  /** Displays that were shown something, in no particular order. */
  displays(): string[] {
    return [...this.#current.keys()];
  }

  /**
   * Calls `listener` with the current render (at once, if there is one) and
   * with every later render of that display. Returns the unsubscribe function.
   * A listener that throws is logged and kept.
   */
  subscribe(displayId: string, listener: RenderListener): () => void {
    let set = this.#listeners.get(displayId);
    if (!set) {
      set = new Set();
      this.#listeners.set(displayId, set);
    }
    // Wrap so the same function can subscribe twice and unsubscribe each independently.
    const entry: RenderListener = (r) => listener(r);
    set.add(entry);
    const cur = this.#current.get(displayId);
    if (cur) this.#deliver(entry, cur);
    return () => {
      const s = this.#listeners.get(displayId);
      if (!s) return;
      s.delete(entry);
      if (s.size === 0) this.#listeners.delete(displayId);
    };
  }

  subscriberCount(displayId: string): number {
    return this.#listeners.get(displayId)?.size ?? 0;
  }

  #publish(displayId: string, screen: DisplayScreen): void {
    this.#seq += 1;
    const render: RenderCommand = {
      displayId,
      seq: this.#seq,
      locale: this.localeOf(displayId),
      at: this.#now(),
      screen,
    };
    this.#current.set(displayId, render);
    this.#log?.debug({ displayId, seq: render.seq, kind: screen.kind }, 'display render');
    for (const l of [...(this.#listeners.get(displayId) ?? [])]) this.#deliver(l, render);
  }

  #deliver(listener: RenderListener, render: RenderCommand): void {
    try {
      listener(render);
    } catch (err) {
      this.#log?.error({ err, displayId: render.displayId }, 'display listener threw');
    }
  }
}

export function checkDisplayId(displayId: string): string {
  const r = DisplayId.safeParse(displayId);
  if (!r.success) {
    throw new VendgateError(ErrorCode.DisplayScreenInvalid, `"${displayId}" is not a valid display id`, {
      displayId,
    });
  }
  return r.data;
}
