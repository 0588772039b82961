/**
 * A payment display that is its own device on MQTT (a tablet, an e-paper
 * panel, a microcontroller with a screen). The gateway publishes render
 * commands, retained with QoS 1, so a display that (re)connects shows the
 * current screen at once:
 *
 *   vendgate/v1/{gatewayId}/display/{displayId}/render   gateway -> display (RenderCommand, retained)
 *   vendgate/v1/{gatewayId}/display/{displayId}/state    display -> gateway (DisplayState, retained;
 *                                                        the display's will sets online: false)
 *
 * Each display connects to the embedded broker as its own user whose ACL
 * allows only its own two topics (`displayBrokerUser`).
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { z } from 'zod';
import type { BrokerUser } from '../../contract/broker-user.ts';
import { EpochMs } from '../../contract/common.ts';
import { TOPIC_ROOT } from '../../contract/topics.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { checkDisplayId } from './hub.ts';
import {
  DEFAULT_LOCALE,
  DisplayId,
  type DisplayLocaleOptions,
  DisplayScreen,
  Locale,
  type PaymentDisplay,
  RenderCommand,
  SCREEN_KINDS,
  type ScreenKind,
} from './port.ts';

export function displayTopics(gatewayId: string, displayId: string) {
  const base = `${TOPIC_ROOT}/${gatewayId}/display/${displayId}`;
  return { base, render: `${base}/render`, state: `${base}/state` };
}

/** Filters over all displays of a gateway (for the gateway's own ACL and subscriptions). */
export function displayWildcards(gatewayId: string) {
  const base = `${TOPIC_ROOT}/${gatewayId}/display/+`;
  return { render: `${base}/render`, state: `${base}/state` };
}

/** What a display reports about itself: what it shows now, or that it went away. */
export const DisplayState = z
  .object({
    displayId: DisplayId,
    online: z.boolean(),
    /** The render command it shows (its seq), if any. */
    seq: z.number().int().positive().optional(),
    kind: z.enum(SCREEN_KINDS as [ScreenKind, ...ScreenKind[]]).optional(),
    locale: Locale.optional(),
    at: EpochMs,
    /** The last render command it refused, and why; it keeps showing the previous screen. */
    error: z
      .object({ code: z.number().int(), message: z.string().max(500) })
      .strict()
      .optional(),
  })
  .strict();
export type DisplayState = z.infer<typeof DisplayState>;

export interface DisplayUserOptions {
  gatewayId: string;
  displayId: string;
  password: string;
  /** Default `display-{displayId}`. */
  username?: string;
}

/**
 * The broker user of one display device: it may subscribe to its own render
 * topic only and publish its own state topic only (its will included).
 * Add it to the embedded broker's `users`.
 */
export function displayBrokerUser(opts: DisplayUserOptions): BrokerUser {
  const displayId = checkDisplayId(opts.displayId);
  if (opts.password.length < 8) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `display "${displayId}" needs a password of 8+ characters`,
      {
        displayId,
      },
    );
  }
  const t = displayTopics(opts.gatewayId, displayId);
  return {
    username: opts.username ?? `display-${displayId}`,
    password: opts.password,
    publish: [t.state],
    subscribe: [t.render],
  };
}

/** What the gateway's own broker user needs to drive its displays; merge it into that user's ACL. */
export function gatewayDisplayAcl(gatewayId: string): { publish: string[]; subscribe: string[] } {
  const w = displayWildcards(gatewayId);
  return { publish: [w.render], subscribe: [w.state] };
}

export interface MqttPaymentDisplayOptions extends DisplayLocaleOptions {
  /** A connected mqtt.js client (made with connectMqtt) allowed by gatewayDisplayAcl. */
  client: MqttClient;
  gatewayId: string;
  now?: () => number;
  log?: Log;
}

export interface MqttPaymentDisplayEvents {
  /** A display reported what it shows (or that it is offline). */
  state: [state: DisplayState];
}

export class MqttPaymentDisplay extends EventEmitter<MqttPaymentDisplayEvents> implements PaymentDisplay {
  readonly #client: MqttClient;
  readonly #gatewayId: string;
  readonly #now: () => number;
  readonly #log: Log | undefined;
  readonly #defaultLocale: Locale;
  readonly #locales = new Map<string, Locale>();
  readonly #current = new Map<string, RenderCommand>();
  readonly #states = new Map<string, DisplayState>();
  #seq: number;
  #onMessage: ((topic: string, payload: Buffer) => void) | undefined;

