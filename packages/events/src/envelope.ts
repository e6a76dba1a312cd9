import { type MsgHdrs, headers as natsHeaders } from "@nats-io/nats-core";
import { catalog, type EventType, type FigEvent, isEventType } from "./catalog.ts";

// CloudEvents 1.0 NATS protocol binding, binary mode: attributes as `ce-` headers, data as the payload.
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/nats-protocol-binding.md
export function envelopeHeaders(event: FigEvent): MsgHdrs {
  // append, not set: the headers are new, and set searches them for the key first (the relay's hot path).
  const h = natsHeaders();
  h.append("ce-specversion", "1.0");
  h.append("ce-id", event.id);
  h.append("ce-type", event.type);
  h.append("ce-source", event.source);
  h.append("ce-time", event.time);
  h.append("ce-dataschema", `urn:fig:events:${event.type}:v${catalog[event.type].version}`);
  h.append("content-type", "application/json");
  if (event.subject) h.append("ce-subject", event.subject);
  if (event.tenant) h.append("tenant", event.tenant);
  if (event.traceparent) h.append("traceparent", event.traceparent);
  return h;
}

/** The attributes `envelopeHeaders` sends: an event less its data. */
export type EnvelopeAttributes = Pick<
  FigEvent,
  "id" | "type" | "source" | "time" | "subject" | "tenant" | "traceparent"
>;

const lineBreak = /[\r\n]/;

function headerValue(key: string, value: string): string {
  if (lineBreak.test(value)) throw new EnvelopeError(`header ${key} cannot contain a line break`);
  return value.trim();
}

/**
 * The NATS header block (`NATS/1.0`, `key: value` lines, a blank line) of `envelopeHeaders(event)`, with
 * `Nats-Msg-Id: <msgId>` after them when given: byte for byte what nats.js encodes from those MsgHdrs (the
 * envelope tests compare them), written as one string instead of a MsgHdrs whose every append canonicalises the
 * key and searches the keys before it (the relay's hot path: a few µs per event). Values are trimmed and may not
 * hold a line break, as nats.js's MsgHdrs require.
 */
export function envelopeHeaderBlock(event: EnvelopeAttributes, msgId?: string): string {
  let block = `NATS/1.0\r\nce-specversion: 1.0\r\nce-id: ${headerValue("ce-id", event.id)}\r\nce-type: ${event.type}\r\nce-source: ${headerValue("ce-source", event.source)}\r\nce-time: ${headerValue("ce-time", event.time)}\r\nce-dataschema: urn:fig:events:${event.type}:v${catalog[event.type].version}\r\ncontent-type: application/json`;
  if (event.subject) block += `\r\nce-subject: ${headerValue("ce-subject", event.subject)}`;
  if (event.tenant) block += `\r\ntenant: ${headerValue("tenant", event.tenant)}`;
  if (event.traceparent) block += `\r\ntraceparent: ${headerValue("traceparent", event.traceparent)}`;
  if (msgId) block += `\r\nNats-Msg-Id: ${headerValue("Nats-Msg-Id", msgId)}`;
  return `${block}\r\n\r\n`;
}

const utf8 = new TextDecoder();

export class EnvelopeError extends Error {
  override name = "EnvelopeError";
}

/** Reads a message back into a typed event; throws EnvelopeError when it is not a valid catalog event. */
export function readEnvelope(headers: MsgHdrs | undefined, payload: Uint8Array): FigEvent {
  // One pass over the headers instead of a search per attribute (the consumer's hot path).
  const attributes = new Map<string, string>();
  for (const [key, values] of headers ?? []) if (values[0]) attributes.set(key, values[0]);
  return eventOf(attributes, payload);
}

/** A received message as nats.js holds it: `msg` is the core message under a JetStream one. */
type ReceivedMsg = {
  headers?: MsgHdrs;
  data: Uint8Array;
  msg?: { _rdata?: unknown; _msg?: { hdr?: unknown } };
};

/**
 * `readEnvelope` of a received message, reading its header block (`NATS/1.0`, then `key: value` lines) in one
 * pass: nats.js's own `headers` builds a MsgHdrs with a canonical-key check and a linear key search per header,
 * a few µs per event in the consumer. Falls back to `headers` when the message does not hold its raw bytes
 * where nats.js 3 keeps them. As there, keys are exact and values trimmed; the first value of a key counts.
 */
export function readMessageEnvelope(msg: ReceivedMsg): FigEvent {
  const core = msg.msg;
  const end = core?._msg?.hdr;
  const raw = core?._rdata;
  if (typeof end !== "number" || !(raw instanceof Uint8Array)) return readEnvelope(msg.headers, msg.data);
  const attributes = new Map<string, string>();
  if (end > 0) {
    const lines = utf8.decode(raw.subarray(0, end)).split("\r\n");
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(":");
      if (colon < 0) continue;
      const key = line.slice(0, colon);
      if (!attributes.has(key)) attributes.set(key, line.slice(colon + 1).trim());
    }
  }
  return eventOf(attributes, msg.data);
}

function eventOf(attributes: Map<string, string>, payload: Uint8Array): FigEvent {
  // An empty value counts as absent, as in readEnvelope.
  const get = (name: string) => attributes.get(name) || undefined;
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
