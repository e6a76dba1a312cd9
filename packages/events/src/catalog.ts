import { z } from "zod";

/** One event type, declared once: producers and consumers are typed from it. */
export type EventDefinition<S extends z.ZodType = z.ZodType> = {
  /** `<entity>.<past-tense-verb>` */
  type: string;
  version: number;
  /** The owning service. */
  source: string;
  /**
   * Other services that publish the same type while a route is being strangled (the monolith), each on its
   * own subject (`subjectOf(ns, type, source)`), so the owner's consumers never take theirs by mistake.
   */
  alsoPublishedBy?: readonly string[];
  /** Any upstream may publish it (a generic event such as `data.changed`), each on `<ns>.events.<type>.<publisher>`. */
  publishedByAny?: boolean;
  description: string;
  /** Tenant-owned events carry the `tenant` header. */
  tenantOwned: boolean;
  /**
   * `events` (fan-out, kept 7 days, every consumer sees every event) or `jobs` (a work queue: each message
   * goes to one worker and leaves the stream once acknowledged).
   */
  channel?: "events" | "jobs";
  schema: S;
};

/** Declares one event type (an identity function that keeps the schema's type for `EventData`). */
export function defineEvent<S extends z.ZodType>(definition: EventDefinition<S>): EventDefinition<S> {
  return definition;
}

/** Above this many keys, a row-change event (`data.changed`, or a system's own) carries a count instead of every key. */
export const CHANGE_EVENT_MAX_KEYS = 1000;
export const DATA_CHANGED_MAX_KEYS = CHANGE_EVENT_MAX_KEYS;

/**
 * The payload every row-change event shares, whatever the table: what happened to which keys, the rows as
 * stored after the change (for `deleted`, as they were), and the publisher's per-key `sequence`. A composite
 * key is one string: its columns' text joined by U+001F (unit separator), in the declared key order.
 */
export function changeEventSchema<T extends z.ZodType<string>>(table: T) {
  return z
    .object({
      table,
      op: z.enum(["created", "updated", "deleted", "imported"]).describe("What happened"),
      keys: z.array(z.string()).max(CHANGE_EVENT_MAX_KEYS).describe("Keys of the changed rows"),
      count: z.number().int().nonnegative().describe("Number of rows changed"),
      truncated: z
        .boolean()
        .describe("True when `keys` (and `rows`) were left empty because too many rows changed"),
      rows: z
        .array(z.record(z.string(), z.unknown()))
        .max(CHANGE_EVENT_MAX_KEYS)
        .optional()
        .describe(
          "The changed rows' fields, with their version and updated_at (for `deleted`, the row as it was), in `keys` order",
        ),
      sequence: z
        .number()
        .int()
        .nonnegative()
        .optional()
        .describe(
          "Publisher-local change sequence, taken in the write's transaction after its row locks: for one key, a later commit has a larger one",
        ),
    })
    .strict();
}

/**
 * Fig's own events: row changes of declared tables, audit acts and identity events. A system that Fig
 * strangles declares its events in its own code and adds them with `registerEvents` (see below).
 */
