#!/usr/bin/env node
// Makes sure the Debian packages the real-transport tests need are present:
// socat (pty pairs for serial), mosquitto (the second broker the integration
// suite runs against), chromium and CJK fonts (kiosk page tests), postgresql (the platform store). As root it installs what is missing with apt-get;
// otherwise it says exactly what to install and fails.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

const NEEDED = [
  { bin: 'socat', pkg: 'socat', why: 'pseudo-terminal pairs for the serial controller simulators' },
  { bin: 'mosquitto', pkg: 'mosquitto', why: 'the Mosquitto broker the integration suite also runs against' },
  {
    bin: 'chromium',
    pkg: 'chromium',
    why: 'headless Chromium for the kiosk page tests (driven by playwright-core)',
  },
  {
    file: '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc',
    pkg: 'fonts-noto-cjk',
    why: 'CJK glyphs so zh-CN and ja kiosk screens render and can be checked for overflow',
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
];

const has = (bin) =>
  spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status === 0;

const present = (n) => (n.check ? n.check() : n.file ? existsSync(n.file) : has(n.bin));
const missing = NEEDED.filter((n) => !present(n));
if (missing.length === 0) process.exit(0);

const names = missing.map((m) => m.pkg);
console.log(`vendgate: missing Debian packages: ${missing.map((m) => `${m.pkg} (${m.why})`).join(', ')}`);
if (typeof process.getuid === 'function' && process.getuid() === 0) {
  console.log(`vendgate: installing with apt-get: ${names.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], {
    stdio: 'inherit',
    env,
  });
  const still = missing.filter((m) => !present(m));
  if (still.length > 0) {
    console.error(`vendgate: still missing after apt-get: ${still.map((m) => m.pkg).join(', ')}`);
    process.exit(1);
  }
} else {
  console.error(`vendgate: run as root, or install them first:  sudo apt-get install ${names.join(' ')}`);
  process.exit(1);
}
