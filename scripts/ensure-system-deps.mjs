#!/usr/bin/env node
// Makes sure the Debian packages a README command needs are present, before
// it starts: `npm start` (the demo) needs socat for its pty pairs; `npm test`
// also needs mosquitto (the second broker of the integration suite),
// chromium and CJK fonts (kiosk page tests) and postgresql (the platform
// store's second backend). As root it installs what is
// missing with apt-get; otherwise it prints one line naming the packages and
// the command that installs them, and exits 1. Never a stack trace.
//
//   node scripts/ensure-system-deps.mjs demo|test
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const SOCAT = { bin: 'socat', pkg: 'socat', why: 'pseudo-terminal pairs for the simulated serial machines' };
const NEEDS = {
  demo: [SOCAT],
  test: [
    SOCAT,
    {
      bin: 'mosquitto',
      pkg: 'mosquitto',
      why: 'the Mosquitto broker the integration suite also runs against',
    },
    { bin: 'chromium', pkg: 'chromium', why: 'headless Chromium for the kiosk page tests' },
    {
      file: '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc',
      pkg: 'fonts-noto-cjk',
      why: 'CJK glyphs so zh-CN and ja kiosk screens render',
    },
    {
      // Debian keeps the server binaries off PATH, under /usr/lib/postgresql/<major>/bin.
      check: () => {
        const root = '/usr/lib/postgresql';
        return existsSync(root) && readdirSync(root).some((m) => existsSync(`${root}/${m}/bin/postgres`));
      },
      pkg: 'postgresql',
      why: 'the PostgreSQL server the platform store tests and benchmark run against',
    },
  ],
};

const purpose = process.argv[2] ?? 'test';
const needed = NEEDS[purpose];
if (!needed) {
  console.error(
    `vendgate: ensure-system-deps: unknown purpose "${purpose}"; expected ${Object.keys(NEEDS).join(' or ')}`,
  );
  process.exit(2);
}

/** An executable regular file named `bin` on PATH or in an sbin directory (what spawn would run). */
function onPath(bin) {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin'];
  return dirs.some((dir) => {
    if (!dir) return false;
    const p = join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  });
}

const present = (n) => (n.check ? n.check() : n.file ? existsSync(n.file) : onPath(n.bin));
const missing = needed.filter((n) => !present(n));
if (missing.length === 0) process.exit(0);

const names = missing.map((m) => m.pkg).join(' ');
const what = missing.map((m) => `${m.pkg} (${m.why})`).join(', ');
const installLine = `sudo apt-get install -y ${names}`;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

if (!isRoot) {
  console.error(`vendgate: missing ${what}; install with:  ${installLine}`);
  process.exit(1);
}
if (!onPath('apt-get')) {
  console.error(
    `vendgate: missing ${what}, and apt-get is not available; install ${names} with this system's package manager`,
  );
  process.exit(1);
}

console.error(`vendgate: installing ${what} with apt-get`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
const run = (args) => spawnSync('apt-get', args, { stdio: ['ignore', 'inherit', 'inherit'], env });
const steps = [
  ['update', '-qq'],
  ['install', '-y', '-qq', '--no-install-recommends', ...missing.map((m) => m.pkg)],
];
for (const args of steps) {
  const r = run(args);
  if (r.status !== 0) {
    const how = r.error ? r.error.message : r.signal ? `signal ${r.signal}` : `exit ${r.status}`;
    console.error(
      `vendgate: apt-get ${args[0]} failed (${how}); install by hand:  apt-get install -y ${names}`,
    );
    process.exit(1);
  }
}
const still = missing.filter((m) => !present(m));
if (still.length > 0) {
  console.error(`vendgate: still missing after apt-get: ${still.map((m) => m.pkg).join(' ')}`);
  process.exit(1);
}
