import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { z } from 'zod';
import { AlertMessage } from '../contract/alerts.ts';
import { CommandBody, CommandSchemas, type CommandType, SignedCommand } from '../contract/commands.ts';
import { RequestEnvelope, ResponseEnvelope } from '../contract/envelopes.ts';
import {
  EVENT_BATCH_MAX_BYTES,
  EVENT_BATCH_MAX_EVENTS,
  EventBatchBody,
  SignedEventBatch,
} from '../contract/event-batch.ts';
import {
  EVENT_CLASS,
  EventAck,
  EventEnvelope,
  EventSchemas,
  type EventType,
  GatewayStatus,
} from '../contract/events.ts';
import { RequestSchemas, type RequestType } from '../contract/requests.ts';
import { SignedEnvelope } from '../contract/signed.ts';
import { TOPIC_ROOT } from '../contract/topics.ts';
import { DEFAULT_MAX_IN_FLIGHT } from '../gateway/link/delivery.ts';

const requestTypes = (Object.keys(RequestSchemas) as RequestType[]).sort();

function requestBodySchema(type: RequestType) {
  return RequestEnvelope.extend({ type: z.literal(type), data: RequestSchemas[type].request }).describe(
    RequestSchemas[type].request.description ?? type,
  );
}

function responseBodySchema(type: RequestType) {
  return ResponseEnvelope.extend({
    type: z.literal(type),
    data: RequestSchemas[type].response.optional(),
  }).describe(`The platform answer to ${type}: \`data\` on success, \`error\` on refusal.`);
}

const SIGNED_BY_PLATFORM =
  'Signed by a trusted platform key: `sig` is the padded base64 of the raw 64-byte Ed25519 signature over the UTF-8 bytes of `body`, the exact JSON text of the body (see `x-signed-body`); `keyId` (default `default`) names the key and must equal the body `keyId`.';
const SIGNED_BY_GATEWAY =
  'Signed by the gateway key announced in the status (`eventKey`): `sig` is the padded base64 of the raw 64-byte Ed25519 signature over the UTF-8 bytes of `body`, the exact JSON text of the body (see `x-signed-body`); `keyId` is the gateway key id.';

