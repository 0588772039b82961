import type { DisplayHub } from '../../devices/display/hub.ts';
import type { DisplayScreen } from '../../devices/display/port.ts';
import type { Planogram } from '../catalogue/planogram.ts';
import type { VendStage } from '../ledger/vend-runner.ts';

/**
 * The remote-vend display follows its own orders: `dispensing` while the
 * motor runs, then `done` or `failed` with the refund, and the idle screen
 * again a few seconds later, unless something else (a cashless session)
 * has taken the display meanwhile.
 */
export class VendScreens {
  readonly #timers = new Map<string, NodeJS.Timeout>();
  constructor(
    readonly display: { show(displayId: string, screen: DisplayScreen): Promise<void> },
    readonly hub: Pick<DisplayHub, 'current'>,
    readonly idle: ReadonlyMap<string, DisplayScreen>,
    readonly catalogue: Pick<Planogram, 'slot'>,
    readonly resultScreenMs = 6_000,
  ) {}

  start(): void {}

  show(stage: VendStage): void {
    const id = stage.machineId;
    const item = { name: this.catalogue.slot(id, stage.slot)?.product ?? `#${stage.slot}`, slot: stage.slot };
    const screen: DisplayScreen =
      stage.stage === 'dispensing'
        ? { kind: 'dispensing', item }
        : stage.stage === 'done'
          ? { kind: 'done', item }
          : { kind: 'failed', refund: stage.refund, reason: stage.reason, item };
    clearTimeout(this.#timers.get(id));
    this.#timers.delete(id);
    void this.display.show(id, screen).catch(() => {});
    const idle = this.idle.get(id);
    if (stage.stage === 'dispensing' || !idle) return;
    const t = setTimeout(() => {
      this.#timers.delete(id);
      if (this.hub.current(id)?.screen.kind === screen.kind) void this.display.show(id, idle).catch(() => {});
    }, this.resultScreenMs);
    t.unref();
    this.#timers.set(id, t);
  }

  stop(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }
}
