import { describe, expect, test } from "bun:test";
import { z } from "zod";
import {
  asyncApiDocument,
  catalog,
  changeEventSchema,
  defineEvent,
  EventRegistrationError,
  enqueueEvent,
  ensureChangeEvent,
  FIG_EVENT_TYPES,
  isEventType,
  publishersOf,
  registerEvents,
  subjectOf,
} from "../src/index.ts";

// The catalog is one per process: each test declares types of its own, so files sharing a process never meet.
const unique = () => `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6)}`;

function noteEvent(type: string, source = "notes") {
  return defineEvent({
    type,
    version: 1,
    source,
    tenantOwned: true,
    description: "A clinical note was signed.",
    schema: z.object({ noteId: z.string() }).strict(),
  });
}

describe("the event catalog", () => {
  test("holds Fig's own events and no system's until the system registers them", () => {
    expect(FIG_EVENT_TYPES).toEqual(expect.arrayContaining(["data.changed", "audit.recorded"]));
    expect(FIG_EVENT_TYPES.some((type) => type.startsWith("identity."))).toBe(true);
    for (const type of ["reference.changed", "file.uploaded", "validation.requested"])
      expect(FIG_EVENT_TYPES).not.toContain(type);
  });

  test("a system's registered event is published, enveloped and documented like Fig's own", async () => {
    const type = `${unique()}.signed`;
    expect(isEventType(type)).toBe(false);
    registerEvents({ [type]: noteEvent(type) });
    expect(isEventType(type)).toBe(true);
    expect(subjectOf("fig", type as never)).toBe(`fig.events.${type}`);
    const doc = asyncApiDocument();
    expect(Object.values(doc.channels).map((c) => (c as { address: string }).address)).toContain(
      `fig.events.${type}`,
    );
    // Data that fails the system's schema is refused before anything is written.
    await expect(enqueueEvent({} as never, type as never, { noteId: 1 } as never)).rejects.toThrow();
  });

  test("the same declaration twice is a no-op; another declaration of a known type is refused", () => {
    const type = `${unique()}.signed`;
    const declaration = noteEvent(type);
    registerEvents({ [type]: declaration });
    registerEvents({ [type]: declaration });
    expect(() => registerEvents({ [type]: noteEvent(type, "charting") })).toThrow(
      new EventRegistrationError(
        `${type} is declared twice (by notes and by charting); an event type has one declaration`,
      ),
    );
    expect(() => registerEvents({ "data.changed": noteEvent("data.changed") })).toThrow(
      EventRegistrationError,
    );
    expect(catalog["data.changed"].source).toBe("datasync");
  });

  test("a key that is not the event's type is refused", () => {
    const type = `${unique()}.signed`;
    expect(() => registerEvents({ [type]: noteEvent(`${type}x`) })).toThrow(
      `the event under "${type}" declares type "${type}x"`,
    );
    expect(isEventType(type)).toBe(false);
  });

  test("a route's change event nobody declared: owned by the new side, the legacy side on its own subject", () => {
    const type = `${unique()}.changed`;
    ensureChangeEvent(type, { owner: "charting", alsoPublishedBy: ["clinic-legacy"] });
    expect(publishersOf(type as never)).toEqual(["charting", "clinic-legacy"]);
    expect(subjectOf("fig", type as never, "clinic-legacy")).toBe(`fig.events.${type}.clinic-legacy`);
    expect(() => subjectOf("fig", type as never, "elsewhere")).toThrow("elsewhere does not publish");
    const schema = catalog[type as never] as { schema: z.ZodType };
    const change = { table: "notes", op: "created", keys: ["1"], count: 1, truncated: false };
    expect(schema.schema.parse(change)).toEqual(change);
    // The system's own declaration, loaded later, replaces the made-up one.
    const declared = defineEvent({
      type,
      version: 2,
      source: "charting",
      alsoPublishedBy: ["clinic-legacy"],
      tenantOwned: false,
      description: "Notes changed.",
      schema: changeEventSchema(z.enum(["notes"])),
    });
    registerEvents({ [type]: declared });
    expect((catalog[type as never] as { version: number }).version).toBe(2);
    // …and a declared event is never replaced by a made-up one.
    ensureChangeEvent(type, { owner: "other", alsoPublishedBy: [] });
    expect((catalog[type as never] as { source: string }).source).toBe("charting");
  });
});