const figEvents = {
  "data.changed": defineEvent({
    type: "data.changed",
    version: 1,
    source: "datasync",
    publishedByAny: true,
    tenantOwned: false,
    description:
      "Rows of a table that a route declares (`fig.data` in the route file) changed at their write owner: one event per " +
      "write (or import), published through the owner's outbox on `<ns>.events.data.changed.<publisher>`, the publisher " +
      "being the upstream's name. `rows` carries each changed row's columns, its declared version (or updated_at) " +
      "included, and `sequence` grows with every change of a key in commit order, so another copy applies each key's " +
      `changes in order. Above ${CHANGE_EVENT_MAX_KEYS} rows, \`keys\` and \`rows\` are empty and \`truncated\` is true.`,
    schema: changeEventSchema(z.string().min(1).describe("The table, as the route's `fig.data` names it")),
  }),
  "audit.recorded": defineEvent({
    type: "audit.recorded",
    version: 1,
    source: "audit",
    publishedByAny: true,
    tenantOwned: false,
    description:
      "A control-plane act to append to the audit log (weights, state, write owner, holds, shadow share, promotion " +
      "decisions, flips, DLQ replays, faults): who, when, what, from, to, why and its numbers. Each component publishes " +
      "on `<ns>.events.audit.recorded.<publisher>`; the audit service appends each event id once to its hash chain.",
    schema: z
      .object({
        at: z.iso.datetime({ offset: true }).describe("When the act happened"),
        actor: z
          .object({ sub: z.string().min(1), tenant: z.string().nullable() })
          .strict()
          .describe("The token's `sub` and tenant (a component acting on its own names itself)"),
        kind: z
          .string()
          .regex(/^[a-z][a-z0-9.-]{0,63}$/)
          .describe("What kind of act: weights, state, write-owner, promotion-step, flip, identity.login…"),
        subject: z.string().max(200).nullable().describe("What it acted on: a route id, a user, a consumer"),
        from: z.unknown().describe("The value before (JSON), or null"),
        to: z.unknown().describe("The value after (JSON), or null"),
        reason: z.string().max(2000).nullable().describe("Why, as the actor said it"),
        data: z.record(z.string(), z.unknown()).nullable().describe("Numbers behind the act (a gate's p95…)"),
      })
      .strict(),
  }),
  // Identity events: the identity service's logins, sessions, users and keys, for the audit log. All share the
  // `identity.` prefix, so one consumer of `<ns>.events.identity.>` takes every one.
  "identity.login.succeeded": defineEvent({
    type: "identity.login.succeeded",
    version: 1,
    source: "identity",
    tenantOwned: true,
    description: "A user logged in with email and password; a session (refresh token family) began.",
    schema: z
      .object({ userId: z.uuid(), email: z.string(), sessionId: z.uuid(), ip: z.string().nullable() })
      .strict(),
  }),
  "identity.login.failed": defineEvent({
    type: "identity.login.failed",
    version: 1,
    source: "identity",
    tenantOwned: true,
    description:
      "A login was refused: `bad_credentials` (unknown email, wrong password, disabled or not yet activated account) or `locked` (too many failures for the account or the address; answered 429).",
    schema: z
      .object({ email: z.string(), ip: z.string().nullable(), reason: z.enum(["bad_credentials", "locked"]) })
      .strict(),
  }),
  "identity.session.revoked": defineEvent({
    type: "identity.session.revoked",
    version: 1,
    source: "identity",
    tenantOwned: true,
    description:
      "A session and every refresh token of its family were revoked: `logout`, `reuse` (a used refresh token was presented again) or `disabled` (its user was disabled).",
    schema: z
      .object({ sessionId: z.uuid(), userId: z.uuid(), reason: z.enum(["logout", "reuse", "disabled"]) })
      .strict(),
  }),
  "identity.user.invited": defineEvent({
    type: "identity.user.invited",
    version: 1,
    source: "identity",
    tenantOwned: true,
    description: "A tenant admin invited a user (who sets a password with the one-time token).",
    schema: z
      .object({ userId: z.uuid(), email: z.string(), roles: z.array(z.string()), by: z.string() })
      .strict(),
  }),
  "identity.user.changed": defineEvent({
    type: "identity.user.changed",
    version: 1,
    source: "identity",
    tenantOwned: true,
    description:
      "A user's roles or status changed (by a tenant admin), or the user set a password from an invitation (`by` is the user).",
    schema: z
      .object({
        userId: z.uuid(),
        by: z.string(),
        roles: z.object({ from: z.array(z.string()), to: z.array(z.string()) }).optional(),
        status: z.object({ from: z.string(), to: z.string() }).optional(),
        passwordSet: z.boolean().optional(),
      })
      .strict(),
  }),
  "identity.key.rotated": defineEvent({
    type: "identity.key.rotated",
    version: 1,
    source: "identity",
    tenantOwned: false,
    description:
      "The signing keys rotated: `next` became `current`, the old current was retired (still published until its tokens expire), and a new `next` was published.",
    schema: z.object({ retired: z.string().nullable(), current: z.string(), next: z.string() }).strict(),
  }),
} as const;

