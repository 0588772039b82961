import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { z } from 'zod';
import { CommandBody, CommandSchemas, type CommandType, SignedCommand } from '../contract/commands.ts';
import { RequestEnvelope, ResponseEnvelope } from '../contract/envelopes.ts';
import {
  EVENT_CLASS,
  EventAck,
  EventEnvelope,
  EventSchemas,
  type EventType,
  GatewayStatus,
} from '../contract/events.ts';
import { TOPIC_ROOT } from '../contract/topics.ts';

/**
 * The published MQTT contract, generated from the zod schemas in
 * contract/ (the single source of truth): an AsyncAPI 3.0 document
 * for the topic tree, and one JSON Schema per payload for docs/schemas/.
 * Output is deterministic (sorted types, no timestamps) so a test can tell
 * when a committed copy is stale.
 */

type JsonSchema = Record<string, unknown>;

const eventTypes = (Object.keys(EventSchemas) as EventType[]).sort();
const commandTypes = (Object.keys(CommandSchemas) as CommandType[]).sort();

function eventSchema(type: EventType) {
  return EventEnvelope.extend({ type: z.literal(type), data: EventSchemas[type] }).describe(
    EventSchemas[type].description ?? type,
  );
}

function commandBodySchema(type: CommandType) {
  return CommandBody.extend({ type: z.literal(type), data: CommandSchemas[type] }).describe(
    CommandSchemas[type].description ?? type,
  );
}

