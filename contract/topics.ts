/**
 * The versioned MQTT topic tree of one gateway. Everything a gateway says or
 * hears lives under `vendgate/v1/{gatewayId}/`.
 *
 *   status              retained gateway status; the MQTT will sets it offline
 *   evt/{type}          events up, QoS 1, in an envelope with a sequence number
 *   evts                events up in signed batches, QoS 1, one signature per message (contract/event-batch.ts)
 *   ack                 the platform's end-to-end acknowledgement of events
 *   cmd/{type}          signed commands down
 *   req/{type}          requests from the gateway to the platform (correlated)
 *   res/{type}          the platform's responses to those requests
 *   alert               site alerts up (raised / cleared), QoS 1, not retained, signed (contract/alerts.ts)
 */
export const TOPIC_ROOT = 'vendgate/v1';

export const GatewayIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

export function gatewayTopics(gatewayId: string) {
  const base = `${TOPIC_ROOT}/${gatewayId}`;
  return {
    base,
    status: `${base}/status`,
    event: (type: string) => `${base}/evt/${type}`,
    eventWildcard: `${base}/evt/#`,
    eventBatch: `${base}/evts`,
    ack: `${base}/ack`,
    command: (type: string) => `${base}/cmd/${type}`,
    commandWildcard: `${base}/cmd/#`,
    request: (type: string) => `${base}/req/${type}`,
    requestWildcard: `${base}/req/#`,
    response: (type: string) => `${base}/res/${type}`,
    responseWildcard: `${base}/res/#`,
    alert: `${base}/alert`,
  };
}

export type GatewayTopics = ReturnType<typeof gatewayTopics>;

/** Splits `vendgate/v1/{gw}/{kind}/{type}`; undefined when not in the tree. */
export function parseTopic(
  topic: string,
): { gatewayId: string; kind: string; type: string | undefined } | undefined {
  const parts = topic.split('/');
  if (parts.length < 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const gatewayId = parts[2];
  const kind = parts[3];
  if (gatewayId === undefined || kind === undefined) return undefined;
  return { gatewayId, kind, type: parts.length > 4 ? parts.slice(4).join('/') : undefined };
}
