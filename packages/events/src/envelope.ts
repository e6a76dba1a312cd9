import { type MsgHdrs, headers as natsHeaders } from "@nats-io/nats-core";
import { catalog, type EventType, type FigEvent, isEventType } from "./catalog.ts";

// CloudEvents 1.0 NATS protocol binding, binary mode: attributes as `ce-` headers, data as the payload.
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/nats-protocol-binding.md
export function envelopeHeaders(event: FigEvent): MsgHdrs {
  const h = natsHeaders();
  h.set("ce-specversion", "1.0");
  h.set("ce-id", event.id);
  h.set("ce-type", event.type);
  h.set("ce-source", event.source);
  h.set("ce-time", event.time);
  h.set("ce-dataschema", `urn:fig:events:${event.type}:v${catalog[event.type].version}`);
  h.set("content-type", "application/json");
  if (event.subject) h.set("ce-subject", event.subject);
  if (event.tenant) h.set("tenant", event.tenant);
  if (event.traceparent) h.set("traceparent", event.traceparent);
  return h;
}

const utf8 = new TextDecoder();

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

/** Reads a message back into a typed event; throws EnvelopeError when it is not a valid catalog event. */
export function readEnvelope(headers: MsgHdrs | undefined, payload: Uint8Array): FigEvent {
  const get = (name: string) => headers?.get(name) || undefined;
  const type = get("ce-type");
  const id = get("ce-id");
  if (get("ce-specversion") !== "1.0" || !id || !type)
    throw new EnvelopeError("not a CloudEvents 1.0 message");
  if (!isEventType(type)) throw new EnvelopeError(`unknown event type ${type}`);
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(payload));
  } catch {
    throw new EnvelopeError("data is not JSON");
  }
  const parsed = catalog[type as EventType].schema.safeParse(json);
  if (!parsed.success) throw new EnvelopeError(`data does not match ${type}: ${parsed.error.message}`);
  return {
    id,
    type: type as EventType,
    source: get("ce-source") ?? "",
    time: get("ce-time") ?? "",
    subject: get("ce-subject"),
    tenant: get("tenant"),
    traceparent: get("traceparent"),
    data: parsed.data,
  };
}
