import { z } from "zod";
import { catalog, type EventDefinition, type EventType, FIG_EVENT_TYPES } from "./catalog.ts";
import { publishersOf, subjectOf } from "./subjects.ts";

const cloudEventHeaders = {
  type: "object",
  required: ["ce-specversion", "ce-id", "ce-type", "ce-source", "ce-time"],
  properties: {
    "ce-specversion": { type: "string", const: "1.0" },
    "ce-id": {
      type: "string",
      description: "Event id; also the Nats-Msg-Id (broker dedupe) and the inbox key",
    },
    "ce-type": { type: "string", description: "`<entity>.<past-tense-verb>`" },
    "ce-source": { type: "string", description: "The publishing service" },
    "ce-time": { type: "string", format: "date-time" },
    "ce-subject": { type: "string", description: "What the event is about, when it is one thing" },
    "ce-dataschema": { type: "string", description: "`urn:fig:events:<type>:v<version>`" },
    tenant: { type: "string", description: "Owning tenant, on tenant-owned events" },
    traceparent: { type: "string", description: "W3C trace context of the request that caused the event" },
  },
};

/**
 * AsyncAPI 3.0 document of the event catalog: one channel and one send operation per event type,
 * payload schemas generated from the catalog's zod schemas. `namespace` is the subject prefix (`fig`).
 */
export function asyncApiDocument(namespace = "fig") {
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  // Fig's own events, then each system's by type: the same document whatever order the modules loaded in.
  const known = catalog as unknown as Record<string, EventDefinition>;
  const systems = Object.values(known)
    .filter((d) => !FIG_EVENT_TYPES.includes(d.type))
    .sort((a, b) => a.type.localeCompare(b.type));
  const figOwn = FIG_EVENT_TYPES.map((type) => known[type] as EventDefinition);
  for (const definition of [...figOwn, ...systems]) {
    const id = definition.type.replace(/\./g, "-");
    const payload = z.toJSONSchema(definition.schema, { target: "draft-07" }) as Record<string, unknown>;
    delete payload.$schema;
    messages[id] = {
      name: definition.type,
      title: definition.type,
      summary: definition.description,
      contentType: "application/json",
      headers: { $ref: "#/components/schemas/CloudEventHeaders" },
      payload,
      "x-version": definition.version,
      "x-tenant-owned": definition.tenantOwned,
    };
    for (const source of publishersOf(definition.type as EventType)) {
      const owner = source === definition.source;
      const channelId = owner ? id : `${id}-${source}`;
      channels[channelId] = {
        address: subjectOf(namespace, definition.type as EventType, source),
        ...(source === "{publisher}"
          ? {
              parameters: {
                publisher: { description: "The publishing upstream's name, as the route file names it" },
              },
            }
          : {}),
        description:
          definition.channel === "jobs"
            ? `Work-queue subject of ${definition.type} (stream ${namespace.toUpperCase()}_JOBS): each message goes to one worker.`
            : `JetStream subject of ${definition.type}${owner ? "" : ` as ${source} publishes it`} (stream ${namespace.toUpperCase()}_EVENTS).`,
        messages: { [id]: { $ref: `#/components/messages/${id}` } },
      };
      operations[`publish-${channelId}`] = {
        action: "send",
        summary: `${source} publishes ${definition.type} through its transactional outbox`,
        channel: { $ref: `#/channels/${channelId}` },
        messages: [{ $ref: `#/channels/${channelId}/messages/${id}` }],
      };
    }
  }
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Fig events",
      version: "1.0.0",
      description:
        "Events between Fig services over NATS JetStream. CloudEvents 1.0 attributes travel as NATS headers (binary mode); data is JSON. Published only through each service's transactional outbox; consumers dedupe on `ce-id`.",
    },
    defaultContentType: "application/json",
    servers: { nats: { host: "localhost:4222", protocol: "nats", description: "NATS with JetStream" } },
    channels,
    operations,
    components: { messages, schemas: { CloudEventHeaders: cloudEventHeaders } },
  };
}
