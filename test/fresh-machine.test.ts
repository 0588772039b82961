import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';

/**
 * The README's two commands on a machine without socat. socat is hidden in a
 * private mount namespace (`unshare -m`, /dev/null bind-mounted over the
 * binary, so it is no longer an executable file) and nothing outside that
 * namespace changes. As an ordinary user (`setpriv` to nobody) the command
 * must stop at once with one line naming the package and the install
 * command; as root it must run apt-get, here a fake one first on PATH that
 * records its arguments and "installs" socat by undoing the bind mount, so
 * no package index or network is touched.
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const NOBODY = 65534;

function socatPath(): string | undefined {
  const r = spawnSync('sh', ['-c', 'command -v socat'], { encoding: 'utf8' });
  return r.status === 0 ? realpathSync(r.stdout.trim()) : undefined;
}

/** Whether this process may make a mount namespace and bind-mount in it (root, or CAP_SYS_ADMIN). */
function canHide(path: string | undefined): path is string {
  if (!path || process.getuid?.() !== 0) return false;
  return spawnSync('unshare', ['-m', 'mount', '--bind', '/dev/null', path], { stdio: 'ignore' }).status === 0;
}

const SOCAT = socatPath();
const HIDE = `mount --bind /dev/null ${SOCAT}`;

/** Runs `sh -c script` in a new mount namespace where socat is hidden. */
function inNamespace(script: string, env: NodeJS.ProcessEnv): ChildProcess {
  return spawn('unshare', ['-m', 'sh', '-c', `${HIDE} && ${script}`], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
}

function collect(child: ChildProcess): {
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    err += c;
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { out: () => out, err: () => err, exit };
}

/** npm's own environment for a throwaway HOME: no update check (no network), logs in the temp dir. */
function npmEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { PATH, LANG, TERM } = process.env;
  return {
    PATH,
    LANG,
    TERM,
    HOME: home,
    npm_config_cache: join(home, '.npm'),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    NO_COLOR: '1',
    ...extra,
  };
}

describe.skipIf(!canHide(SOCAT))('the README commands on a machine without socat', () => {
  const cleanups = cleanupsAfterEach();

  const home = () => {
    const t = tempDir('vendgate-fresh-');
    cleanups.push(t.cleanup);
    chmodSync(t.dir, 0o777);
    return t.dir;
  };

  it.each([
    ['npm start', 'start'],
    ['npm test', 'test'],
  ])(
    '`%s` as an ordinary user stops at once with one line naming socat and the apt-get command',
    async (_, script) => {
      const dir = home();
      const run = collect(
        inNamespace(
          `exec setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups npm ${script}`,
          npmEnv(dir),
        ),
      );
      const code = await run.exit;

      expect(code).toBe(1);
      const lines = run.err().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^vendgate: missing socat \(.+\); install with: {2}sudo apt-get install -y socat$/,
      );
      // Nothing after the check ran: stdout has npm's "> vendgate@... start" banner only.
      expect(
        run
          .out()
          .split('\n')
          .filter((l) => l.trim() !== '' && !l.startsWith('>')),
      ).toEqual([]);
      expect(run.err()).not.toMatch(/^\s+at /m);
    },
  );

  it('`npm start` as root installs socat with apt-get, then runs the demo', async () => {
    const dir = home();
    const fake = join(dir, 'bin');
    const calls = join(dir, 'apt-get.calls');
    mkdirSync(fake);
    // Records each call with the environment apt-get needs to run unattended;
    // "installing" socat is undoing the bind mount that hid it.
    writeFileSync(
      join(fake, 'apt-get'),
      [
        '#!/bin/sh',
        `echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> ${calls}`,
        `if [ "$1" = install ]; then umount ${SOCAT}; fi`,
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const child = inNamespace(
      // The install step is what is tested: the lighter demo (a simulated platform, no provider sandboxes).
      `exec npm start -- --platform sim --http-port 0 --broker-port 0 --dir ${join(dir, 'demo')} --machines 1 --cashless 0 --rate 0.1`,
      npmEnv(dir, { PATH: `${fake}:${process.env.PATH}` }),
    );
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        process.kill(-(child.pid ?? 0), 'SIGTERM');
        await exited;
      }
    });
    const run = collect(child);

    await waitUntil(() => run.out().includes('demo site running') || child.exitCode !== null, {
      timeoutMs: 45_000,
      what: 'the demo running after the install step',
    });
    expect(run.out(), run.err()).toContain('demo site running');
    expect(run.err()).toContain('vendgate: installing socat');
    expect(readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      'DEBIAN_FRONTEND=noninteractive update -qq',
      'DEBIAN_FRONTEND=noninteractive install -y -qq --no-install-recommends socat',
    ]);
  });

  it('as root, a failing apt-get ends in one line naming the package and the command, no stack trace', async () => {
    const dir = home();
    const fake = join(dir, 'bin');
    mkdirSync(fake);
    writeFileSync(
      join(fake, 'apt-get'),
      '#!/bin/sh\necho "E: Unable to locate package socat" >&2\nexit 100\n',
      {
        mode: 0o755,
      },
    );
    const run = collect(
      inNamespace(
        'exec node scripts/ensure-system-deps.mjs demo',
        npmEnv(dir, { PATH: `${fake}:${process.env.PATH}` }),
      ),
    );
    expect(await run.exit).toBe(1);
    expect(run.err()).toContain(
      'vendgate: apt-get update failed (exit 100); install by hand:  apt-get install -y socat',
    );
    expect(run.err()).not.toMatch(/^\s+at /m);
  });
});
