import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DexSimProcess, spawnDexSim } from '../firmware-sim/dex/spawn.ts';
import { runDexCli } from '../main/dex-command.ts';
import { tempDir } from '../testing/tmp.ts';

/** `vendgate dex read` against the simulated DEX port in its own process on a socat pty. */
describe('vendgate dex read', () => {
  const tmp = tempDir('vendgate-dex-cli-');
  let sim: DexSimProcess;
  beforeAll(async () => {
    sim = await spawnDexSim({ dir: tmp.dir, audit: join(import.meta.dirname, 'fixtures/dex/snack.dex') });
  });
  afterAll(async () => {
    await sim?.stop();
    tmp.cleanup();
  });

  const run = async (args: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = await runDexCli(args, {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
    });
    return { code, stdout, stderr };
  };

  it('prints the machine, its counters per selection and the checks, and exits 0 for a good audit', async () => {
    const r = await run(['read', '--port', sim.pty.hostPath]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^machine {3}SN20240117 SNK-6G \(DEX id SIMDEX0001\)$/m);
    expect(r.stdout).toMatch(/^paid {6}3812 vends, CN¥17,450\.00$/m);
    expect(r.stdout).toMatch(/^ {4}11 {5}812 vends {2}CN¥3,654\.00$/m);
    expect(r.stdout).toMatch(/^checks {4}G85 ok, SE ok, 4 unknown segments$/m);
  });

  it('prints the parsed audit as JSON with --json', async () => {
    const r = await run(['read', '--port', sim.pty.hostPath, '--json']);
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      ok: boolean;
      link: { blocks: number };
      audit: { selections: unknown[] };
    };
    expect(doc.ok).toBe(true);
    expect(doc.link.blocks).toBe(4);
    expect(doc.audit.selections).toHaveLength(10);
    expect(r.stdout).not.toContain('DXS*');
  });

  it('exits 3 and names the problems of a truncated audit', async () => {
    sim.fault({ fault: 'truncate', fraction: 0.5 });
    const r = await run(['read', '--port', sim.pty.hostPath]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^problem {3}no G85 segment/m);
  });

  it('exits 1 with the catalogued error when the machine stops mid-transfer', async () => {
    sim.fault({ fault: 'stall', afterBlocks: 1 });
    const r = await run(['read', '--port', sim.pty.hostPath, '--timeout-ms', '500']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the machine stopped in the middle of block 2 .* \(6303 DexStalled\)/);
  });

  it('exits 2 with the usage for a missing port', async () => {
    const r = await run(['read']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^usage: vendgate dex read --port PATH/);
  });
});
