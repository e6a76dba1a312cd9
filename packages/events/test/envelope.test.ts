import { describe, expect, test } from "bun:test";
import { Parser } from "@asyncapi/parser";
import { MsgHdrsImpl, headers as natsHeaders } from "@nats-io/nats-core";
import {
  asyncApiDocument,
  catalog,
  EnvelopeError,
  type EventType,
  envelopeHeaderBlock,
  envelopeHeaders,
  publishersOf,
  readEnvelope,
  readMessageEnvelope,
  subjectOf,
} from "../src/index.ts";
import { changed, makeEvent } from "./helpers.ts";

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe("CloudEvents envelope", () => {
  test("every attribute travels as a header and round-trips through readEnvelope", () => {
    const event = makeEvent({
      id: "0b7d6c1e-6f7e-4c59-9f38-2f1a2b3c4d5e",
      time: "2025-01-02T03:04:05.678Z",
      subject: "codes/A1",
      tenant: "acme",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
      data: changed(5),
    });
    const h = envelopeHeaders(event);
    expect({
      specversion: h.get("ce-specversion"),
      id: h.get("ce-id"),
      type: h.get("ce-type"),
      source: h.get("ce-source"),
      time: h.get("ce-time"),
      subject: h.get("ce-subject"),
      dataschema: h.get("ce-dataschema"),
      contentType: h.get("content-type"),
      tenant: h.get("tenant"),
      traceparent: h.get("traceparent"),
    }).toEqual({
      specversion: "1.0",
      id: event.id,
      type: "reference.changed",
      source: "reference-data",
      time: "2025-01-02T03:04:05.678Z",
      subject: "codes/A1",
      dataschema: "urn:fig:events:reference.changed:v1",
      contentType: "application/json",
      tenant: "acme",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    expect(readEnvelope(h, encode(event.data))).toEqual(event);
  });

  test("optional attributes are absent when unset, and read back as undefined", () => {
    const event = makeEvent({ data: changed(6) });
    const h = envelopeHeaders(event);
    expect(h.has("ce-subject")).toBe(false);
    expect(h.has("tenant")).toBe(false);
    expect(h.has("traceparent")).toBe(false);
    const read = readEnvelope(h, encode(event.data));
    expect(read).toEqual({ ...event, subject: undefined, tenant: undefined, traceparent: undefined });
  });

  test("the headers survive NATS wire encoding", () => {
    const event = makeEvent({ subject: "codes/A1", tenant: "acme", traceparent: "00-ab-cd-01" });
    // What a subscriber receives: the headers block parsed back from its wire form.
    const wire = (envelopeHeaders(event) as MsgHdrsImpl).encode();
    const decoded = MsgHdrsImpl.decode(wire);
    expect(decoded.get("ce-id")).toBe(event.id);
    expect(readEnvelope(decoded, encode(event.data))).toEqual(event);
  });

  test("envelopeHeaderBlock is byte for byte what nats.js encodes from envelopeHeaders plus Nats-Msg-Id", () => {
    const text = (h: ReturnType<typeof envelopeHeaders>) =>
      new TextDecoder().decode((h as MsgHdrsImpl).encode());
    const full = makeEvent({
      subject: "codes/A1",
      tenant: "acme",
      traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    });
    for (const event of [full, makeEvent(), makeEvent({ subject: "", tenant: " padded " })]) {
      const withId = envelopeHeaders(event);
      withId.set("Nats-Msg-Id", event.id);
      expect(envelopeHeaderBlock(event, event.id)).toBe(text(withId));
      expect(envelopeHeaderBlock(event)).toBe(text(envelopeHeaders(event)));
    }
    // nats.js refuses a value with a line break (it would end the header): so does the block.
    expect(() => envelopeHeaderBlock(makeEvent({ subject: "a\r\nNats-Msg-Id: forged" }))).toThrow(
      EnvelopeError,
    );
    expect(() => envelopeHeaders(makeEvent({ subject: "a\nb" }))).toThrow();
  });

  test("readMessageEnvelope reads the raw header block as nats.js holds it, and the same as readEnvelope", () => {
    const event = makeEvent({
      subject: "codes/A1",
      tenant: "acme",
      traceparent: "00-ab-cd-01",
      data: changed(7),
    });
    const h = envelopeHeaders(event);
    h.append("Nats-Msg-Id", event.id);
    h.append("tenant", "other"); // a second value: the first counts, as with MsgHdrs.get
    h.append("ce-subject-extra", "");
    const block = (h as MsgHdrsImpl).encode();
    const data = encode(event.data);
    const rdata = new Uint8Array(block.length + data.length);
    rdata.set(block);
    rdata.set(data, block.length);
    // A message whose `headers` getter would throw: the raw path must not need it.
    const received = {
      msg: { _rdata: rdata, _msg: { hdr: block.length } },
      data: rdata.subarray(block.length),
      get headers(): never {
        throw new Error("headers decoded");
      },
    };
    expect(readMessageEnvelope(received)).toEqual(event);
    expect(readMessageEnvelope(received)).toEqual(readEnvelope(MsgHdrsImpl.decode(block), data));
    // Without the raw bytes (another client layout) it reads `headers`.
    expect(readMessageEnvelope({ headers: h, data })).toEqual(event);
    // No header block at all: not an event.
    const bare = { msg: { _rdata: data, _msg: { hdr: -1 } }, data };
    expect(() => readMessageEnvelope(bare)).toThrow(EnvelopeError);
    // A malformed event read from the raw block is an EnvelopeError as well.
    const bad = natsHeaders();
    for (const [k, values] of h) if (k !== "ce-specversion") for (const v of values) bad.append(k, v);
    const badBlock = (bad as MsgHdrsImpl).encode();
    const badRaw = new Uint8Array(badBlock.length + data.length);
    badRaw.set(badBlock);
    badRaw.set(data, badBlock.length);
    expect(() =>
      readMessageEnvelope({
        msg: { _rdata: badRaw, _msg: { hdr: badBlock.length } },
        data: badRaw.subarray(badBlock.length),
      }),
    ).toThrow(EnvelopeError);
  });

  test("readEnvelope rejects what is not a valid catalog event with an EnvelopeError", () => {
    const good = envelopeHeaders(makeEvent());
    const without = (name: string) => {
      const h = natsHeaders();
      for (const [k, values] of good) if (k.toLowerCase() !== name) for (const v of values) h.append(k, v);
      return h;
    };
    const withType = (type: string) => {
      const h = without("ce-type");
      h.set("ce-type", type);
      return h;
    };
    const cases: [string, () => unknown, RegExp][] = [
      ["no headers", () => readEnvelope(undefined, encode(changed(1))), /not a CloudEvents 1.0 message/],
      ["no specversion", () => readEnvelope(without("ce-specversion"), encode(changed(1))), /CloudEvents/],
      ["no id", () => readEnvelope(without("ce-id"), encode(changed(1))), /CloudEvents/],
      [
        "unknown type",
        () => readEnvelope(withType("widget.exploded"), encode(changed(1))),
        /unknown event type/,
      ],
      ["bad JSON", () => readEnvelope(good, new TextEncoder().encode("{nope")), /not JSON/],
      ["schema mismatch", () => readEnvelope(good, encode({ table: "planets" })), /does not match/],
    ];
    for (const [label, read, message] of cases) {
      let error: unknown;
      try {
        read();
      } catch (e) {
        error = e;
      }
      expect({ label, isEnvelopeError: error instanceof EnvelopeError }).toEqual({
        label,
        isEnvelopeError: true,
      });
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe("AsyncAPI document", () => {
  test("validates with @asyncapi/parser and has a channel and a send operation for every catalog event", async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(asyncApiDocument()));
    expect(diagnostics.filter((d) => d.severity === 0).map((d) => `${d.code}: ${d.message}`)).toEqual([]);
    expect(document).toBeDefined();
    if (!document) return;

    const channels = document.channels().all();
    // One channel per (type, publisher): the owner's subject, and `<subject>.<source>` for each other publisher.
    const expected = Object.values(catalog).flatMap((definition) =>
      publishersOf(definition.type as EventType).map((source) => ({ definition, source })),
    );
    for (const { definition, source } of expected) {
      const address = subjectOf("fig", definition.type as EventType, source);
      const channel = channels.find((c) => c.address() === address);
      expect(channel?.address()).toBe(address);
      const messages = channel?.messages().all() ?? [];
      expect(messages.map((m) => m.name())).toEqual([definition.type]);
      const payload = messages[0]?.payload()?.json() as { properties?: Record<string, unknown> } | undefined;
      // The payload schema is the catalog's zod schema.
      expect(Object.keys(payload?.properties ?? {}).sort()).toEqual(
        Object.keys((definition.schema as unknown as { shape: Record<string, unknown> }).shape).sort(),
      );
      const operations = channel?.operations().all() ?? [];
      expect(operations.map((o) => o.action())).toEqual(["send"]);
    }
    expect(channels).toHaveLength(expected.length);
    // The monolith's reference.changed has its own channel, so the owner's consumers never see it.
    expect(channels.map((c) => c.address())).toContain("fig.events.reference.changed.monolith");
  });

  test("the namespace is the subject prefix", () => {
    const doc = asyncApiDocument("staging");
    const addresses = Object.values(doc.channels).map((c) => (c as { address: string }).address);
    expect(addresses.sort()).toEqual(
      Object.values(catalog)
        .flatMap((d) =>
          publishersOf(d.type as EventType).map((source) =>
            subjectOf("staging", d.type as EventType, source),
          ),
        )
        .sort(),
    );
    expect(addresses.every((a) => a.startsWith("staging."))).toBe(true);
  });
});
