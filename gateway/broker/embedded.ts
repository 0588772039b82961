import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import {
  ClientIdOwnership,
  type EmbeddedBrokerUser,
  userMayPublish,
  userMayReceive,
  userMaySubscribe,
} from './access.ts';
import { createDuplexPair } from './duplex-pair.ts';
import { PacketLimitedConnection } from './packet-limit.ts';

export type { BrokerUser } from '../../contract/broker-user.ts';
export type { EmbeddedBrokerUser } from './access.ts';
export { gatewayClientIds } from './access.ts';

export interface AclRequest {
  action: 'publish' | 'subscribe';
  clientId: string | undefined;
  /** Undefined for the gateway's own clients and trusted loopback ones. */
  username: string | undefined;
  /** The topic (publish) or topic filter (subscribe). */
  topic: string;
  /** True when the publish is the client's last-will message. */
  will: boolean;
}

/** 256 KiB: far above the contract's largest payload, far below what hurts a small gateway. */
export const DEFAULT_MAX_PACKET_SIZE = 256 * 1024;
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_CONNECTIONS = 256;

export interface EmbeddedBrokerOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /**
   * Broker accounts. Every client on TCP logs in with one of them (unless
   * `allowAnonymousLoopback`), may use only the topics its ACL names, and only the
   * client ids it owns (`clientId`, default `{username}` or `{username}-*`).
   */
  users?: EmbeddedBrokerUser[];
  /**
   * Whether clients on a loopback address may connect without a login, with
   * full rights (except the gateway's and the users' client ids). Without
   * users it defaults to true (the behaviour before this option existed);
   * false refuses every anonymous TCP client, leaving only the gateway's
   * in-process clients and the users. Once `users` is not empty it must be
   * given (or the older `trustLoopback`): starting refuses to guess whether
   * local processes may bypass the logins.
   */
  allowAnonymousLoopback?: boolean;
  /**
   * The older form of `allowAnonymousLoopback`, kept with its old meaning: it
   * only counts when users are configured (without users anonymous loopback
   * clients stay admitted unless `allowAnonymousLoopback` is false).
   * `allowAnonymousLoopback` wins when both are given.
   */
  trustLoopback?: boolean;
  /**
   * The gateway this broker serves: its client ids (`vendgate-{gatewayId}`,
   * `vendgate-{gatewayId}-*`) are then reserved for the gateway's in-process
   * connections; a CONNECT with one of them from anywhere else is refused
   * without disturbing the gateway's session.
   */
  gatewayId?: string;
  /** Largest MQTT packet accepted on TCP, fixed header included; default 256 KiB. */
  maxPacketSize?: number;
  /** A TCP connection that has not sent a complete CONNECT after this long is closed; default 5000. */
  connectTimeoutMs?: number;
  /** TCP connections beyond this many at once are closed on arrival; default 256. */
  maxConnections?: number;
  /**
   * Extension point, consulted after the built-in rules allowed a publish or
   * subscribe: return false to refuse it. It can only narrow, never widen.
   */
  acl?: (req: AclRequest) => boolean;
  log: Log;
}

export interface EmbeddedBroker {
  /** `mqtt://host:port`, for mqtt.js. */
  url: string;
  port: number;
  aedes: Aedes;
  /**
   * A new connection to the broker from inside this process (the gateway's
   * own clients): an in-memory stream pair instead of a loopback socket.
   * Without a username such a client has full rights and may use the
   * gateway's reserved client ids; no TCP client can take its id over.
   */
  openInProcess(): Duplex;
  close(): Promise<void>;
}

const SYS_PREFIX = '$SYS/';

/** How a connection was admitted, which decides what it may do. */
type Principal =
  | { kind: 'gateway' } // an anonymous in-process connection: this process itself
  | { kind: 'local' } // an anonymous loopback client under allowAnonymousLoopback
  | { kind: 'user'; user: EmbeddedBrokerUser; inProcess: boolean };

