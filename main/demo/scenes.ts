/**
 * The demo's script: every few seconds one scene, played through the same
 * seams an operator's site has (signed platform commands over the broker,
 * the simulated board's own faults on its stdin, paid orders from the
 * platform), each logged as one line saying what to look at on the
 * dashboard. A scene that fails is logged and the next one plays on time.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandData, CommandType } from '../../contract/commands.ts';
import type { Log } from '../../core/log.ts';
import { formatMoney, type Money } from '../../core/money.ts';
import type { SimFault } from '../../firmware-sim/slot-board/sim.ts';

export interface DemoSceneSeams {
  /** The slot-board machine the scenes play on (the one with the DEX port, if any). */
  machineId: string;
  /** Every slot-board machine: the refill scene fills them all. */
  machineIds: readonly string[];
  /** The slots of a slot-board machine. */
  slots: readonly number[];
  /** A slot-board simulator's stdin faults. */
  board(machineId: string): { fault(f: SimFault): void } | undefined;
  /** A command the platform signs and publishes to the gateway. */
  send<T extends CommandType>(type: T, data: CommandData<T>): Promise<unknown>;
  /** A customer buys and pays for one item (a signed `order.paid` reaches the gateway). */
  buy(machineId: string, slot: number): Promise<void>;
  /** The slot's price as the gateway's catalogue has it now. */
  price(machineId: string, slot: number): Money | undefined;
  /** The slot capacity the refill fills to. */
  capacity: number;
  /** The machine whose DEX port the DEX scene reads; none: no DEX scene. */
  dexMachineId?: string;
  log: Log;
}

export interface DemoScene {
  name: string;
  /** Plays the scene; resolves with the line that says what to look at. */
  play(): Promise<string>;
}

/** The slots each scene uses (the background customers buy on all of them). */
const PRICE_SLOT = 1;
const SOLD_OUT_SLOT = 4;
const JAM_SLOT = 6;

/**
 * The scenes in the order they play. `pauseMs`: how long a scene waits
 * between its steps (a door left open, the second of two purchases).
 */
export function demoScenes(s: DemoSceneSeams, pauseMs = 15_000): DemoScene[] {
  const m = s.machineId;
  const board = (id: string) => {
    const b = s.board(id);
    if (!b) throw new Error(`no simulated board for machine ${id}`);
    return b;
  };
  const scenes: DemoScene[] = [
    {
      name: 'price change',
      async play() {
        const now = s.price(m, PRICE_SLOT);
        if (!now) throw new Error(`machine ${m} slot ${PRICE_SLOT} has no price`);
        // Toggles by 50 (3.50 and 4.00 for the demo's 3.50), so the price never drifts.
        const amount = now.amount % 100 === 0 ? now.amount - 50 : now.amount + 50;
        const price = { amount, currency: now.currency };
        await s.send('catalogue.set', { machineId: m, slots: [{ slot: PRICE_SLOT, price }] });
        return `price change: the platform signed a catalogue.set, ${m} slot ${PRICE_SLOT} now costs ${formatMoney(price, 'en')}; look at the dashboard's catalogue of ${m} (the platform follows its catalogue.changed)`;
      },
    },
    {
      name: 'jam',
      async play() {
        board(m).fault({ fault: 'jam', slot: JAM_SLOT, count: 1 });
        await s.buy(m, JAM_SLOT);
        return `jam: ${m} slot ${JAM_SLOT} jams on the next vend, that order is refunded; look at ${m}'s display (failed, with the refund), the jam condition and the refund in the orders`;
      },
    },
    {
      name: 'sold out',
      async play() {
        board(m).fault({ fault: 'restock', slot: SOLD_OUT_SLOT, stock: 2 });
        await s.send('stock.refill', { machineId: m, slot: SOLD_OUT_SLOT, level: 2 });
        await s.buy(m, SOLD_OUT_SLOT);
        await sleep(pauseMs / 3);
        await s.buy(m, SOLD_OUT_SLOT);
        return `sold out: ${m} slot ${SOLD_OUT_SLOT} holds 2 and two customers buy them; look at the stock of ${m} and the conditions (low_stock, then sold_out until the refill)`;
      },
    },
    {
      name: 'door',
      async play() {
        board(m).fault({ fault: 'door', open: true });
        await sleep(pauseMs);
        board(m).fault({ fault: 'door', open: false });
        return `door: ${m}'s door was left open ${Math.round(pauseMs / 1000)} s, then closed; look at the conditions (door_open raised, then cleared) and the alerts`;
      },
    },
    ...(s.dexMachineId
      ? [
          {
            name: 'DEX read',
            async play() {
              const id = s.dexMachineId!;
              await s.send('machine.audit.read', { machineId: id });
              return `DEX read: the platform asked for ${id}'s audit now; look at the dashboard's audits (the simulated DEX port plays a recorded audit, so its counts differ from the ledger: dex_mismatch)`;
            },
          },
        ]
      : []),
    {
      name: 'refill',
      async play() {
        for (const id of s.machineIds) {
          for (const slot of s.slots) board(id).fault({ fault: 'restock', slot, stock: s.capacity });
          await s.send('stock.refill', { machineId: id });
        }
        return `refill: ${s.machineIds.join(', ')} filled to ${s.capacity} a slot (stock.refill); look at the stock and the sold_out and low_stock conditions clearing`;
      },
    },
  ];
  return scenes;
}

export interface DemoScript {
  /** Plays the next scene now (what the timer does); resolves once it has played or failed. */
  next(): Promise<void>;
  stop(): void;
}

/**
 * Plays `scenes` one after the other, one every `everyMs`; a scene still
 * playing when the next is due delays it (never two at once).
 */
export function startDemoScript(
  scenes: readonly DemoScene[],
  opts: { everyMs: number; log: Log; autoStart?: boolean },
): DemoScript {
  let i = 0;
  let playing: Promise<void> | undefined;
  const next = async (): Promise<void> => {
    if (playing) return playing;
    const scene = scenes[i++ % scenes.length];
    if (!scene) return;
    playing = (async () => {
      try {
        const line = await scene.play();
        opts.log.info({ scene: scene.name }, `scene: ${line}`);
      } catch (err) {
        opts.log.warn(
          { scene: scene.name, err: (err as Error).message },
          `scene "${scene.name}" failed; the demo goes on`,
        );
      } finally {
        playing = undefined;
      }
    })();
    return playing;
  };
  const timer = opts.autoStart === false ? undefined : setInterval(() => void next(), opts.everyMs);
  timer?.unref();
  return {
    next,
    stop: () => clearInterval(timer),
  };
}
