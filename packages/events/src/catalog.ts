import { z } from "zod";

/** One event type, declared once: producers and consumers are typed from it. */
export type EventDefinition<S extends z.ZodType = z.ZodType> = {
  /** `<entity>.<past-tense-verb>` */
  type: string;
  version: number;
  /** The owning (only publishing) service. */
  source: string;
  description: string;
  /** Tenant-owned events carry the `tenant` header. */
  tenantOwned: boolean;
  schema: S;
};

function defineEvent<S extends z.ZodType>(definition: EventDefinition<S>): EventDefinition<S> {
  return definition;
}

/** Above this many keys, `reference.changed` carries a count instead of every key. */
export const REFERENCE_CHANGED_MAX_KEYS = 1000;

export const catalog = {
  "reference.changed": defineEvent({
    type: "reference.changed",
    version: 1,
    source: "reference-data",
    tenantOwned: false,
    description:
      "Reference data changed: one event per write, and one per import. `keys` lists the changed keys, " +
      `or is empty with \`truncated: true\` when an import touched more than ${REFERENCE_CHANGED_MAX_KEYS}; \`count\` is always the number of rows.`,
    schema: z
      .object({
        table: z.enum(["codes", "contexts", "establishments", "rules"]).describe("The reference table"),
        op: z.enum(["created", "updated", "deleted", "imported"]).describe("What happened"),
        keys: z.array(z.string()).max(REFERENCE_CHANGED_MAX_KEYS).describe("Keys of the changed rows"),
        count: z.number().int().nonnegative().describe("Number of rows changed"),
        truncated: z.boolean().describe("True when `keys` was left empty because too many rows changed"),
      })
      .strict(),
  }),
} as const;

export type Catalog = typeof catalog;
export type EventType = keyof Catalog;
export type EventData<T extends EventType> = z.infer<Catalog[T]["schema"]>;

/** A received (or about-to-be-sent) event: CloudEvents attributes plus typed data. */
export type FigEvent<T extends EventType = EventType> = {
  id: string;
  type: T;
  source: string;
  time: string;
  subject?: string | undefined;
  tenant?: string | undefined;
  traceparent?: string | undefined;
  data: EventData<T>;
};

export function isEventType(type: string): type is EventType {
  return Object.hasOwn(catalog, type);
}
