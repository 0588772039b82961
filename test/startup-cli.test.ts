import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { displayTopics } from '../devices/display/mqtt-display.ts';
import type { ConfigInput } from '../gateway/config/schema.ts';
import { cleanupsAfterEach } from '../testing/cleanups.ts';
import { freePort } from '../testing/ports.ts';
import { tempDir } from '../testing/tmp.ts';
import { waitUntil } from '../testing/wait.ts';

const CLI = join(dirname(fileURLToPath(import.meta.url)), '../bin/vendgate.js');
const README = readFileSync(join(dirname(CLI), '../README.md'), 'utf8');
const cleanups = cleanupsAfterEach();

/** A stack frame, as Node prints them: "    at fn (file:1:2)". */
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m;

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (SIGKILL after `timeoutMs`, so a hang fails the test instead of stalling it). */
  exited: Promise<number | null>;
}

/** `node bin/vendgate.js ...args` with only the VENDGATE_* variables given. */
function vendgate(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Run {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('VENDGATE_')));
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd,
    env: { ...env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const exited = once(child, 'exit').then(([code]) => {
    clearTimeout(timer);
    return code as number | null;
  });
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

function writeConfig(dir: string, config: ConfigInput | string): string {
  const path = join(dir, 'vendgate.yaml');
  writeFileSync(path, typeof config === 'string' ? config : stringify(config));
  return path;
}

function workDir(): string {
  const t = tempDir();
  cleanups.push(() => t.cleanup());
  return t.dir;
}

async function occupy(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

async function siteConfig(
  dir: string,
  extra: Partial<ConfigInput> = {},
): Promise<ConfigInput & { http: { port: number } }> {
  return {
    dataDir: join(dir, 'data'),
    log: { level: 'info' },
    http: { port: await freePort() },
    broker: { embedded: { port: await freePort() } },
    ...extra,
  } as ConfigInput & { http: { port: number } };
}

describe('vendgate config check', () => {
  it('refuses a config whose root is a list, a scalar or garbage, without a stack trace', async () => {
    const dir = workDir();
    for (const [text, kind] of [
      ['- http:\n    port: 9000\n', 'a list'],
      ['8080\n', 'a number'],
      ['#!/bin/sh\necho hello\n', 'a line of text'],
    ] as const) {
      const run = vendgate(['config', 'check', '--config', writeConfig(dir, text)]);
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toContain('error 1001 (ConfigInvalid)');
      expect(run.stderr()).toContain(`its root is ${kind}`);
      expect(run.stderr()).not.toMatch(STACK_FRAME);
      expect(run.stdout()).toBe('');
    }
  });

  it('prints the config with every password, token and key masked', async () => {
    const dir = workDir();
    const path = writeConfig(dir, {
      broker: {
        url: 'mqtt://platform.example:1883',
        username: 'gw',
        password: 'BrokerPass-Secr3t',
      },
      machines: [
        {
          id: 'm1',
          port: '/dev/ttyUSB0',
          slots: [{ slot: 1 }],
          display: { mqtt: { password: 'DisplayPass-Secr3t' } },
        },
      ],
      coupons: { userKey: 'UserKey-Secr3t-0123456789' },
    });
    const run = vendgate(['config', 'check', '--config', path], {
      env: { VENDGATE_HTTP__TOKEN: 'HttpToken-Secr3t-0123456789' },
    });
    expect(await run.exited).toBe(0);
    const out = run.stdout();
    expect(out).toContain(`${path}: valid`);
    expect(out).not.toContain('Secr3t');
    const shown = JSON.parse(out.slice(out.indexOf('{'))) as Record<string, Record<string, unknown>>;
    expect(shown.broker).toMatchObject({ username: 'gw', password: '[secret]' });
    expect(shown.coupons?.userKey).toBe('[secret]');
    expect(shown.http?.token).toBe('[secret]');
  });

  it('never prints a secret in an error, where the value was wrong', async () => {
    const dir = workDir();
    const path = writeConfig(dir, 'broker:\n  password: 7\ncoupons:\n  userKey: Secr3t\n');
    const run = vendgate(['config', 'check', '--config', path]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain('coupons.userKey: at least 16 characters');
    expect(run.stderr()).not.toMatch(/Secr3t|got 7/);
  });

  it('names the environment variable behind a wrong value: VENDGATE_HTTP__PORT=abc', async () => {
    const run = vendgate(['config', 'check'], { cwd: workDir(), env: { VENDGATE_HTTP__PORT: 'abc' } });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain('VENDGATE_HTTP__PORT: expected a number');
    expect(run.stderr()).not.toMatch(STACK_FRAME);
  });

  it('answers a wrong option with one line, the usage, exit code 2 and no stack trace', async () => {
    for (const [args, line] of [
      [['start', '--bogus'], "vendgate start: Unknown option '--bogus'"],
      [
        ['config', 'check', '--config'],
        "vendgate config check: Option '-c, --config <value>' argument missing",
      ],
      [['demo', '--machnes', '3'], "vendgate demo: Unknown option '--machnes'"],
    ] as const) {
      const run = vendgate([...args]);
      expect(await run.exited).toBe(2);
      const [first, blank, usage] = run.stderr().split('\n');
      expect(first).toBe(line);
      expect(blank).toBe('');
      expect(usage).toMatch(new RegExp(`^usage: vendgate ${args[0]} `));
      expect(run.stderr()).not.toMatch(STACK_FRAME);
      expect(run.stdout()).toBe('');
    }
  });

  it('answers a config file that does not exist in one line, without a stack trace', async () => {
    const run = vendgate(['start', '--config', join(workDir(), 'missing.yaml')]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(
      /^vendgate: error 1002 \(ConfigFileUnreadable\): config file .+ does not exist\n$/,
    );
  });
});

describe('vendgate start', () => {
  it('stops with one clear line and a non-zero exit code when the HTTP port is in use', async () => {
    const dir = workDir();
    const config = await siteConfig(dir);
    await occupy(config.http.port);
    const run = vendgate(['start', '--config', writeConfig(dir, config)]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toBe(
      `vendgate: error 9009 (HttpListenFailed): the HTTP API cannot listen on 127.0.0.1:${config.http.port}: EADDRINUSE, the port is already in use (another vendgate, or another program?); change http.port\n`,
    );
    // The unwind stopped what had started (the broker, the link, the store), and the logs carry no stack.
    expect(run.stdout()).toContain('embedded MQTT broker closed');
    expect(run.stdout()).not.toContain('"stack"');
  });

  it('stops with one clear line and a non-zero exit code when the broker port is in use', async () => {
    const dir = workDir();
    const config = await siteConfig(dir);
    const brokerPort = (config.broker as { embedded: { port: number } }).embedded.port;
    await occupy(brokerPort);
    const run = vendgate(['start', '--config', writeConfig(dir, config)]);
    expect(await run.exited).toBe(1);
    const lines = run.stderr().split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(
      `error 3006 (BrokerUnreachable): the embedded MQTT broker cannot listen on 127.0.0.1:${brokerPort}`,
    );
    expect(lines[0]).toContain('change broker.embedded.port');
    expect(run.stdout()).not.toContain('"stack"');
  });

  it('starts with broker users and an MQTT display, serves the API behind its token and the display its screen', async () => {
    const dir = workDir();
    const token = 'start-token-0123456789';
    const config = await siteConfig(dir, {
      broker: {
        embedded: {
          port: await freePort(),
          users: [{ username: 'bridge', password: 'bridge-pass-1', publish: ['#'], subscribe: ['#'] }],
        },
      },
      machines: [
        {
          id: 'm1',
          // Nothing listens there: the machine stays offline, which must not keep the gateway from starting.
          port: `tcp://127.0.0.1:${await freePort()}`,
          slots: [{ slot: 1, price: 300 }],
          display: { staticQrUrl: 'https://pay.example.com/m/m1', mqtt: { password: 'display-pass-1' } },
        },
      ],
    });
    const run = vendgate(['start', '--config', writeConfig(dir, config)], {
      env: { VENDGATE_HTTP__TOKEN: token },
      timeoutMs: 40_000,
    });
    await waitUntil(() => run.stdout().includes('"msg":"vendgate running"') || run.child.exitCode !== null, {
      timeoutMs: 20_000,
      what: 'the gateway to report it is running',
    });
    expect(run.stderr()).toBe('');
    expect(run.child.exitCode).toBeNull();

    const health = `http://127.0.0.1:${config.http.port}/health`;
    expect((await fetch(health)).status).toBe(401);
    const authed = await fetch(health, { headers: { authorization: `Bearer ${token}` } });
    expect([200, 503]).toContain(authed.status);
    expect(((await authed.json()) as { gatewayId: string }).gatewayId).toBe('vendgate-1');

    // The display device logs in with its own account and gets its retained idle screen.
    const brokerPort = (config.broker as { embedded: { port: number } }).embedded.port;
    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${brokerPort}`, {
      username: 'display-m1',
      // A user connects with its own client id (the broker binds ids to users).
      clientId: 'display-m1',
      password: 'display-pass-1',
      reconnectPeriod: 0,
    });
    cleanups.push(() => device.endAsync(true));
    const render = new Promise<string>((resolve) =>
      device.on('message', (_t, payload) => resolve(payload.toString())),
    );
    await device.subscribeAsync(displayTopics('vendgate-1', 'm1').render, { qos: 1 });
    expect(JSON.parse(await render)).toMatchObject({ displayId: 'm1', screen: { kind: 'idle' } });

    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).not.toContain(token);
  });
});

/** Every command and subcommand, as `vendgate --help` lists them. */
const COMMANDS = [
  ['start'],
  ['demo'],
  ['platform', 'start'],
  ['config', 'check'],
  ['store', 'accept'],
  ['keys', 'generate'],
  ['keys', 'gateway'],
  ['sim', 'slot-board'],
  ['sim', 'mdb'],
  ['sim', 'select'],
  ['sim', 'display'],
  ['qr', 'sticker'],
  ['beacon', 'decode'],
];

describe('vendgate --help', () => {
  it('lists every command with its options, the demo options included', async () => {
    const run = vendgate(['--help']);
    expect(await run.exited).toBe(0);
    const help = run.stdout();
    for (const words of COMMANDS) expect(help).toContain(`  ${words.join(' ')}`);
    for (const option of [
      '--broker-port P',
      '--cashless N',
      '--dir DIR',
      '--platform-port P',
      '--platform sim',
    ])
      expect(help).toContain(option);
    expect(run.stderr()).toBe('');
  });

  it('prints the usage of every command and subcommand for --help and -h, exit 0, running nothing', async () => {
    // An empty working directory: a command that ran anyway would leave files (a data dir, a key, a sticker) here.
    const cwd = workDir();
    // One process per command, all at once: each starts Node and tsx, which takes seconds on a busy machine.
    const cases = [
      ...COMMANDS.map((words) => [...words, '--help']),
      ...[['start'], ['keys', 'generate'], ['demo'], ['qr', 'sticker']].map((words) => [...words, '-h']),
    ];
    const runs = cases.map((args) => ({ args, run: vendgate(args, { cwd, timeoutMs: 120_000 }) }));
    for (const { args, run } of runs) {
      expect(await run.exited, args.join(' ')).toBe(0);
      expect(run.stdout()).toMatch(new RegExp(`^usage: vendgate ${args.slice(0, -1).join(' ')}[ \\n]`));
      expect(run.stderr()).toBe('');
    }
    expect(readdirSync(cwd)).toEqual([]);
  }, 300_000);

  it('never makes a key for keys generate --help, even after other options', async () => {
    for (const args of [
      ['keys', 'generate', '--help'],
      ['keys', 'generate', '-c', 'x.yaml', '-h'],
    ]) {
      const run = vendgate(args);
      expect(await run.exited).toBe(0);
      expect(run.stdout()).not.toContain('privateKey"');
      expect(run.stdout()).not.toMatch(/[A-Za-z0-9+/]{43}=/);
    }
  });

  it('answers a command group without its subcommand with the list of them: 0 for --help, 2 otherwise', async () => {
    const help = vendgate(['keys', '--help']);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toContain('vendgate keys generate');
    expect(help.stdout()).toContain('vendgate keys gateway [--config FILE]');
    for (const [args, line] of [
      [['keys'], 'vendgate: "vendgate keys" needs a command'],
      [['sim', 'bogus'], 'vendgate: unknown command "sim bogus"'],
    ] as const) {
      const run = vendgate([...args]);
      expect(await run.exited).toBe(2);
      expect(run.stderr().split('\n')[0]).toBe(line);
      expect(run.stderr()).toContain(`usage:\n  vendgate ${args[0]} `);
    }
    const unknown = vendgate(['bogus']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toBe('vendgate: unknown command "bogus"; see "vendgate --help"\n');
  });

  it('prints the version', async () => {
    const run = vendgate(['--version']);
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });

  it('documents the demo options in the README', () => {
    for (const option of [
      '--machines',
      '--cashless',
      '--rate',
      '--http-port',
      '--platform-port',
      '--broker-port',
      '--dir',
      '--platform sim',
    ])
      expect(README).toContain(option);
  });
});

describe('vendgate user errors', () => {
  it('says that nothing listens when sim select cannot connect, in one line with the code, exit 1', async () => {
    const port = await freePort();
    const socket = join(workDir(), 'no.sock');
    const cases: Array<[string, string]> = [
      [String(port), `127.0.0.1:${port}`],
      [socket, socket],
    ];
    for (const [control, where] of cases) {
      const run = vendgate(['sim', 'select', '--control', control, '--item', '2']);
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toBe(
        `vendgate: error 1102 (CliConnectionFailed): cannot connect to ${where}: nothing is listening there (is it running?)\n`,
      );
    }
  });

  it('refuses a file where a directory is expected: --out, --dir and dataDir, without making anything', async () => {
    const dir = workDir();
    const file = join(dir, 'plain-file');
    writeFileSync(file, 'not a directory');
    const config = writeConfig(dir, { dataDir: join(file, 'data') });
    for (const [args, line] of [
      [
        ['qr', 'sticker', '--machine', 'm1', '--url', 'https://pay.example.com/m/m1', '--out', file],
        `vendgate qr sticker: error 1101 (CliPathUnusable): --out ${file}: it is a file, not a directory`,
      ],
      [
        ['demo', '--dir', join(file, 'demo')],
        `vendgate: error 1101 (CliPathUnusable): --dir ${join(file, 'demo')}: ${file} is a file, not a directory`,
      ],
      [
        ['start', '-c', config],
        `vendgate: error 1101 (CliPathUnusable): dataDir ${join(file, 'data')}: ${file} is a file, not a directory`,
      ],
      [
        ['keys', 'gateway', '-c', config],
        `vendgate: error 1101 (CliPathUnusable): dataDir ${join(file, 'data')}: ${file} is a file, not a directory`,
      ],
    ] as const) {
      const run = vendgate([...args]);
      expect(await run.exited, args.join(' ')).toBe(1);
      expect(run.stderr()).toBe(`${line}\n`);
      expect(run.stderr()).not.toMatch(STACK_FRAME);
    }
    expect(readdirSync(dir).sort()).toEqual(['plain-file', 'vendgate.yaml']);
  });

  it.skipIf(!existsSync('/proc/self'))(
    'answers an unwritable --out such as /proc/nope at once instead of spinning',
    async () => {
      const run = vendgate(
        ['qr', 'sticker', '--machine', 'm1', '--url', 'https://pay.example.com/m/m1', '--out', '/proc/nope'],
        { timeoutMs: 15_000 },
      );
      // SIGKILLed after 15 s would exit with null: a spin fails here.
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toMatch(
        /^vendgate qr sticker: error 1101 \(CliPathUnusable\): --out \/proc\/nope: cannot make \/proc\/nope: .+\n$/,
      );
    },
  );
});

describe('vendgate demo', () => {
  it('honours VENDGATE_* overrides of the gateway config, as vendgate start does', async () => {
    const dir = workDir();
    const httpPort = await freePort();
    const token = 'demo-token-0123456789';
    const run = vendgate(
      [
        'demo',
        '--platform',
        'sim',
        '--machines',
        '1',
        '--cashless',
        '0',
        '--broker-port',
        String(await freePort()),
        '--http-port',
        String(await freePort()),
        '--dir',
        dir,
      ],
      {
        env: {
          VENDGATE_HTTP__PORT: String(httpPort),
          VENDGATE_HTTP__TOKEN: token,
          VENDGATE_GATEWAY_ID: 'env-site',
        },
        timeoutMs: 60_000,
      },
    );
    await waitUntil(() => run.stdout().includes('demo site running') || run.child.exitCode !== null, {
      timeoutMs: 45_000,
      what: 'the demo to report it is running',
    });
    const health = `http://127.0.0.1:${httpPort}/health`;
    expect((await fetch(health)).status).toBe(401);
    const authed = await fetch(health, { headers: { authorization: `Bearer ${token}` } });
    expect(((await authed.json()) as { gatewayId: string }).gatewayId).toBe('env-site');
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).not.toContain(token);
  });
});
