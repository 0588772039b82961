import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CommandSchemas } from '../contract/commands.ts';
import { EventSchemas } from '../contract/events.ts';
import { buildAsyncApi, buildJsonSchemas } from '../scripts/gen-asyncapi.ts';

type Doc = {
  asyncapi: string;
  channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
  operations: Record<
    string,
    { action: string; channel: { $ref: string }; bindings?: { mqtt?: { qos: number; retain: boolean } } }
  >;
  components: { messages: Record<string, { payload: Record<string, unknown> }> };
};

function resolve(doc: unknown, ref: string): unknown {
  expect(ref.startsWith('#/')).toBe(true);
  let node: unknown = doc;
  for (const part of ref.slice(2).split('/')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
    if (node === undefined) throw new Error(`dangling $ref ${ref}`);
  }
  return node;
}

function refsIn(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) refsIn(n, out);
  else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refsIn(v, out);
    }
  }
  return out;
}

describe('the generated AsyncAPI document', () => {
  const text = buildAsyncApi();
  const doc = parse(text) as Doc;

  it('is AsyncAPI 3.0 and the same every time it is generated', () => {
    expect(doc.asyncapi).toBe('3.0.0');
    expect(buildAsyncApi()).toBe(text);
  });

  it('has a channel and a send operation for every event type, with the typed payload', () => {
    for (const type of Object.keys(EventSchemas)) {
      const ch = doc.channels[`evt.${type}`];
      expect(ch?.address).toBe(`vendgate/v1/{gatewayId}/evt/${type}`);
      const msg = doc.components.messages[`event.${type}`]!;
      // Events are signed: the payload is {body, sig, keyId}; `x-signed-body` is the envelope's schema.
      expect(msg.payload.required).toEqual(['body', 'sig']);
      const signedBody = (msg.payload.properties as Record<string, Record<string, unknown>>).body!;
      const envelope = resolve(doc, (signedBody['x-signed-body'] as { $ref: string }).$ref) as Record<
        string,
        unknown
      >;
      const props = envelope.properties as Record<string, Record<string, unknown>>;
      expect(props.type).toMatchObject({ const: type });
      expect(props.seq).toMatchObject({ type: 'integer' });
      expect(props.data).toMatchObject({ type: 'object' });
      expect(doc.operations[`publish.${type}`]).toMatchObject({
        action: 'send',
        bindings: { mqtt: { qos: 1 } },
      });
    }
  });

  it('has the event batch channel, signed once, its body listing event envelopes', () => {
    expect(doc.channels.eventBatch?.address).toBe('vendgate/v1/{gatewayId}/evts');
    const msg = doc.components.messages.EventBatch!;
    expect(msg.payload.required).toEqual(['body', 'sig', 'keyId']);
    const signedBody = (msg.payload.properties as Record<string, Record<string, unknown>>).body!;
    const body = resolve(doc, (signedBody['x-signed-body'] as { $ref: string }).$ref) as Record<
      string,
      unknown
    >;
    const props = body.properties as Record<string, Record<string, unknown>>;
    expect(props.events).toMatchObject({ type: 'array', maxItems: 100 });
    expect(doc.operations.publishEventBatch).toMatchObject({
      action: 'send',
      bindings: { mqtt: { qos: 1 } },
    });
  });

  it('has a channel and a receive operation for every command type, pointing at the signed body schema', () => {
    for (const type of Object.keys(CommandSchemas)) {
      expect(doc.channels[`cmd.${type}`]?.address).toBe(`vendgate/v1/{gatewayId}/cmd/${type}`);
      const payload = doc.components.messages[`command.${type}`]!.payload;
      expect(payload.required).toEqual(['body', 'sig']);
      const body = (payload.properties as Record<string, Record<string, unknown>>).body!;
      const bodySchema = resolve(doc, (body['x-signed-body'] as { $ref: string }).$ref) as Record<
        string,
        unknown
      >;
      expect((bodySchema.properties as Record<string, unknown>).type).toMatchObject({ const: type });
      expect(doc.operations[`receive.${type}`]).toMatchObject({ action: 'receive' });
    }
  });

  it('describes the retained status, the ack and the request/response channels', () => {
    expect(doc.channels.status?.address).toBe('vendgate/v1/{gatewayId}/status');
    expect(doc.operations.publishStatus?.bindings?.mqtt).toMatchObject({ qos: 1, retain: true });
    expect(doc.channels.ack?.address).toBe('vendgate/v1/{gatewayId}/ack');
    expect(doc.operations.receiveAck?.action).toBe('receive');
    expect(doc.channels.request?.address).toBe('vendgate/v1/{gatewayId}/req/{requestType}');
    expect(doc.channels.response?.address).toBe('vendgate/v1/{gatewayId}/res/{requestType}');
  });

  it('gives req/order.create and res/order.create their real schemas, not `data: {}`', () => {
    expect(doc.channels['req.order.create']?.address).toBe('vendgate/v1/{gatewayId}/req/order.create');
    const schemas = (
      doc.components as unknown as {
        schemas: Record<string, { properties: Record<string, { required?: string[] }> }>;
      }
    ).schemas;
    expect(schemas['RequestBody.order.create']!.properties.data!.required).toEqual(
      expect.arrayContaining(['sessionId', 'machineId', 'slot', 'price', 'deadline']),
    );
    const res = schemas['ResponseBody.order.create']!;
    expect(Object.keys(res.properties)).toEqual(
      expect.arrayContaining(['requestSha256', 'correlationId', 'keyId']),
    );
    expect(res.properties.data!.required).toEqual(
      expect.arrayContaining(['orderId', 'paymentUrl', 'providers', 'expiresAt']),
    );
  });

  it('has no dangling $ref', () => {
    const refs = refsIn(doc);
    expect(refs.length).toBeGreaterThan(20);
    for (const r of refs) resolve(doc, r);
  });
});

describe('the generated JSON Schemas', () => {
  it('cover every event and command type, deterministically, as draft 2020-12', () => {
    const a = buildJsonSchemas();
    expect(JSON.stringify(buildJsonSchemas())).toBe(JSON.stringify(a));
    for (const t of Object.keys(EventSchemas)) expect(a[`event.${t}.json`]).toBeDefined();
    for (const t of Object.keys(CommandSchemas)) expect(a[`command.${t}.json`]).toBeDefined();
    for (const name of [
      'event-envelope.json',
      'event-ack.json',
      'signed-command.json',
      'gateway-status.json',
    ])
      expect(a[name]).toBeDefined();
    for (const s of Object.values(a))
      expect(s).toMatchObject({ $schema: 'https://json-schema.org/draft/2020-12/schema' });
  });
});
