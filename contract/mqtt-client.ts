import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import mqtt, { type IClientOptions, MqttClient } from 'mqtt';
import { ErrorCode } from '../core/errors.ts';
import type { Log } from '../core/log.ts';

/**
 * mqtt.js opens plain TCP sockets without TCP_NODELAY. A QoS 1 exchange is
 * several small writes in a row, which Nagle's algorithm holds back until the
 * peer's delayed ACK: ~40-90 ms per round trip on loopback instead of ~0.2 ms.
 * Every client of ours disables Nagle on each new connection's socket.
 *
 * With `report`, every failure to reach or be accepted by the broker is
 * logged once as one clear line (see `explainConnectError`), until the next
 * successful connect.
 */
export function connectMqtt(url: string, options: IClientOptions = {}, report?: ConnectReport): MqttClient {
  const client = mqtt.connect(url, options);
  if (report) watchConnection(client, url, report);
  disableNagle(client);
  client.on('connect', () => disableNagle(client));
  return client;
}

/**
 * An mqtt.js client over streams that `open` makes, one per (re)connect:
 * e.g. `broker.openInProcess` for the embedded broker in this process.
 */
export function connectMqttOver(open: () => Duplex, options: IClientOptions = {}): MqttClient {
  return new MqttClient(() => open(), { reconnectPeriod: 1000, ...options });
}

export function connectMqttAsync(url: string, options: IClientOptions = {}): Promise<MqttClient> {
  return untilConnected(connectMqtt(url, options));
}

/** Resolves with the client once connected; rejects (and ends it) on its first error. */
export function untilConnected(client: MqttClient): Promise<MqttClient> {
  return new Promise<MqttClient>((resolve, reject) => {
    const onError = (err: Error) => {
      client.off('connect', onConnect);
      client.end(true);
      reject(err);
    };
    const onConnect = () => {
      client.off('error', onError);
      resolve(client);
    };
    client.once('connect', onConnect);
    client.once('error', onError);
  });
}

// ------------------------------------------------------------ TLS

/**
 * TLS for an `mqtts://` or `wss://` connection. PEM text or buffers; `ca`
 * replaces Node's bundled root CAs (the Mozilla list) when given.
 */
export interface MqttTlsOptions {
  ca?: string | Buffer;
  /** The client certificate (chain) and its private key, for brokers that authenticate by certificate. */
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  /** SNI and the name the broker certificate must carry; default the URL's host (none for an IP). */
  servername?: string;
  /** ALPN protocol names offered in the ClientHello, e.g. `x-amzn-mqtt-ca` for AWS IoT Core on 443. */
  alpnProtocols?: string[];
}

/** The TLS options of the URL's scheme, in the shape mqtt.js hands to `tls.connect` or `ws`. */
export function tlsClientOptions(url: string, tls: MqttTlsOptions): IClientOptions {
  const secure: Record<string, unknown> = {};
  if (tls.ca !== undefined) secure.ca = tls.ca;
  if (tls.cert !== undefined) secure.cert = tls.cert;
  if (tls.key !== undefined) secure.key = tls.key;
  if (tls.passphrase !== undefined) secure.passphrase = tls.passphrase;
  if (tls.servername !== undefined) secure.servername = tls.servername;
  if (tls.alpnProtocols?.length) secure.ALPNProtocols = tls.alpnProtocols;
  const scheme = schemeOf(url);
  // mqtt.js passes its own options to tls.connect for mqtts; for wss it copies
  // only ca/cert/key/passphrase into the `ws` options, so SNI and ALPN would be
  // lost: hand `ws` all of them, which it passes on to tls.connect.
  if (scheme === 'wss') return { wsOptions: secure };
  if (scheme === 'mqtts' || scheme === 'ssl' || scheme === 'tls') return secure as IClientOptions;
  return {};
}

function schemeOf(url: string): string {
  return url.slice(0, Math.max(0, url.indexOf('://'))).toLowerCase();
}

// ------------------------------------------------------------ connection problems

export interface ConnectReport {
  log: Log;
  /** What the log calls this connection, e.g. `uplink`. */
  name: string;
}

/** The causes a TLS broker gives when it refuses the gateway's certificate (RFC 8446 section 6.2 alerts). */
const CLIENT_CERT_REFUSED = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

/** The causes Node gives when the broker's certificate does not verify against the trusted CAs. */
const BROKER_CERT_UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/**
 * One line saying why a connection to `url` failed and what to check, from
 * the error mqtt.js, the socket or TLS gave. Names config fields, never
 * certificate or key contents.
 */
