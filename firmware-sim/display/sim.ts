/**
 * A simulated MQTT payment display: the device end of
 * devices/display/mqtt-display.ts. It connects to the broker with its own
 * username and password, subscribes to its render topic, validates every
 * render command with the same zod schema the gateway uses, keeps the
 * current screen (and its texts, from the shared message catalogue), and
 * acknowledges what it shows on its state topic. A command it refuses
 * leaves the previous screen up and is reported with DisplayCommandInvalid.
 */
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { connectMqttAsync } from '../../contract/mqtt-client.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { type ScreenTexts, screenTexts } from '../../devices/display/messages.ts';
import { type DisplayState, displayTopics } from '../../devices/display/mqtt-display.ts';
import { RenderCommand } from '../../devices/display/port.ts';

export interface DisplaySimOptions {
  url: string;
  gatewayId: string;
  displayId: string;
  username: string;
  password: string;
  clientId?: string;
  now?: () => number;
  log?: Log;
}

export interface DisplaySimEvents {
  render: [cmd: RenderCommand, texts: ScreenTexts];
  rejected: [message: string];
}

export class DisplaySim extends EventEmitter<DisplaySimEvents> {
  readonly topics: ReturnType<typeof displayTopics>;
  #client: MqttClient | undefined;
  #current: RenderCommand | undefined;
  #texts: ScreenTexts | undefined;
  readonly #now: () => number;

  constructor(private readonly opts: DisplaySimOptions) {
    super();
    this.topics = displayTopics(opts.gatewayId, opts.displayId);
    this.#now = opts.now ?? Date.now;
  }

  /** The render command on screen now. */
  get current(): RenderCommand | undefined {
    return this.#current;
  }

  /** The texts on screen now. */
  get texts(): ScreenTexts | undefined {
    return this.#texts;
  }

  /** The mqtt.js client, for tests that probe the ACL. */
  get client(): MqttClient {
    if (!this.#client) throw new Error('display sim not started');
    return this.#client;
  }

  /** Connects and subscribes; rejects when the broker refuses the login or the subscription. */
  async start(): Promise<void> {
    const offline: DisplayState = { displayId: this.opts.displayId, online: false, at: this.#now() };
    const client = await connectMqttAsync(this.opts.url, {
      username: this.opts.username,
      password: this.opts.password,
      clientId: this.opts.clientId ?? `display-${this.opts.displayId}`,
      reconnectPeriod: 1000,
      connectTimeout: 5000,
      will: { topic: this.topics.state, payload: Buffer.from(JSON.stringify(offline)), qos: 1, retain: true },
    });
    this.#client = client;
    client.on('message', (topic, payload) => {
      if (topic === this.topics.render) this.#onRender(payload);
    });
    await this.#publishState();
    // After a reconnect the will has said offline: say what is on screen again (mqtt.js resubscribes itself).
    client.on('connect', () => {
      void this.#publishState().catch((err: unknown) =>
        this.opts.log?.warn({ err }, 'display state publish failed'),
      );
    });
    const granted = await client.subscribeAsync(this.topics.render, { qos: 1 });
    if (granted.some((g) => g.qos === 128)) {
      throw new VendgateError(ErrorCode.RequestRefused, `the broker refused ${this.topics.render}`, {
        topic: this.topics.render,
      });
    }
  }

  async stop(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    this.#client = undefined;
    if (client.connected) {
      const state: DisplayState = { displayId: this.opts.displayId, online: false, at: this.#now() };
      await client
        .publishAsync(this.topics.state, JSON.stringify(state), { qos: 1, retain: true })
        .catch(() => {});
      await client.endAsync();
    } else {
      // Not connected (refused or reconnecting): drop in-flight messages instead of waiting for them.
      await client.endAsync(true);
    }
  }

  #onRender(payload: Buffer): void {
    let error: string | undefined;
    try {
      const parsed = RenderCommand.safeParse(JSON.parse(payload.toString('utf8')));
      if (!parsed.success) {
        error = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
      } else if (parsed.data.displayId !== this.opts.displayId) {
        error = `render command for display "${parsed.data.displayId}", not "${this.opts.displayId}"`;
      } else {
        this.#current = parsed.data;
        this.#texts = screenTexts(parsed.data.screen, parsed.data.locale);
      }
    } catch (err) {
      error = `not JSON: ${(err as Error).message}`;
    }
    if (error !== undefined) {
      this.opts.log?.warn({ displayId: this.opts.displayId, error }, 'render command refused');
      this.emit('rejected', error);
    } else {
      this.emit('render', this.#current!, this.#texts!);
    }
    void this.#publishState(error).catch((err: unknown) =>
      this.opts.log?.warn({ err }, 'display state publish failed'),
    );
  }

  async #publishState(error?: string): Promise<void> {
    const cur = this.#current;
    const state: DisplayState = {
      displayId: this.opts.displayId,
      online: true,
      at: this.#now(),
      ...(cur ? { seq: cur.seq, kind: cur.screen.kind, locale: cur.locale } : {}),
      ...(error !== undefined
        ? { error: { code: ErrorCode.DisplayCommandInvalid, message: error.slice(0, 500) } }
        : {}),
    };
    await this.client.publishAsync(this.topics.state, JSON.stringify(state), { qos: 1, retain: true });
  }
}
