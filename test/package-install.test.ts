/**
 * The package as an operator installs it: `npm pack`, then `npm install -g`
 * of the tarball into a temporary prefix, then the installed `vendgate`
 * command, and the systemd unit checked by `systemd-analyze verify`.
 *
 * The install runs with --prefer-offline (the npm cache, the registry for
 * what is missing) and --ignore-scripts: building the native addons
 * (better-sqlite3 compiles, or downloads a prebuilt binary from GitHub)
 * needs more than the registry and minutes of CPU. The one addon
 * `vendgate start` loads, better-sqlite3, is copied from this checkout's
 * build when the versions match, so the installed command really starts.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { VERSION } from '../core/version.ts';
import { freePort } from '../testing/ports.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const UNIT = join(ROOT, 'packaging/systemd/vendgate.service');
const SYSTEMD_ANALYZE = '/usr/bin/systemd-analyze';
const hasSystemdAnalyze = existsSync(SYSTEMD_ANALYZE);
if (!hasSystemdAnalyze)
  console.warn(`test/package-install.test.ts: systemd-analyze checks SKIPPED: ${SYSTEMD_ANALYZE} is missing`);

/** The unit with ExecStart pointing at `bin` (verify checks that the command exists and is executable). */
function unitFor(bin: string, dir: string): string {
  const path = join(dir, 'vendgate.service');
  writeFileSync(path, readFileSync(UNIT, 'utf8').replace('/usr/bin/vendgate', bin));
  return path;
}

async function verifyUnit(path: string): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(SYSTEMD_ANALYZE, ['verify', path], { timeout: 30_000 });
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? 1, stderr: e.stderr ?? String(err) };
  }
}

describe.skipIf(!hasSystemdAnalyze)('the systemd unit', () => {
  it('passes systemd-analyze verify without a single warning', async () => {
    const t = tempDir('vendgate-unit-');
    try {
      const r = await verifyUnit(unitFor(join(ROOT, 'bin/vendgate.js'), t.dir));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    } finally {
      t.cleanup();
    }
  });

  it('runs vendgate start as its own user, sandboxed, restarted on failure, with its config and state directory', () => {
    const unit = readFileSync(UNIT, 'utf8');
    for (const line of [
      'Type=simple',
      'User=vendgate',
      'ExecStart=/usr/bin/vendgate start --config /etc/vendgate/vendgate.yaml',
      'EnvironmentFile=-/etc/vendgate/vendgate.env',
      'StateDirectory=vendgate',
      'Environment=VENDGATE_DATA_DIR=/var/lib/vendgate',
      'ProtectSystem=strict',
      'NoNewPrivileges=yes',
      'Restart=on-failure',
    ]) {
      expect(unit.split('\n')).toContain(line);
    }
  });

  it('is caught by the check when it is broken', async () => {
    const t = tempDir('vendgate-unit-');
    try {
      const path = unitFor(join(ROOT, 'bin/vendgate.js'), t.dir);
      writeFileSync(path, readFileSync(path, 'utf8').replace('ProtectSystem=strict', 'ProtectSytem=strict'));
      const r = await verifyUnit(path);
      expect(r.stderr).toContain("Unknown key 'ProtectSytem'");
    } finally {
      t.cleanup();
    }
  });
});

describe('the npm package', () => {
  const t = tempDir('vendgate-pack-');
  const prefix = join(t.dir, 'prefix');
  const bin = join(prefix, 'bin', 'vendgate');
  let tarball = '';
  let files: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const packed = await run('npm', ['pack', '--json', '--pack-destination', t.dir], {
      cwd: ROOT,
      timeout: 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(t.dir, info!.filename);
    files = info!.files.map((f) => f.path);
    await run(
      'npm',
      [
        'install',
        '-g',
        '--prefix',
        prefix,
        tarball,
        '--prefer-offline',
        '--ignore-scripts',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
      ],
      { cwd: t.dir, timeout: 480_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const installed = join(prefix, 'lib/node_modules/vendgate/node_modules/better-sqlite3');
    const local = join(ROOT, 'node_modules/better-sqlite3');
    const version = (dir: string) =>
      (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    if (!existsSync(join(installed, 'build')) && version(installed) === version(local)) {
      console.warn(
        'test/package-install.test.ts: better-sqlite3 copied from the checkout (install scripts off)',
      );
      cpSync(join(local, 'build'), join(installed, 'build'), { recursive: true });
    }
  }, 600_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    t.cleanup();
  });

  it('holds the command, the sources it runs, the unit and the docs, and no tests', () => {
    for (const f of [
      'bin/vendgate.js',
      'main/cli.ts',
      'gateway/config/schema.ts',
      'packaging/systemd/vendgate.service',
      'docs/running-in-production.md',
      'README.md',
      'package.json',
    ]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /\.test\.ts$|^test\/|^bench\/|^testing\/|^node_modules\//.test(f))).toEqual(
      [],
    );
  });

  it('installs globally and answers --version and start --help', async () => {
    expect((await run(bin, ['--version'], { timeout: 60_000 })).stdout).toBe(`${VERSION}\n`);
    const help = await run(bin, ['start', '--help'], { timeout: 60_000 });
    expect(help.stdout).toMatch(/^usage: vendgate start \[--config FILE\]\n/);
  });

  it('runs vendgate start -c FILE from the installed package until SIGTERM', async () => {
    const site = join(t.dir, 'site');
    const httpPort = await freePort();
    const config = join(t.dir, 'vendgate.yaml');
    writeFileSync(
      config,
      stringify({
        dataDir: site,
        http: { port: httpPort },
        broker: { embedded: { port: await freePort() } },
      }),
    );
    const child = spawn(bin, ['start', '-c', config], { cwd: t.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const exited = once(child, 'exit');
    await waitUntil(() => out.includes('"msg":"vendgate running"') || child.exitCode !== null, {
      timeoutMs: 60_000,
      what: 'the installed gateway to report it is running',
    });
    expect(err).toBe('');
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    expect(((await health.json()) as { version: string }).version).toBe(VERSION);
    child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
    expect(existsSync(join(site, 'vendgate.db'))).toBe(true);
  }, 90_000);

  it.skipIf(!hasSystemdAnalyze)('has a unit that verifies against the installed command', async () => {
    const r = await verifyUnit(unitFor(bin, t.dir));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });
});