  constructor(opts: MqttPaymentDisplayOptions) {
    super();
    this.#client = opts.client;
    this.#gatewayId = opts.gatewayId;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log;
    this.#defaultLocale = opts.defaultLocale ?? DEFAULT_LOCALE;
    for (const [id, locale] of Object.entries(opts.locales ?? {}))
      this.#locales.set(id, Locale.parse(locale));
    // Seeded from the clock so sequence numbers keep increasing across gateway restarts (renders are retained).
    this.#seq = this.#now();
  }

  /** Subscribes to the displays' state topics; `state` events and stateOf() work after this. */
  async start(): Promise<void> {
    const filter = displayWildcards(this.#gatewayId).state;
    this.#onMessage = (topic, payload) => {
      if (!topicMatchesState(topic, this.#gatewayId)) return;
      let parsed: ReturnType<typeof DisplayState.safeParse>;
      try {
        parsed = DisplayState.safeParse(JSON.parse(payload.toString('utf8')));
      } catch {
        this.#log?.warn({ topic }, 'display state is not JSON');
        return;
      }
      if (!parsed.success || topic !== displayTopics(this.#gatewayId, parsed.data.displayId).state) {
        this.#log?.warn({ topic }, 'invalid display state');
        return;
      }
      this.#states.set(parsed.data.displayId, parsed.data);
      this.emit('state', parsed.data);
    };
    this.#client.on('message', this.#onMessage);
    const granted = await this.#client.subscribeAsync(filter, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) {
      throw new VendgateError(ErrorCode.RequestRefused, `the broker refused the subscription to ${filter}`, {
        filter,
      });
    }
  }

  async stop(): Promise<void> {
    if (this.#onMessage) this.#client.off('message', this.#onMessage);
    this.#onMessage = undefined;
  }

  async show(displayId: string, screen: DisplayScreen): Promise<void> {
    const id = checkDisplayId(displayId);
    const parsed = DisplayScreen.safeParse(screen);
    if (!parsed.success) {
      throw new VendgateError(
        ErrorCode.DisplayScreenInvalid,
        `screen for display "${id}" is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
        { displayId: id },
      );
    }
    await this.#render(id, parsed.data);
  }

  async setLocale(displayId: string, locale: Locale): Promise<void> {
    const id = checkDisplayId(displayId);
    this.#locales.set(id, Locale.parse(locale));
    const cur = this.#current.get(id);
    if (cur && cur.locale !== locale) await this.#render(id, cur.screen);
  }

  localeOf(displayId: string): Locale {
    return this.#locales.get(displayId) ?? this.#defaultLocale;
  }

  /** The last render command published for a display. */
  current(displayId: string): RenderCommand | undefined {
    return this.#current.get(displayId);
  }

  /** The last state a display reported (after start()). */
  stateOf(displayId: string): DisplayState | undefined {
    return this.#states.get(displayId);
  }

  /** Resolves with the first state of that display that satisfies `pred` (the current one included). */
  waitForState(displayId: string, pred: (s: DisplayState) => boolean): Promise<DisplayState> {
    const cur = this.#states.get(displayId);
    if (cur && pred(cur)) return Promise.resolve(cur);
    return new Promise((resolve) => {
      const on = (s: DisplayState) => {
        if (s.displayId !== displayId || !pred(s)) return;
        this.off('state', on);
        resolve(s);
      };
      this.on('state', on);
    });
  }

  async #render(displayId: string, screen: DisplayScreen): Promise<void> {
    this.#seq += 1;
    const cmd = RenderCommand.parse({
      displayId,
      seq: this.#seq,
      locale: this.localeOf(displayId),
      at: this.#now(),
      screen,
    });
    this.#current.set(displayId, cmd);
    const topic = displayTopics(this.#gatewayId, displayId).render;
    await this.#client.publishAsync(topic, JSON.stringify(cmd), { qos: 1, retain: true });
    this.#log?.debug({ displayId, seq: cmd.seq, kind: screen.kind }, 'display render published');
  }
}

function topicMatchesState(topic: string, gatewayId: string): boolean {
  const prefix = `${TOPIC_ROOT}/${gatewayId}/display/`;
  return topic.startsWith(prefix) && topic.endsWith('/state');
}
