import { catalog, type EventType } from "./catalog.ts";

// Every subject and stream name carries a namespace (FIG_NAMESPACE, default `fig`), so tests and parallel
// runs sharing one NATS server never see each other's messages.

/**
 * Where a catalog type is published: the subject of its channel, `<ns>.events.<type>` or `<ns>.jobs.<type>`.
 * The catalog decides the channel; a type it does not know is an event.
 */
export function subjectOf(namespace: string, type: EventType): string {
  const channel = (catalog[type] as { channel?: "events" | "jobs" } | undefined)?.channel ?? "events";
  return `${namespace}.${channel}.${type}`;
}

export function deadLetterSubject(namespace: string, consumer: string): string {
  return `${namespace}.dlq.${consumer}`;
}

export function streamNames(namespace: string) {
  const prefix = namespace.toUpperCase().replace(/[^A-Z0-9_-]/g, "_");
  return { events: `${prefix}_EVENTS`, jobs: `${prefix}_JOBS`, deadLetters: `${prefix}_DLQ` };
}

export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