/**
 * An in-process MQTT 3.1.1 broker (aedes) for a single-site install: the
 * gateway's own clients reach it in-process, the site's devices (displays)
 * and the platform or a bridge log in over TCP with their own accounts.
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log;
  const maxPacketSize = positiveInt(opts.maxPacketSize, DEFAULT_MAX_PACKET_SIZE, 'maxPacketSize');
  const connectTimeoutMs = positiveInt(opts.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS, 'connectTimeoutMs');
  const maxConnections = positiveInt(opts.maxConnections, DEFAULT_MAX_CONNECTIONS, 'maxConnections');
  const users = new Map<string, { passwordHash: Buffer; user: EmbeddedBrokerUser }>();
  for (const u of opts.users ?? []) {
    if (users.has(u.username)) {
      throw new VendgateError(ErrorCode.ConfigInvalid, `broker user "${u.username}" is listed twice`, {
        username: u.username,
      });
    }
    users.set(u.username, { passwordHash: sha256(u.password), user: u });
  }
  const anonymousLoopback = opts.allowAnonymousLoopback ?? (users.size === 0 ? true : opts.trustLoopback);
  if (anonymousLoopback === undefined) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      'the embedded broker has users but allowAnonymousLoopback is not set: say false to make every TCP client log in, or true to let anonymous loopback clients bypass the logins with full rights',
      { users: users.size },
    );
  }
  const ids = new ClientIdOwnership(
    [...users.values()].map((e) => e.user),
    opts.gatewayId,
  );

  /**
   * How each connection was admitted. Keyed by the connection, not the client
   * id, so a session takeover by a new connection with the same id cannot mix
   * the two up.
   */
  const principals = new WeakMap<Client, Principal>();
  /** What each CONNECT asked for, seen before aedes replaces an empty client id with its own. */
  const connects = new WeakMap<Client, { clientId: string; clean: boolean }>();
  /** The broker's ends of in-process connections (openInProcess): this process itself. */
  const inProcess = new WeakSet<object>();
  const clientsById = (aedes: Aedes) =>
    // aedes keeps the live connections by client id; its type declarations omit the map.
    (aedes as unknown as { clients: Record<string, Client | undefined> }).clients;

  const allowed = (
    client: Client | null,
    action: 'publish' | 'subscribe',
    topic: string,
    will: boolean,
  ): boolean => {
    // A null client is a will recovered from another broker's persistence: no login to check, so refuse.
    const who = client ? principals.get(client) : undefined;
    if (!who) return false;
    if (who.kind === 'user') {
      const ok = action === 'publish' ? userMayPublish(who.user, topic) : userMaySubscribe(who.user, topic);
      if (!ok) return false;
    }
    if (!opts.acl) return true;
    try {
      const username = who.kind === 'user' ? who.user.username : undefined;
      return opts.acl({ action, clientId: client?.id, username, topic, will }) !== false;
    } catch (err) {
      log.error({ err, action, topic }, 'broker acl hook threw; refusing');
      return false;
    }
  };

  const aedes: Aedes = await Aedes.createBroker({
    connectTimeout: connectTimeoutMs,
    preConnect(client, packet, done) {
      connects.set(client, { clientId: packet.clientId ?? '', clean: packet.clean !== false });
      done(null, true);
    },
    authenticate(client, username, password, done) {
      const connect = connects.get(client) ?? { clientId: client.id, clean: client.clean };
      const own = inProcess.has(client.conn);
      const refuse = (message: string, returnCode: 2 | 4 | 5, context: Record<string, unknown> = {}) => {
        log.warn({ clientId: connect.clientId, username, ...context }, `refused a client: ${message}`);
        done(authError(message, returnCode), false);
      };
      // [MQTT-3.1.3-8]: an empty client id with CleanSession 0 is answered 0x02 and the connection closed.
      if (connect.clientId === '' && !connect.clean) {
        return refuse('an empty client id needs a clean session', 2);
      }
      let principal: Principal;
      if (username === undefined && own) {
        principal = { kind: 'gateway' };
      } else if (username === undefined) {
        const addr = remoteAddress(client);
        if (!anonymousLoopback || addr === undefined || !isLoopback(addr)) {
          return users.size > 0
            ? refuse('a login is required', 4, { remoteAddress: addr })
            : refuse('anonymous clients are not trusted', 5, { remoteAddress: addr });
        }
        principal = { kind: 'local' };
      } else {
        const entry = users.get(username);
        // Compare fixed-length digests so neither the length nor the content leaks through timing.
        const given = sha256(password ?? Buffer.alloc(0));
        const expected = entry?.passwordHash ?? sha256(`\u0000no-such-user\u0000${given.toString('hex')}`);
        const match = timingSafeEqual(given, expected);
        if (!entry || !match) return refuse('bad username or password', 4);
        principal = { kind: 'user', user: entry.user, inProcess: own };
      }
      // An empty id got a fresh unique one from aedes ([MQTT-3.1.3-6]): nobody else's.
      if (connect.clientId !== '') {
        const owner = ids.ownerOf(connect.clientId);
        const mayUse =
          principal.kind === 'gateway' ||
          (owner?.kind === 'gateway'
            ? principal.kind === 'user' && principal.inProcess
            : owner === undefined
              ? principal.kind === 'local'
              : principal.kind === 'user' && owner.username === principal.user.username);
        // [MQTT-3.1.3-9]: a client id the server rejects gets CONNACK 0x02 and a closed connection.
        if (!mayUse) return refuse('client id not allowed for this login', 2, { owner: owner?.kind });
        const holder = clientsById(aedes)[connect.clientId];
        if (!own && holder && inProcess.has(holder.conn)) {
          // Accepting would make aedes close the gateway's own session ([MQTT-3.1.4-2]).
          return refuse('client id is held by the gateway', 2);
        }
      }
      principals.set(client, principal);
      done(null, true);
    },
    authorizePublish(client, packet, done) {
      // aedes' default rule, kept: clients never publish into $SYS/. Wills pass here too.
      if (packet.topic.startsWith(SYS_PREFIX)) {
        return done(new Error(`${SYS_PREFIX} topic is reserved`));
      }
      const will = client !== null && isWill(client, packet);
      if (!allowed(client, 'publish', packet.topic, will)) {
        log.warn({ clientId: client?.id, topic: packet.topic, will }, 'refused a publish outside the ACL');
        return done(new Error(`not authorized to publish to ${packet.topic}`));
      }
      done(null);
    },
    authorizeSubscribe(client, sub, done) {
      if (!allowed(client, 'subscribe', sub.topic, false)) {
        log.warn({ clientId: client.id, topic: sub.topic }, 'refused a subscription outside the ACL');
        // [MQTT-3.8.4-5], [MQTT-3.9.3-2]: aedes answers a null subscription with 0x80 (Failure).
        return done(null, null);
      }
      done(null, sub);
    },
    authorizeForward(client, packet) {
      const who = principals.get(client);
      if (who?.kind === 'user' && !userMayReceive(who.user, packet.topic)) return null;
      return packet;
    },
  });
  aedes.on('clientError', (client, err) =>
    log.debug({ clientId: client.id, err: err.message }, 'client error'),
  );
  aedes.on('connectionError', (client, err) =>
    log.debug({ clientId: client.id, err: err.message }, 'connection error'),
  );

  const sockets = new Set<Socket>();
  const server: Server = createServer({ noDelay: true }, (socket) => {
    // Without noDelay a QoS 1 round trip on loopback takes ~88 ms (Nagle + delayed ACK).
    socket.setNoDelay(true);
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const conn = new PacketLimitedConnection(socket, maxPacketSize, (violation) =>
      log.warn(
        { remoteAddress: socket.remoteAddress, ...violation },
        'closed a connection that broke the packet limits',
      ),
    );
    aedes.handle(conn);
  });
  server.maxConnections = maxConnections;
  server.on('drop', (data) =>
    log.warn({ remoteAddress: data?.remoteAddress, maxConnections }, 'refused a connection over the cap'),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw new VendgateError(
      ErrorCode.BrokerUnreachable,
      `the embedded MQTT broker cannot listen on ${host}:${opts.port}: ${(err as Error).message}`,
      { host, port: opts.port },
      { cause: err },
    );
  }
  server.on('error', (err) => log.error({ err }, 'broker server error'));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  log.info(
    { host, port, users: users.size, anonymousLoopback, maxPacketSize, connectTimeoutMs, maxConnections },
    'embedded MQTT broker listening',
  );
  if (anonymousLoopback) {
    log.warn(
      'embedded MQTT broker: any process on this machine may connect without a login, with full rights',
    );
  }

  let closing: Promise<void> | undefined;
  return {
    url: `mqtt://${urlHost}:${port}`,
    port,
    aedes,
    openInProcess() {
      const [clientEnd, brokerEnd] = createDuplexPair();
      inProcess.add(brokerEnd);
      aedes.handle(brokerEnd);
      return clientEnd;
    },
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        for (const s of sockets) s.destroy();
        await serverClosed;
        log.info({ port }, 'embedded MQTT broker closed');
      })();
      return closing;
    },
  };
}

function positiveInt(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `broker ${name} must be a positive integer, got ${value}`,
      {
        [name]: value,
      },
    );
  }
  return value;
}

function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}

function authError(message: string, returnCode: 2 | 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function remoteAddress(client: Client): string | undefined {
  const conn = client.conn as { remoteAddress?: unknown };
  return typeof conn.remoteAddress === 'string' ? conn.remoteAddress : undefined;
}

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address;
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

/** aedes passes the client's stored will packet itself when the client goes away uncleanly. */
function isWill(client: Client, packet: object): boolean {
  return client.closed && (client as unknown as { will?: object | null }).will === packet;
}
