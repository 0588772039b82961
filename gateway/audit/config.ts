/**
 * `machines[].dex`: where a machine's DEX jack is and when to read it. The
 * schedule runs in the site's time zone (config `timeZone`): reads at
 * `startAt` local time and every `every` after it, e.g. every 6 h from
 * 02:00 reads at 02:00, 08:00, 14:00 and 20:00.
 */
import { z } from 'zod';

/** "6h", "30m", "1d", or a number of minutes; 0 or "off": on demand only. */
export const DexEvery = z
  .union([
    z.number().int().min(0).max(10_080),
    z.string().regex(/^(off|0|\d{1,5}\s*[mhd])$/i, 'like "30m", "6h", "1d" or "off"'),
  ])
  .describe('How often to read: "30m", "6h", "1d", a number of minutes, or "off" (on demand only).');

export const DexConfig = z
  .object({
    port: z
      .string()
      .min(1)
      .describe(
        'The DEX jack: a serial device path (/dev/ttyUSB1) or raw serial over TCP (tcp://host:port).',
      ),
    baudRate: z
      .number()
      .int()
      .positive()
      .default(9600)
      .describe('DEX/UCS runs at 9600 8N1 on most machines.'),
    every: DexEvery.default('6h'),
    startAt: z
      .string()
      .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 24-hour')
      .default('00:00')
      .describe('Local time (config timeZone) the schedule is anchored at.'),
    keepRawDays: z
      .number()
      .int()
      .min(0)
      .max(3650)
      .default(30)
      .describe('The raw audit text is kept this many days; the counters stay.'),
    maxBytes: z
      .number()
      .int()
      .min(1024)
      .max(4_194_304)
      .default(262_144)
      .describe('The largest audit accepted, bytes; a larger one is refused (6304).'),
  })
  .strict()
  .describe("The machine's DEX/UCS audit port, read on a schedule and on demand (docs/protocols/dex.md).");
export type DexConfig = z.infer<typeof DexConfig>;

/** The interval in ms, 0 for on demand only. */
export function everyMs(every: DexConfig['every']): number {
  if (typeof every === 'number') return every * 60_000;
  const s = every.trim().toLowerCase();
  if (s === 'off' || s === '0') return 0;
  const n = Number.parseInt(s, 10);
  const unit = s.at(-1);
  return n * (unit === 'd' ? 86_400_000 : unit === 'h' ? 3_600_000 : 60_000);
}