type FigEvents = typeof figEvents;

/** Fig's own event types, in declaration order (the AsyncAPI document lists them first). */
export const FIG_EVENT_TYPES: readonly string[] = Object.keys(figEvents);

/**
 * Every event type a program knows, for the types: Fig's own, and each system's, added by augmenting this
 * interface where the system declares its events (next to its `registerEvents` call).
 *
 * @example
 * declare module "@fig/events/catalog" {
 *   interface EventRegistry {
 *     "note.signed": typeof noteSigned;
 *   }
 * }
 */
export interface EventRegistry extends FigEvents {}

/**
 * The event catalog at run time: Fig's own events, then whatever the program's modules registered. Outbox,
 * relay, consumers, envelopes and the AsyncAPI document all read it.
 */
// The cast: the types list every declared event; at run time a system's are here once their module has loaded.
export const catalog = { ...figEvents } as EventRegistry;

/** Why a registration was refused: a type declared twice, differently, or a key that is not the event's type. */
export class EventRegistrationError extends Error {}

/**
 * Adds a system's events to the catalog (call it once, where the events are declared, at module load). The
 * same declaration twice is a no-op (a module loaded twice); another declaration of a known type is refused.
 *
 * @example
 * export const noteEvents = { "note.signed": defineEvent({ type: "note.signed", version: 1, ... }) } as const;
 * registerEvents(noteEvents);
 */
export function registerEvents(definitions: Record<string, EventDefinition>): void {
  const known = catalog as unknown as Record<string, EventDefinition>;
  for (const [type, definition] of Object.entries(definitions)) {
    if (definition.type !== type)
      throw new EventRegistrationError(`the event under "${type}" declares type "${definition.type}"`);
    const existing = known[type];
    if (existing === definition) continue;
    if (existing && !implied.has(existing))
      throw new EventRegistrationError(
        `${type} is declared twice (by ${existing.source} and by ${definition.source}); an event type has one declaration`,
      );
    known[type] = definition;
  }
}

/** Declarations `ensureChangeEvent` made up; a system's own declaration of the type replaces one. */
const implied = new WeakSet<EventDefinition>();

/**
 * Makes sure `type`, the change event a route file names (`fig.data.event`), is in the catalog, so a Fig
 * program that knows the system only through its route file (`bun run migrate-data`) can record and read it.
 * A declaration the system registered stays; otherwise `type` is a row-change event of any table, owned by
 * `owner` (the route's new service) and published by each of `alsoPublishedBy` (the legacy side) on its own
 * subject.
 */
export function ensureChangeEvent(
  type: string,
  { owner, alsoPublishedBy }: { owner: string; alsoPublishedBy: readonly string[] },
): void {
  if (Object.hasOwn(catalog, type)) return;
  const definition = defineEvent({
    type,
    version: 1,
    source: owner,
    alsoPublishedBy,
    tenantOwned: false,
    description: `Rows of the tables a route declares changed (${type}, named by the route file's fig.data.event).`,
    schema: changeEventSchema(z.string().min(1).describe("The table, as the route's `fig.data` names it")),
  });
  implied.add(definition);
  (catalog as unknown as Record<string, EventDefinition>)[type] = definition;
}

export type Catalog = EventRegistry;
export type EventType = keyof Catalog & string;
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

/**
 * The declaration of `type`, or an EventRegistrationError naming it: a system's event is only known once the
 * module that registers it has loaded, and a writer that runs before that must hear so, not read `undefined`.
 */
export function definitionOf<T extends EventType>(type: T): Catalog[T] {
  if (!isEventType(type))
    throw new EventRegistrationError(
      `unknown event type ${type}: declare it with defineEvent and add it with registerEvents before writing it`,
    );
  return catalog[type];
}
