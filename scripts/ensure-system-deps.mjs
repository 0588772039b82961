#!/usr/bin/env node
// Makes sure the Debian packages the real-transport tests need are present:
// socat (pty pairs for serial), mosquitto (the second broker the integration
// suite runs against). As root it installs what is missing with apt-get;
// otherwise it says exactly what to install and fails.
import { execFileSync, spawnSync } from 'node:child_process';

const NEEDED = [
  { bin: 'socat', pkg: 'socat', why: 'pseudo-terminal pairs for the serial controller simulators' },
  { bin: 'mosquitto', pkg: 'mosquitto', why: 'the Mosquitto broker the integration suite also runs against' },
];

const has = (bin) =>
  spawnSync('sh', ['-c', `command -v ${bin} || test -x /usr/sbin/${bin}`], { stdio: 'ignore' }).status === 0;

const missing = NEEDED.filter((n) => !has(n.bin));
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
  const still = missing.filter((m) => !has(m.bin));
  if (still.length > 0) {
    console.error(`vendgate: still missing after apt-get: ${still.map((m) => m.pkg).join(', ')}`);
    process.exit(1);
  }
} else {
  console.error(`vendgate: run as root, or install them first:  sudo apt-get install ${names.join(' ')}`);
  process.exit(1);
}