/** draft-07 for AsyncAPI (its default schema format is a draft-07 superset), without `$schema`. */
function draft7(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-7',
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

function draft2020(schema: z.ZodType, title: string): JsonSchema {
  const { $schema, ...rest } = z.toJSONSchema(schema, { unrepresentable: 'any' }) as JsonSchema;
  return { $schema, title, ...rest };
}

/** Channel and message ids may only hold word characters, dots and dashes. */
const id = (s: string) => s.replace(/[^\w.-]/g, '_');
const ref = (path: string) => ({ $ref: `#/${path}` });

export function buildAsyncApi(): string {
  const version = (
    JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    }
  ).version;
  const base = `${TOPIC_ROOT}/{gatewayId}`;
  const parameters = {
    gatewayId: {
      description: 'The gateway id (letters, digits, _ and -, 1-64 characters).',
      examples: ['shop-17'],
    },
    requestType: { description: 'The request type, e.g. `order.create`.', examples: ['order.create'] },
  };
  const gatewayId = ref('components/parameters/gatewayId');
  const requestType = ref('components/parameters/requestType');
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {};

  const qos1 = (retain: boolean) => ({ mqtt: { qos: 1, retain, bindingVersion: '0.2.0' } });

  // status
  messages.GatewayStatus = {
    name: 'GatewayStatus',
    title: 'Gateway status',
    summary: GatewayStatus.description,
    payload: draft7(GatewayStatus),
  };
  channels.status = {
    address: `${base}/status`,
    title: 'Gateway status (retained)',
    description:
      'Retained. Published `online` on every (re)connect (the birth message); the MQTT will sets `{state: "offline", gatewayId}`, and a clean stop publishes the same.',
    parameters: { gatewayId },
    messages: { GatewayStatus: ref('components/messages/GatewayStatus') },
  };
  operations.publishStatus = {
    action: 'send',
    channel: ref('channels/status'),
    messages: [ref('channels/status/messages/GatewayStatus')],
    bindings: qos1(true),
  };

  // events
  for (const type of eventTypes) {
    const msg = `event.${type}`;
    messages[msg] = {
      name: type,
      title: `Event ${type}`,
      summary: EventSchemas[type].description,
      description: `Class: ${EVENT_CLASS[type]}. ${
        EVENT_CLASS[type] === 'critical'
          ? 'Never dropped from the outbox.'
          : 'May be dropped at the outbox bound or expire; an `outbox.dropped` event reports its seq.'
      } Delivered at least once, in seq order per connection; the platform dedupes by seq and acknowledges on \`ack\`.`,
      payload: draft7(eventSchema(type)),
    };
    const ch = id(`evt.${type}`);
    channels[ch] = {
      address: `${base}/evt/${type}`,
      title: `Event ${type}`,
      parameters: { gatewayId },
      messages: { [id(msg)]: ref(`components/messages/${msg}`) },
    };
    operations[id(`publish.${type}`)] = {
      action: 'send',
      channel: ref(`channels/${ch}`),
      messages: [ref(`channels/${ch}/messages/${id(msg)}`)],
      bindings: qos1(false),
    };
  }

  // ack
  messages.EventAck = {
    name: 'EventAck',
    title: 'End-to-end event acknowledgement',
    summary:
      'Every event with seq <= upTo is stored by the platform; the gateway drops them from its outbox.',
    description:
      'Cumulative. Seqs reported by an `outbox.dropped` event count as accounted for. A broker PUBACK is not delivery: without an advancing ack the gateway resends from the last acknowledged seq.',
    payload: draft7(EventAck),
  };
  channels.ack = {
    address: `${base}/ack`,
    title: 'Event acknowledgements',
    parameters: { gatewayId },
    messages: { EventAck: ref('components/messages/EventAck') },
  };
  operations.receiveAck = {
    action: 'receive',
    channel: ref('channels/ack'),
    messages: [ref('channels/ack/messages/EventAck')],
    bindings: qos1(false),
  };

  // commands
  const signed = draft7(SignedCommand);
  for (const type of commandTypes) {
    const bodyId = `CommandBody.${type}`;
    schemas[bodyId] = draft7(commandBodySchema(type));
    const msg = `command.${type}`;
    const props = (signed.properties ?? {}) as Record<string, JsonSchema>;
    messages[msg] = {
      name: type,
      title: `Command ${type}`,
      summary: CommandSchemas[type].description,
      description:
        'Signed by the platform with Ed25519: `sig` is the base64 signature over the UTF-8 bytes of `body`, which is the JSON text of the command body (see `x-signed-body`). The gateway refuses forged, expired, not yet valid, replayed, misaddressed and malformed commands and reports each as a `command.rejected` event.',
      payload: {
        ...signed,
        properties: {
          ...props,
          body: {
            ...props.body,
            contentMediaType: 'application/json',
            'x-signed-body': ref(`components/schemas/${bodyId}`),
          },
        },
      },
    };
    const ch = id(`cmd.${type}`);
    channels[ch] = {
      address: `${base}/cmd/${type}`,
      title: `Command ${type}`,
      parameters: { gatewayId },
      messages: { [id(msg)]: ref(`components/messages/${msg}`) },
    };
    operations[id(`receive.${type}`)] = {
      action: 'receive',
      channel: ref(`channels/${ch}`),
      messages: [ref(`channels/${ch}/messages/${id(msg)}`)],
      bindings: qos1(false),
    };
  }

  // requests and responses
  messages.Request = {
    name: 'Request',
    title: 'Gateway request',
    summary: RequestEnvelope.description,
    payload: draft7(RequestEnvelope),
  };
  messages.Response = {
    name: 'Response',
    title: 'Platform response',
    summary: ResponseEnvelope.description,
    description: 'Either `data` (success) or `error` (refusal). Unanswered requests time out on the gateway.',
    payload: draft7(ResponseEnvelope),
  };
  channels.request = {
    address: `${base}/req/{requestType}`,
    title: 'Requests to the platform',
    parameters: { gatewayId, requestType },
    messages: { Request: ref('components/messages/Request') },
  };
  channels.response = {
    address: `${base}/res/{requestType}`,
    title: 'Responses from the platform',
    parameters: { gatewayId, requestType },
    messages: { Response: ref('components/messages/Response') },
  };
  operations.sendRequest = {
    action: 'send',
    channel: ref('channels/request'),
    messages: [ref('channels/request/messages/Request')],
    reply: { channel: ref('channels/response'), messages: [ref('channels/response/messages/Response')] },
    bindings: qos1(false),
  };

  const doc = {
    asyncapi: '3.0.0',
    info: {
      title: 'vendgate platform contract',
      version,
      description: [
        'The MQTT contract between a vendgate edge gateway and the operator platform.',
        'Operations are described from the gateway side: it sends status, events and requests, and receives acks, commands and responses.',
        'Generated from the zod schemas in contract/ by scripts/gen-asyncapi.ts; do not edit by hand.',
      ].join('\n'),
      license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
    },
    defaultContentType: 'application/json',
    servers: {
      embedded: {
        host: 'localhost:1883',
        protocol: 'mqtt',
        protocolVersion: '3.1.1',
        description:
          'The embedded aedes broker on the gateway; any MQTT 3.1.1/5 broker works (Mosquitto, EMQX, HiveMQ, VerneMQ).',
      },
    },
    channels,
    operations,
    components: { messages, schemas, parameters },
  };
  return stringify(doc, { sortMapEntries: false, lineWidth: 0, aliasDuplicateObjects: false });
}

/** One JSON Schema (draft 2020-12) per payload, by file name for docs/schemas/. */
export function buildJsonSchemas(): Record<string, object> {
  const out: Record<string, object> = {
    'gateway-status.json': draft2020(GatewayStatus, 'GatewayStatus'),
    'event-envelope.json': draft2020(EventEnvelope, 'EventEnvelope'),
    'event-ack.json': draft2020(EventAck, 'EventAck'),
    'signed-command.json': draft2020(SignedCommand, 'SignedCommand'),
    'command-body.json': draft2020(CommandBody, 'CommandBody'),
    'request.json': draft2020(RequestEnvelope, 'Request'),
    'response.json': draft2020(ResponseEnvelope, 'Response'),
  };
  for (const type of eventTypes) out[`event.${type}.json`] = draft2020(eventSchema(type), `Event ${type}`);
  for (const type of commandTypes)
    out[`command.${type}.json`] = draft2020(commandBodySchema(type), `Command body ${type}`);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
