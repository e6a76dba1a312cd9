/**
 * Every subject and stream name carries a namespace (FIG_NAMESPACE, default `fig`), so tests and parallel
 * runs sharing one NATS server never see each other's messages.
 */
export function eventSubject(namespace: string, type: string): string {
  return `${namespace}.events.${type}`;
}

/** Where a catalog type is published: its channel's subject (`<ns>.events.<type>` or `<ns>.jobs.<type>`). */
export function subjectFor(namespace: string, type: string, channel: "events" | "jobs" = "events"): string {
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
