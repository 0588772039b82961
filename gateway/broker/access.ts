import type { BrokerUser } from '../../contract/broker-user.ts';
import { TOPIC_ROOT } from '../../contract/topics.ts';
import { ErrorCode, VendgateError } from '../../core/errors.ts';
import { filterCovers, topicMatches } from './topic-filter.ts';

/** A broker account of the embedded broker: a contract account plus the client ids it may use. */
export interface EmbeddedBrokerUser extends BrokerUser {
  /**
   * The client id this user must connect with: an exact id, or a prefix when
   * it ends in `*` (`tool-*` allows `tool-a`, `tool-1`...). Default: the
   * username itself or `{username}-*`. Nobody else may connect with an id
   * this user owns, so nobody can take its session over.
   */
  clientId?: string;
}

/** Who owns a client id: the gateway's own connections, one user, or nobody. */
export type ClientIdOwner = { kind: 'gateway' } | { kind: 'user'; username: string } | undefined;

interface IdPattern {
  owner: { kind: 'gateway' } | { kind: 'user'; username: string };
  /** The exact id, or the prefix when `prefix` is true. */
  text: string;
  prefix: boolean;
  /** Where the pattern came from, for error messages. */
  source: string;
}

/** The ids `vendgate-{gatewayId}` and `vendgate-{gatewayId}-*`: the gateway's link and its other clients. */
export function gatewayClientIds(gatewayId: string): { exact: string; prefix: string } {
  return { exact: `vendgate-${gatewayId}`, prefix: `vendgate-${gatewayId}-` };
}

function parsePattern(pattern: string, owner: IdPattern['owner'], source: string): IdPattern {
  const prefix = pattern.endsWith('*');
  const text = prefix ? pattern.slice(0, -1) : pattern;
  if (text.includes('*') || (!prefix && text.length === 0)) {
    throw new VendgateError(
      ErrorCode.ConfigInvalid,
      `${source}: client id pattern "${pattern}" must be an exact id or a prefix ending in a single "*"`,
      { pattern },
    );
  }
  return { owner, text, prefix, source };
}

/**
 * Which principal each client id belongs to. The gateway's reserved ids win;
 * among users an exact id beats a prefix and a longer prefix beats a shorter
 * one, so `display-m1-*` (user display-m1) does not cover the ids of a user
 * named `display-m1-x`. Two users claiming the very same id or prefix is a
 * configuration error: neither could be sure its session stays its own.
 */
export class ClientIdOwnership {
  readonly #patterns: IdPattern[] = [];

  constructor(users: readonly EmbeddedBrokerUser[], gatewayId: string | undefined) {
    if (gatewayId !== undefined) {
      const ids = gatewayClientIds(gatewayId);
      this.#patterns.push(
        parsePattern(ids.exact, { kind: 'gateway' }, 'the gateway'),
        parsePattern(`${ids.prefix}*`, { kind: 'gateway' }, 'the gateway'),
      );
    }
    for (const u of users) {
      const owner = { kind: 'user', username: u.username } as const;
      const source = `broker user "${u.username}"`;
      const patterns =
        u.clientId !== undefined
          ? [parsePattern(u.clientId, owner, source)]
          : [parsePattern(u.username, owner, source), parsePattern(`${u.username}-*`, owner, source)];
      for (const p of patterns) {
        if (gatewayId !== undefined && this.ownerOf(p.text)?.kind === 'gateway') {
          throw new VendgateError(
            ErrorCode.ConfigInvalid,
            `${source}: client id "${p.text}${p.prefix ? '*' : ''}" is reserved for the gateway's own connections`,
            { username: u.username },
          );
        }
        const clash = this.#patterns.find((q) => q.text === p.text && q.prefix === p.prefix);
        if (clash) {
          throw new VendgateError(
            ErrorCode.ConfigInvalid,
            `${source} claims the client id${p.prefix ? ' prefix' : ''} "${p.text}${p.prefix ? '*' : ''}" that ${clash.source} owns; give it a clientId of its own`,
            { username: u.username },
          );
        }
        this.#patterns.push(p);
      }
    }
  }

  ownerOf(clientId: string): ClientIdOwner {
    let best: IdPattern | undefined;
    for (const p of this.#patterns) {
      const hit = p.prefix ? clientId.startsWith(p.text) : clientId === p.text;
      if (!hit) continue;
      if (p.owner.kind === 'gateway') return p.owner;
      if (!best || rank(p) > rank(best)) best = p;
    }
    return best?.owner;
  }
}

/** An exact id ranks above every prefix; a longer prefix above a shorter one. */
function rank(p: IdPattern): number {
  return p.prefix ? p.text.length : Number.MAX_SAFE_INTEGER;
}

const TREE_PREFIX = `${TOPIC_ROOT}/`;
const TREE_LEVELS = TOPIC_ROOT.split('/');

/** True for topics of the contract's tree (`vendgate/v1/...`): commands, acks, events, responses, displays. */
export function isGatewayTopic(topic: string): boolean {
  return topic.startsWith(TREE_PREFIX);
}

/**
 * True when a filter names the contract's tree literally in its first levels
 * (`vendgate/v1/...`). Only such a filter grants rights inside the tree: a
 * broad `#` or `+/#` in an ACL is for the site's own free topics, and never
 * lets its user forge an ack or read a command by accident.
 */
export function namesGatewayTree(filter: string): boolean {
  const levels = filter.split('/');
  return TREE_LEVELS.every((level, i) => levels[i] === level) && levels.length > TREE_LEVELS.length;
}

/**
 * True for `vendgate/v1/{gw}/evts`, the signed event batches: only the
 * gateway's own clients publish them, whatever a user's ACL names. One such
 * message carries up to 100 events, so the broker keeps every other login
 * from even offering one to the platform (which verifies it anyway).
 */
export function isGatewayOnlyTopic(topic: string): boolean {
  if (!topic.startsWith(TREE_PREFIX)) return false;
  const levels = topic.slice(TREE_PREFIX.length).split('/');
  return levels.length === 2 && levels[1] === 'evts';
}

/** May this user publish to `topic`? */
export function userMayPublish(user: BrokerUser, topic: string): boolean {
  if (isGatewayOnlyTopic(topic)) return false;
  return user.publish.some((f) => (!isGatewayTopic(topic) || namesGatewayTree(f)) && topicMatches(f, topic));
}

/** May this user subscribe to `filter` (every topic it can match lies inside one ACL filter)? */
export function userMaySubscribe(user: BrokerUser, filter: string): boolean {
  const inTree = namesGatewayTree(filter);
  return user.subscribe.some((f) => (!inTree || namesGatewayTree(f)) && filterCovers(f, filter));
}

/**
 * May a message on `topic` be delivered to this user? A granted wildcard
 * subscription (`#` under an ACL of `#`) still must not carry messages of the
 * contract's tree to a user whose ACL does not name it.
 */
export function userMayReceive(user: BrokerUser, topic: string): boolean {
  if (!isGatewayTopic(topic)) return true;
  return user.subscribe.some((f) => namesGatewayTree(f) && topicMatches(f, topic));
}
