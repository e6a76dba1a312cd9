import { catalog, type EventType } from "./catalog.ts";

// Every subject and stream name carries a namespace (FIG_NAMESPACE, default `fig`), so tests and parallel
// runs sharing one NATS server never see each other's messages.

/**
 * Where a catalog type is published: the subject of its channel, `<ns>.events.<type>` or `<ns>.jobs.<type>`.
 * The catalog decides the channel; a type it does not know is an event. A publisher other than the owner
 * (`alsoPublishedBy`, e.g. the monolith) gets its own subject, `<ns>.events.<type>.<source>`.
 *
 * @example
 * subjectOf("fig", "reference.changed"); // fig.events.reference.changed (reference-data's)
 * subjectOf("fig", "reference.changed", "monolith"); // fig.events.reference.changed.monolith
 * subjectOf("fig", "data.changed", "clinic-legacy"); // fig.events.data.changed.clinic-legacy (any publisher)
 */
export function subjectOf(namespace: string, type: EventType, source?: string): string {
  const definition = catalog[type] as
    | {
        source: string;
        channel?: "events" | "jobs";
        alsoPublishedBy?: readonly string[];
        publishedByAny?: boolean;
      }
    | undefined;
  const channel = definition?.channel ?? "events";
  const subject = `${namespace}.${channel}.${type}`;
  if (definition?.publishedByAny) {
    // Each publisher its own subject, so a follower takes one side's changes and never its own echoes.
    if (source === undefined || source === definition.source)
      throw new Error(`${type} is published by any upstream on its own subject: name the publisher`);
    // `{publisher}`: the AsyncAPI document's address parameter (publishersOf).
    if (!/^([A-Za-z0-9_-]+|\{publisher\})$/.test(source))
      throw new Error(`${source} cannot be a subject token`);
    return `${subject}.${source}`;
  }
  if (!definition || source === undefined || source === definition.source) return subject;
  if (!definition.alsoPublishedBy?.includes(source))
    throw new Error(`${source} does not publish ${type} (the catalog names ${definition.source})`);
  return `${subject}.${source}`;
}

/** Every service that publishes `type`: the owner first; `{publisher}` for a type any upstream publishes. */
export function publishersOf(type: EventType): string[] {
  const definition = catalog[type] as {
    source: string;
    alsoPublishedBy?: readonly string[];
    publishedByAny?: boolean;
  };
  if (definition.publishedByAny) return ["{publisher}"];
  return [definition.source, ...(definition.alsoPublishedBy ?? [])];
}

export function deadLetterSubject(namespace: string, consumer: string): string {
  return `${namespace}.dlq.${consumer}`;
}

export function streamNames(namespace: string) {
  const prefix = namespace.toUpperCase().replace(/[^A-Z0-9_-]/g, "_");
  return { events: `${prefix}_EVENTS`, jobs: `${prefix}_JOBS`, deadLetters: `${prefix}_DLQ` };
}

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
