import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { CommandType } from '../../contract/commands.ts';
import { createRootLogger } from '../../core/log.ts';
import type { Money } from '../../core/money.ts';
import type { SimFault } from '../../firmware-sim/slot-board/sim.ts';
import { type DemoSceneSeams, demoScenes, startDemoScript } from './scenes.ts';

/** What the scenes did through the seams, in order. */
type Step =
  | { fault: string; machineId: string; f: SimFault }
  | { send: CommandType; data: unknown }
  | { buy: string; slot: number };

function fakeSite(over: Partial<DemoSceneSeams> = {}) {
  const steps: Step[] = [];
  const lines: Array<{ level: number; msg: string; scene?: string; err?: string }> = [];
  const log = createRootLogger({
    repeats: false,
    destination: new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    }),
  });
  const prices = new Map<number, Money>([[1, { amount: 350, currency: 'CNY' }]]);
  const seams: DemoSceneSeams = {
    machineId: 'm1',
    machineIds: ['m1', 'm2'],
    slots: [1, 2, 3, 4, 5, 6],
    board: (machineId) =>
      machineId === 'm1' || machineId === 'm2'
        ? { fault: (f) => steps.push({ fault: f.fault, machineId, f }) }
        : undefined,
    send: async (type, data) => {
      steps.push({ send: type, data });
      if (type === 'catalogue.set') {
        const d = data as { slots: Array<{ slot: number; price: Money }> };
        for (const s of d.slots) prices.set(s.slot, s.price);
      }
    },
    buy: async (buy, slot) => {
      steps.push({ buy, slot });
    },
    price: (_m, slot) => prices.get(slot),
    capacity: 30,
    dexMachineId: 'm1',
    log,
    ...over,
  };
  return { steps, lines, seams, log };
}

describe('the demo script', () => {
  it('plays a signed price change, a jam before an order, a slot run down, a door, a DEX read and a refill, in turn', async () => {
    const site = fakeSite();
    const scenes = demoScenes(site.seams, 0);
    expect(scenes.map((s) => s.name)).toEqual([
      'price change',
      'jam',
      'sold out',
      'door',
      'DEX read',
      'refill',
    ]);
    const script = startDemoScript(scenes, { everyMs: 60_000, log: site.log, autoStart: false });
    for (let i = 0; i < scenes.length; i++) await script.next();

    expect(site.steps).toEqual([
      {
        send: 'catalogue.set',
        data: { machineId: 'm1', slots: [{ slot: 1, price: { amount: 400, currency: 'CNY' } }] },
      },
      { fault: 'jam', machineId: 'm1', f: { fault: 'jam', slot: 6, count: 1 } },
      { buy: 'm1', slot: 6 },
      { fault: 'restock', machineId: 'm1', f: { fault: 'restock', slot: 4, stock: 2 } },
      { send: 'stock.refill', data: { machineId: 'm1', slot: 4, level: 2 } },
      { buy: 'm1', slot: 4 },
      { buy: 'm1', slot: 4 },
      { fault: 'door', machineId: 'm1', f: { fault: 'door', open: true } },
      { fault: 'door', machineId: 'm1', f: { fault: 'door', open: false } },
      { send: 'machine.audit.read', data: { machineId: 'm1' } },
      ...['m1', 'm2'].flatMap((machineId) => [
        ...[1, 2, 3, 4, 5, 6].map((slot) => ({
          fault: 'restock',
          machineId,
          f: { fault: 'restock', slot, stock: 30 },
        })),
        { send: 'stock.refill', data: { machineId } },
      ]),
    ]);
    const said = site.lines.filter((l) => l.msg.startsWith('scene: ')).map((l) => l.scene);
    expect(said).toEqual(scenes.map((s) => s.name));
  });

  it('toggles the price back on the next round instead of raising it each time', async () => {
    const site = fakeSite();
    const price = demoScenes(site.seams, 0)[0]!;
    await price.play();
    await price.play();
    expect(site.seams.price('m1', 1)).toEqual({ amount: 350, currency: 'CNY' });
  });

  it('leaves out the DEX scene on a site without a DEX port', () => {
    const site = fakeSite({ dexMachineId: undefined });
    expect(demoScenes(site.seams, 0).map((s) => s.name)).not.toContain('DEX read');
  });

  it('logs a scene that fails with its reason and plays the next one', async () => {
    const site = fakeSite({
      send: async (type) => {
        if (type === 'catalogue.set') throw new Error('the broker is gone');
      },
    });
    const script = startDemoScript(demoScenes(site.seams, 0), {
      everyMs: 60_000,
      log: site.log,
      autoStart: false,
    });
    await script.next();
    await script.next();
    expect(site.lines.map((l) => [l.scene, l.level, l.err])).toEqual([
      ['price change', 40, 'the broker is gone'],
      ['jam', 30, undefined],
    ]);
    expect(site.steps).toContainEqual({ buy: 'm1', slot: 6 });
  });
});
