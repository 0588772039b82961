/**
 * Start-up failures of the composition root as one line each, naming what
 * to change: a port in use, a broker that refuses or cannot be reached. The
 * errors are catalogued, so the CLI prints them without a stack.
 */
import type { MqttClient } from 'mqtt';
import { untilConnected } from '../contract/mqtt-client.ts';
import { ErrorCode, VendgateError } from '../core/errors.ts';

/**
 * Resolves once `client` is connected. A refusal (CONNACK return code, MQTT
 * 3.1.1 section 3.2.2.3) or an unreachable broker fails start-up with one
 * line naming the broker and the settings to check, instead of a bare
 * "Connection closed" from the first subscription.
 */
export async function untilBrokerAccepts(client: MqttClient, brokerUrl: string, who: string): Promise<void> {
  try {
    await untilConnected(client);
  } catch (err) {
    const e = err as Error & { code?: unknown };
    const refused = typeof e.code === 'number';
    const where = withoutCredentials(brokerUrl);
    throw new VendgateError(
      ErrorCode.BrokerUnreachable,
      refused
        ? `the broker at ${where} refused the ${who} client: ${e.message} (check broker.username and broker.password)`
        : `the ${who} client cannot reach the broker at ${where}: ${e.message}`,
      { brokerUrl: where, ...(refused ? { returnCode: e.code } : {}) },
      { cause: err },
    );
  }
}

/** A listen failure as one line that names the setting to change. */
export function listenFailure(err: unknown, host: string, port: number): VendgateError {
  const code = (err as NodeJS.ErrnoException).code;
  // The errno stays in the line: it is what an operator searches for.
  const reason =
    code === 'EADDRINUSE'
      ? 'EADDRINUSE, the port is already in use (another vendgate, or another program?); change http.port'
      : code === 'EACCES'
        ? 'EACCES, permission denied (a port below 1024 needs privileges); change http.port'
        : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
          ? `${code}, this machine has no such address; change http.host`
          : (err as Error).message;
  return new VendgateError(
    ErrorCode.HttpListenFailed,
    `the HTTP API cannot listen on ${host}:${port}: ${reason}`,
    { host, port, ...(code ? { errno: code } : {}) },
    { cause: err },
  );
}

/** The embedded broker's listen failure, naming the setting to change when the port is taken. */
export function brokerListenFailure(err: unknown, host: string, port: number): unknown {
  const cause = (err as Error).cause as NodeJS.ErrnoException | undefined;
  if (cause?.code !== 'EADDRINUSE') return err;
  return new VendgateError(
    ErrorCode.BrokerUnreachable,
    `the embedded MQTT broker cannot listen on ${host}:${port}: EADDRINUSE, the port is already in use (another vendgate, or another MQTT broker?); change broker.embedded.port, or set broker.url to use that broker`,
    { host, port, errno: cause.code },
    { cause },
  );
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** A broker URL fit to show: `mqtt://user:pass@host` loses its user and password. */
export function withoutCredentials(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//');
}