export function explainConnectError(err: Error, url: string): string {
  const code = (err as { code?: unknown }).code;
  const where = hostOf(url);
  const cause = typeof code === 'string' ? `${code}: ${firstLine(err.message)}` : firstLine(err.message);
  if (typeof code === 'string') {
    if (CLIENT_CERT_REFUSED.has(code)) {
      return `${where} refused the gateway's client certificate during the TLS handshake (${cause}); check that uplink.tls.cert and uplink.tls.key are a pair the broker's CA signed, not expired or revoked`;
    }
    if (BROKER_CERT_UNTRUSTED.has(code)) {
      return `the certificate of ${where} is not signed by a trusted CA (${cause}); set uplink.tls.ca to the CA bundle that signed the broker's certificate`;
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return `the certificate of ${where} is outside its validity period (${cause}); check the broker's certificate and this machine's clock`;
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return `the certificate of ${where} does not carry the name connected to (${cause}); use the name on the certificate in uplink.url or set uplink.tls.servername`;
    }
    if (code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
      return `${where} accepts none of the ALPN protocols offered (${cause}); check uplink.tls.alpn (AWS IoT Core on port 443 wants x-amzn-mqtt-ca)`;
    }
    if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) {
      return `the TLS handshake with ${where} failed (${cause}); check uplink.tls and that the port speaks TLS`;
    }
    if (code === 'ECONNREFUSED')
      return `${where} refused the TCP connection (${cause}); is the broker listening on that port?`;
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return `the host of ${where} cannot be resolved (${cause}); check uplink.url and DNS`;
    if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH')
      return `${where} cannot be reached (${cause}); check the network and firewall`;
    if (code === 'ECONNRESET' || code === 'EPIPE')
      return `${where} dropped the connection (${cause}); a broker that refuses a client certificate or policy often does this`;
  }
  // CONNACK refusals (MQTT 3.1.1 section 3.2.2.3: 4 bad user name or password, 5 not authorized).
  if (code === 4 || code === 134)
    return `${where} refused the user name or password (${cause}); check uplink.username and uplink.password`;
  if (code === 5 || code === 135)
    return `${where} refused to authorize the gateway (${cause}); check the broker's ACL or policy for the client id`;
  return `cannot connect to ${where} (${cause})`;
}

/**
 * Logs each distinct connection problem once (at error, with ErrorCode
 * BrokerUnreachable) until a connect succeeds, so a gateway retrying forever
 * with a refused certificate says why in one line instead of a line per retry.
 * A connection closed before CONNACK with no error is a problem too: AWS IoT
 * Core answers a policy that does not allow iot:Connect that way.
 */
function watchConnection(client: MqttClient, url: string, report: ConnectReport): void {
  const where = redactUrl(url);
  let reported: string | undefined;
  let failedThisAttempt = false;
  let problems = 0;
  const problem = (message: string, cause: unknown) => {
    failedThisAttempt = true;
    if (message === reported) return;
    reported = message;
    problems++;
    report.log.error(
      { code: ErrorCode.BrokerUnreachable, connection: report.name, url: where, cause },
      `${report.name}: ${message}`,
    );
  };
  let connected = false;
  // mqtt.js emits socket, TLS and CONNACK failures here (a stream error
  // without a `code` it swallows; Node gives every socket and TLS error one).
  client.on('error', (err) => problem(explainConnectError(err, url), (err as { code?: unknown }).code));
  client.on('connect', () => {
    connected = true;
    if (problems > 0) report.log.info({ connection: report.name, url: where }, `${report.name}: connected`);
    reported = undefined;
    problems = 0;
  });
  client.on('close', () => {
    if (!connected && !failedThisAttempt) {
      problem(
        `${hostOf(url)} closed the connection before accepting the gateway (no CONNACK); check the broker's policy for this client id and certificate (AWS IoT Core on port 443 also needs uplink.tls.alpn: [x-amzn-mqtt-ca])`,
        'closed-before-connack',
      );
    }
    connected = false;
    failedThisAttempt = false;
  });
}

function hostOf(url: string): string {
  try {
    const u = new URL(url);
    return `the broker at ${u.protocol}//${u.host}`;
  } catch {
    return 'the broker';
  }
}

/** The reason of an OpenSSL error line (`...:SSL routines:ssl3_read_bytes:tlsv1 alert unknown ca:...`), else the first line. */
function firstLine(s: string): string {
  const openssl = /SSL routines:[^:]*:([^:]+):/.exec(s);
  return (openssl?.[1] ?? s.split('\n')[0] ?? '').trim();
}

/** A broker URL with any user:password@ removed, for logs. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//[redacted]@');
}

function disableNagle(client: MqttClient): void {
  const socket = client.stream as Partial<Socket> | undefined;
  socket?.setNoDelay?.(true);
}
