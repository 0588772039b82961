/**
 * The simulated MQTT payment display as its own process.
 *
 *   node --import tsx firmware-sim/display/main.ts --url mqtt://127.0.0.1:1883 \
 *     --gateway gw1 --display m1 [--username display-m1] [--password-env VAR]
 *
 * The password comes from the environment (VENDGATE_DISPLAY_PASSWORD, or the
 * variable named by --password-env), never from the command line.
 * stdout: one JSON object per line: {"event":"ready"}, then {"event":"render",
 * seq, kind, locale, texts} for every screen shown and {"event":"rejected",
 * message} for every command refused. SIGTERM/SIGINT: reports offline, exits.
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { DisplaySim } from './sim.ts';

export async function runDisplaySim(args: string[], env = process.env): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      url: { type: 'string' },
      gateway: { type: 'string' },
      display: { type: 'string' },
      username: { type: 'string' },
      'password-env': { type: 'string', default: 'VENDGATE_DISPLAY_PASSWORD' },
    },
  });
  const password = env[values['password-env']];
  if (!values.url || !values.gateway || !values.display || password === undefined) {
    process.stderr.write(
      'usage: display sim --url mqtt://host:port --gateway GW --display ID [--username U] (password in $VENDGATE_DISPLAY_PASSWORD)\n',
    );
    return 2;
  }
  const out = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  const sim = new DisplaySim({
    url: values.url,
    gatewayId: values.gateway,
    displayId: values.display,
    username: values.username ?? `display-${values.display}`,
    password,
  });
  sim.on('render', (cmd, texts) =>
    out({ event: 'render', seq: cmd.seq, kind: cmd.screen.kind, locale: cmd.locale, texts }),
  );
  sim.on('rejected', (message) => out({ event: 'rejected', message }));
  try {
    await sim.start();
  } catch (err) {
    out({ event: 'error', message: (err as Error).message });
    await sim.stop().catch(() => {});
    return 1;
  }
  out({ event: 'ready', displayId: values.display });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await sim.stop();
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runDisplaySim(process.argv.slice(2)).then((code) => process.exit(code));
}
