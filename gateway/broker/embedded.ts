import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, isIP, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import type { BrokerUser } from '../../contract/broker-user.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import type { Log } from '../../core/log.ts';
import { createDuplexPair } from './duplex-pair.ts';
import { filterCovers, topicMatches } from './topic-filter.ts';

export type { BrokerUser };

export interface AclRequest {
  action: 'publish' | 'subscribe';
  clientId: string | undefined;
  /** Undefined in loopback-only mode (no users configured). */
  username: string | undefined;
  /** The topic (publish) or topic filter (subscribe). */
  topic: string;
  /** True when the publish is the client's last-will message. */
  will: boolean;
}

export interface EmbeddedBrokerOptions {
  /** Interface to listen on; default 127.0.0.1. */
  host?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /**
   * When empty or absent only clients connecting from a loopback address are
   * accepted. When present every client must give one of these usernames with
   * its password, and may only use the topics its ACL allows.
   */
  users?: BrokerUser[];
  /**
   * With users configured, still let clients on a loopback address connect
   * without a username, with full rights (the gateway's own link, local
   * tools); everyone else logs in and gets their ACL. Default false.
   */
  trustLoopback?: boolean;
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
   * Such a client is trusted like an anonymous loopback one.
   */
  openInProcess(): Duplex;
  close(): Promise<void>;
}

const SYS_PREFIX = '$SYS/';

/**
 * An in-process MQTT 3.1.1 broker (aedes) for a single-site install: the
 * gateway and the local tools talk to it on loopback, and a bridge or the
 * platform connects with a username when one is configured.
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log;
  const users = new Map<string, { passwordHash: Buffer; user: BrokerUser }>();
  for (const u of opts.users ?? []) {
    if (users.has(u.username)) {
      throw new VendgateError(ErrorCode.ConfigInvalid, `broker user "${u.username}" is listed twice`, {
        username: u.username,
      });
    }
    users.set(u.username, { passwordHash: sha256(u.password), user: u });
  }
  const requireLogin = users.size > 0;
  /**
   * Which user each client connection authenticated as (for ACL checks, wills
   * included). Keyed by the connection, not the client id, so a session
   * takeover by a new connection with the same id cannot mix the two up.
   */
  const userByClient = new WeakMap<Client, BrokerUser>();
  /** Loopback clients admitted without a login under `trustLoopback`. */
  const trustedLocal = new WeakSet<Client>();
  /** The broker's ends of in-process connections (openInProcess): this process itself. */
  const inProcess = new WeakSet<object>();

  const allowed = (
    client: Client | null,
    action: 'publish' | 'subscribe',
    topic: string,
    will: boolean,
  ): boolean => {
    let username: string | undefined;
    if (requireLogin) {
      // A null client is a will recovered from another broker's persistence: no login to check, so refuse.
      if (client && trustedLocal.has(client)) return opts.acl ? callAcl(undefined) : true;
      const user = client ? userByClient.get(client) : undefined;
      if (!user) return false;
      username = user.username;
      const filters = action === 'publish' ? user.publish : user.subscribe;
      const ok = filters.some((f) =>
        action === 'publish' ? topicMatches(f, topic) : filterCovers(f, topic),
      );
      if (!ok) return false;
    }
    return opts.acl ? callAcl(username) : true;

    function callAcl(user: string | undefined): boolean {
      try {
        return opts.acl!({ action, clientId: client?.id, username: user, topic, will }) !== false;
      } catch (err) {
        log.error({ err, action, topic }, 'broker acl hook threw; refusing');
        return false;
      }
    }
  };

  const aedes = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      if (inProcess.has(client.conn) && username === undefined) {
        if (requireLogin) trustedLocal.add(client);
        return done(null, true);
      }
      if (!requireLogin) {
        const addr = remoteAddress(client);
        if (addr !== undefined && isLoopback(addr)) return done(null, true);
        log.warn(
          { clientId: client.id, remoteAddress: addr },
          'refused a non-loopback client (no users configured)',
        );
        return done(
          authError('only loopback clients may connect when no broker users are configured', 5),
          false,
        );
      }
      if (opts.trustLoopback && username === undefined) {
        const addr = remoteAddress(client);
        if (addr !== undefined && isLoopback(addr)) {
          trustedLocal.add(client);
          return done(null, true);
        }
      }
      const entry = username !== undefined ? users.get(username) : undefined;
      // Compare fixed-length digests so neither the length nor the content leaks through timing.
      const given = sha256(password ?? Buffer.alloc(0));
      const expected = entry?.passwordHash ?? sha256(`\u0000no-such-user\u0000${given.toString('hex')}`);
      const match = timingSafeEqual(given, expected);
      if (!entry || !match) {
        log.warn({ clientId: client.id, username }, 'refused a client with a bad username or password');
        return done(authError('bad username or password', 4), false);
      }
      userByClient.set(client, entry.user);
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
        return done(null, null);
      }
      done(null, sub);
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
    aedes.handle(socket);
  });
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
  log.info({ host, port, users: users.size }, 'embedded MQTT broker listening');

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

function sha256(value: string | Buffer): Buffer {
  return createHash('sha256').update(value).digest();
}

function authError(message: string, returnCode: 4 | 5): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function remoteAddress(client: Client): string | undefined {
  const conn = client.conn as Partial<Socket>;
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
