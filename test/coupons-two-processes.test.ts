import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../testing/index.ts';
import { CNY, campaignSpec, openRig, type Rig, rowCount } from './support/coupons.ts';

describe('coupon claims from two processes on one store', () => {
  const cleanups = cleanupsAfterEach();
  let rig: Rig;

  beforeEach(() => {
    rig = openRig(cleanups);
  });

  it('never overspends when two processes claim against the same database file', async () => {
    rig.engine.upsertCampaign(
      campaignSpec({ budget: { count: 500, money: CNY(1_000_000) }, perUserPerDay: 1000 }),
    );
    rig.db.close();
    const script = join(import.meta.dirname, 'fixtures', 'claim-worker.ts');
    const run = (tag: string) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', script, rig.path, tag, '1500'], {
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.on('error', reject);
        child.on('exit', (code) =>
          code === 0 ? resolve(out) : reject(new Error(`worker ${tag} exited ${code}`)),
        );
      });
    const outs = await Promise.all([run('p1'), run('p2')]);
    const counts = outs.map((o) => JSON.parse(o) as { issued: number; refused: number });
    expect(counts[0]!.issued + counts[1]!.issued).toBe(500);
    expect(counts[0]!.issued + counts[0]!.refused + counts[1]!.issued + counts[1]!.refused).toBe(3000);
    rig = openRig(cleanups, { dir: rig.dir });
    expect(rowCount(rig.db, 'coupons')).toBe(500);
    expect(rig.engine.campaign('spring')!.issued.count).toBe(500);
  });
});