/** A signed envelope whose `body` points at the schema of what it carries. */
function signedPayload(bodyRef: string, envelope: z.ZodType = SignedEnvelope): JsonSchema {
  const signed = draft7(envelope);
  const props = (signed.properties ?? {}) as Record<string, JsonSchema>;
  return {
    ...signed,
    properties: {
      ...props,
      body: { ...props.body, contentMediaType: 'application/json', 'x-signed-body': ref(bodyRef) },
    },
  };
}

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
  schemas.GatewayStatus = draft7(GatewayStatus);
  messages.GatewayStatus = {
    name: 'GatewayStatus',
    title: 'Gateway status',
    summary: GatewayStatus.description,
    description: `${SIGNED_BY_GATEWAY} Birth and clean-stop statuses carry the \`lastSeq\`/\`ackedSeq\` watermark; the will, fixed at connect time, carries none.`,
    payload: signedPayload('components/schemas/GatewayStatus'),
  };
  channels.status = {
    address: `${base}/status`,
    title: 'Gateway status (retained)',
    description:
      'Retained. Published `online` on every (re)connect (the birth message) and again when the ack watermark moves (at most once a second); the MQTT will sets `{state: "offline", gatewayId}`, and a clean stop publishes the same with the watermark.',
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
    schemas[`EventEnvelope.${type}`] = draft7(eventSchema(type));
    messages[msg] = {
      name: type,
      title: `Event ${type}`,
      summary: EventSchemas[type].description,
      description: `Class: ${EVENT_CLASS[type]}. ${
        EVENT_CLASS[type] === 'critical'
          ? 'Never dropped from the outbox.'
          : 'May be dropped at the outbox bound or expire; an `outbox.dropped` event reports its seq.'
      } Delivered at least once, in seq order per connection; the platform dedupes by seq and acknowledges on \`ack\`. ${SIGNED_BY_GATEWAY}`,
      payload: signedPayload(`components/schemas/EventEnvelope.${type}`),
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

  // event batches
  schemas.EventBatchBody = draft7(EventBatchBody);
  messages.EventBatch = {
    name: 'EventBatch',
    title: 'Event batch',
    summary: EventBatchBody.description,
    description: `Up to ${EVENT_BATCH_MAX_EVENTS} events and ${EVENT_BATCH_MAX_BYTES} payload bytes in one message with one signature; each event is exactly the envelope the per-type \`evt/{type}\` message would carry, in ascending seq order, and is deduped and acknowledged as if it had come alone. A resend signs its batch again. ${SIGNED_BY_GATEWAY}`,
    payload: signedPayload('components/schemas/EventBatchBody', SignedEventBatch),
  };
  channels.eventBatch = {
    address: `${base}/evts`,
    title: 'Event batches',
    description:
      'How the gateway publishes its events unless configured `platform.eventBatching: false` (then one message per event on `evt/{type}`). Only the gateway itself may publish here on its embedded broker.',
    parameters: { gatewayId },
    messages: { EventBatch: ref('components/messages/EventBatch') },
  };
  operations.publishEventBatch = {
    action: 'send',
    channel: ref('channels/eventBatch'),
    messages: [ref('channels/eventBatch/messages/EventBatch')],
    bindings: qos1(false),
  };

  // alerts
  schemas.AlertMessage = draft7(AlertMessage);
  messages.AlertMessage = {
    name: 'AlertMessage',
    title: 'Site alert',
    summary: AlertMessage.description,
    description: `A condition of the site raised or cleared: the same JSON a webhook receives (docs/alerts.md). Outside the outbox: no seq and no ack; delivered at least once from the gateway's own alert queue, a condition's \`cleared\` never before its \`raised\`; receivers dedupe on (alertId, state). Not retained: an alert is a change, the active conditions are in the operator API. ${SIGNED_BY_GATEWAY}`,
    payload: signedPayload('components/schemas/AlertMessage'),
  };
  channels.alert = {
    address: `${base}/alert`,
    title: 'Site alerts',
    parameters: { gatewayId },
    messages: { AlertMessage: ref('components/messages/AlertMessage') },
  };
  operations.publishAlert = {
    action: 'send',
    channel: ref('channels/alert'),
    messages: [ref('channels/alert/messages/AlertMessage')],
    bindings: qos1(false),
  };

  // ack
  messages.EventAck = {
    name: 'EventAck',
    title: 'End-to-end event acknowledgement',
    summary:
      'Every event with seq <= upTo is stored by the platform; the gateway drops them from its outbox.',
    description: `Cumulative. Seqs reported by an \`outbox.dropped\` event count as accounted for. A broker PUBACK is not delivery: without an advancing ack the gateway resends from the last acknowledged seq. An ack beyond the last seq the gateway published is refused, never clamped. ${SIGNED_BY_PLATFORM}`,
    payload: signedPayload('components/schemas/EventAck'),
  };
  schemas.EventAck = draft7(EventAck);
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
  for (const type of commandTypes) {
    const bodyId = `CommandBody.${type}`;
    schemas[bodyId] = draft7(commandBodySchema(type));
    const msg = `command.${type}`;
    messages[msg] = {
      name: type,
      title: `Command ${type}`,
      summary: CommandSchemas[type].description,
      description: `${SIGNED_BY_PLATFORM.replace(' and must equal the body `keyId`', '')} The gateway refuses forged, expired, not yet valid, replayed, misaddressed and malformed commands and reports each as a \`command.rejected\` event.`,
      payload: signedPayload(`components/schemas/${bodyId}`),
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

  // requests and responses, one channel pair per request type
  for (const type of requestTypes) {
    const reqId = `RequestBody.${type}`;
    const resId = `ResponseBody.${type}`;
    schemas[reqId] = draft7(requestBodySchema(type));
    schemas[resId] = draft7(responseBodySchema(type));
    const reqMsg = `request.${type}`;
    const resMsg = `response.${type}`;
    messages[reqMsg] = {
      name: `request ${type}`,
      title: `Request ${type}`,
      summary: RequestSchemas[type].request.description,
      description: `${SIGNED_BY_GATEWAY} The platform answers on \`res/${type}\` before \`expiresAt\`, or not at all.`,
      payload: signedPayload(`components/schemas/${reqId}`),
    };
    messages[resMsg] = {
      name: `response ${type}`,
      title: `Response ${type}`,
      summary: `The platform answer to ${type}.`,
      description: `Either \`data\` (success) or \`error\` (refusal), echoing \`correlationId\`, \`type\` and \`gatewayId\` and naming \`requestSha256\`, the hex SHA-256 of the request \`body\` it answers: the gateway refuses an answer bound to another request. ${SIGNED_BY_PLATFORM}`,
      payload: signedPayload(`components/schemas/${resId}`),
    };
    const reqCh = id(`req.${type}`);
    const resCh = id(`res.${type}`);
    channels[reqCh] = {
      address: `${base}/req/${type}`,
      title: `Request ${type}`,
      parameters: { gatewayId },
      messages: { [id(reqMsg)]: ref(`components/messages/${reqMsg}`) },
    };
    channels[resCh] = {
      address: `${base}/res/${type}`,
      title: `Response ${type}`,
      parameters: { gatewayId },
      messages: { [id(resMsg)]: ref(`components/messages/${resMsg}`) },
    };
    operations[id(`request.${type}`)] = {
      action: 'send',
      channel: ref(`channels/${reqCh}`),
      messages: [ref(`channels/${reqCh}/messages/${id(reqMsg)}`)],
      reply: {
        channel: ref(`channels/${resCh}`),
        messages: [ref(`channels/${resCh}/messages/${id(resMsg)}`)],
      },
      bindings: qos1(false),
    };
  }
  // The generic request/response channels, for request types added later.
  schemas.RequestBody = draft7(RequestEnvelope);
  schemas.ResponseBody = draft7(ResponseEnvelope);
  messages.Request = {
    name: 'Request',
    title: 'Gateway request',
    summary: RequestEnvelope.description,
    description: SIGNED_BY_GATEWAY,
    payload: signedPayload('components/schemas/RequestBody'),
  };
  messages.Response = {
    name: 'Response',
    title: 'Platform response',
    summary: ResponseEnvelope.description,
    description: `Either \`data\` (success) or \`error\` (refusal). Unanswered requests time out on the gateway. ${SIGNED_BY_PLATFORM}`,
    payload: signedPayload('components/schemas/ResponseBody'),
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
    'event-batch.json': draft2020(EventBatchBody, 'EventBatchBody'),
    'signed-event-batch.json': draft2020(SignedEventBatch, 'SignedEventBatch'),
    'signed-command.json': draft2020(SignedCommand, 'SignedCommand'),
    'command-body.json': draft2020(CommandBody, 'CommandBody'),
    'request.json': draft2020(RequestEnvelope, 'Request'),
    'response.json': draft2020(ResponseEnvelope, 'Response'),
    'signed-envelope.json': draft2020(SignedEnvelope, 'SignedEnvelope'),
    'alert.json': draft2020(AlertMessage, 'AlertMessage'),
  };
  for (const type of requestTypes) {
    out[`request.${type}.json`] = draft2020(requestBodySchema(type), `Request body ${type}`);
    out[`response.${type}.json`] = draft2020(responseBodySchema(type), `Response body ${type}`);
  }
  for (const type of eventTypes) out[`event.${type}.json`] = draft2020(eventSchema(type), `Event ${type}`);
  for (const type of commandTypes)
    out[`command.${type}.json`] = draft2020(commandBodySchema(type), `Command body ${type}`);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * docs/contract.md: what an integrator writing a platform needs, from the
 * same schemas and constants as the code, so a test can tell when it is stale.
 */
export function buildContractDoc(): string {
  const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const schemaLink = (file: string) => `[${file}](schemas/${file})`;
  const topics = [
    ['`status`', 'gateway -> platform', '1, retained', 'gateway key', schemaLink('gateway-status.json')],
    [
      '`evt/{type}`',
      'gateway -> platform',
      '1',
      'gateway key',
      `${schemaLink('event-envelope.json')}, per type \`event.{type}.json\``,
    ],
    [
      '`evts`',
      'gateway -> platform',
      '1',
      'gateway key, once per batch',
      `${schemaLink('signed-event-batch.json')}, body ${schemaLink('event-batch.json')}`,
    ],
    ['`ack`', 'platform -> gateway', '1', 'platform key', schemaLink('event-ack.json')],
    [
      '`cmd/{type}`',
      'platform -> gateway',
      '1',
      'platform key',
      `${schemaLink('command-body.json')}, per type \`command.{type}.json\``,
    ],
    [
      '`req/{type}`',
      'gateway -> platform',
      '1',
      'gateway key',
      `${schemaLink('request.json')}, per type \`request.{type}.json\``,
    ],
    [
      '`res/{type}`',
      'platform -> gateway',
      '1',
      'platform key',
      `${schemaLink('response.json')}, per type \`response.{type}.json\``,
    ],
    ['`alert`', 'gateway -> platform', '1', 'gateway key', schemaLink('alert.json')],
  ];
  const events = eventTypes.map((t) =>
    row([
      `\`evt/${t}\``,
      EVENT_CLASS[t],
      schemaLink(`event.${t}.json`),
      (EventSchemas[t].description ?? '').replace(/\|/g, '\\|'),
    ]),
  );
  const commands = commandTypes.map((t) =>
    row([
      `\`cmd/${t}\``,
      schemaLink(`command.${t}.json`),
      (CommandSchemas[t].description ?? '').replace(/\|/g, '\\|'),
    ]),
  );
  const requests = requestTypes.map((t) =>
    row([
      `\`req/${t}\` -> \`res/${t}\``,
      schemaLink(`request.${t}.json`),
      schemaLink(`response.${t}.json`),
      (RequestSchemas[t].request.description ?? '').replace(/\|/g, '\\|'),
    ]),
  );
  const fence = (lang: string, text: string) => `\`\`\`${lang}\n${text}\n\`\`\``;
  const orderCreateReq = {
    correlationId: '6f1c2a9e-3b7d-4e1a-9c55-0d2b8f7a1e44',
    type: 'order.create',
    gatewayId: 'shop-17',
    issuedAt: 1767225600000,
    expiresAt: 1767225605000,
    data: {
      sessionId: 'm1-42',
      machineId: 'm1',
      slot: 3,
      price: { amount: 350, currency: 'CNY' },
      deadline: 1767225660000,
    },
  };
  const orderCreateRes = {
    correlationId: orderCreateReq.correlationId,
    type: 'order.create',
    gatewayId: 'shop-17',
    requestSha256: '<hex SHA-256 of the request body text>',
    issuedAt: 1767225600120,
    expiresAt: 1767225660120,
    keyId: 'default',
    data: {
      orderId: 'P20260101-000123',
      paymentUrl: 'weixin://wxpay/bizpayurl?pr=abc123',
      providers: ['wechat'],
      expiresAt: 1767225660000,
    },
  };
  return `# The vendgate platform contract

Generated by \`scripts/gen-asyncapi.ts\` from the zod schemas in \`contract/\` (\`npm run docs\`); do not edit by hand.
The machine-readable form is [asyncapi.yaml](asyncapi.yaml); every payload has a JSON Schema in [schemas/](schemas/).

## Topic tree

Everything one gateway says or hears lives under \`${TOPIC_ROOT}/{gatewayId}/\`. All messages are JSON, QoS 1.

${row(['topic', 'direction', 'QoS', 'signed by', 'schema'])}
${row(['---', '---', '---', '---', '---'])}
${topics.map(row).join('\n')}

Every message on every topic except \`status\`'s MQTT will is a signed envelope (${schemaLink('signed-envelope.json')}):

${fence('json', '{ "body": "<the exact JSON text that was signed>", "sig": "<88 characters>", "keyId": "default" }')}

## Signatures

- **Algorithm and encoding.** Ed25519 (RFC 8032). \`sig\` is the padded base64 (RFC 4648 section 4, 88 characters ending in \`==\`)
  of the raw 64-byte signature over the UTF-8 bytes of \`body\`. \`body\` is a JSON string holding the JSON text that was
  signed, so no canonical JSON is needed: verify the bytes, then parse them. Keys travel as padded base64 of the raw
  32-byte key.
- **Platform keys** sign commands, acks and responses. The gateway trusts the keys in its config \`platform.publicKeys\`,
  by key id; \`keyId\` in the envelope names the one used (\`default\` when absent). To rotate, configure the new key under a
  new id beside the old one (both are valid at once), switch the platform to it, then remove the old one. In acks and
  responses the body repeats the \`keyId\`, which must equal the envelope's.
- **The gateway key** signs events, requests and the status. It is made on first start in \`{dataDir}/gateway-key.json\`
  (mode 0600) unless \`platform.gatewayKey\` gives the seed. \`vendgate keys gateway\` prints its public key and key id;
  every status announces them in \`eventKey\` (\`keyId\` is \`gw-\` and the first 16 hex digits of the SHA-256 of the raw
  public key). A platform pins the public key out of band and refuses anything that does not verify with it (a status
  announcing another key included); trusting the first status it sees is for test rigs only.
- **One signature per batch of events.** The gateway publishes each outbox drain on \`evts\` as signed batches: the
  envelope is the same \`{body, sig, keyId}\` (${schemaLink('signed-event-batch.json')}), and its \`body\` is the JSON text
  \`{"gatewayId": ..., "events": [...]}\` (${schemaLink('event-batch.json')}) listing each event envelope exactly as it
  would travel alone, in ascending seq order (contiguous or not). A batch holds at most ${EVENT_BATCH_MAX_EVENTS} events and
  ${EVENT_BATCH_MAX_BYTES} payload bytes (64 KiB: under AWS IoT Core's 128 KB and the embedded broker's 256 KiB packet
  limits); an event too big for a batch of its own goes alone on \`evt/{type}\`. Verify the batch once with the pinned
  gateway key and refuse it whole (store and ack nothing of it) when it does not verify or its body names another
  gateway than its topic; then take each event exactly as if it had come alone on \`evt/{type}\`: an invalid one is
  refused by itself, the others are stored and acknowledged as usual. A resend re-signs its batch (the rows may be cut
  differently), so dedupe by \`seq\`, never by message. Gateways configured \`platform.eventBatching: false\` send one
  signed message per event on \`evt/{type}\` instead, for platforms written before batches: subscribe to both.

## Clocks

- \`issuedAt\` may be ahead of the receiver's clock by at most the skew (gateway config \`platform.maxSkewMs\`, default
  30 s). Skew applies to \`issuedAt\` only.
- \`expiresAt\` has no skew allowance: a message is refused at or after its \`expiresAt\` by the receiver's clock. Give
  messages enough life for your clock error (the simulated platform gives acks and responses 60 s).
- Longest validity window: commands \`platform.maxCommandLifetimeMs\` (default 26 h); acks and responses 1 h.
- The gateway's own timers (resend, request timeouts) run on a monotonic clock: a wall clock stepped by NTP or a boot
  without a real-time clock does not delay or hasten them. Wall time appears only on the wire.

## Events, acks and resends

- Each event has a per-gateway \`seq\` that survives restarts; gaps appear only where an \`outbox.dropped\` event lists them.
- The platform acknowledges on \`ack\` with a signed body \`{gatewayId, upTo, issuedAt, expiresAt, keyId}\`: every event with
  \`seq <= upTo\` is stored. Acks are cumulative, so a lost or repeated ack does no harm (no nonce is needed). Ack the
  highest contiguous seq stored, counting seqs an \`outbox.dropped\` reported; ack again whenever a duplicate arrives
  (your earlier ack may have been lost). Batch acks (every 20-100 ms): each one costs the gateway a signature check,
  and no order waits for an ack.
- The gateway deletes acknowledged events. It refuses, and logs with its code, an ack that is unsigned (3020), does not
  verify (3021), has expired (3022), is issued too far ahead (3023), names another gateway (3024), or covers seqs it
  never published (3025, never clamped: a sign of a forgery or of a gateway store restored from an older copy).
- At most ${DEFAULT_MAX_IN_FLIGHT} unacknowledged events are in flight. When no ack advances for \`platform.resendAfterMs\`
  (default 2 s), the gateway resends from the last acknowledged seq, at most ${DEFAULT_MAX_IN_FLIGHT} events per round however long the backlog;
  after a reconnect it resends from there at once. Dedupe by \`seq\`.

## Resuming: the status watermark

The retained \`status\` (signed by the gateway key) carries \`lastSeq\` (the highest seq allocated) and \`ackedSeq\` (every
event with \`seq <= ackedSeq\` was acknowledged and has left the gateway). It is published on every (re)connect and again
when \`ackedSeq\` moves, at most once a second. A platform that stored nothing starts after \`ackedSeq\` and waits for the
rest, which the gateway resends; whenever a verified status shows an \`ackedSeq\` above what you have, move up to it:
those events were acknowledged (by you or a predecessor) and will not come again. The MQTT will (\`state: offline\`) is
fixed when the gateway connects and carries no watermark; keep the last one you had.

## Commands

${row(['topic', 'body schema', 'meaning'])}
${row(['---', '---', '---'])}
${commands.join('\n')}

A command body names \`id\`, \`type\`, \`gatewayId\`, \`issuedAt\`, \`expiresAt\` and a \`nonce\` (16-64 characters); the gateway
records \`id\` and \`nonce\` and refuses a replay. Every refusal is reported as a \`command.rejected\` event with its code.
**Retry rule:** until you see \`order.accepted\` (or \`order.state\` for a duplicate), re-send \`order.paid\` as a *new* command
(fresh \`id\`, \`nonce\`, \`issuedAt\`); never re-publish the same bytes, which are refused as a replay.

## Requests and responses

${row(['exchange', 'request body', 'response body', 'meaning'])}
${row(['---', '---', '---', '---'])}
${requests.join('\n')}

The gateway signs the request body \`{correlationId, type, gatewayId, issuedAt, expiresAt, data}\`; \`expiresAt\` is when it
stops waiting. Answer once, on \`res/{type}\`, before then, with a body signed by a platform key that echoes
\`correlationId\`, \`type\` and \`gatewayId\` and names \`requestSha256\`, the lowercase hex SHA-256 of the UTF-8 bytes of the
request's \`body\` string. The gateway refuses an answer bound to another request (or unsigned, forged, expired,
misaddressed) with a logged reason and keeps waiting for the real one. \`data\` on success, \`error: {reason, code?}\` on
refusal. **Retry rule:** do not answer after \`expiresAt\`; the gateway asks again with a new request if it still needs to.

Example \`req/order.create\` body:

${fence('json', JSON.stringify(orderCreateReq, null, 2))}

Example \`res/order.create\` body:

${fence('json', JSON.stringify(orderCreateRes, null, 2))}

## Events

${row(['topic', 'class', 'schema', 'meaning'])}
${row(['---', '---', '---', '---'])}
${events.join('\n')}

Each row is also what an event in a batch on \`evts\` carries (its \`type\` field then says the type).

Critical events are never dropped; telemetry may be dropped at the outbox bound or expire, and each such gap is reported
by an \`outbox.dropped\` event listing the seqs.
`;
}
